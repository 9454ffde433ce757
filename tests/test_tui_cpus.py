"""The TUI's CPUs view on a real faulting kernel: the fault named per CPU, and enter reveals the entry
that denies the access in the tree."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from snapshot_apps.helpers import run_async, sample, settle

pytest.importorskip("textual")

from rich.console import Console
from textual.widgets import Static

from pmoview.inputs import InputOptions
from pmoview.tui.app import make_app
from pmoview.tui.widgets.cpus_table import CpusTable
from pmoview.tui.widgets.diff_view import DiffView
from pmoview.tui.widgets.pagetable_tree import PageTableTree

SIZE = (160, 50)


def text_of(widget: Static) -> str:
    with open(os.devnull, "w") as sink:
        console = Console(width=150, record=True, file=sink)
        console.print(widget.content)
        return console.export_text()


async def revealed(app: Any, pilot: Any, path: tuple[tuple[int, int], ...]) -> None:
    """Wait for the tree's reveal (its own worker, table by table) to put the cursor on ``path``."""
    for _ in range(50):
        await pilot.pause(0.02)
        node = app.main.query_one(PageTableTree).cursor_node
        if node is not None and node.data is not None and node.data.path_key() == path:
            break
    assert app.main.active_tab() == "tab-tree"
    node = app.main.query_one(PageTableTree).cursor_node
    assert node is not None and node.data.path_key() == path


@run_async
async def test_cpus_view_names_the_fault_and_reveals_the_denying_entry(tmp_path: Path) -> None:
    found = sample("seed-fault-ro-write")
    if found is None:
        pytest.skip("sample_dumps/seed-fault-ro-write is not here")
    dump, kernel = found
    app = make_app(
        InputOptions(str(dump), kernel=None if kernel is None else str(kernel)), marks=str(tmp_path / "m.json")
    )
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("6")
        await settle(app, pilot)
        assert app.main.active_tab() == "tab-cpus"
        table = app.main.query_one(CpusTable)
        (view,) = table.views
        assert view.fault is not None and view.fault.explanation.reason == "read-only" and view.fault.at_pc
        detail = text_of(app.main.query_one("#cpu-detail", Static))
        assert "read-only" in detail and "mov qword ptr [r11], rax" in detail and "PD[32]" in detail
        await pilot.press("enter")
        await settle(app, pilot)
        await revealed(app, pilot, ((4, 256), (3, 0), (2, 32)))


@run_async
async def test_diff_view_lists_what_the_second_dump_maps_differently(tmp_path: Path) -> None:
    """ro-write against unmapped-read: the PMO page made read-only in A is a change; enter goes to A's tree."""
    a, b = sample("seed-fault-ro-write"), sample("seed-fault-unmapped-read")
    if a is None or b is None:
        pytest.skip("faulting seed samples are not here")
    app = make_app(InputOptions(str(a[0])), marks=str(tmp_path / "m.json"), diff=InputOptions(str(b[0])))
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        for _ in range(100):
            await pilot.pause(0.02)
            if app.main.query_one(DiffView).rows is not None:
                break
        await pilot.press("7")
        await settle(app, pilot)
        assert app.main.active_tab() == "tab-diff"
        view = app.main.query_one(DiffView)
        ro_page = 0xFFFF_8000_0400_0000  # R/W cleared in A (ro-write), writable in B
        row = view.index_of_va(ro_page)
        assert row is not None and view.rows is not None and view.rows.row(row).kind == "~"
        view.cursor = row
        await pilot.press("enter")
        await settle(app, pilot)
        await revealed(app, pilot, ((4, 256), (3, 0), (2, 32)))

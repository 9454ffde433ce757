"""The TUI on the real xv6-riscv samples: tree, entry bits, coverage and checks (Textual pilot)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from snapshot_apps.helpers import run_async, sample, settle

pytest.importorskip("textual")

from textual.widgets import Input

from pmoview.inputs import InputOptions
from pmoview.tui.app import PmoviewApp, make_app
from pmoview.tui.widgets.entry_inspector import EntryInspector
from pmoview.tui.widgets.pagetable_tree import PageTableTree

SIZE = (160, 50)
TRAMPOLINE = 0x3F_FFFF_F000


@pytest.fixture(autouse=True)
def _deterministic(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(Input, "cursor_blink", False)
    monkeypatch.setenv("TEXTUAL_ANIMATIONS", "none")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))


def app_for(name: str, tmp_path: Path) -> PmoviewApp:
    found = sample(name)
    if found is None:
        pytest.skip(f"sample_dumps/{name} is not here")
    dump, kernel = found
    return make_app(InputOptions(str(dump), kernel=None if kernel is None else str(kernel)), marks=str(tmp_path / "m"))


async def goto(app: Any, pilot: Any, va: int) -> Any:
    await pilot.press("g")
    await pilot.pause()
    await pilot.press(*f"{va:x}", "enter")
    for _ in range(60):
        await pilot.pause(0.02)
        await settle(app, pilot)
        node = app.main.query_one(PageTableTree).cursor_node
        row = None if node is None or node.data is None else node.data.row
        if row is not None and row.va_start is not None and row.va_start <= va < row.va_end:
            return node
    return app.main.query_one(PageTableTree).cursor_node


def inspector_text(app: Any, node: Any) -> str:
    from rich.console import Console

    with open(os.devnull, "w") as sink:
        console = Console(width=140, record=True, file=sink)
        console.print(app.main.query_one(EntryInspector).render_entry(app.session, node.data))
        return console.export_text()


@run_async
async def test_xv6_opens_with_its_tree_bits_coverage_and_clean_checks(tmp_path: Path) -> None:
    app = app_for("xv6-riscv", tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        node = await goto(app, pilot, TRAMPOLINE)
        text = inspector_text(app, node)
        assert "leaf PTE (4 KiB page)" in text
        assert "PA 0x80007000" in text  # the PPN field decoded into the trampoline's frame
        assert "S-mode r-x, U-mode ---" in text
        cov = app.main.coverage
        assert cov is not None and cov.base == 0
        assert not any(s.status == "missing" and 0x8000_0000 <= s.pa_start < 0x8800_0000 for s in cov.ranges)
        assert app.main.findings is not None
        assert [f for f in app.main.findings if f.severity == "error"] == []
        await pilot.press("3")
        await settle(app, pilot)
        assert app.main.active_tab() == "tab-coverage"


@run_async
async def test_broken_xv6_findings_reach_the_tui(tmp_path: Path) -> None:
    app = app_for("xv6-riscv-broken", tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        for _ in range(100):
            if app.main.findings:
                break
            await pilot.pause(0.05)
            await settle(app, pilot)
        kinds = {f.kind for f in app.main.findings}
        assert {"stack-guard", "wx"} <= kinds
        node = await goto(app, pilot, TRAMPOLINE - 0x2000 - 0x1000)  # the guard page under kstack 0
        assert "leaf PTE" in inspector_text(app, node)

"""What a newcomer meets in the TUI (issue 12): go-to inside a run, 80x24, the first screen's verdict.

Driven with Textual's pilot on the real samples (skipped when a sample is absent)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from snapshot_apps.helpers import run_async, settle

pytest.importorskip("textual")

from test_tui import _deterministic, app_for, goto, inspector_text, tree  # noqa: F401 - fixture re-used

SIZE = (160, 50)
SMALL = (80, 24)


@run_async
async def test_goto_inside_a_run_of_2m_pages_inspects_the_entry_that_maps_the_va(tmp_path: Path) -> None:
    # seed-correct: PD[0-...] under PML4[256] is one run of 2 MiB pages; the VA is in PD[5].
    app = app_for("seed-correct", tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        node = await goto(app, pilot, 0xFFFF_8000_00A0_1000)
        row = node.data.row
        assert (row.first, row.count) == (5, 1)
        assert row.va_start == 0xFFFF_8000_00A0_0000 and row.target == 0xA00000
        text = inspector_text(app, node)
        assert "PD[5]" in text and "0x8000000000a00083" in text
        # the rest of the run is still there, cut around the entry
        siblings = [(n.data.row.first, n.data.row.last) for n in node.parent.children]
        assert (1, 4) in siblings and (5, 5) in siblings and (6, 511) in siblings


@run_async
async def test_goto_inside_an_arm64_l3_run_inspects_the_entry_that_maps_the_va(tmp_path: Path) -> None:
    # linux-arm64: 0xffff000000210000-0xffff000000400000 is one run of 4 KiB pages; the VA is L3[0x1f3 & ...].
    va = 0xFFFF_0000_003F_3000
    app = app_for("linux-arm64", tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        node = await goto(app, pilot, va)
        row = node.data.row
        index = (va >> 12) & 511
        assert (row.first, row.count) == (index, 1)
        assert row.target == 0x403F3000
        assert f"L3[{index}]" in inspector_text(app, node)


@run_async
async def test_goto_an_unmapped_va_inside_an_empty_run_lands_on_its_entry(tmp_path: Path) -> None:
    app = app_for("seed-correct", tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        node = await goto(app, pilot, 0xFFFF_9000_0000_0000)  # PML4[288]: empty, inside a run of empties
        row = node.data.row
        assert row.kind == "none" and (row.first, row.count) == (288, 1)
        assert os.environ.get("LANG")  # the autouse fixture ran


@run_async
async def test_arm64_coverage_names_the_pmo_start_check_names(tmp_path: Path) -> None:
    from pmoview.checks import run_checks

    app = app_for("linux-arm64", tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        coverage = app.main.coverage
        report = run_checks(app.session.spaces[0], app.session.mem)
        (region,) = report.profile.regions_of("pmo")
        assert coverage.va_start == region.va_start == 0xFFFF_0000_0000_0000
        assert coverage.pa_base == region.pa_base == 0x4000_0000
        await pilot.press("3")
        await settle(app, pilot)
        head = str(app.main.query_one("#coverage-bar").render())
        assert "PMO VA 0xffff000000000000 maps PA 0x40000000" in head
        assert "0xfffeffffc0000000" not in head


@run_async
async def test_export_names_the_profile_used_and_is_written_like_any_user_file(tmp_path: Path) -> None:
    import json
    import stat

    from textual.widgets import Input

    old = os.umask(0o022)
    try:
        app = app_for("seed-no-extension", tmp_path)  # no --profile: the profile is picked from the dump
        async with app.run_test(size=SIZE) as pilot:
            await settle(app, pilot)
            await pilot.press("e")
            await pilot.pause()
            app.screen.query_one(Input).value = str(tmp_path / "report")
            await pilot.press("enter")
            await settle(app, pilot)
    finally:
        os.umask(old)
    data = json.loads((tmp_path / "report.json").read_text())
    assert data["profile"] == "seed"
    assert "- profile: seed" in (tmp_path / "report.md").read_text()
    for name in ("report.md", "report.json", "marks.json"):
        path = tmp_path / name
        if path.exists():
            assert stat.S_IMODE(path.stat().st_mode) == 0o644, name

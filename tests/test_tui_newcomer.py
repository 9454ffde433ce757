"""What a newcomer meets in the TUI (issue 12): go-to inside a run, 80x24, the first screen's verdict.

Driven with Textual's pilot on the real samples (skipped when a sample is absent)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

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
        assert "linear-map VA 0xffff000000000000 maps PA 0x40000000" in head
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
    assert "profile:  seed" in (tmp_path / "report.md").read_text()
    for name in ("report.md", "report.json", "marks.json"):
        path = tmp_path / name
        if path.exists():
            assert stat.S_IMODE(path.stat().st_mode) == 0o644, name


# -- 80x24 ------------------------------------------------------------------------------------------------


def footer_keys(app: Any) -> dict[str, Any]:
    from textual.widgets._footer import FooterKey

    return {k.key: k for k in app.main.query(FooterKey)}


def tree_lines(app: Any) -> list[str]:
    t = tree(app)
    return [t.render_line(y).text for y in range(t.size.height)]


@run_async
async def test_at_80x24_the_footer_keeps_help_quit_export_and_goto(tmp_path: Path) -> None:
    app = app_for("seed-no-extension", tmp_path)
    async with app.run_test(size=SMALL) as pilot:
        await settle(app, pilot)
        keys = footer_keys(app)
        for key in ("question_mark", "q", "e", "g", "p", "slash", "m", "i"):
            assert key in keys, key
            region = keys[key].region
            assert region.width > 0 and region.right <= SMALL[0], (key, region)
        status = str(app.main.query_one("#status").render())
        assert status.endswith("0 marks") and len(status) <= SMALL[0] - 2, status


@run_async
async def test_at_80x24_the_inspector_yields_the_width_and_i_brings_it_back(tmp_path: Path) -> None:
    app = app_for("seed-no-extension", tmp_path)
    async with app.run_test(size=SMALL) as pilot:
        await settle(app, pilot)
        inspector = app.main.query_one("#inspector")
        assert not inspector.display and tree(app).size.width >= SMALL[0] - 2
        await pilot.press("i")
        await pilot.pause()
        assert inspector.display and inspector.region.width >= SMALL[0] - 2  # under the tree, full width
        await pilot.press("i")
        await pilot.pause()
        assert not inspector.display
    app = app_for("seed-no-extension", tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        inspector = app.main.query_one("#inspector")
        assert inspector.display and inspector.region.x > tree(app).region.x  # beside the tree


@run_async
async def test_at_80x24_goto_shows_the_inspector_and_no_address_is_cut(tmp_path: Path) -> None:
    import re

    app = app_for("seed-no-extension", tmp_path)
    async with app.run_test(size=SMALL) as pilot:
        await settle(app, pilot)
        assert tree_lines(app)[0].startswith("▼ PML4 @ 0x102000")  # the root's address before its source
        node = await goto(app, pilot, 0xFFFF_FFFF_8010_1000)
        await settle(app, pilot)
        assert app.main.query_one("#inspector").display
        assert "PT[257]" in inspector_text(app, node)
        for _ in range(40):  # the tree scrolls to the cursor after the next refresh
            lines = tree_lines(app)
            if any("ffffffff80101000" in line for line in lines):
                break
            await pilot.pause(0.05)
        vas = [va for line in lines for va in re.findall(r"\] ([0-9a-f]+)", line)]
        assert vas and all(len(va) == 16 for va in vas), lines
        assert any("ffffffff80101000" in line for line in lines), "\n".join(lines)


@run_async
async def test_at_80x24_the_mappings_keep_their_permissions(tmp_path: Path) -> None:
    from pmoview.tui.widgets.mappings_view import MappingsView

    app = app_for("seed-no-extension", tmp_path)
    async with app.run_test(size=SMALL) as pilot:
        await settle(app, pilot)
        await pilot.press("2")
        await settle(app, pilot)
        view = app.main.query_one(MappingsView)
        assert view.size.width <= SMALL[0]
        header = view.render_line(0).text
        assert "flags" in header
        for y in range(1, min(view.size.height, len(view.model) + 1)):
            m = view.model.mapping(y - 1)
            line = view.render_line(y).text
            assert f"{m.va_start:#018x}-{m.va_end:#018x}" in line  # end exclusive, never cut
            assert (" NX" if m.flags.nx else " x") in line and ("RW" if m.flags.writable else "ro") in line


@run_async
async def test_mappings_list_says_why_frames_are_not_in_the_dump_once(tmp_path: Path) -> None:
    """The seed dump lacks the PMO's first 2 MiB: the list says "not in the dump" once, not prefixed by
    itself ("not in dump: not in the dump")."""
    from pmoview.tui.widgets.mappings_view import MappingsView

    app = app_for("seed-no-extension", tmp_path)
    async with app.run_test(size=(140, 30)) as pilot:
        await settle(app, pilot)
        await pilot.press("2")
        await settle(app, pilot)
        view = app.main.query_one(MappingsView)
        lines = [view.render_line(y).text for y in range(1, min(view.size.height, len(view.model) + 1))]
        unbacked = [line for line in lines if "0xffff800000000000-" in line]
        assert unbacked and unbacked[0].rstrip().endswith("(not in the dump)"), lines
        assert not any("not in dump: not in the dump" in line for line in lines)


# -- the first screen ---------------------------------------------------------------------------------------


@run_async
async def test_first_screen_says_what_is_wrong_and_which_key_shows_it(tmp_path: Path) -> None:
    app = app_for("seed-no-extension", tmp_path)
    async with app.run_test(size=SMALL) as pilot:
        await settle(app, pilot)
        verdict = app.main.query_one("#verdict")
        text = str(verdict.render())
        assert text.startswith("✗ 1 error") and "pmo-missing PA 0x40000000-0x5ffe0000" in text
        assert "press 4 for the findings" in text and "511.9M of RAM not in the PMO" in text
        assert verdict.region.height == 2 and all(len(line) <= SMALL[0] - 2 for line in text.splitlines())
        from pmoview.tui.widgets.findings_table import FindingsTable

        await pilot.press("4")  # what the verdict says to press shows the findings
        await settle(app, pilot)
        assert app.main.query_one(FindingsTable).row_count == 2
        await pilot.press("3")
        await settle(app, pilot)
        assert "missing 511.9M" in str(app.main.query_one("#coverage-bar").render())
        tabs = [t for t in app.main.query("Tab") if t.display]
        labels = [str(t.label) for t in tabs]
        assert labels[:5] == ["1 Tree", "2 Mappings", "3 Coverage", "4 Findings (2)", "5 Marks"]
        assert all(label[0].isdigit() for label in labels) and "7 Diff" not in labels  # no --diff here
        assert all(t.region.right <= SMALL[0] for t in tabs), [(str(t.label), t.region) for t in tabs]


@run_async
async def test_first_screen_of_the_reference_kernel_has_no_error(tmp_path: Path) -> None:
    app = app_for("seed-correct", tmp_path)  # only the ROM/hole below 3 GiB is mapped as RAM: a warning
    async with app.run_test(size=SMALL) as pilot:
        await settle(app, pilot)
        text = str(app.main.query_one("#verdict").render())
        assert text.startswith("! 1 warning") and "✗" not in text and "press 4 for the findings" in text


def test_verdict_with_no_findings_says_the_tables_match() -> None:
    from pmoview.tui.screens.main import verdict_text

    assert str(verdict_text([], None, True)).startswith("✓ no findings: the page tables match the profile")
    assert "checking" in str(verdict_text([], None, False))


@run_async
async def test_linux_findings_appear_once_with_the_roots_they_hold_for(tmp_path: Path) -> None:
    from pmoview.checks import run_checks
    from pmoview.tui.screens.main import _finding_detail

    app = app_for("linux-x86_64-4l-kaslr", tmp_path)  # three roots (two CPUs' CR3 and init_top_pgt)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        s = app.session
        assert len(s.roots) == 3
        findings = app.main.findings
        assert len(findings) == 2  # 0.1 listed each of them once per root: 6
        assert all(f.roots == (s.roots[0].table,) for f in findings)  # the TUI checks root 0
        every = run_checks(s.spaces, s.mem).findings  # every root: still one finding each, with its roots
        assert [(f.kind, f.va_start) for f in every] == [(f.kind, f.va_start) for f in findings]
        assert all(f.roots == tuple(r.table for r in s.roots) for f in every)
        detail = str(_finding_detail(every[0]))
        assert "holds for roots: " + ", ".join(f"{r.table:#x}" for r in s.roots) in detail


@run_async
async def test_at_80x24_help_and_prompts_fit_the_screen(tmp_path: Path) -> None:
    app = app_for("seed-no-extension", tmp_path)
    async with app.run_test(size=SMALL) as pilot:
        await settle(app, pilot)
        await pilot.press("question_mark")
        await pilot.pause()
        box = app.screen.query_one("#help-box")
        assert box.region.x >= 0 and box.region.right <= SMALL[0]
        from textual.widgets import Markdown

        assert "show or hide the entry inspector" in app.screen.query_one(Markdown).source
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("g")
        await pilot.pause()
        prompt = app.screen.query_one("#prompt-box")
        assert prompt.region.x >= 0 and prompt.region.right <= SMALL[0]

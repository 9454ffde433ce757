"""The TUI driven with Textual's pilot on the real samples (skipped when a sample is absent)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from snapshot_apps.helpers import ROOT, run_async, sample, settle

pytest.importorskip("textual")

from textual.widgets import DataTable, Input, Static

from pmoview.inputs import InputOptions
from pmoview.tui.app import PmoviewApp, make_app
from pmoview.tui.widgets.coverage_view import CoverageView
from pmoview.tui.widgets.entry_inspector import EntryInspector
from pmoview.tui.widgets.mappings_view import MappingsView
from pmoview.tui.widgets.pagetable_tree import PageTableTree

SIZE = (160, 50)
SEED_TEXT_VA = 0xFFFF_FFFF_8010_1000  # seed kernel .text page 2 (PA 0x101000)
SEED_PMO = 0xFFFF_8000_0000_0000


@pytest.fixture(autouse=True)
def _deterministic(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No blinking cursor, no user config, no locale surprises (the cache is conftest's temporary one)."""
    monkeypatch.setattr(Input, "cursor_blink", False)
    monkeypatch.setenv("LANG", "C.UTF-8")
    monkeypatch.setenv("TEXTUAL_ANIMATIONS", "none")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))


def need(name: str) -> tuple[Path, Path | None]:
    found = sample(name)
    if found is None:
        pytest.skip(f"sample_dumps/{name} is not here")
    return found


def app_for(name: str, tmp_path: Path) -> PmoviewApp:
    dump, kernel = need(name)
    inputs = InputOptions(str(dump), kernel=None if kernel is None else str(kernel))
    return make_app(inputs, marks=str(tmp_path / "marks.json"))


def inspector_text(app: Any, node: Any) -> str:
    from rich.console import Console

    with open(os.devnull, "w") as sink:
        console = Console(width=120, record=True, file=sink)
        console.print(app.main.query_one(EntryInspector).render_entry(app.session, node.data))
        return console.export_text()


def tree(app: Any) -> PageTableTree:
    return app.main.query_one(PageTableTree)


async def goto(app: Any, pilot: Any, va: int) -> Any:
    await pilot.press("g")
    await pilot.pause()
    await pilot.press(*f"{va:x}", "enter")
    await settle(app, pilot)
    for _ in range(50):  # the reveal runs in the tree's worker, table by table
        await pilot.pause(0.02)
        await settle(app, pilot)
        node = tree(app).cursor_node
        if (
            node is not None
            and node.data is not None
            and node.data.row is not None
            and node.data.row.va_start is not None
            and node.data.row.va_start <= va < node.data.row.va_end
        ):
            return node
    return tree(app).cursor_node


@run_async
async def test_open_shows_one_top_node_per_root_and_the_root_table(tmp_path: Path) -> None:
    app = app_for("seed-correct", tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        t = tree(app)
        assert len(t.root.children) == len(app.session.roots) >= 1
        top = t.root.children[0]
        assert top.is_expanded
        indices = [(n.data.row.first, n.data.row.kind) for n in top.children]
        assert (256, "table") in indices and (511, "table") in indices  # PMO and kernel image


@run_async
async def test_expanding_a_node_loads_its_table_lazily(tmp_path: Path) -> None:
    app = app_for("seed-correct", tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        t = tree(app)
        pml4_256 = next(n for n in t.root.children[0].children if n.data.row.first == 256)
        assert not pml4_256.data.loaded and not pml4_256.children
        t.move_cursor(pml4_256)
        await pilot.press("right")
        await settle(app, pilot)
        await pml4_256.data.done.wait()
        assert pml4_256.data.child is not None and pml4_256.data.child.name == "PDPT"
        assert [n.data.row.first for n in pml4_256.children if n.data.row.kind == "table"][:3] == [0, 1, 2]


@run_async
async def test_leaf_tables_show_runs_not_512_rows(tmp_path: Path) -> None:
    app = app_for("seed-correct", tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        node = await goto(app, pilot, SEED_PMO + (64 << 20))  # PD of 2 MiB pages under the PMO
        pd = node.parent
        assert pd is not None and len(pd.children) < 16
        run = max((n.data.row for n in pd.children), key=lambda r: r.count)  # go-to cut one entry out
        assert run.kind == "leaf" and run.count > 1 and run.span == 2 << 20


@run_async
async def test_goto_va_expands_to_the_leaf_and_inspects_it(tmp_path: Path) -> None:
    app = app_for("seed-correct", tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        node = await goto(app, pilot, SEED_TEXT_VA)
        assert node.data.path_key() == ((4, 511), (3, 510), (2, 0), (1, 257))
        assert node.data.row.kind == "leaf" and node.data.row.target == 0x101000
        text = inspector_text(app, node)
        assert "0x101000" in text and "PTE (4 KiB page)" in text and "PML4[511] → PDPT[510]" in text


@run_async
async def test_goto_an_unmapped_va_stops_where_the_walk_stops(tmp_path: Path) -> None:
    app = app_for("seed-correct", tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        va = 0xFFFF_9000_0000_0000  # PML4[288]: not present in the seed
        node = await goto(app, pilot, va)
        assert node.data.row.kind == "none" and node.data.row.va_start <= va < node.data.row.va_end
        assert len(node.data.path_key()) == 1
        assert app.main.query_one(EntryInspector).translation.reason == "not present"


@run_async
async def test_mark_wrong_is_saved_and_restored_on_reopen(tmp_path: Path) -> None:
    app = app_for("seed-correct", tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await goto(app, pilot, SEED_TEXT_VA)
        await pilot.press("m")
        await settle(app, pilot)
        await pilot.press("q")
    data = json.loads((tmp_path / "marks.json").read_text())
    assert data["version"] == 1 and data["dump"]["format"]
    assert [(m["kind"], m["path"]) for m in data["marks"]] == [("wrong", [[4, 511], [3, 510], [2, 0], [1, 257]])]

    again = app_for("seed-correct", tmp_path)
    async with again.run_test(size=SIZE) as pilot:
        await settle(again, pilot)
        assert [m.kind for m in again.session.marks] == ["wrong"]
        node = await goto(again, pilot, SEED_TEXT_VA)
        assert "✗" in str(node.label)


@run_async
async def test_footer_follows_the_tree_cursor_once_it_rests(tmp_path: Path) -> None:
    """Moving the cursor does not rebuild the footer on every key (Textual remounts each key widget), but
    once the cursor rests the footer offers the marks that apply to the entry under it."""
    from textual.widgets._footer import FooterKey

    from pmoview.tui.screens.main import BINDINGS_SETTLE

    def footer_actions() -> set[str]:
        return {k.action for k in app.main.query(FooterKey) if not k.has_class("-disabled")}

    app = app_for("seed-correct", tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        app.main.query_one(PageTableTree).focus()
        seen = []
        for _ in range(2):  # [0-255] not present, then [256] -> PDPT
            await pilot.press("down")
            await pilot.pause(BINDINGS_SETTLE * 3)
            await settle(app, pilot)
            seen.append(footer_actions())
        assert "mark_missing" in seen[0] and "mark_wrong" not in seen[0]
        assert "mark_wrong" in seen[1] and "mark_missing" not in seen[1]


@run_async
async def test_mark_missing_applies_to_gaps_only(tmp_path: Path) -> None:
    app = app_for("seed-correct", tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await goto(app, pilot, SEED_TEXT_VA)
        assert app.main.check_action("mark_missing", ()) is None  # greyed: a page is mapped here
        assert app.main.check_action("mark_wrong", ()) is True
        node = await goto(app, pilot, 0xFFFF_9000_0000_0000)
        assert app.main.check_action("mark_wrong", ()) is None
        assert app.main.check_action("mark_missing", ()) is True
        await pilot.press("M")
        await settle(app, pilot)
        m = app.session.marks.marks[0]
        assert m.kind == "missing" and m.path is None
        assert (m.va_start, m.va_end) == (node.data.row.va_start, node.data.row.va_end)


@run_async
async def test_note_prompts_and_attaches_text(tmp_path: Path) -> None:
    app = app_for("seed-correct", tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await goto(app, pilot, SEED_TEXT_VA)
        await pilot.press("n")
        await pilot.pause()
        await pilot.press(*"text page", "enter")
        await settle(app, pilot)
        assert [(m.kind, m.note) for m in app.session.marks] == [("note", "text page")]


@run_async
async def test_export_writes_markdown_and_json(tmp_path: Path) -> None:
    app = app_for("seed-correct", tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await goto(app, pilot, SEED_TEXT_VA)
        await pilot.press("o")
        await settle(app, pilot)
        await pilot.press("e")
        await pilot.pause()
        app.screen.query_one(Input).value = str(tmp_path / "report")
        await pilot.press("enter")
        await settle(app, pilot)
    md = (tmp_path / "report.md").read_text()
    data = json.loads((tmp_path / "report.json").read_text())
    marks = md.split("## Marks\n", 1)[1]
    assert "| ok | 0x" in marks and "PML4[511] → PDPT[510] → PD[0] → PT[257]" in marks  # the entry, named
    assert "| L4[" not in marks
    checks = md.split("## Checks\n", 1)[1].split("## Marks", 1)[0]
    assert "profile:  seed" in checks and "PMO COVERAGE" in checks  # check's own text report
    assert data["marks_summary"]["ok"] == 1 and data["marks"][0]["kind"] == "ok"
    assert data["roots"][0]["mode"] == "x86_64-4level" and data["profile"] == "seed" and data["coverage"]


@run_async
async def test_find_pa_offers_every_va_that_maps_it(tmp_path: Path) -> None:
    app = app_for("seed-correct", tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("p")
        await pilot.pause()
        await pilot.press(*"101000", "enter")
        await settle(app, pilot)
        from pmoview.tui.screens.choice import ChoiceScreen

        assert isinstance(app.screen, ChoiceScreen)
        vas = [va for va, _ in app.screen.choices]
        assert SEED_TEXT_VA in vas and SEED_PMO + 0x101000 in vas
        await pilot.press("escape")


@run_async
async def test_filter_keeps_matching_mappings(tmp_path: Path) -> None:
    app = app_for("seed-correct", tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("slash")
        await pilot.pause()
        await pilot.press(*"x", "enter")
        await settle(app, pilot)
        view = app.main.query_one(MappingsView)
        assert app.main.active_tab() == "tab-mappings"
        assert view.model is not None and 0 < len(view.model) < len(view.model.cols)
        assert all(not view.model.mapping(i).flags.nx for i in range(len(view.model)))


@run_async
async def test_filter_rejects_unknown_words_and_stays_open(tmp_path: Path) -> None:
    app = app_for("seed-correct", tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("slash")
        await pilot.pause()
        await pilot.press(*"bogus", "enter")
        await pilot.pause()
        from pmoview.tui.screens.prompt import PromptScreen

        assert isinstance(app.screen, PromptScreen)
        assert "unknown filter word" in str(app.screen.query_one("#prompt-help").render())


@run_async
async def test_corrupt_sidecar_is_refused_kept_and_marking_disabled(tmp_path: Path) -> None:
    bad = tmp_path / "marks.json"
    bad.write_text('{"version": 99, "marks": []}')
    app = app_for("seed-correct", tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert app.session.marks_error and "newer" in app.session.marks_error
        await goto(app, pilot, SEED_TEXT_VA)
        assert app.main.check_action("mark_wrong", ()) is None
        await pilot.press("m")
        await settle(app, pilot)
    assert bad.read_text() == '{"version": 99, "marks": []}'


@run_async
async def test_coverage_view_shows_the_hole(tmp_path: Path) -> None:
    app = app_for("seed-hole", tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        cov = app.main.coverage
        assert cov is not None and cov.base == SEED_PMO
        assert [(r.pa_start, r.pa_end) for r in cov.of_status("missing")] == [(0x4800_0000, 0x4820_0000)]
        await pilot.press("3")
        await settle(app, pilot)
        assert app.main.active_tab() == "tab-coverage"
        view = app.main.query_one(CoverageView)
        assert view.query_one(DataTable).row_count == len(cov.ranges)
        assert "missing 2M" in str(view.query_one("#coverage-bar", Static).render())


@run_async
async def test_command_palette_lists_namespaced_commands(tmp_path: Path) -> None:
    app = app_for("seed-correct", tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        from pmoview.tui.commands import PmoviewProvider

        provider = PmoviewProvider(app.main)
        names = [text for text, _, _ in provider._commands()]
        assert "go: VA…" in names and "export: report" in names
        assert "mark: missing" not in names  # not applicable on the root node
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"go: VA")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await pilot.pause()
        from pmoview.tui.screens.prompt import PromptScreen

        assert isinstance(app.screen, PromptScreen) and app.screen.title_text == "Go to VA"


@run_async
async def test_every_binding_has_an_id_and_a_description(tmp_path: Path) -> None:
    from pmoview.tui.app import PmoviewApp
    from pmoview.tui.screens.main import MainScreen

    keys = {}
    for b in [*PmoviewApp.BINDINGS, *MainScreen.BINDINGS]:
        assert b.id and b.description, b  # type: ignore[union-attr]
        keys[b.key] = b.action  # type: ignore[union-attr]
    for key in ("g", "p", "slash", "m", "M", "o", "n", "e", "question_mark", "q"):
        assert key in keys


@run_async
async def test_help_opens_and_closes(tmp_path: Path) -> None:
    app = app_for("seed-correct", tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("question_mark")
        await pilot.pause()
        from pmoview.tui.screens.help import HelpScreen

        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is app.main


@run_async
async def test_quit_exits(tmp_path: Path) -> None:
    app = app_for("seed-correct", tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("q")
        await pilot.pause()
        assert not app.is_running
    assert app.return_code == 0


@run_async
async def test_unusable_dump_shows_the_error_instead_of_crashing(tmp_path: Path) -> None:
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"\0" * 8192)
    app = make_app(InputOptions(str(junk)), marks=str(tmp_path / "m.json"))
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert app.session is None
        assert "cannot open" in str(app.main.query_one("#status").render())
        assert str(app.main.query_one("#verdict").render()).startswith("✗ cannot open: ")
        assert app.main.check_action("goto", ()) is None


@run_async
async def test_biggest_mapping_expands_to_its_leaf_with_summarised_rows(tmp_path: Path) -> None:
    """Going to the biggest mapping of a real Linux guest reaches its leaf row, and no table shows more
    than its 512 entries as rows (runs are summarised). Its speed is benchmarks/bench_tui.py's business."""
    name = next(
        (s for s in ("linux-x86_64-4l-nokaslr", "linux-x86_64-4l-kaslr", "linux-x86_64-5l-kaslr") if sample(s)), None
    )
    if name is None:
        pytest.skip("no Linux sample")
    app = app_for(name, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        cols = app.session.mappings[0]
        biggest = cols.mapping(int(cols.count.argmax()))
        node = await goto(app, pilot, biggest.va_start)
        assert node.data.row.va_start <= biggest.va_start < node.data.row.va_end
        assert len(node.parent.children) <= 512


@pytest.mark.parametrize("command", [[], ["tui"]], ids=["bare", "tui"])
def test_pmoview_dump_runs_the_tui_with_the_parsed_options(monkeypatch: pytest.MonkeyPatch, command: list[str]) -> None:
    """``pmoview DUMP ...`` (no subcommand) and ``pmoview tui DUMP ...`` reach the TUI runner with the
    options the flags say, and its exit status is the command's."""
    from pmoview import main as entry
    from pmoview.roots import RootOptions

    seen: list[tuple[InputOptions, str | None, str | None, str | None]] = []

    def fake_run_tui(inputs: InputOptions, *, profile: str | None, spec: str | None, marks: str | None) -> int:
        seen.append((inputs, profile, spec, marks))
        return 7

    monkeypatch.setattr(entry, "run_tui", fake_run_tui)
    argv = [*command, "d.kdump", "--kernel", "k.elf", "--profile", "seed", "--marks", "m.json", "--cr3", "0x1000"]
    assert entry.main(argv) == 7
    assert seen == [(InputOptions("d.kdump", kernel="k.elf", roots=RootOptions(cr3=0x1000)), "seed", None, "m.json")]


def test_cli_without_a_tui_runner_refuses_the_tui_command(capsys: pytest.CaptureFixture[str]) -> None:
    from pmoview import cli

    assert cli.main(["d.kdump"]) == 2
    assert "pmoview.main" in capsys.readouterr().err


def test_headless_cli_does_not_import_textual() -> None:
    code = (
        "import sys, pmoview.cli as c; c._build_parser().parse_args(['info', 'x']);"
        "assert 'textual' not in sys.modules, 'textual imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})


@run_async
async def test_each_registered_view_has_its_tab_digit_key_and_palette_command(tmp_path: Path) -> None:
    from pmoview.tui.commands import COMMANDS
    from pmoview.tui.screens.help import HELP
    from pmoview.tui.views import VIEWS, view_action

    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"\0" * 8192)
    app = make_app(InputOptions(str(junk)), marks=str(tmp_path / "m.json"))
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        for digit, view in reversed(list(enumerate(VIEWS, 1))):
            await pilot.press(str(digit))
            await pilot.pause()
            assert app.main.active_tab() == view.id
            assert app.main.query_one(f"#{view.id}") is not None
    assert [c for c in COMMANDS if c[0].startswith("view: ")] == [
        (f"view: {v.name}", view_action(v), v.help) for v in VIEWS
    ]
    assert " · ".join(v.name for v in VIEWS) in HELP


def test_every_mark_kind_has_one_glyph_and_style() -> None:
    from pmoview.marks import KINDS
    from pmoview.tui.widgets.marks_table import MARK_LOOK

    assert set(MARK_LOOK) == set(KINDS)

"""The TUI's Log view on the real panic: the kernel log, and the panic summarised above it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from snapshot_apps.helpers import ROOT, run_async, settle

pytest.importorskip("textual")

from textual.widgets import Input, Log, Static

from pmoview.inputs import InputOptions
from pmoview.tui.app import make_app
from pmoview.tui.views import VIEWS, view_key

PANIC = ROOT / "sample_dumps" / "linux-x86_64-kdump-panic"


@pytest.fixture(autouse=True)
def _deterministic(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(Input, "cursor_blink", False)
    monkeypatch.setenv("TEXTUAL_ANIMATIONS", "none")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))


@run_async
async def test_log_view_shows_the_panic_and_the_log(tmp_path: Path) -> None:
    truth = json.loads((PANIC / "truth.json").read_text())
    app = make_app(InputOptions(str(PANIC / truth["dumps"]["kdump"])), marks=str(tmp_path / "marks.json"))
    async with app.run_test(size=(160, 50)) as pilot:
        await settle(app, pilot)
        log_view = next(v for v in VIEWS if v.name == "log")
        await pilot.press(view_key(log_view))
        for _ in range(100):
            await pilot.pause(0.05)
            lines = app.main.query_one("#log-lines", Log).lines
            if lines:
                break
        summary = str(app.main.query_one("#log-summary", Static).render())
        assert f"panic: {truth['panic']['message']}" in summary and f"cpu: {truth['panic']['cpu']}" in summary
        assert lines[0].startswith("[    0.000000] Linux version 6.1.0")
        assert any(truth["panic"]["log_line"] in line for line in lines)


@run_async
async def test_inspector_says_a_frame_was_excluded_by_the_dump_level(tmp_path: Path) -> None:
    """The PTI snapshot is makedumpfile -d 31 output: user pages were filtered out, and say so."""
    from test_tui import app_for, goto, inspector_text

    app = app_for("linux-x86_64-pti-user", tmp_path)
    async with app.run_test(size=(160, 50)) as pilot:
        await settle(app, pilot)
        assert app.session.roots[0].kind == "kernel"
        node = await goto(app, pilot, 0x400000)
        text = inspector_text(app, node)
        assert "NOT in the dump: excluded by dump level 31" in text

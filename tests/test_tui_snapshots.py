"""Snapshot of the main screen, built by the CLI's factory (tests/snapshot_apps/seed_correct.py).

Stable only with the checks in place (the status line counts findings): skipped otherwise. Update
with ``pytest tests/test_tui_snapshots.py --snapshot-update`` on the pinned Python only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from snapshot_apps.helpers import sample, settle

pytest.importorskip("pytest_textual_snapshot")

APP = Path(__file__).parent / "snapshot_apps" / "seed_correct.py"


def _checks_available() -> bool:
    try:
        import pmoview.checks  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.fixture(autouse=True)
def _deterministic(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from textual.widgets import Input

    monkeypatch.setattr(Input, "cursor_blink", False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))


@pytest.mark.skipif(sample("seed-correct") is None, reason="sample_dumps/seed-correct is not here")
@pytest.mark.skipif(not _checks_available(), reason="pmoview.checks not importable: the findings count would vary")
def test_kernel_text_leaf_snapshot(snap_compare: Any) -> None:
    async def run_before(pilot: Any) -> None:
        app = pilot.app
        await settle(app, pilot)
        await pilot.press("g")
        await pilot.pause()
        await pilot.press(*"ffffffff80101000", "enter")
        for _ in range(20):
            await settle(app, pilot)
            await pilot.pause(0.05)
        app.clear_notifications()
        await pilot.pause()

    assert snap_compare(str(APP), terminal_size=(150, 40), run_before=run_before)

"""pmoview's terminal UI (Textual). ``make_app(dump_path, **options)`` builds the app for the CLI and
the tests. Importing this package does not import Textual; ``pmoview.tui.app`` does."""

from __future__ import annotations

from typing import Any


def make_app(dump_path: str, **options: Any) -> Any:
    from pmoview.tui.app import make_app as _make_app

    return _make_app(dump_path, **options)

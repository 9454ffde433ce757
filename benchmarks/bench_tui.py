"""How soon the TUI shows its first screen, and how soon the dump is open, on each real sample.
Prints JSON; asserts nothing (a timed test would fail on a loaded machine, not on a slow TUI).

    python benchmarks/bench_tui.py [SAMPLE ...]

Runs the app headless (Textual's ``run_test``) with a temporary marks file and cache, and reports,
in seconds from the app's creation: ``first_paint`` (the main screen's first refresh) and
``loaded`` (the opened session reaching the screen).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]  # tests/snapshot_apps/helpers.py finds the samples

from snapshot_apps.helpers import sample, settle  # noqa: E402

from pmoview.inputs import InputOptions  # noqa: E402
from pmoview.tui.app import make_app  # noqa: E402

DEFAULT = ("seed-correct", "linux-x86_64-4l-nokaslr", "linux-x86_64-5l-kaslr", "linux-arm64")


async def measure(name: str, tmp: str) -> dict[str, object]:
    found = sample(name)
    if found is None:
        return {"sample": name, "skipped": "not here"}
    dump, kernel = found
    inputs = InputOptions(str(dump), kernel=None if kernel is None else str(kernel))
    app = make_app(inputs, marks=os.path.join(tmp, f"{name}.marks.json"))
    async with app.run_test(size=(160, 50)) as pilot:
        await settle(app, pilot)
        paint = app.main.first_paint
        return {
            "sample": name,
            "dump_bytes": dump.stat().st_size,
            "first_paint_s": None if paint is None else round(paint - app.started, 3),
            "loaded_s": None if app.loaded_at is None else round(app.loaded_at - app.started, 3),
        }


def main() -> None:
    names = sys.argv[1:] or list(DEFAULT)
    with tempfile.TemporaryDirectory(prefix="pmoview-bench-") as tmp:
        os.environ.setdefault("PMOVIEW_CACHE", os.path.join(tmp, "cache"))
        for name in names:
            print(json.dumps(asyncio.run(measure(name, tmp))))


if __name__ == "__main__":
    main()

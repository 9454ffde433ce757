"""How soon the TUI shows its first screen, how soon the dump is open, and whether the event loop
stays responsive while the dump is walked and checked. Prints JSON; asserts nothing (a timed test
would fail on a loaded machine, not on a slow TUI).

    python benchmarks/bench_tui.py [SAMPLE_OR_DUMP ...]
    python benchmarks/bench_tui.py /tmp/dm-1t.elf      # a dump by path (make_synthetic.py writes big ones)

Runs the app headless (Textual's ``run_test``) with a temporary marks file and cache, and reports,
in seconds from the app's creation: ``first_paint`` (the main screen's first refresh), ``loaded``
(the opened session reaching the screen), ``tree`` (root 0's top table listed in the tree), ``walked``
(root 0's mappings on screen), ``checked`` (the findings on screen) and ``done`` (no analysis worker
left). ``table_load_during`` is how long a table load asked for during the walk, and during the checks,
took (what a user expanding the tree then waits). While the workers run it probes the event loop:
``loop_lag`` is how late a 10 ms sleep wakes (the loop is busy, or a worker holds the GIL), and ``key``
how long a key press takes from the driver to the refresh after it (views switch, the cursor moves);
``key_idle`` the same once every worker is done.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]  # tests/snapshot_apps/helpers.py finds the samples

from snapshot_apps.helpers import sample, settle  # noqa: E402
from textual import events  # noqa: E402

from pmoview.inputs import InputOptions  # noqa: E402
from pmoview.tui.app import make_app  # noqa: E402
from pmoview.tui.widgets.pagetable_tree import PageTableTree  # noqa: E402

DEFAULT = ("seed-correct", "linux-x86_64-4l-nokaslr", "linux-x86_64-5l-kaslr", "linux-arm64")


def stats(samples: list[float]) -> dict[str, object]:
    if not samples:
        return {"n": 0}
    xs = sorted(samples)
    return {
        "n": len(xs),
        "median_ms": round(xs[len(xs) // 2] * 1e3, 1),
        "p95_ms": round(xs[int(len(xs) * 0.95)] * 1e3, 1),
        "max_ms": round(xs[-1] * 1e3, 1),
    }


async def key_round_trip(app: Any, key: str) -> float:
    """Seconds from a key reaching the app (as the terminal driver delivers it) to the screen refresh
    after it was handled. Not ``pilot.press``: that waits until the process is idle, and with a worker
    walking it never is (it returns after its 1 s cap)."""
    done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def painted() -> None:
        if not done.done():
            done.set_result(None)

    t = time.monotonic()
    event = events.Key(key, key if len(key) == 1 else None)
    event.set_sender(app)
    app._driver.send_message(event)
    app.call_later(lambda: app.screen.call_after_refresh(painted))
    await done
    return time.monotonic() - t


async def probe(app: Any, pilot: Any, timeout: float) -> dict[str, object]:
    """Until the analysis workers are done: event-loop lag every 10 ms, a key press every 0.2 s."""
    lags: list[float] = []
    keys: list[float] = []
    stamps: dict[str, float] = {}
    presses = ("2", "down", "1", "down", "4", "1")
    end = time.monotonic() + timeout
    last_key = 0.0
    tables: dict[str, float] = {}  # phase -> seconds a table load asked for in that phase took
    asked: tuple[str, float, asyncio.Event] | None = None
    while time.monotonic() < end:
        s = app.session
        if s is not None and s.mappings and "walked" not in stamps and app.main.mapping_model is not None:
            stamps["walked"] = time.monotonic()
        tree = app.main.query_one(PageTableTree)
        if "tree" not in stamps and tree.root.children and tree.root.children[0].data.done.is_set():
            stamps["tree"] = time.monotonic()
        if app.main.checked and "checked" not in stamps:
            stamps["checked"] = time.monotonic()
        if asked is not None and asked[2].is_set():
            tables[asked[0]], asked = round(time.monotonic() - asked[1], 3), None
        phase = "walk" if "walked" not in stamps else "checks" if "checked" not in stamps else None
        if asked is None and "tree" in stamps and phase is not None and phase not in tables:
            node = unloaded_table(tree)  # what a user expanding the tree now waits for
            if node is not None:
                asked = (phase, time.monotonic(), tree.ensure_loaded(node))
        busy = [w for w in app.workers if w.group in ("load", "walk") and not w.is_finished]
        if s is not None and not busy and app.loaded_at is not None:
            stamps["done"] = time.monotonic()
            break
        t = time.monotonic()
        await asyncio.sleep(0.01)
        lags.append(time.monotonic() - t - 0.01)
        if time.monotonic() - last_key > 0.2:
            keys.append(await key_round_trip(app, presses[len(keys) % len(presses)]))
            last_key = time.monotonic()
    return {"stamps": stamps, "table_load_during": tables, "loop_lag": stats(lags), "key": stats(keys)}


def unloaded_table(tree: Any) -> Any | None:
    """A node of the tree that points to a table not loaded yet, breadth first."""
    queue = list(tree.root.children)
    while queue:
        node = queue.pop(0)
        if node.allow_expand and node.data is not None and not node.data.loaded:
            return node
        queue.extend(node.children)
    return None


async def measure(name: str, tmp: str, timeout: float) -> dict[str, object]:
    if os.path.isfile(name):
        dump, kernel = Path(name), None
    else:
        found = sample(name)
        if found is None:
            return {"sample": name, "skipped": "not here"}
        dump, kernel = found
    inputs = InputOptions(str(dump), kernel=None if kernel is None else str(kernel))
    app = make_app(inputs, marks=os.path.join(tmp, f"{dump.name}.marks.json"))
    async with app.run_test(size=(160, 50)) as pilot:
        probed = await probe(app, pilot, timeout)
        await settle(app, pilot)
        idle = [await key_round_trip(app, k) for k in ("2", "down", "1", "down", "4", "1") * 2]
        paint = app.main.first_paint
        stamps: dict[str, float] = probed.pop("stamps")  # type: ignore[assignment]
        return {
            "sample": name,
            "dump_bytes": dump.stat().st_size,
            "first_paint_s": None if paint is None else round(paint - app.started, 3),
            "loaded_s": None if app.loaded_at is None else round(app.loaded_at - app.started, 3),
            **{f"{k}_s": round(v - app.started, 3) for k, v in stamps.items()},
            **probed,
            "key_idle": stats(idle),
        }


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--timeout=")]
    timeout = next((float(a.split("=", 1)[1]) for a in sys.argv[1:] if a.startswith("--timeout=")), 600.0)
    names = args or list(DEFAULT)
    with tempfile.TemporaryDirectory(prefix="pmoview-bench-") as tmp:
        os.environ.setdefault("PMOVIEW_CACHE", os.path.join(tmp, "cache"))
        for name in names:
            print(json.dumps(asyncio.run(measure(name, tmp, timeout))))


if __name__ == "__main__":
    main()

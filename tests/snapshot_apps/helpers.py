"""Helpers for the TUI tests: which real samples exist, and waiting for the app's workers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent.parent
SAMPLES = ROOT / "sample_dumps"
DUMP_NAMES = ("dump.kdump", "dump.kdump.xz", "dump.elf.xz", "dump.elf")

# Workers that live as long as the app (they wait on a queue) are not waited for.
LONG_LIVED = {"tree-loader"}


def sample(name: str) -> tuple[Path, Path | None] | None:
    """(dump, kernel ELF or None) of ``sample_dumps/name``, or None when the sample is not there."""
    d = SAMPLES / name
    for n in DUMP_NAMES:
        p = d / n
        if p.is_file() and p.stat().st_size > 0 and p.stat().st_mode & 0o444 == 0o444:
            kernel = d / "kernel.elf"
            return p, (kernel if kernel.is_file() else None)
    return None


async def settle(app: Any, pilot: Any, rounds: int = 40) -> None:
    """Wait until no short-lived worker runs and the message queues are drained."""
    for _ in range(rounds):
        await pilot.pause()
        busy = [w for w in app.workers if w.group not in LONG_LIVED and not w.is_finished]
        if not busy:
            await pilot.pause()
            if not [w for w in app.workers if w.group not in LONG_LIVED and not w.is_finished]:
                return
            continue
        await app.workers.wait_for_complete(busy)
    raise AssertionError("workers did not settle")


def run_async(fn: Any) -> Any:
    """Run an ``async def`` test on a fresh event loop (no pytest-asyncio needed)."""
    import asyncio
    import functools

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return asyncio.run(fn(*args, **kwargs))

    return wrapper

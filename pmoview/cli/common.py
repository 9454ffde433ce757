"""What every command shares: stderr notes, the damage warning, hex formatting. Opening the inputs is
the model's (``pmoview.inputs``); ``pmoview.cli.options.input_options`` turns flags into its options."""

from __future__ import annotations

import argparse
import sys

from pmoview.inputs import Inputs, open_inputs
from pmoview.memory import PhysicalMemory


def hexs(n: int | None) -> str | None:
    return None if n is None else hex(n)


PENDING_NOTES: list[str] = []


def note(msg: str) -> None:
    """A remark for stderr, printed when the command ends: on unusable input the error stays the one line."""
    PENDING_NOTES.append(f"pmoview: {msg}")


def warn_damage(mem: PhysicalMemory) -> None:
    """Blocks the dump claims but cannot deliver read as absent; say so once, with the first reason."""
    count = mem.info.details.get("unreadable_blocks")
    if count:
        note(
            f"{count} block(s) of the dump are unreadable and were treated as absent; first: "
            f"{mem.info.details.get('first_unreadable')}"
        )


def flush_notes() -> None:
    for line in PENDING_NOTES:
        print(line, file=sys.stderr)
    PENDING_NOTES.clear()


class UnpackReport:
    """Decompression progress on a terminal's stderr, kept on one line and erased when done: a script
    or CI log (stderr not a terminal) sees nothing, so unusable input stays one line there."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.shown = -1

    def __call__(self, done: int, total: int) -> None:
        if not sys.stderr.isatty():
            return
        percent = 100 * done // max(total, 1)
        if percent != self.shown:
            self.shown = percent
            print(
                f"\rpmoview: decompressing {self.path} into the cache (once): {percent:3d}%",
                end="",
                file=sys.stderr,
                flush=True,
            )

    def finish(self) -> None:
        if self.shown >= 0:
            print("\r\033[K", end="", file=sys.stderr, flush=True)


def open_for_command(args: argparse.Namespace, *, require_root: bool = True) -> Inputs:
    """``open_inputs`` for a command: decompression progress on a terminal, warnings about a root the
    user named as notes on stderr."""
    from pmoview.cli.options import input_options

    options = input_options(args)
    report = UnpackReport(options.dump)
    try:
        inputs = open_inputs(options, require_root=require_root, unpack=report)
    finally:
        report.finish()
    for warning in inputs.warnings:
        note(warning)
    return inputs

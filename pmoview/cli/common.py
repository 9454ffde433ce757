"""What every command shares: stderr notes, the damage warning, hex formatting. Opening the inputs is
the model's (``pmoview.inputs``); ``pmoview.cli.options.input_options`` turns flags into its options."""

from __future__ import annotations

import sys

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

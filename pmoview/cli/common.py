"""Opening what the command line names: the dump, the kernel ELF, the roots."""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass

from parsers.errors import DumpFormatError
from pmoview.arch import Root, WalkLimits
from pmoview.kernel import KernelImage
from pmoview.memory import PhysicalMemory, open_dump
from pmoview.roots import find_roots, options_from_args


@dataclass
class Opened:
    mem: PhysicalMemory
    kernel: KernelImage | None


def open_inputs(args: argparse.Namespace) -> Opened:
    mem = open_dump(args.dump, fmt=args.dump_format, base=args.base)
    kernel = None
    if getattr(args, "kernel", None):
        kernel = KernelImage.open(args.kernel, getattr(args, "system_map", None))
    elif getattr(args, "system_map", None):
        from pmoview.kernel import load_system_map

        kernel = KernelImage(args.system_map, mem.arch or "x86_64", 0, [], load_system_map(args.system_map))
    return Opened(mem, kernel)


def all_roots(opened: Opened, args: argparse.Namespace) -> list[Root]:
    """Every root candidate, best first; unusable input when there is none. Candidates pmoview cannot
    walk are left out with a note (or named in the error when nothing else is left)."""
    problems: list[str] = []
    roots = find_roots(opened.mem, opened.kernel, options_from_args(args), problems)
    if not roots:
        raise DumpFormatError(
            opened.mem.path,
            None,
            "a page-table root (CPU state, VMCOREINFO, a kernel symbol, "
            "or a table found by scanning); give --cr3 or --ttbr1",
            "none" if not problems else "only roots pmoview cannot walk: " + "; ".join(problems),
        )
    for problem in problems:
        note(f"root left out: {problem}")
    return roots


def walk_limits(args: argparse.Namespace) -> WalkLimits:
    max_tables = getattr(args, "max_tables", None)
    return WalkLimits() if max_tables is None else WalkLimits(max_tables=max_tables)


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

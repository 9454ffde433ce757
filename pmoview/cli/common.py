"""Opening what the command line names: the dump, the kernel ELF, the roots."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass

from parsers.errors import DumpFormatError
from pmoview.arch import Root, WalkLimits
from pmoview.cli.options import OptionError
from pmoview.kernel import KernelImage
from pmoview.memory import PhysicalMemory, open_dump
from pmoview.roots import EXPLICIT_SOURCES, ImpossibleRoot, find_roots, judge_explicit_root, options_from_args


@dataclass
class Opened:
    mem: PhysicalMemory
    kernel: KernelImage | None


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


def open_inputs(args: argparse.Namespace) -> Opened:
    report = UnpackReport(args.dump)
    try:
        mem = open_dump(args.dump, fmt=args.dump_format, base=args.base, progress=report)
    finally:
        report.finish()
    kernel = None
    if getattr(args, "kernel", None):
        kernel = KernelImage.open(args.kernel, getattr(args, "system_map", None))
    elif getattr(args, "system_map", None):
        from pmoview.kernel import load_system_map

        kernel = KernelImage(args.system_map, mem.arch or "x86_64", 0, [], load_system_map(args.system_map))
    return Opened(mem, kernel)


def all_roots(opened: Opened, args: argparse.Namespace, warn: Callable[[str], None] | None = None) -> list[Root]:
    """Every root candidate, best first; unusable input when there is none or when a root the options
    name is not in the dump; ``warn`` (default: a note on stderr) hears about implausible ones."""
    roots = find_roots(opened.mem, opened.kernel, options_from_args(args))
    for root in roots:
        if root.source in EXPLICIT_SOURCES:
            try:
                warning = judge_explicit_root(opened.mem, root)
            except ImpossibleRoot as exc:
                raise OptionError(str(exc)) from None
            if warning:
                (warn or note)(warning)
    if not roots:
        raise DumpFormatError(
            opened.mem.path,
            None,
            "a page-table root (CPU state, VMCOREINFO, a kernel symbol, "
            "or a table found by scanning); give --cr3 or --ttbr1",
            "none",
        )
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

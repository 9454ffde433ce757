"""Opening what the command line names: the dump, the kernel ELF, the roots."""
from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass

from pmoview.kernel import KernelImage
from pmoview.memory import PhysicalMemory, open_dump


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


def hexs(n: int | None) -> str | None:
    return None if n is None else hex(n)


def note(msg: str) -> None:
    print(f"pmoview: {msg}", file=sys.stderr)

"""``pmoview diff A [B]``: what two dumps, or two roots of one dump, map differently. Exit 0 when the
mappings are equal, 1 when they differ, 2 on unusable input, as diff(1)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any, TextIO

from parsers.errors import DumpFormatError
from pmoview.arch import Root
from pmoview.cli.common import note, warn_damage
from pmoview.cli.mappings_output import TEXT_ROW, flags_json
from pmoview.cli.options import add_dump_options, add_root_options, input_options, parse_int, parse_va_range
from pmoview.diff import Change, SpaceDiff, diff_spaces, va_order
from pmoview.inputs import Inputs, open_inputs
from pmoview.sizes import size_short
from pmoview.space import Flags, Mapping

PAGE_MASK = ~0xFFF  # a CR3 or TTBR value: the low bits are flags (PCID, CnP, ASID is above 48)
WRITE_BLOCK = 4096  # entries formatted and written at a time


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "diff",
        help="mappings only in A (removed), only in B (added), or different (changed); exit 0 equal, 1 differ",
        description=__doc__,
    )
    add_dump_options(p)
    p.add_argument("dump_b", metavar="B", nargs="?", help="second dump (default: A again, with --root-a/--root-b)")
    p.add_argument("--root-a", type=parse_int, metavar="PA", help="top table of A (a CR3 or TTBR value)")
    p.add_argument("--root-b", type=parse_int, metavar="PA", help="top table of B")
    p.add_argument("--range", type=parse_va_range, metavar="START-END", help="compare only this VA range")
    add_root_options(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=run)


def pick_root(inputs: Inputs, table: int | None, label: str, default: Root) -> Root:
    """``table`` as a root of the dump's best root's kind, checked to be in the dump, else ``default``."""
    if table is None:
        return default
    pa = table & PAGE_MASK & ((1 << 52) - 1)
    if inputs.mem.read_page(pa) is None:
        raise DumpFormatError(inputs.path, None, f"the top table given by {label} in the dump", f"no page at {pa:#x}")
    return replace(inputs.roots[0], table=pa, source=label, cpu=None)


def run(args: argparse.Namespace) -> int:
    a_in = open_inputs(input_options(args))
    b_in = a_in if args.dump_b is None else open_inputs(replace(input_options(args), dump=args.dump_b))
    if args.dump_b is None and args.root_b is None and len(a_in.roots) < 2:
        raise DumpFormatError(
            a_in.path, None, "two page-table roots to compare (or give --root-a/--root-b, or a second dump)", "one"
        )
    default_b = b_in.roots[0] if args.dump_b is not None else a_in.roots[1 if len(a_in.roots) > 1 else 0]
    root_a = pick_root(a_in, args.root_a, "--root-a", a_in.roots[0])
    root_b = pick_root(b_in, args.root_b, "--root-b", default_b)
    note(
        f"A: {root_a.mode} root at {root_a.table:#x} ({root_a.source}); "
        f"B: {root_b.mode} root at {root_b.table:#x} ({root_b.source})"
    )
    lo, hi = args.range if args.range else (None, None)
    try:
        result = diff_spaces(a_in.space(root_a), b_in.space(root_b), lo, hi)
    except ValueError as exc:
        raise DumpFormatError(b_in.path, None, f"a dump of the same architecture as {a_in.path}", str(exc)) from None
    warn_damage(a_in.mem)
    if b_in is not a_in:
        warn_damage(b_in.mem)
    side_a: dict[str, object] = {"dump": a_in.path, "root": root_a.to_json()}
    side_b: dict[str, object] = {"dump": b_in.path, "root": root_b.to_json()}
    if args.json:
        write_json(result, side_a, side_b, sys.stdout)
    elif not result.equal:
        print(f"--- {a_in.path}\troot {root_a.table:#x} ({root_a.source})")
        print(f"+++ {b_in.path}\troot {root_b.table:#x} ({root_b.source})")
        write_lines(result, sys.stdout)
    return 0 if result.equal else 1


class _Texts:
    """Per-``Flags`` text, made once: a diff of two dumps has 100 000s of entries and a few flags."""

    def __init__(self) -> None:
        self._json: dict[tuple[Flags, int], str] = {}
        self._text: dict[Flags, str] = {}

    def flags_json(self, flags: Flags, depth: int) -> str:
        """``flags_json(flags)`` as ``json.dumps(..., indent=2)`` writes it ``depth`` levels down."""
        key = (flags, depth)
        out = self._json.get(key)
        if out is None:
            out = self._json[key] = _nested(json.dumps(flags_json(flags), indent=2), depth)
        return out

    def mapping_json(self, m: Mapping, depth: int) -> str:
        """One mapping as ``mappings --json`` writes it (va_start, va_end, pa_start, page_size, flags),
        ``depth`` levels down in an indent=2 document."""
        i = "  " * (depth + 1)
        return (
            f'{{\n{i}"va_start": "{m.va_start:#x}",\n{i}"va_end": "{m.va_end:#x}",\n{i}"pa_start": "{m.pa_start:#x}",'
            f'\n{i}"page_size": {m.page_size},\n{i}"flags": {self.flags_json(m.flags, depth + 1)}\n{"  " * depth}}}'
        )

    def mapping_line(self, m: Mapping) -> str:
        """One mapping as a ``mappings`` listing line."""
        text = self._text.get(m.flags)
        if text is None:
            text = self._text[m.flags] = m.flags.text()
        size = size_short(m.va_end - m.va_start)
        return TEXT_ROW % (m.va_start, m.va_end, size, m.pa_start, size_short(m.page_size), text)


def _nested(text: str, depth: int) -> str:
    """A value ``json.dumps(..., indent=2)`` wrote at the top, as it writes it ``depth`` levels down."""
    return text.replace("\n", "\n" + "  " * depth)


def write_json(result: SpaceDiff, side_a: dict[str, object], side_b: dict[str, object], out: TextIO) -> None:
    """The diff as ``json.dumps({"a", "b", "added", "removed", "changed"}, indent=2)`` would print it,
    written a block of entries at a time instead of built whole (a diff of two dumps has 100 000s)."""
    texts = _Texts()
    out.write(
        f'{{\n  "a": {_nested(json.dumps(side_a, indent=2), 1)},\n  "b": {_nested(json.dumps(side_b, indent=2), 1)},\n'
    )

    def change(c: Change) -> str:
        return (
            f'{{\n      "va_start": "{c.va_start:#x}",\n      "va_end": "{c.va_end:#x}",\n'
            f'      "a": {texts.mapping_json(c.a, 3)},\n      "b": {texts.mapping_json(c.b, 3)}\n    }}'
        )

    lists: list[tuple[str, Sequence[Any], Callable[[Any], str]]] = [
        ("added", result.added, lambda m: texts.mapping_json(m, 2)),
        ("removed", result.removed, lambda m: texts.mapping_json(m, 2)),
        ("changed", result.changed, change),
    ]
    for n, (key, items, text) in enumerate(lists):
        end = "\n" if n == len(lists) - 1 else ",\n"
        if not items:
            out.write(f'  "{key}": []{end}')
            continue
        out.write(f'  "{key}": [\n')
        for lo in range(0, len(items), WRITE_BLOCK):
            block = items[lo : lo + WRITE_BLOCK]
            out.write(",\n".join("    " + text(x) for x in block))
            out.write(",\n" if lo + WRITE_BLOCK < len(items) else "\n")
        out.write(f"  ]{end}")
    out.write("}\n")


def write_lines(result: SpaceDiff, out: TextIO) -> None:
    """Hunks in VA order, like ``diff -U0`` of two ptdump listings: ``-`` what only A maps (or maps so),
    ``+`` what only B maps (or maps so); written a block of hunks at a time."""
    texts = _Texts()
    removed, added, changed = result.removed, result.added, result.changed
    r, a = len(removed), len(added)

    def hunk(i: int) -> str:
        if i < r:
            m = removed[i]
            return f"@@ {m.va_start:#x}-{m.va_end:#x} removed @@\n-{texts.mapping_line(m)}\n"
        if i < r + a:
            m = added[i - r]
            return f"@@ {m.va_start:#x}-{m.va_end:#x} added @@\n+{texts.mapping_line(m)}\n"
        c = changed[i - r - a]
        return f"@@ {c.va_start:#x}-{c.va_end:#x} changed @@\n-{texts.mapping_line(c.a)}\n+{texts.mapping_line(c.b)}\n"

    order = va_order(result).tolist()
    for lo in range(0, len(order), WRITE_BLOCK):
        out.write("".join(map(hunk, order[lo : lo + WRITE_BLOCK])))

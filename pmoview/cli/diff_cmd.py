"""``pmoview diff A [B]``: what two dumps, or two roots of one dump, map differently. Exit 0 when the
mappings are equal, 1 when they differ, 2 on unusable input, as diff(1)."""

from __future__ import annotations

import argparse
import json
from dataclasses import replace

from parsers.errors import DumpFormatError
from pmoview.arch import Root
from pmoview.cli.common import note, warn_damage
from pmoview.cli.mappings_output import TEXT_ROW, flags_json
from pmoview.cli.options import add_dump_options, add_root_options, input_options, parse_int, parse_va_range
from pmoview.diff import SpaceDiff, diff_spaces
from pmoview.inputs import Inputs, open_inputs
from pmoview.sizes import size_short
from pmoview.space import Mapping

PAGE_MASK = ~0xFFF  # a CR3 or TTBR value: the low bits are flags (PCID, CnP, ASID is above 48)


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
        print(json.dumps(diff_json(result, side_a, side_b), indent=2))
    elif not result.equal:
        print(f"--- {a_in.path}\troot {root_a.table:#x} ({root_a.source})")
        print(f"+++ {b_in.path}\troot {root_b.table:#x} ({root_b.source})")
        for line in diff_lines(result):
            print(line)
    return 0 if result.equal else 1


def mapping_json(m: Mapping) -> dict[str, object]:
    """One mapping as ``mappings --json`` writes it."""
    return {
        "va_start": hex(m.va_start),
        "va_end": hex(m.va_end),
        "pa_start": hex(m.pa_start),
        "page_size": m.page_size,
        "flags": flags_json(m.flags),
    }


def mapping_line(m: Mapping) -> str:
    """One mapping as a ``mappings`` listing line."""
    size = size_short(m.va_end - m.va_start)
    return TEXT_ROW % (m.va_start, m.va_end, size, m.pa_start, size_short(m.page_size), m.flags.text())


def diff_json(result: SpaceDiff, side_a: dict[str, object], side_b: dict[str, object]) -> dict[str, object]:
    return {
        "a": side_a,
        "b": side_b,
        "added": [mapping_json(m) for m in result.added],
        "removed": [mapping_json(m) for m in result.removed],
        "changed": [
            {"va_start": hex(c.va_start), "va_end": hex(c.va_end), "a": mapping_json(c.a), "b": mapping_json(c.b)}
            for c in result.changed
        ],
    }


def diff_lines(result: SpaceDiff) -> list[str]:
    """Hunks in VA order, like ``diff -U0`` of two ptdump listings: ``-`` what only A maps (or maps so),
    ``+`` what only B maps (or maps so)."""
    hunks: list[tuple[int, list[str]]] = []
    hunks += [
        (m.va_start, [f"@@ {m.va_start:#x}-{m.va_end:#x} removed @@", "-" + mapping_line(m)]) for m in result.removed
    ]
    hunks += [(m.va_start, [f"@@ {m.va_start:#x}-{m.va_end:#x} added @@", "+" + mapping_line(m)]) for m in result.added]
    hunks += [
        (c.va_start, [f"@@ {c.va_start:#x}-{c.va_end:#x} changed @@", "-" + mapping_line(c.a), "+" + mapping_line(c.b)])
        for c in result.changed
    ]
    return [line for _, lines in sorted(hunks, key=lambda h: h[0]) for line in lines]

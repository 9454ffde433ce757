"""``pmoview translate DUMP VA...`` and ``pmoview mappings DUMP``: the walker, headless."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from pmoview.cli.common import hexs, note, warn_damage
from pmoview.cli.mappings_output import flags_json
from pmoview.cli.options import add_dump_options, add_root_options, input_options, parse_int, parse_va_range
from pmoview.inputs import open_inputs
from pmoview.sizes import size_short
from pmoview.space import AddressSpace


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    t = sub.add_parser("translate", help="VA -> PA with page size, effective flags and the entries walked")
    add_dump_options(t)
    t.add_argument("vas", metavar="VA", nargs="+", type=parse_int, help="virtual addresses (0x... hex)")
    add_root_options(t)
    t.add_argument("--json", action="store_true")
    t.set_defaults(run=run_translate)

    m = sub.add_parser("mappings", help="merged mappings, ptdump style")
    add_dump_options(m)
    add_root_options(m, kernel_option="--kernel-elf")
    m.add_argument("--json", action="store_true")
    m.add_argument("--writable", action="store_true", help="only writable mappings")
    m.add_argument("--exec", action="store_true", help="only executable (kernel) mappings")
    m.add_argument("--user", action="store_true", help="only user-accessible mappings")
    m.add_argument(
        "--kernel",
        dest="kernel_only",
        action="store_true",
        help="only supervisor mappings in the kernel half (the kernel ELF is --kernel-elf here)",
    )
    m.add_argument("--range", type=parse_va_range, metavar="START-END", help="only mappings overlapping this VA range")
    m.set_defaults(run=run_mappings)


def open_space(args: argparse.Namespace) -> AddressSpace:
    """Open the dump, pick the best root (or the one the options name) and say which on stderr."""
    inputs = open_inputs(input_options(args))
    roots = inputs.roots
    root = roots[0]
    for problem in inputs.left_out:
        note(f"root left out: {problem}")
    note(
        f"using {root.mode} root at {root.table:#x} from {root.source}"
        + (f" ({len(roots) - 1} other candidates: pmoview info lists them)" if len(roots) > 1 else "")
    )
    return inputs.space(root)


def path_json(path: Any) -> list[dict[str, Any]]:
    return [{"level": e.level, "index": e.index, "entry": hex(e.entry)} for e in path]


def run_translate(args: argparse.Namespace) -> int:
    space = open_space(args)
    translations = [space.translate(va) for va in args.vas]
    results = []
    for va, t in zip(args.vas, translations, strict=True):
        results.append(
            {
                "va": hex(va),
                "pa": hexs(t.pa),
                "page_size": t.page_size,
                "flags": flags_json(t.flags),
                "path": path_json(t.path),
                "reason": t.reason,
                "backed": t.backed,
                "absent": t.absent,
            }
        )
    warn_damage(space.mem)
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    for va, t in zip(args.vas, translations, strict=True):
        if t.pa is None:
            print(f"{va:#018x} -> unmapped: {t.reason}" + (f" ({t.absent})" if t.absent else ""))
        else:
            size = size_short(t.page_size) if t.page_size else "?"
            print(f"{va:#018x} -> {t.pa:#x}  ({size} page, {t.flags.text() if t.flags else ''})")
            if t.absent:
                print(f"    frame {t.pa:#x} is not in the dump: {t.absent}")
        for e in t.path:
            print(f"    {space.level_name(e.level)}[{e.index}] = {e.entry:#018x}")
    return 0


def run_mappings(args: argparse.Namespace) -> int:
    from pmoview.cli.mappings_output import write_json, write_text
    from pmoview.mapfilter import filter_words, parse_filter

    space = open_space(args)
    flt = parse_filter(filter_words(args.writable, args.exec, args.user, args.kernel_only, args.range))
    start, end = args.range if args.range else (None, None)
    # The walk itself is limited to the range (leaves meeting it, merged), as before columns.
    batches = (flt.apply(cols) for cols in space.mapping_batches(va_start=start, va_end=end))
    (write_json if args.json else write_text)(batches, sys.stdout, space.mem.absent_reasons)
    _warn_limits(space)
    warn_damage(space.mem)
    return 0


def _warn_limits(space: Any) -> None:
    """A walk cut short by a cap must say so: silent truncation would read as "not mapped"."""
    limits = [a for a in space.anomalies if a.kind == "limit"]
    if limits:
        flag = "--max-revisits" if "max_revisits" in limits[0].detail else "--max-tables"
        note(f"incomplete output: {limits[0].detail} ({flag} raises it)")

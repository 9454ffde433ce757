"""``pmoview translate DUMP VA...`` and ``pmoview mappings DUMP``: the walker, headless."""

from __future__ import annotations

import argparse
import json
from typing import Any

from pmoview.cli.common import hexs, note, warn_damage
from pmoview.cli.options import add_dump_options, add_root_options, input_options, parse_int, parse_va_range
from pmoview.inputs import open_inputs
from pmoview.space import AddressSpace, Mapping

FLAG_NAMES = ("present", "writable", "user", "nx", "user_nx", "global_", "accessed", "dirty")


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
    note(
        f"using {root.mode} root at {root.table:#x} from {root.source}"
        + (f" ({len(roots) - 1} other candidates: pmoview info lists them)" if len(roots) > 1 else "")
    )
    return inputs.space(root)


def flags_json(flags: Any) -> dict[str, Any] | None:
    if flags is None:
        return None
    out: dict[str, Any] = {}
    for name in FLAG_NAMES:
        if hasattr(flags, name):
            out[name.rstrip("_")] = bool(getattr(flags, name))
    if getattr(flags, "cache", None) is not None:
        out["cache"] = flags.cache
    return out


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
            }
        )
    warn_damage(space.mem)
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    for va, t in zip(args.vas, translations, strict=True):
        if t.pa is None:
            print(f"{va:#018x} -> unmapped: {t.reason}")
        else:
            print(f"{va:#018x} -> {t.pa:#x}  ({_size(t.page_size)} page, {t.flags.text() if t.flags else ''})")
        for e in t.path:
            print(f"    {space.level_name(e.level)}[{e.index}] = {e.entry:#018x}")
    return 0


def _size(n: int | None) -> str:
    if not n:
        return "?"
    for unit, shift in (("G", 30), ("M", 20), ("K", 10)):
        if n >= 1 << shift and n % (1 << shift) == 0:
            return f"{n >> shift}{unit}"
    return str(n)


def run_mappings(args: argparse.Namespace) -> int:
    space = open_space(args)
    start, end = args.range if args.range else (None, None)
    maps = []
    for m in space.mappings(va_start=start, va_end=end):
        f = m.flags
        if args.writable and not f.writable:
            continue
        if args.exec and f.nx:
            continue
        if args.user and not f.user:
            continue
        if args.kernel_only and (f.user or m.va_start < (1 << 63)):
            continue
        maps.append(m)
    _warn_limits(space)
    warn_damage(space.mem)
    if args.json:
        print(
            json.dumps(
                [mapping_json(m) for m in maps],
                indent=2,
            )
        )
        return 0
    for m in maps:
        print(mapping_line(m))
    return 0


def mapping_json(m: Mapping) -> dict[str, Any]:
    """One mapping as ``mappings --json`` prints it (``diff`` uses the same objects)."""
    return {
        "va_start": hex(m.va_start),
        "va_end": hex(m.va_end),
        "pa_start": hex(m.pa_start),
        "page_size": m.page_size,
        "flags": flags_json(m.flags),
    }


def mapping_line(m: Mapping) -> str:
    """One mapping as a ptdump-style line, as ``mappings`` prints it."""
    return (
        f"{m.va_start:#018x}-{m.va_end:#018x} {_human(m.va_end - m.va_start):>7} -> {m.pa_start:#014x}  "
        f"{_size(m.page_size):>3}  {m.flags.text()}"
    )


def _warn_limits(space: Any) -> None:
    """A walk cut short by a cap must say so: silent truncation would read as "not mapped"."""
    limits = [a for a in space.anomalies if a.kind == "limit"]
    if limits:
        note(f"incomplete output: {limits[0].detail} (--max-tables raises it)")


def _human(n: int) -> str:
    for unit, shift in (("T", 40), ("G", 30), ("M", 20), ("K", 10)):
        if n >= 1 << shift:
            v = n / (1 << shift)
            return f"{v:.0f}{unit}" if v == int(v) else f"{v:.1f}{unit}"
    return f"{n}"

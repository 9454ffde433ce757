"""``pmoview translate DUMP VA...`` and ``pmoview mappings DUMP``: the walker, headless."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from pmoview.arch import Root
from pmoview.cli.common import hexs, note, open_for_command, warn_damage
from pmoview.cli.mappings_output import flags_json
from pmoview.cli.options import add_dump_options, add_root_options, parse_va_range
from pmoview.inputs import Inputs
from pmoview.sizes import size_short
from pmoview.space import AddressSpace

if TYPE_CHECKING:  # the checks package is loaded only when the text listing names regions
    from pmoview.checks.regions import Region


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    t = sub.add_parser("translate", help="VA -> PA with page size, effective flags and the entries walked")
    add_dump_options(t)
    t.add_argument(
        "vas",
        metavar="VA",
        nargs="+",
        help="virtual addresses, hex with or without 0x (ffffffff81000000, as crash's vtop takes them)",
    )
    add_root_options(t)
    t.add_argument("--json", action="store_true")
    t.set_defaults(run=run_translate)

    m = sub.add_parser("mappings", help="merged mappings, ptdump style")
    add_dump_options(m)
    add_root_options(m)
    m.add_argument("--json", action="store_true")
    m.add_argument("--writable", action="store_true", help="only writable mappings")
    m.add_argument("--exec", action="store_true", help="only executable (kernel) mappings")
    m.add_argument("--user", action="store_true", help="only user-accessible mappings")
    m.add_argument(
        "--supervisor",
        action="store_true",
        help="only supervisor mappings in the kernel half (before 0.2 this was --kernel, now the ELF everywhere)",
    )
    m.add_argument("--range", type=parse_va_range, metavar="START-END", help="only mappings overlapping this VA range")
    m.set_defaults(run=run_mappings)


def open_space(args: argparse.Namespace) -> AddressSpace:
    return open_inputs_and_space(args)[1]


def open_inputs_and_space(args: argparse.Namespace) -> tuple[Inputs, AddressSpace]:
    """Open the dump, pick the best root (or the one the options name) and say which on stderr."""
    inputs = open_for_command(args)
    roots = inputs.roots
    root = roots[0]
    for problem in inputs.left_out:
        note(f"root left out: {problem}")
    note(
        f"using {root.mode} root at {root.table:#x} from {root.source}"
        + (f" ({len(roots) - 1} other candidates: pmoview info lists them)" if len(roots) > 1 else "")
    )
    return inputs, inputs.space(root)


def _root_for(inputs: Inputs, best: Root, va: int) -> Root:
    """AArch64: the MMU takes TTBR1 for a VA with bit 55 set, TTBR0 otherwise; so does translate, with the
    other half's root of the same CPU (or of no CPU) when one was found. Other architectures: ``best``."""
    if best.arch != "aarch64" or best.half is None:
        return best
    want = "ttbr1" if (va >> 55) & 1 else "ttbr0"
    if best.half == want:
        return best
    return next((r for r in inputs.roots if r.arch == "aarch64" and r.half == want and r.cpu == best.cpu), best)


def path_json(path: Any) -> list[dict[str, Any]]:
    """The entries walked; ``entry_pa`` is where each entry is (its table's PA + 8 x index)."""
    return [
        {"level": e.level, "index": e.index, "entry": hex(e.entry), "entry_pa": hex(e.table_pa + 8 * e.index)}
        for e in path
    ]


def parse_va(text: str) -> int:
    """A VA as the field writes one: hex with or without ``0x`` (crash's ``vtop`` takes bare hex), ``_``
    or a backtick between digits (``ffffffff`81000000``, as WinDbg and gdb scripts print them)."""
    digits = text.strip().lower().replace("_", "").replace("`", "")
    digits = digits[2:] if digits.startswith("0x") else digits
    if not digits or any(c not in "0123456789abcdef" for c in digits):
        raise ValueError(f"not an address: {text!r} (hex, e.g. ffffffff81000000)")
    va = int(digits, 16)
    if va >= 1 << 64:
        raise ValueError(f"not an address: {text!r} is wider than 64 bits")
    return va


def run_translate(args: argparse.Namespace) -> int:
    inputs, space = open_inputs_and_space(args)
    best = space.root
    spaces: dict[int, AddressSpace] = {id(best): space}

    def space_for(va: int) -> AddressSpace:
        root = _root_for(inputs, best, va)
        if id(root) not in spaces:
            note(f"VAs in the {root.half} half: {root.mode} root at {root.table:#x} from {root.source}")
            spaces[id(root)] = inputs.space(root)
        return spaces[id(root)]

    results: list[dict[str, Any]] = []
    lines: list[str] = []
    bad = 0
    for text in args.vas:
        try:
            va = parse_va(text)
        except ValueError as exc:
            # One bad address among several is reported for itself; the others are still translated.
            bad += 1
            note(f"{exc}")
            results.append(
                {"va": text, "pa": None, "page_size": None, "flags": None, "path": [], "reason": str(exc)}
                | {"backed": None, "absent": None}
            )
            continue
        t = space_for(va).translate(va)
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
        lines += _vtop_lines(space_for(va), va, t)
    warn_damage(space.mem)
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print("\n".join(lines))
    return 2 if bad else 0


def _vtop_lines(space: AddressSpace, va: int, t: Any) -> list[str]:
    """crash's ``vtop`` layout: the answer, then per level where the entry is and what it holds
    (``PML4: 1c0eff8 => 1c0f067``), bare hex as crash prints it, with the entry's index."""
    if t.pa is None:
        head = f"{va:016x} -> unmapped: {t.reason}" + (f" ({t.absent})" if t.absent else "")
    else:
        size = size_short(t.page_size) if t.page_size else "?"
        head = f"{va:016x} -> {t.pa:x}  ({size} page, {t.flags.text() if t.flags else ''})"
    out = [head.rstrip()]
    if t.pa is not None and t.absent:
        out.append(f"  frame {t.pa:x} is not in the dump: {t.absent}")
    width = max((len(space.level_name(e.level)) for e in t.path), default=0)
    for e in t.path:
        name = space.level_name(e.level)
        out.append(f"  {name:>{width}}: {e.table_pa + 8 * e.index:x} => {e.entry:x}  [{e.index}]")
    if t.pa is not None:
        out.append(f"  {'PAGE':>{width}}: {t.pa - t.pa % (t.page_size or 1):x}")
    return out


def run_mappings(args: argparse.Namespace) -> int:
    from pmoview.cli.mappings_output import write_json, write_text
    from pmoview.mapfilter import filter_words, parse_filter

    inputs, space = open_inputs_and_space(args)
    flt = parse_filter(filter_words(args.writable, args.exec, args.user, args.supervisor, args.range))
    start, end = args.range if args.range else (None, None)
    # The walk itself is limited to the range (leaves meeting it, merged), as before columns.
    batches = (flt.apply(cols) for cols in space.mapping_batches(va_start=start, va_end=end))
    if args.json:
        write_json(batches, sys.stdout, space.mem.absent_reasons)
    else:
        write_text(batches, sys.stdout, space.mem.absent_reasons, _regions(space, inputs.kernel))
    _warn_limits(space)
    warn_damage(space.mem)
    return 0


def _regions(space: AddressSpace, kernel: Any) -> list[Region]:
    """The layout's named regions for the text listing's ``---[ ... ]---`` lines (none when the
    profile cannot be resolved: the listing is still right, only unlabelled)."""
    from pmoview.checks import resolve_profile
    from pmoview.checks.regions import layout_regions

    try:
        profile = resolve_profile(space, space.mem, None, kernel)
    except (LookupError, ValueError) as exc:
        note(f"regions not named: {exc}")
        return []

    def mapped() -> Iterator[tuple[int, int]]:
        # streamed from the kernel half (where KASLR moves regions) and read only as far as needed: a
        # huge tree's mappings are never held, as the listing itself holds one batch
        for cols in space.mapping_batches(va_start=1 << 63):
            yield from zip(cols.va_start.tolist(), cols.va_end_ints(), strict=True)

    return layout_regions(space.mode.arch, space.root.mode, profile, mapped)


def _warn_limits(space: Any) -> None:
    """A walk cut short by a cap must say so: silent truncation would read as "not mapped"."""
    limits = [a for a in space.anomalies if a.kind == "limit"]
    if limits:
        flag = "--max-revisits" if "max_revisits" in limits[0].detail else "--max-tables"
        note(f"incomplete output: {limits[0].detail} ({flag} raises it)")

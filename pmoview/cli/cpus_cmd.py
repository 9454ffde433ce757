"""``pmoview cpus DUMP``: one record per CPU, with its root, its PC translated and its last fault explained."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

from pmoview.cli.common import hexs, warn_damage
from pmoview.cli.mappings_output import flags_json
from pmoview.cli.options import add_dump_options, add_root_options, input_options
from pmoview.cli.translate_cmd import path_json
from pmoview.inputs import open_inputs

if TYPE_CHECKING:
    from pmoview.cpus import CpuView


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("cpus", help="per CPU: mode, PC, SP, root, control registers, PC translated, last fault")
    add_dump_options(p)
    add_root_options(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=run)


def view_json(v: CpuView) -> dict[str, object]:
    t = v.pc_translation
    return {
        "cpu": v.index,
        "arch": v.arch,
        "mode": v.mode,
        "pc": hexs(v.pc),
        "sp": hexs(v.sp),
        "root": None if v.root is None else v.root.to_json(),
        "registers": {k: hexs(val) for k, val in v.registers.items()},
        "pc_translation": None
        if t is None
        else {
            "va": hex(t.va),
            "pa": hexs(t.pa),
            "page_size": t.page_size,
            "flags": flags_json(t.flags),
            "path": path_json(t.path),
            "reason": t.reason,
        },
        "pc_instruction": v.pc_instruction,
        "fault": None if v.fault is None else v.fault.to_json(),
        "notes": list(v.notes),
    }


def run(args: argparse.Namespace) -> int:
    from pmoview.cpus import cpu_views  # instruction decoding (capstone) only for this command

    opened = open_inputs(input_options(args), require_root=False)
    views = cpu_views(opened.mem, opened.roots, opened.options.limits)
    if args.cpu is not None:
        views = [v for v in views if v.index == args.cpu]
    warn_damage(opened.mem)
    if args.json:
        print(json.dumps([view_json(v) for v in views], indent=2))
        return 0
    if not views:
        print("the dump records no CPU state")
    for v in views:
        print("\n".join(view_text(v)))
    return 0


def view_text(v: CpuView) -> list[str]:
    lines = [
        f"CPU {v.index} ({v.arch}): {v.mode + ' mode' if v.mode else 'mode unknown'}, pc {hexs(v.pc)}, sp {hexs(v.sp)}"
        + (f"  [{v.pc_instruction}]" if v.pc_instruction else "")
    ]
    if v.root is not None:
        lines.append(f"  root {v.root.mode} at {v.root.table:#x} ({v.root.source})")
    regs = "  ".join(f"{k}={val:#x}" for k, val in v.registers.items() if val is not None)
    lines.append(f"  {regs}")
    t = v.pc_translation
    if t is not None:
        lines.append(f"  pc -> {t.pa:#x}" if t.pa is not None else f"  pc -> unmapped: {t.reason}")
    f = v.fault
    if f is not None:
        e = f.explanation
        verdict = "allowed now" if e.allowed else f"{e.reason} at {e.level_name}[{e.index}]"
        lines.append(f"  fault: {f.source} {f.va:#x} {f.access} ({f.mode}): {verdict}")
        lines.append(f"    {e.message}")
        lines.append(f"    access: {f.access_from}")
        lines.extend(f"    assumed: {a}" for a in e.assumptions)
    lines.extend(f"  note: {n}" for n in v.notes)
    return lines

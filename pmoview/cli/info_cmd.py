"""``pmoview info DUMP``: what the dump is, what memory it holds, the CPUs, VMCOREINFO, the roots."""

from __future__ import annotations

import argparse
import json
from typing import Any

from pmoview import vmcoreinfo
from pmoview.arch import Root
from pmoview.cli.common import hexs, open_for_command
from pmoview.cli.options import add_dump_options, add_root_options
from pmoview.memory import PhysicalMemory

CPU_TEXT_REGS = (
    *("cr0", "cr3", "cr4", "efer", "rip", "rsp", "pc", "sp", "pstate", "ttbr0_el1", "ttbr1_el1", "tcr_el1"),
    *("satp", "sstatus", "priv"),
)


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("info", help="format, present ranges, CPU registers, VMCOREINFO and page-table roots")
    add_dump_options(p)
    add_root_options(p)
    p.add_argument("--json", action="store_true", help="machine-readable output (see README for the contract)")
    p.set_defaults(run=run)


def collect(mem: PhysicalMemory, roots: list[Root]) -> dict[str, Any]:
    return {
        "path": mem.path,
        "format": mem.format,
        "size": mem.file_size,
        "arch": mem.arch,
        "ranges": [r.to_json() for r in mem.ranges()],
        "cpus": [
            {
                "index": c.index,
                "arch": c.arch,
                "sources": list(c.sources),
                **{k: hex(v) for k, v in sorted(c.regs.items())},
            }
            for c in mem.cpus
        ],
        "vmcoreinfo": dict(mem.vmcoreinfo) if mem.vmcoreinfo is not None else None,
        "vmcoreinfo_highlights": vmcoreinfo.highlights(mem.vmcoreinfo),
        "details": {
            k: (hex(v) if isinstance(v, int) and k in ("phys_base", "base") else v) for k, v in mem.info.details.items()
        },
        "roots": [r.to_json() for r in roots],
    }


def run(args: argparse.Namespace) -> int:
    opened = open_for_command(args, require_root=False)
    mem, roots, problems = opened.mem, opened.roots, opened.left_out
    data = collect(mem, roots)
    if problems:
        data["roots_left_out"] = problems
    if args.json:
        print(json.dumps(data, indent=2))
        return 0
    print(f"{mem.path}: {mem.format}, {mem.file_size:,} bytes, arch {mem.arch or 'unknown'}")
    for k, v in data["details"].items():
        print(f"  {k}: {v}")
    ranges = mem.ranges()
    total = sum(r.size for r in ranges)
    print(f"present physical memory: {len(ranges)} ranges, {total / (1 << 20):,.1f} MiB")
    for r in ranges[:64]:
        print(f"  {r.start:#018x}-{r.end:#018x}  {r.size / (1 << 20):10,.2f} MiB")
    if len(ranges) > 64:
        print(f"  ... {len(ranges) - 64} more (--json lists all)")
    print(f"cpus: {len(mem.cpus)}")
    for c in mem.cpus:
        regs = "  ".join(f"{k}={hexs(c.regs[k])}" for k in CPU_TEXT_REGS if k in c.regs)
        print(f"  cpu {c.index}: {regs}  [{', '.join(c.sources)}]")
    if mem.vmcoreinfo is None:
        print("vmcoreinfo: none")
    else:
        print(f"vmcoreinfo: {len(mem.vmcoreinfo)} keys")
        for k, v in data["vmcoreinfo_highlights"].items():
            print(f"  {k}={v}")
    print(f"roots: {len(roots)}")
    for root in roots:
        j = root.to_json()
        geometry = f" {j['va_bits']}-bit VA, start level {j['start_level']}" if "start_level" in j else ""
        kind = f" {root.kind}" if root.kind else ""
        twin = f" (kernel twin {root.twin:#x})" if root.twin is not None else ""
        print(f"  {j['arch']} {j['mode']}{geometry}{kind} table {j['table']}{twin}  ({j['source']})")
    for problem in problems:
        print(f"  left out: {problem}")
    return 0

"""``pmoview explain DUMP VA``: would this access fault, and on which entry and bit."""

from __future__ import annotations

import argparse
import json

from pmoview.access import ACCESSES, PRIVILEGES, Explanation, control_for, explain, rules_for
from pmoview.cli.common import note, open_for_command, warn_damage
from pmoview.cli.options import OptionError, add_dump_options, add_root_options, parse_int
from pmoview.memory import CpuState, PhysicalMemory
from pmoview.space import AddressSpace


def parse_control(text: str) -> tuple[str, int]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE (e.g. wp=0, smap=1, pkru=0x55555554), got {text!r}")
    return name.strip().lower(), parse_int(value)


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "explain",
        help="walk VA as the MMU does for one access and say whether it faults, on which entry and bit",
        description="Exit 0 when the access is allowed, 1 when it faults, 2 on unusable input.",
    )
    add_dump_options(p)
    p.add_argument("va", metavar="VA", type=parse_int, help="virtual address (0x... hex)")
    p.add_argument("--access", choices=ACCESSES, default="read", help="kind of access (default read)")
    p.add_argument(
        "--mode",
        choices=PRIVILEGES,
        default=None,
        help="privilege (default: the CPU's, from CS or PSTATE; else kernel)",
    )
    add_root_options(p)
    p.add_argument(
        "--control",
        action="append",
        type=parse_control,
        default=[],
        metavar="NAME=VALUE",
        help="override a control setting: x86_64 wp, smep, smap, pke, ac, nxe, pkru; aarch64 pan, hpd, ha, hd; "
        "riscv64 sum, mxr",
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=run)


def pick_cpu(mem: PhysicalMemory, wanted: int | None, root_cpu: int | None) -> CpuState | None:
    """The CPU whose control state applies: ``--cpu``, else the one the root came from, else CPU 0."""
    cpus = {c.index: c for c in mem.cpus}
    if wanted is not None:
        if wanted not in cpus:
            have = ", ".join(str(i) for i in sorted(cpus)) or "none"
            raise OptionError(f"{mem.path}: no CPU {wanted} in the dump (CPUs: {have})")
        return cpus[wanted]
    if root_cpu is not None and root_cpu in cpus:
        return cpus[root_cpu]
    return cpus[min(cpus)] if cpus else None


def run(args: argparse.Namespace) -> int:
    opened = open_for_command(args)
    root = opened.roots[0]
    space = opened.space(root)
    cpu = pick_cpu(opened.mem, args.cpu, root.cpu)
    try:
        state = control_for(root, cpu, dict(args.control))
    except ValueError as exc:
        raise OptionError(str(exc)) from None
    mode = args.mode
    if mode is None:
        mode = (rules_for(root.arch).privilege(cpu.regs) if cpu is not None else None) or "kernel"
    note(
        f"using {root.mode} root at {root.table:#x} from {root.source}"
        + (f"; control state of CPU {cpu.index}" if cpu is not None else "; no CPU state in the dump")
    )
    result = explain(space, args.va, args.access, mode, state)
    warn_damage(opened.mem)
    if args.json:
        print(json.dumps(result.to_json(), indent=2))
    else:
        print("\n".join(explanation_text(result, space)))
    return 0 if result.allowed else 1


def explanation_text(e: Explanation, space: AddressSpace) -> list[str]:
    verdict = "allowed" if e.allowed else f"FAULTS: {e.reason}"
    lines = [f"{e.va:#018x} {e.access} in {e.mode} mode: {verdict}", f"  {e.message}"]
    for ref in e.path:
        mark = "  <--" if not e.allowed and ref.level == e.level and ref.index == e.index else ""
        lines.append(
            f"    {space.level_name(ref.level):>4}[{ref.index:3}] = {ref.entry:#018x}  (table {ref.table_pa:#x}){mark}"
        )
    if e.pa is not None:
        size = f"{e.page_size >> 10} KiB" if e.page_size else "?"
        lines.append(f"  maps {e.pa:#x} ({size} page, {e.flags.text(e.page_size) if e.flags else ''})")
    for a in e.assumptions:
        lines.append(f"  assumed: {a}")
    return lines

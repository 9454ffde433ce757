#!/usr/bin/env python3
"""truth.json for a faulting Linux sample, from what QEMU and the guest said (never from pmoview):
the oops on the console (fault address, access, mode, error code, CPU), the module's own
lookup_address() line (the level of the entry where the kernel's walk stops or that maps the page),
and HMP ``info registers`` (CR2, RIP, CR3 per CPU).

    fault_truth.py DIR          write DIR/truth.json (before the cut)
    fault_truth.py --xz DIR CUT.json   after the cut: name dump.kdump.xz, record the cut, compress the HMP captures
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

LEVEL_OF_LOOKUP = {1: 1, 2: 2, 3: 3}  # lookup_address PG_LEVEL_4K/2M/1G -> x86 PT/PD/PDPT; 0: PGD/P4D none
SHIFT = {1: 12, 2: 21, 3: 30, 4: 39}


def registers(text: str) -> list[dict[str, object]]:
    out = []
    parts = re.split(r"^CPU#(\d+)\s*$", text, flags=re.MULTILINE)
    for idx, body in zip(parts[1::2], parts[2::2], strict=False):
        regs: dict[str, object] = {"index": int(idx)}
        for reg in ("RIP", "CR0", "CR2", "CR3", "CR4", "EFER"):
            m = re.search(rf"\b{reg}=([0-9a-fA-F]+)", body)
            regs[reg.lower()] = hex(int(m.group(1), 16)) if m else None
        regs["halted"] = "HLT=1" in body
        out.append(regs)
    return out


def e820(serial: str) -> list[dict[str, object]]:
    """The firmware memory map the kernel printed at boot (end exclusive; 1 usable, 2 reserved...)."""
    kinds = {"usable": 1, "reserved": 2, "ACPI data": 3, "ACPI NVS": 4, "unusable": 5}
    return [
        {"start": hex(int(a, 16)), "end": hex(int(b, 16) + 1), "type": kinds.get(t.strip(), 2)}
        for a, b, t in re.findall(r"BIOS-e820: \[mem 0x([0-9a-f]+)-0x([0-9a-f]+)\] (.+)", serial)
    ]


def oops(serial: str) -> dict[str, object]:
    found: dict[str, object] = {}
    if m := re.search(r"BUG: unable to handle page fault for address: ([0-9a-f]+)", serial):
        found["fault_address"] = hex(int(m.group(1), 16))
    if m := re.search(r"#PF: (supervisor|user) (read|write|instruction fetch) access in (kernel|user) mode", serial):
        found["access"], found["mode"] = m.group(2), m.group(3)
    if m := re.search(r"#PF: error_code\(0x([0-9a-f]+)\)", serial):
        found["error_code"] = int(m.group(1), 16)
    if m := re.search(r"CPU: (\d+) PID: (\d+) Comm: (\S+)", serial):
        found["cpu"], found["pid"], found["comm"] = int(m.group(1)), int(m.group(2)), m.group(3)
    if m := re.search(r"PMOVIEW-FAULT what=(\S+) va=0x([0-9a-f]+) lookup_level=(\d+) entry=0x([0-9a-f]+)", serial):
        found["module"] = {
            "what": m.group(1),
            "va": hex(int(m.group(2), 16)),
            "lookup_level": int(m.group(3)),
            "entry": hex(int(m.group(4), 16)),
        }
    if m := re.search(r"Kernel panic - not syncing: (.*)", serial):
        found["panic"] = m.group(1).strip()
    return found


def write(d: Path) -> None:
    meta = json.loads((d / "capture.json").read_text())
    serial = (d / "serial.log").read_text(errors="replace")
    o = oops(serial)
    mod = o["module"]
    assert isinstance(mod, dict) and o["fault_address"] == mod["va"], "the oops is not about the module's access"
    ec = int(o["error_code"])  # type: ignore[call-overload]
    level = LEVEL_OF_LOOKUP.get(int(mod["lookup_level"]), 4)
    va = int(str(mod["va"]), 16)
    access = {"instruction fetch": "exec"}.get(str(o["access"]), str(o["access"]))
    uname = re.search(r"PMOVIEW-UNAME (\S+)", serial)
    truth = {
        "name": d.name,
        "arch": "x86_64",
        "kind": "linux",
        "qemu": meta["qemu"],
        "qemu_cmdline": meta["qemu_cmdline"],
        "kernel_release": uname.group(1) if uname else None,
        "ram_bytes": 512 << 20,
        "cpu_model": "max,-la57",
        "paging": "4-level",
        "ram_map": e820(serial),
        "vmcoreinfo": True,
        "kaslr": True,
        "defect": f"an unhandled kernel page fault ({mod['what']}): see fault",
        "cpus": registers((d / "info-registers.txt").read_text()),
        "dumps": {"kdump": "dump.kdump"},
        "oops": {k: v for k, v in o.items() if k != "module"},
        "module_line": mod,
        "fault": {
            "cpu": o["cpu"],
            "va": mod["va"],
            "access": access,
            "mode": o["mode"],
            "error_code": hex(ec),
            "reason": ("read-only" if access == "write" else "no-execute" if access == "exec" else "?")
            if ec & 1
            else "not-present",
            "level": level,
            "index": (va >> SHIFT[level]) & 511,
        },
        "expected_findings": [],
        "notes": (
            "Debian's kernel loaded pmoview_fault.ko (sample_dumps/linux/fault), which took one unhandled "
            "kernel page fault; oops=panic made the oops a panic, panic=0 kept the CPU spinning in "
            "panic(). The capture waited for the panic's last console line, stopped the guest and dumped "
            "it through QMP. fault.level/index: where the kernel's own lookup_address() stopped or the "
            "entry mapping the page (PG_LEVEL_4K/2M/1G -> x86 level 1/2/3), index from the VA. CR2 holds "
            "the fault address on the CPU that oopsed; RIP is in panic(), not at the faulting access."
        ),
    }
    (d / "truth.json").write_text(json.dumps(truth, indent=2) + "\n")


def finish(d: Path, cut: Path) -> None:
    truth = json.loads((d / "truth.json").read_text())
    truth["dumps"]["kdump"] = "dump.kdump.xz"
    truth["cut"] = json.loads(cut.read_text())
    (d / "truth.json").write_text(json.dumps(truth, indent=2) + "\n")
    for f in list(d.glob("info-tlb-cpu*.txt")) + list(d.glob("info-mem-cpu*.txt")):
        subprocess.run(["xz", "-9", "-f", str(f)], check=True)
    (d / "capture.json").unlink(missing_ok=True)


if __name__ == "__main__":
    args = sys.argv[1:]
    if args[:1] == ["--xz"]:
        finish(Path(args[1]), Path(args[2]))
    else:
        write(Path(args[0]))

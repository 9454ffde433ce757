"""Run inside gdb-multiarch (``gdb -batch -nx -x gdb_translate.py``) against a stopped QEMU gdbstub.

Reads ``$PMOVIEW_GDB_REQUEST`` (JSON: ``{"port": N, "cpus": [0, 1], "registers": [...], "reads":
[{"cpu": 0, "va": "0x..."}, ...]}``) and writes ``$PMOVIEW_GDB_RESULT``: per CPU the named system
registers and PSTATE; per read QEMU's own translation (HMP ``gva2gpa`` through the gdbstub's
``monitor``, for that CPU), the 16 bytes gdb reads at the VA through that CPU's MMU and the 16 bytes
at gva2gpa's PA in QEMU's physical-memory mode (``Qqemu.PhyMemMode:1``). A read gdb cannot make is
null. CPUs are numbered from 0 here; QEMU's gdbstub calls them threads 1, 2, ...

The one change made to the guest: a CPU stopped at EL1 with PSTATE.PAN set cannot read user memory,
and QEMU's debug translation applies that permission check, so PAN is cleared on each CPU before the
lookups (the original PSTATE is reported). Then gdb leaves by detaching, which lets QEMU resume the
guest: capture_linux.py runs this only after every dump has been taken, and quits QEMU after.
"""

import json
import os
import re

import gdb  # type: ignore[import-not-found]

PAN = 1 << 22


def _read(addr: int) -> str | None:
    try:
        return bytes(gdb.selected_inferior().read_memory(addr, 16)).hex()
    except (gdb.error, gdb.MemoryError):
        return None


def _gva2gpa(cpu: int, va: int) -> tuple[int | None, str]:
    gdb.execute(f"monitor cpu {cpu}", to_string=True)
    text = gdb.execute(f"monitor gva2gpa {va:#x}", to_string=True).strip()
    m = re.search(r"gpa: (0x[0-9a-f]+|0)\b", text)  # C prints a zero %#x as "0"
    return (int(m.group(1), 16) if m else None), text


def main() -> None:
    with open(os.environ["PMOVIEW_GDB_REQUEST"]) as f:
        req = json.load(f)
    gdb.execute("set pagination off")
    gdb.execute("set architecture aarch64")
    gdb.execute(f"target remote 127.0.0.1:{req['port']}", to_string=True)
    regs: dict[str, dict[str, str | None]] = {}
    for cpu in req["cpus"]:
        gdb.execute(f"thread {cpu + 1}", to_string=True)
        vals: dict[str, str | None] = {}
        for name in [*req["registers"], "cpsr"]:
            try:
                vals[name.lower()] = hex(int(gdb.parse_and_eval(f"${name}")) & ((1 << 64) - 1))
            except gdb.error:
                vals[name.lower()] = None
        vals["pstate"] = vals.pop("cpsr")
        regs[str(cpu)] = vals
        pstate = vals["pstate"]
        if pstate is not None and int(pstate, 16) & PAN:
            gdb.execute(f"set $cpsr = {int(pstate, 16) & ~PAN:#x}", to_string=True)
            vals["pan_cleared_for_lookups"] = "yes"
    reads = []
    for r in req["reads"]:
        cpu, va = r["cpu"], int(r["va"], 16)
        gdb.execute(f"thread {cpu + 1}", to_string=True)
        pa, text = _gva2gpa(cpu, va)
        virt = _read(va)
        phys = None
        if pa is not None:
            gdb.execute("maintenance packet Qqemu.PhyMemMode:1", to_string=True)
            try:
                phys = _read(pa)
            finally:
                gdb.execute("maintenance packet Qqemu.PhyMemMode:0", to_string=True)
        reads.append(
            {
                **r,
                "gva2gpa": None if pa is None else hex(pa),
                "gva2gpa_text": text,
                "virtual_bytes": virt,
                "physical_bytes": phys,
            }
        )
    with open(os.environ["PMOVIEW_GDB_RESULT"], "w") as f:
        json.dump({"registers": regs, "reads": reads}, f, indent=1)


main()

"""AArch64 stage 1 EL1&0 access rules (Arm ARM D8.4 "Memory access control"), 4/16/64 KiB granules.

- Leaf AP[1] (bit 6) grants EL0 data access, AP[2] (bit 7) makes the page read-only at every EL;
  table APTable[0] (bit 61) removes EL0 access and APTable[1] (bit 62) write access below it.
- UXN/PXN (bits 54/53) and UXNTable/PXNTable (bits 60/59) forbid execution at EL0/EL1; EL0
  execution depends on UXN alone (AP[1]=0 with UXN=0 is execute-only memory). A page writable at
  EL0 is never executable at EL1.
- With TCR_EL1.HPDn=1 the table bits are ignored.
- PSTATE.PAN=1 makes EL1 data accesses to EL0-accessible pages fault.
- AF=0 makes an Access flag fault unless TCR_EL1.HA=1 (hardware sets it); a read-only page with
  DBM=1 is written (AP[2] cleared by hardware) when TCR_EL1.HD=1.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pmoview.access.control import Consulted
from pmoview.access.model import Access, ControlBit, ControlState, Denial, Privilege
from pmoview.arch.records import EntryRef
from pmoview.arch.root import Root

AP1, AP2, AF, DBM = 1 << 6, 1 << 7, 1 << 10, 1 << 51
PXN, UXN = 1 << 53, 1 << 54
PXN_TABLE, UXN_TABLE, AP_TABLE0, AP_TABLE1 = 1 << 59, 1 << 60, 1 << 61, 1 << 62
PSTATE_PAN = 22

ARCH = "aarch64"


def privilege(regs: Mapping[str, int]) -> Privilege | None:
    """The exception level from PSTATE.M[3:2]: EL0 is user mode."""
    if "pstate" not in regs:
        return None
    return "user" if (regs["pstate"] >> 2) & 3 == 0 else "kernel"


def control(regs: Mapping[str, int] | None, root: Root, cpu: int | None) -> ControlState:
    r: Mapping[str, int] = regs or {}
    where = f"CPU {cpu} " if cpu is not None else ""
    bits: dict[str, ControlBit] = {}
    if "pstate" in r:
        bits["pan"] = ControlBit((r["pstate"] >> PSTATE_PAN) & 1, f"PSTATE.PAN from {where}PSTATE")
    else:
        bits["pan"] = ControlBit(0, "PSTATE is not recorded: taken as off", True)
    if root.tcr is not None:  # a live target's, a CPU's or --tcr: the walk's own geometry came from it
        from pmoview.arch.aarch64 import decode_tcr  # AArch64 roots only: x86 explain does not load its rows

        tcr, n = decode_tcr(root.tcr), "0" if root.half == "ttbr0" else "1"
        source = f"from TCR_EL1 {root.tcr:#x}"
        bits["hpd"] = ControlBit(int(root.hpd), f"TCR_EL1.HPD{n} {source}")
        bits["ha"] = ControlBit(int(tcr.ha), f"TCR_EL1.HA {source}")
        bits["hd"] = ControlBit(int(tcr.hd), f"TCR_EL1.HD {source}")
        return ControlState(ARCH, bits)
    bits["hpd"] = ControlBit(
        int(root.hpd), "TCR_EL1 is not recorded: hierarchical permissions taken as enabled (Linux)", True
    )
    bits["ha"] = ControlBit(
        1, "TCR_EL1 is not recorded: hardware Access flag updates taken as on (Linux enables them)", True
    )
    bits["hd"] = ControlBit(
        1, "TCR_EL1 is not recorded: hardware dirty state (DBM) taken as on (Linux enables it)", True
    )
    return ControlState(ARCH, bits)


def check(
    path: Sequence[EntryRef],
    level_name: Mapping[int, str],
    access: Access,
    mode: Privilege,
    ctl: Consulted,
) -> tuple[Denial | None, tuple[str, ...]]:
    leaf = len(path) - 1
    e = path[leaf].entry
    tables = range(leaf) if not ctl.on("hpd") else range(0)

    def name(i: int) -> str:
        return f"{level_name[path[i].level]}[{path[i].index}]"

    def with_bit(mask: int) -> list[int]:
        return [i for i in tables if path[i].entry & mask]

    no_el0, no_write = with_bit(AP_TABLE0), with_bit(AP_TABLE1)
    el0_data = bool(e & AP1) and not no_el0
    writable = not e & AP2 and not no_write
    if not e & AF and not ctl.on("ha"):
        return Denial("access-flag", leaf, f"{name(leaf)} has AF=0 and TCR_EL1.HA=0: Access flag fault"), ()
    if access == "exec":
        if mode == "user":
            if e & UXN:
                return Denial("no-execute", leaf, f"{name(leaf)} has UXN=1: no execution at EL0"), ()
            hit = with_bit(UXN_TABLE)
            if hit:
                return Denial(
                    "no-execute", hit[0], f"{name(hit[0])} has UXNTable=1: no execution at EL0 below it"
                ), tuple(name(i) for i in hit[1:])
            return None, ()
        if e & PXN:
            return Denial("no-execute", leaf, f"{name(leaf)} has PXN=1: no execution at EL1"), ()
        hit = with_bit(PXN_TABLE)
        if hit:
            return Denial("no-execute", hit[0], f"{name(hit[0])} has PXNTable=1: no execution at EL1 below it"), tuple(
                name(i) for i in hit[1:]
            )
        if el0_data and writable:
            return Denial(
                "no-execute",
                leaf,
                f"{name(leaf)} is writable at EL0 (AP[2:1]=0b01): never executable at EL1 (implicit PXN)",
            ), ()
        return None, ()
    if mode == "user" and not el0_data:
        if not e & AP1:
            return Denial("supervisor-only", leaf, f"{name(leaf)} has AP[1]=0: no data access at EL0"), tuple(
                name(i) for i in no_el0
            )
        return Denial(
            "supervisor-only", no_el0[0], f"{name(no_el0[0])} has APTable[0]=1: no EL0 access below it"
        ), tuple(name(i) for i in no_el0[1:])
    if mode == "kernel" and el0_data and ctl.on("pan"):
        return Denial(
            "pan", leaf, f"{name(leaf)} is accessible at EL0 (AP[1]=1) and PSTATE.PAN=1: EL1 may not touch it"
        ), ()
    if access == "write" and not writable:
        if e & AP2:
            if e & DBM and not no_write and ctl.on("hd"):
                return None, ()  # hardware dirty-bit management clears AP[2] on this write
            return Denial("read-only", leaf, f"{name(leaf)} has AP[2]=1: read-only"), tuple(name(i) for i in no_write)
        return Denial("read-only", no_write[0], f"{name(no_write[0])} has APTable[1]=1: read-only below it"), tuple(
            name(i) for i in no_write[1:]
        )
    return None, ()

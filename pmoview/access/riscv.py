"""RISC-V access rules (privileged spec 20211203, 4.3.2 step 5, and 3.1.6.3 "Memory Privilege in
mstatus"): what an S-mode or U-mode access may do once the walk reached a leaf PTE.

- U-mode may access only pages with U=1.
- S-mode never executes a U=1 page; it reads or writes one only with sstatus.SUM=1.
- Loads need R=1, or X=1 with sstatus.MXR=1; stores need W=1; fetches need X=1.
Only the leaf's bits count: non-leaf entries carry no permissions (their D, A, U are reserved and
fault in the walk itself, so they never reach this check).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pmoview.access.control import Consulted, bit_of
from pmoview.access.model import Access, ControlBit, ControlState, Denial, Privilege
from pmoview.arch.records import EntryRef
from pmoview.arch.root import Root

R, W, X, U = 1 << 1, 1 << 2, 1 << 3, 1 << 4
SSTATUS_SUM, SSTATUS_MXR = 18, 19

ARCH = "riscv64"


def privilege(regs: Mapping[str, int]) -> Privilege | None:
    """QEMU's RISC-V dumps do not record the privilege level; a live target may ("priv": 0 U, 1 S)."""
    if "priv" not in regs:
        return None
    return "user" if regs["priv"] == 0 else "kernel"


def control(regs: Mapping[str, int] | None, root: Root, cpu: int | None) -> ControlState:
    r: Mapping[str, int] = regs or {}
    reg = "sstatus" if "sstatus" in r else "mstatus"  # sstatus is a view of mstatus: same bit positions
    bits: dict[str, ControlBit] = {}
    for name, bit, given in (("sum", SSTATUS_SUM, root.sum), ("mxr", SSTATUS_MXR, root.mxr)):
        found = bit_of(r, reg, bit, f"sstatus.{name.upper()}", cpu)
        if found is not None:
            bits[name] = found
        elif given is not None:
            bits[name] = ControlBit(int(given), f"sstatus.{name.upper()} as the root was opened (--{name})")
        else:
            bits[name] = ControlBit(
                0, "sstatus is not in QEMU's RISC-V dumps: taken as 0 (xv6 and Linux run with it clear)", True
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
    where = f"{level_name[path[leaf].level]}[{path[leaf].index}]"
    if mode == "user" and not e & U:
        return Denial("supervisor-only", leaf, f"{where} has U=0: a supervisor page, U-mode may not touch it"), ()
    if mode == "kernel" and e & U:
        if access == "exec":
            return Denial("user-exec", leaf, f"{where} has U=1: S-mode never executes a user page"), ()
        if not ctl.on("sum"):
            return Denial(
                "sum", leaf, f"{where} has U=1 and sstatus.SUM=0: S-mode may not read or write user pages"
            ), ()
    if access == "exec" and not e & X:
        return Denial("no-execute", leaf, f"{where} has X=0: no instruction fetch"), ()
    if access == "write" and not e & W:
        return Denial("read-only", leaf, f"{where} has W=0: the page is read-only"), ()
    if access == "read" and not e & R:
        if e & X and ctl.on("mxr"):
            return None, ()
        why = "X=1 but sstatus.MXR=0" if e & X else "X=0"
        return Denial("not-readable", leaf, f"{where} has R=0 ({why}): an execute-only page, loads fault"), ()
    return None, ()

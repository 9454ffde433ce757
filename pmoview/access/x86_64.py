"""x86_64 access rules (Intel SDM Vol. 3A 4.6 "Access rights", 4.6.2 protection keys; AMD APM Vol. 2
5.6): what a supervisor or user access may do once every paging-structure entry on the path is read.

- User-mode accesses need U/S=1 in every entry; user writes need R/W=1 in every entry.
- Supervisor writes need R/W=1 everywhere when CR0.WP=1; with WP=0 they ignore R/W.
- Instruction fetches fault where any entry has XD=1 (EFER.NXE=1); a supervisor fetch from a user
  page (U/S=1 everywhere) faults with CR4.SMEP=1.
- Supervisor data accesses to user pages fault with CR4.SMAP=1 unless RFLAGS.AC=1 (explicit accesses).
- With CR4.PKE=1, data accesses to user pages check PKRU for the leaf's key: AD forbids them all,
  WD forbids writes (user writes always; supervisor writes when CR0.WP=1).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pmoview.access.control import Consulted, bit_of
from pmoview.access.model import Access, ControlBit, ControlState, Denial, Privilege
from pmoview.arch.records import EntryRef
from pmoview.arch.root import Root

RW, US = 1 << 1, 1 << 2
XD = 1 << 63
PK_SHIFT, PK_MASK = 59, 0xF
CR0_WP, CR4_SMEP, CR4_SMAP, CR4_PKE, RFLAGS_AC, EFER_NXE = 16, 20, 21, 22, 18, 11

ARCH = "x86_64"


def privilege(regs: Mapping[str, int]) -> Privilege | None:
    """CPL from CS: 3 is user mode."""
    if "cs" not in regs:
        return None
    return "user" if regs["cs"] & 3 == 3 else "kernel"


def control(regs: Mapping[str, int] | None, root: Root, cpu: int | None) -> ControlState:
    r: Mapping[str, int] = regs or {}
    flags_reg = "rflags" if "rflags" in r else "eflags"
    bits: dict[str, ControlBit] = {}
    bits["wp"] = bit_of(r, "cr0", CR0_WP, "CR0.WP", cpu) or ControlBit(
        1, "CR0 is not recorded; every 64-bit kernel runs with WP=1", True
    )
    for name, bit in (("smep", CR4_SMEP), ("smap", CR4_SMAP), ("pke", CR4_PKE)):
        bits[name] = bit_of(r, "cr4", bit, f"CR4.{name.upper()}", cpu) or ControlBit(
            0, "CR4 is not recorded: taken as off", True
        )
    bits["ac"] = bit_of(r, flags_reg, RFLAGS_AC, "RFLAGS.AC", cpu) or ControlBit(
        0, "RFLAGS is not recorded: taken as 0 (AC is set only inside user-copy routines)", True
    )
    efer = bit_of(r, "efer", EFER_NXE, "EFER.NXE", cpu)
    if efer is not None:
        bits["nxe"] = efer
    elif root.nxe is not None:
        bits["nxe"] = ControlBit(int(root.nxe), "EFER.NXE as the root was opened (--nxe)")
    else:
        bits["nxe"] = ControlBit(1, "EFER is not in QEMU dumps; bit 63 read as XD, as on every 64-bit kernel", True)
    if "pkru" in r:  # a live gdbstub reports it; dumps do not
        where = f"CPU {cpu} " if cpu is not None else ""
        bits["pkru"] = ControlBit(r["pkru"], f"PKRU from {where}PKRU of the target")
    else:
        bits["pkru"] = ControlBit(0, "PKRU is not recorded (dumps lack it): every key taken as allowing access", True)
    return ControlState(ARCH, bits)


def check(
    path: Sequence[EntryRef],
    level_name: Mapping[int, str],
    access: Access,
    mode: Privilege,
    ctl: Consulted,
) -> tuple[Denial | None, tuple[str, ...]]:
    """The denial for a walk that reached a leaf (``path`` ends with it), or None; and the other entries
    that would deny the same access (for the message)."""
    leaf = len(path) - 1
    ro = [i for i, e in enumerate(path) if not e.entry & RW]
    sup = [i for i, e in enumerate(path) if not e.entry & US]
    xd = [i for i, e in enumerate(path) if e.entry & XD] if access == "exec" and ctl.on("nxe") else []
    user_page = not sup

    def name(i: int) -> str:
        return f"{level_name[path[i].level]}[{path[i].index}]"

    def also(idx: Sequence[int]) -> tuple[str, ...]:
        return tuple(name(i) for i in idx[1:])

    if mode == "user" and sup:
        return Denial(
            "supervisor-only",
            sup[0],
            f"{name(sup[0])} has U/S=0: the page is supervisor-only, user mode may not touch it",
        ), also(sup)
    if access == "exec":
        if xd:
            return Denial("no-execute", xd[0], f"{name(xd[0])} has XD=1 (EFER.NXE=1): no instruction fetch"), also(xd)
        if mode == "kernel" and user_page and ctl.on("smep"):
            return Denial(
                "smep",
                leaf,
                "every entry has U/S=1 (a user page) and CR4.SMEP=1: the kernel may not execute user pages",
            ), ()
        return None, ()
    # data accesses
    if mode == "kernel" and user_page and ctl.on("smap") and not ctl.on("ac"):
        return Denial(
            "smap",
            leaf,
            "every entry has U/S=1 (a user page), CR4.SMAP=1 and RFLAGS.AC=0: the kernel may not "
            "read or write user pages outside user-copy routines",
        ), ()
    if access == "write" and ro and (mode == "user" or ctl.on("wp")):
        why = "user-mode writes obey R/W" if mode == "user" else "CR0.WP=1: supervisor writes obey R/W"
        return Denial("read-only", ro[0], f"{name(ro[0])} has R/W=0 ({why}): the page is read-only"), also(ro)
    if user_page and ctl.on("pke"):
        key = (path[leaf].entry >> PK_SHIFT) & PK_MASK
        pkru = ctl.value("pkru")
        ad, wd = (pkru >> (2 * key)) & 1, (pkru >> (2 * key + 1)) & 1
        if ad:
            return Denial("pkey", leaf, f"protection key {key}: PKRU.AD{key}=1 forbids data access"), ()
        if wd and access == "write" and (mode == "user" or ctl.on("wp")):
            return Denial("pkey", leaf, f"protection key {key}: PKRU.WD{key}=1 forbids writes"), ()
    return None, ()

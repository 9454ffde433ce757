"""What a dump knows about each CPU: privilege, PC and SP, its page-table root, the control registers,
the PC translated, and its last fault explained (``pmoview cpus``, the TUI's CPUs view).

The fault: x86_64 CR2 (the last #PF address; the dump does not say whether that fault was handled).
The instruction at RIP, decoded, tells more: when CR2 lies in it, its fetch faulted; when one of its
memory operands (or its stack access) covers CR2, that access faulted and the CPU stopped at it, so
the fault is the CPU's present state (``at_pc``). Otherwise the access is inferred from the walk (the
first of read, write that the tables deny) and ``at_pc`` is False. AArch64: FAR_EL1 with ESR_EL1's
exception class and WnR, where the dump has them (QEMU's arm64 notes do not); RISC-V: stval with scause
12/13/15 (instruction/load/store page fault).

A Linux oops in the kernel log (``pmoview.kernel_log``: fault address, the access from the #PF error code
or the arm64 abort lines, the mode, the CPU that oopsed) is the better witness for that CPU: its fault
is then the oops's (``source`` "oops"), whatever the registers say.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from parsers.errors import DumpFormatError
from pmoview.access import Access, Explanation, Privilege, control_for, explain, rules_for
from pmoview.access.insn import MAX_INSN, Decoded, decode_x86_64
from pmoview.arch.records import Translation, WalkLimits
from pmoview.arch.root import Root
from pmoview.kernel_log import Oops, find_oops, read_kernel_log
from pmoview.memory.base import AbsentMemoryError, CpuState, PhysicalMemory
from pmoview.space import AddressSpace

REGISTERS = {
    "x86_64": ("cr0", "cr2", "cr3", "cr4", "efer", "rflags", "cs", "ss"),
    "aarch64": ("ttbr0_el1", "ttbr1_el1", "tcr_el1", "sctlr_el1", "far_el1", "esr_el1", "pstate"),
    "riscv64": ("satp", "sstatus", "stval", "scause", "sepc"),
}
# The registers that would name the root and the last fault, per architecture (for the notes)
ROOT_REGISTERS = {"x86_64": "CR3", "aarch64": "TTBRn_EL1", "riscv64": "satp"}
FAULT_REGISTERS = {"aarch64": "FAR_EL1/ESR_EL1", "riscv64": "stval/scause"}
# scause exception codes (RISC-V privileged spec 4.1.9): page faults
SCAUSE_ACCESS: dict[int, Access] = {12: "exec", 13: "read", 15: "write"}
# ESR_ELx.EC (Arm ARM D17.2.37): instruction/data abort from a lower EL or the same EL
ESR_EC_IABT_LOW, ESR_EC_IABT_CUR, ESR_EC_DABT_LOW, ESR_EC_DABT_CUR = 0x20, 0x21, 0x24, 0x25
ESR_WNR = 1 << 6


@dataclass(frozen=True)
class Fault:
    """A CPU's last fault address (CR2, FAR_EL1) and the access that faulted there, as the registers tell it."""

    source: str  # the register the address came from: "CR2", "FAR_EL1"
    va: int
    access: Access
    mode: Privilege
    access_from: str  # how the access was found, in words
    at_pc: bool | None  # the instruction at PC made this access (the CPU stopped at the fault); None: cannot tell
    explanation: Explanation

    def to_json(self) -> dict[str, object]:
        return {
            **self.explanation.to_json(),
            "source": self.source,
            "access_from": self.access_from,
            "at_pc": self.at_pc,
        }


@dataclass(frozen=True)
class CpuView:
    """One CPU as ``pmoview cpus`` shows it: privilege, PC, SP, root, control registers and last fault."""

    index: int
    arch: str
    mode: Privilege | None
    pc: int | None
    sp: int | None
    root: Root | None
    registers: dict[str, int | None]
    pc_translation: Translation | None
    pc_instruction: str | None
    fault: Fault | None
    notes: tuple[str, ...] = ()


def _root_of(cpu: CpuState, roots: Sequence[Root]) -> tuple[Root | None, str | None]:
    tag = f"CPU {cpu.index} CR3"
    for r in roots:
        if any(part.strip() == tag for part in r.source.split(";")):
            return r, None
    if cpu.arch == "x86_64" and "cr3" in cpu.regs:
        return None, "paging is off on this CPU (CR0.PG=0) or its CR3 was not usable: no root"
    best = next((r for r in roots if r.arch == cpu.arch), None)
    if best is None:
        return None, "no root for this CPU"
    if best.cpu == cpu.index:
        return best, None
    return best, f"{ROOT_REGISTERS.get(cpu.arch, 'the root register')} not in the dump: the root is {best.source}"


def read_virtual(space: AddressSpace, va: int, size: int) -> bytes:
    """Up to ``size`` bytes at ``va`` (fewer where a page is not mapped or not in the dump)."""
    out = b""
    while len(out) < size:
        t = space.translate(va + len(out))
        if t.pa is None:
            break
        take = min(size - len(out), 0x1000 - ((va + len(out)) & 0xFFF))
        try:
            out += space.mem.read(t.pa, take)
        except AbsentMemoryError:
            break
    return out


def _x86_fault(
    cpu: CpuState, space: AddressSpace, mode: Privilege, insn: Decoded | None, pc: int | None
) -> Fault | None:
    cr2 = cpu.regs.get("cr2")
    if not cr2:
        return None
    control = control_for(space.root, cpu)

    @functools.cache  # the same access is judged by more than one of the cases below
    def why(access: Access, as_mode: Privilege = mode) -> Explanation:
        return explain(space, cr2, access, as_mode, control)

    if pc is not None and pc <= cr2 < pc + (insn.length if insn else MAX_INSN):
        return Fault(
            "CR2", cr2, "exec", mode, "CR2 lies in the instruction at RIP: its fetch faulted", True, why("exec")
        )
    if insn is not None:
        for acc in insn.accesses:
            if acc.address <= cr2 < acc.address + acc.size:
                return Fault(
                    "CR2",
                    cr2,
                    acc.access,
                    mode,
                    f"the instruction at RIP ({acc.text}) {acc.access}s {acc.size} bytes at {acc.address:#x}, "
                    "which hold CR2: the CPU stopped at the faulting access",
                    True,
                    why(acc.access),
                )
    data: tuple[Access, ...] = ("read", "write")
    if insn is not None:
        for access in data:
            e = why(access)
            if not e.allowed and access in insn.unresolved:
                return Fault(
                    "CR2",
                    cr2,
                    access,
                    mode,
                    f"the instruction at RIP ({insn.text}) {access}s memory at an address that needs registers "
                    f"the dump does not hold, and the tables deny a {access} at CR2: probably the faulting access",
                    None,
                    e,
                )
    # An earlier #PF, not the instruction at RIP: the CPU's present mode says nothing about it. A user-half
    # CR2 on a CPU now in the kernel is most often a process's own fault (demand paging), so it is judged
    # as a user access, and what a kernel access there would meet is said beside it.
    earlier: Privilege = "user" if mode == "kernel" and not cr2 >> 63 else mode
    aside = ""
    if earlier != mode:
        aside = "; its mode is not recorded: judged as a user access (CR2 is in the user half)"

    def judged(access: Access) -> tuple[Explanation, str]:
        if earlier == mode:
            return why(access), aside
        k = why(access)
        as_kernel = "allowed" if k.allowed else f"denied ({k.reason})"
        return why(access, earlier), f"{aside}; a kernel {access} there would be {as_kernel}"

    for access in data:
        e, more = judged(access)
        if not e.allowed:
            return Fault(
                "CR2",
                cr2,
                access,
                earlier,
                "CR2 is no address the instruction at RIP accesses (an earlier #PF, handled or not); "
                f"the tables deny a {access} there now{more}",
                False,
                e,
            )
    e, more = judged("read")
    return Fault(
        "CR2",
        cr2,
        "read",
        earlier,
        "CR2 is no address the instruction at RIP accesses, and the tables now allow reads and writes "
        f"there: an earlier #PF that was handled{more}",
        False,
        e,
    )


def _riscv_fault(cpu: CpuState, space: AddressSpace) -> Fault | None:
    stval, scause = cpu.regs.get("stval"), cpu.regs.get("scause")
    if stval is None or scause is None or scause >> 63 or scause not in SCAUSE_ACCESS:
        return None
    access = SCAUSE_ACCESS[scause]
    mode = rules_for(cpu.arch).privilege(cpu.regs) or "kernel"
    e = explain(space, stval, access, mode, control_for(space.root, cpu))
    return Fault("stval", stval, access, mode, f"scause={scause} (a {access} page fault)", None, e)


def _arm_fault(cpu: CpuState, space: AddressSpace) -> Fault | None:
    far, esr = cpu.regs.get("far_el1"), cpu.regs.get("esr_el1")
    if far is None or esr is None:
        return None
    ec = (esr >> 26) & 0x3F
    if ec in (ESR_EC_IABT_LOW, ESR_EC_IABT_CUR):
        access: Access = "exec"
    elif ec in (ESR_EC_DABT_LOW, ESR_EC_DABT_CUR):
        access = "write" if esr & ESR_WNR else "read"
    else:
        return None
    mode: Privilege = "user" if ec in (ESR_EC_IABT_LOW, ESR_EC_DABT_LOW) else "kernel"
    e = explain(space, far, access, mode, control_for(space.root, cpu))
    return Fault("FAR_EL1", far, access, mode, f"ESR_EL1.EC={ec:#x}" + (" WnR=1" if access == "write" else ""), None, e)


OOPS_ACCESS: dict[str, Access] = {"read": "read", "write": "write", "instruction fetch": "exec"}


def kernel_oops(mem: PhysicalMemory) -> Oops | None:
    """The first oops or panic of the dump's kernel log, or None (no VMCOREINFO, no log, no oops)."""
    if not mem.vmcoreinfo:
        return None
    try:
        return find_oops(read_kernel_log(mem))
    except (DumpFormatError, AbsentMemoryError, KeyError, ValueError):
        return None  # a log that cannot be read is no witness; the registers still are


def _oops_fault(oops: Oops, cpu: CpuState, space: AddressSpace, mode: Privilege | None) -> Fault | None:
    if oops.fault_address is None or oops.cpu != cpu.index or oops.access not in OOPS_ACCESS:
        return None
    access = OOPS_ACCESS[oops.access]
    fault_mode: Privilege = "user" if oops.mode == "user" else "kernel" if oops.mode == "kernel" else mode or "kernel"
    words = f"the kernel log's oops on CPU {cpu.index}: {oops.access} in {fault_mode} mode"
    if oops.error_code is not None:
        words += f" (#PF error_code {oops.error_code:#x})"
    reg = "cr2" if cpu.arch == "x86_64" else "far_el1"
    if cpu.regs.get(reg) == oops.fault_address:
        words += f"; {reg.upper()} agrees"
    e = explain(space, oops.fault_address, access, fault_mode, control_for(space.root, cpu))
    return Fault("oops", oops.fault_address, access, fault_mode, words, None, e)


def cpu_views(
    mem: PhysicalMemory, roots: Sequence[Root], limits: WalkLimits | None = None, read_log: bool = True
) -> list[CpuView]:
    """Every CPU's record. ``read_log``: look for an oops in the kernel log (reads the log's pages)."""
    spaces: dict[Root, AddressSpace] = {}
    oops = kernel_oops(mem) if read_log else None
    out = []
    for cpu in mem.cpus:
        regs: Mapping[str, int] = cpu.regs
        try:
            mode = rules_for(cpu.arch).privilege(regs)
        except ValueError:  # an architecture without access rules: registers only
            mode = None
        pc = regs.get("rip", regs.get("pc"))
        sp = regs.get("rsp", regs.get("sp"))
        names = REGISTERS.get(cpu.arch, ())
        registers = {n: regs.get(n, regs.get("eflags") if n == "rflags" else None) for n in names}
        root, note = _root_of(cpu, roots)
        notes = [note] if note else []
        translation = text = fault = None
        if root is not None:
            space = spaces.setdefault(root, AddressSpace(mem, root, limits))
            insn = None
            if pc is not None:
                translation = space.translate(pc)
                if cpu.arch == "x86_64":
                    code = read_virtual(space, pc, MAX_INSN)
                    insn = decode_x86_64(code, pc, regs) if code else None
                    text = insn.text if insn else None
            fault = _oops_fault(oops, cpu, space, mode) if oops is not None else None
            if fault is not None:
                pass
            elif cpu.arch == "x86_64":
                fault = _x86_fault(cpu, space, mode or "kernel", insn, pc)
            elif cpu.arch in FAULT_REGISTERS:
                fault = (_arm_fault if cpu.arch == "aarch64" else _riscv_fault)(cpu, space)
                if fault is None:
                    notes.append(f"{FAULT_REGISTERS[cpu.arch]} are not in the dump (or name no page fault)")
        out.append(CpuView(cpu.index, cpu.arch, mode, pc, sp, root, registers, translation, text, fault, tuple(notes)))
    return out

"""Turn a dump's ELF notes into CPU states and VMCOREINFO (shared by ELF cores and kdump files)."""

from __future__ import annotations

from types import MappingProxyType

from parsers.elf_notes import (
    NOTE_NAME_CORE,
    NOTE_NAME_QEMU,
    NOTE_NAME_VMCOREINFO,
    NT_PRSTATUS,
    Note,
    decode_prstatus,
    decode_qemu_cpu_state,
    decode_vmcoreinfo,
    prstatus_aarch64,
    prstatus_riscv64,
    prstatus_x86_64,
)
from pmoview.memory.base import CpuState, DumpInfo


def apply_notes(info: DumpInfo, notes: list[Note], path: str) -> None:
    """Fill ``info`` from notes. QEMU writes every CPU's NT_PRSTATUS, then every CPU's QEMU note:
    the n-th of each belongs to CPU n."""
    info.notes.extend(notes)
    prstatus = [n for n in notes if n.name == NOTE_NAME_CORE and n.type == NT_PRSTATUS]
    qemu = [n for n in notes if n.name == NOTE_NAME_QEMU]
    if info.arch is None:
        info.arch = _arch_from_notes(prstatus, notes)
    arch = info.arch or "x86_64"
    count = max(len(prstatus), len(qemu) if arch == "x86_64" else 0)
    cpus = []
    for i in range(count):
        regs: dict[str, int] = {}
        sources: list[str] = []
        if i < len(prstatus):
            decoded = decode_prstatus(prstatus[i], arch, path)
            regs.update(decoded.regs)
            sources.append(decoded.source)
        if arch == "x86_64" and i < len(qemu):
            decoded = decode_qemu_cpu_state(qemu[i], path)
            for name, value in decoded.regs.items():
                regs.setdefault(name, value)  # NT_PRSTATUS keeps its general registers
            sources.append(decoded.source)
        cpus.append(CpuState(i, arch, MappingProxyType(regs), tuple(sources)))
    if cpus:
        info.cpus = cpus
    for note in notes:
        if note.name == NOTE_NAME_VMCOREINFO:
            info.vmcoreinfo = decode_vmcoreinfo(note.desc)


def arch_from_machine(machine: str) -> str | None:
    m = machine.lower()
    if m in ("x86_64", "amd64"):
        return "x86_64"
    if m in ("aarch64", "arm64"):
        return "aarch64"
    if m == "riscv64":
        return "riscv64"
    return None


def _arch_from_notes(prstatus: list[Note], notes: list[Note]) -> str | None:
    """QEMU leaves the kdump header's machine "Unknown" on arm: the notes still tell."""
    sizes = {len(n.desc) for n in prstatus}
    if sizes == {prstatus_x86_64.sizeof()}:
        return "x86_64"
    if sizes == {prstatus_aarch64.sizeof()}:
        return "aarch64"
    if sizes == {prstatus_riscv64.sizeof()}:
        return "riscv64"
    for n in notes:
        if n.name == NOTE_NAME_VMCOREINFO:
            text = n.desc.decode("ascii", "replace")
            if "NUMBER(kimage_voffset)" in text:
                return "aarch64"
            if "SYMBOL(init_top_pgt)" in text:
                return "x86_64"
    return None

"""The memory accesses of the instruction at a CPU's PC, decoded with Capstone, with addresses computed
from the CPU's registers. A fault's address (CR2) that one of them hits says which access faulted and
that the CPU stopped at the faulting instruction (a fault not yet handled, as in a triple fault).

x86_64 only (AArch64 dumps from QEMU carry no FAR_EL1 to compare with). Explicit memory operands
count, plus the stack access of push/call (write below RSP) and pop/ret (read at RSP).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from pmoview.access.model import Access

MAX_INSN = 15  # longest x86 instruction
_MASK64 = (1 << 64) - 1


@dataclass(frozen=True)
class MemoryAccess:
    """One memory access an instruction makes: where, how many bytes, and whether it reads, writes or fetches."""

    address: int
    size: int
    access: Access
    text: str  # the instruction, as Capstone prints it


@dataclass(frozen=True)
class Decoded:
    """An instruction as Capstone decoded it: its text, its length and the memory accesses it makes."""

    text: str
    length: int
    accesses: tuple[MemoryAccess, ...]
    unresolved: tuple[Access, ...] = ()  # accesses whose address needs a register the dump lacks


def _reg(regs: Mapping[str, int], name: str, next_pc: int) -> int | None:
    if name == "rip":
        return next_pc
    if name in regs:
        return regs[name]
    # 32-bit registers (eax, r8d): the low half of the 64-bit one
    wide = "r" + name[1:] if name.startswith("e") else name[:-1] if name.endswith("d") else None
    if wide is not None and wide in regs:
        return regs[wide] & 0xFFFF_FFFF
    return None


def decode_x86_64(code: bytes, pc: int, regs: Mapping[str, int]) -> Decoded | None:
    """The instruction at ``pc`` (``code`` holds its bytes and maybe more) and its memory accesses, or
    None when the bytes do not decode. Addresses that need a register the dump lacks are left out."""
    # Capstone costs ~0.3 s to import: only when an instruction is decoded, never at start-up.
    import capstone
    from capstone import x86 as cs_x86

    md = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64)
    md.detail = True
    insns = list(md.disasm(code[:MAX_INSN], pc, 1))
    if not insns:
        return None
    insn = insns[0]
    text = f"{insn.mnemonic} {insn.op_str}".strip()
    next_pc = pc + int(insn.size)
    out: list[MemoryAccess] = []
    unresolved: list[Access] = []
    for op in insn.operands:
        if op.type != cs_x86.X86_OP_MEM or insn.mnemonic in ("lea", "nop") or insn.mnemonic.startswith("prefetch"):
            continue
        addr = int(op.mem.disp)
        ok = True
        for reg_id, scale in ((op.mem.base, 1), (op.mem.index, int(op.mem.scale))):
            if reg_id:
                value = _reg(regs, str(insn.reg_name(reg_id)), next_pc)
                if value is None:
                    ok = False
                    break
                addr += value * scale
        if op.mem.segment:
            seg = str(insn.reg_name(op.mem.segment))
            if seg in ("fs", "gs"):
                base = regs.get(f"{seg}_base")
                if base is None:
                    ok = False
                else:
                    addr += base
        acc = int(op.access)
        if not ok:
            if acc & capstone.CS_AC_WRITE:
                unresolved.append("write")
            if acc & capstone.CS_AC_READ or not acc:
                unresolved.append("read")
            continue
        size = int(op.size) or 1
        if acc & capstone.CS_AC_WRITE:
            out.append(MemoryAccess(addr & _MASK64, size, "write", text))
        if acc & capstone.CS_AC_READ or not acc:
            out.append(MemoryAccess(addr & _MASK64, size, "read", text))
    rsp = regs.get("rsp")
    if rsp is not None:
        if insn.mnemonic in ("push", "call", "pushfq"):
            out.append(MemoryAccess((rsp - 8) & _MASK64, 8, "write", text))
        elif insn.mnemonic in ("pop", "ret", "popfq"):
            out.append(MemoryAccess(rsp, 8, "read", text))
    return Decoded(text, int(insn.size), tuple(out), tuple(unresolved))

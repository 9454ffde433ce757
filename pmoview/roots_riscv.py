"""Where RISC-V page tables start: satp given by the user, a kernel symbol, or a validated scan.

What a QEMU RISC-V dump records of each hart (target/riscv/arch_dump.c): one NT_PRSTATUS note with pc
and x1..x31. No CSR: not satp (MODE, ASID, root PPN), not sstatus (SUM, MXR), not the privilege mode.
So the dump cannot name the root; it can *confirm* one: a hart's pc must translate to an executable
page and its sp to a writable one under the right root and mode. Symbol and scan candidates are
judged that way (and by the kernel ELF's entry point translating to where the ELF says it is loaded),
which also picks Sv39 / Sv48 / Sv57 where satp is not known.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pmoview.arch.riscv import MODES, decode_satp
from pmoview.arch.root import Root
from pmoview.kernel import KernelImage
from pmoview.memory import PhysicalMemory
from pmoview.memory.base import present_pages
from pmoview.space import AddressSpace

DEFAULT_MODE = "riscv64-sv39"
SCAN_LIMIT_BYTES = 256 << 20
MAX_SCAN_CANDIDATES = 4096  # pages that pass the entry filter and are then judged by translation
MAX_KEPT = 8

_V, _R, _W, _X, _U, _G, _A, _D = (1 << i for i in range(8))
_RSV_HIGH = 0xFFC0_0000_0000_0000  # N, PBMT, bits 60:54: reserved without Svnapot/Svpbmt
_PPN = 0x003F_FFFF_FFFF_FC00


@dataclass(frozen=True)
class Evidence:
    """What speaks for a candidate RISC-V root: a score, the evidence in words, and how many harts' kernel
    code confirms it."""

    score: int
    words: str
    kernel: int = 0  # harts confirming it whose pc is kernel code (upper half, or mapped to itself)


def root_from_satp(satp: int, source: str, sum_: bool | None = None, mxr: bool | None = None) -> Root:
    mode, asid, table = decode_satp(satp)
    if mode is None:
        raise ValueError(f"satp {satp:#x}: MODE {(satp >> 60) & 0xF} is not Sv39 (8), Sv48 (9) or Sv57 (10)")
    return Root(arch="riscv64", mode=mode, table=table, source=source, asid=asid, sum=sum_, mxr=mxr)


def cpu_roots(mem: PhysicalMemory, only: int | None, sum_: bool | None, mxr: bool | None) -> list[Root]:
    """One root per hart whose satp is known (a live gdbstub has it; a QEMU dump does not) and names a
    paging mode; sstatus, where known, gives SUM and MXR unless the options say otherwise."""
    out = []
    for cpu in mem.cpus:
        satp = cpu.regs.get("satp")
        if satp is None or (only is not None and cpu.index != only) or decode_satp(satp)[0] is None:
            continue
        status = cpu.regs.get("sstatus", cpu.regs.get("mstatus"))
        s = sum_ if sum_ is not None or status is None else bool(status >> 18 & 1)
        m = mxr if mxr is not None or status is None else bool(status >> 19 & 1)
        root = root_from_satp(satp, f"CPU {cpu.index} satp", s, m)
        out.append(Root(**{**root.__dict__, "cpu": cpu.index}))
    return out


def evidence(mem: PhysicalMemory, root: Root, kernel: KernelImage | None) -> Evidence:
    """How well ``root`` explains the dump: each hart whose pc maps executable (and sp writable), and the
    kernel ELF's entry point mapping to its load address, count one."""
    try:
        space = AddressSpace(mem, root)
    except ValueError:
        return Evidence(0, "")
    score, kernel_hits, words = 0, 0, []
    for cpu in mem.cpus:
        pc, sp = cpu.regs.get("pc"), cpu.regs.get("sp")
        if pc is None:
            continue
        t = space.translate(pc)
        if t.flags is None or (t.flags.nx and t.flags.user_nx):
            continue
        score += 1
        if pc >> 63 or t.pa == pc:  # Linux's kernel lives in the upper half; xv6 and bare kernels at VA = PA
            kernel_hits += 1
        said = f"hart {cpu.index} pc {pc:#x} maps executable"
        if sp is not None:
            s = space.translate(max(sp - 8, 0))
            if s.flags is not None and s.flags.writable:
                score += 1
                said += ", sp writable"
        words.append(said)
    if kernel is not None and kernel.entry:
        pa = kernel.va_to_pa(kernel.entry)
        t = space.translate(kernel.entry)
        if pa is not None and t.pa == pa and t.flags is not None and not t.flags.nx:
            score += 1
            words.append(f"ELF entry {kernel.entry:#x} maps to its load address")
    return Evidence(score, "; ".join(words), kernel_hits)


def best_mode(mem: PhysicalMemory, table: int, kernel: KernelImage | None, mode: str | None) -> tuple[str, Evidence]:
    """The mode under which the table at ``table`` explains the dump best (Sv39 when nothing tells)."""
    if mode is not None:
        return mode, evidence(mem, Root("riscv64", mode, table), kernel)
    best: tuple[str, Evidence] | None = None
    for name in MODES:
        ev = evidence(mem, Root("riscv64", name, table), kernel)
        if best is None or ev.score > best[1].score:
            best = (name, ev)
    assert best is not None
    if best[1].score == 0:
        return DEFAULT_MODE, Evidence(0, "no hart or entry point confirms a mode; Sv39 assumed")
    return best


def symbol_roots(
    mem: PhysicalMemory, kernel: KernelImage, names: tuple[str, ...], mode: str | None, sum_: bool | None
) -> list[Root]:
    """A symbol that *is* the top table (``swapper_pg_dir``: 4096 bytes) or a pointer to it (xv6's
    ``pagetable_t kernel_pagetable``: 8 bytes, read from the dump)."""
    out = []
    for name in names:
        va = kernel.symbol(name)
        if va is None:
            continue
        pa = kernel.va_to_pa(va)
        if pa is None:
            continue
        how = "ELF load address"
        if kernel.sizes.get(name) == 8:
            try:
                raw = mem.read(pa, 8)
            except LookupError:
                continue
            value = int.from_bytes(raw, "little")
            target = kernel.va_to_pa(value)
            pa = value if target is None else target
            how = f"pointer {value:#x} read from the dump"
        if pa & 0xFFF or not mem.is_present(pa):
            continue
        chosen, ev = best_mode(mem, pa, kernel, mode)
        source = f"symbol {name} of {kernel.path} ({how}); {chosen[len('riscv64-') :]}: {ev.words or 'unconfirmed'}"
        out.append(Root("riscv64", chosen, pa, source=source, sum=sum_))
    return out


def _looks_like_table(e: np.ndarray) -> bool:
    valid = (e & np.uint64(_V)) != 0
    n = int(valid.sum())
    if n == 0:
        return False
    ev = e[valid]
    if (ev & np.uint64(_RSV_HIGH)).any():
        return False
    if ((ev & np.uint64(_R | _W)) == np.uint64(_W)).any():
        return False
    pointers = ev[(ev & np.uint64(_R | _W | _X)) == 0]
    return not (pointers & np.uint64(_A | _D | _U)).any()


def scan_roots(mem: PhysicalMemory, kernel: KernelImage | None, mode: str | None, sum_: bool | None) -> list[Root]:
    """Pages whose valid entries are all well-formed (no reserved bits or encodings, pointers into the
    dump), kept only when a hart's pc/sp or the ELF entry point confirm them; kernel tables first."""
    candidates: list[int] = []
    for pa, page in present_pages(mem, SCAN_LIMIT_BYTES):
        e = np.frombuffer(page, dtype="<u8")
        if not _looks_like_table(e):
            continue
        ev = e[(e & np.uint64(_V)) != 0]
        targets = ((ev[(ev & np.uint64(_R | _W | _X)) == 0] & np.uint64(_PPN)) << np.uint64(2)).tolist()
        if all(mem.is_present(int(t)) for t in targets):
            candidates.append(pa)
            if len(candidates) >= MAX_SCAN_CANDIDATES:
                break
    # Tables a hart runs kernel code through come first: a kernel's table is what checks judge; user
    # tables (each process's maps the same user pc) follow.
    judged: list[tuple[int, int, int, str, str]] = []
    for pa in candidates:
        chosen, ev = best_mode(mem, pa, kernel, mode)
        if ev.score > 0:
            judged.append((-ev.kernel, -ev.score, pa, chosen, ev.words))
    judged.sort()
    return [
        Root("riscv64", chosen, pa, source=f"scan ({chosen[len('riscv64-') :]}: {words})", sum=sum_)
        for _, _, pa, chosen, words in judged[:MAX_KEPT]
    ]

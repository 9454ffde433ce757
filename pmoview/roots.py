"""Where the page tables start. Candidates come from, in order of trust: explicit options, the
CPU state in the dump (one root per distinct CR3), VMCOREINFO, kernel symbols, and a validated scan.
Each candidate says where it came from."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import NamedTuple

import numpy as np

from pmoview import vmcoreinfo as vmci
from pmoview.arch.root import Root
from pmoview.kernel import KernelImage
from pmoview.memory import PhysicalMemory
from pmoview.memory.base import present_pages

X86_START_KERNEL_MAP = 0xFFFF_FFFF_8000_0000
CR0_PG = 1 << 31
CR4_LA57 = 1 << 12
DEFAULT_ROOT_SYMBOLS = ("boot_pml4", "init_top_pgt", "swapper_pg_dir", "init_level4_pgt", "kernel_pagetable")
SCAN_LIMIT_BYTES = 256 << 20  # low memory scanned for a top table when nothing else is known


@dataclass(frozen=True)
class RootOptions:
    """Where roots may come from. Explicit registers (``cr3``, ``ttbr0``/``ttbr1``) come first; the
    others override what the dump says (``la57``, ``nxe``) or narrow the search (``cpu``, ``symbols``)."""

    arch: str | None = None
    cr3: int | None = None
    la57: bool | None = None
    nxe: bool | None = None  # None: not known, inferred by the walker
    maxphyaddr: int = 52
    ttbr0: int | None = None
    ttbr1: int | None = None
    tcr: int | None = None
    mair: int | None = None
    cpu: int | None = None
    symbols: tuple[str, ...] = DEFAULT_ROOT_SYMBOLS
    scan: bool = True
    satp: int | None = None  # riscv64: the whole CSR (MODE, ASID, PPN)
    riscv_mode: str | None = None  # riscv64: mode for symbol/scan roots when satp is not given
    sum: bool | None = None  # riscv64: sstatus.SUM
    mxr: bool | None = None  # riscv64: sstatus.MXR


def _pa_mask(maxphyaddr: int) -> int:
    return ((1 << maxphyaddr) - 1) & ~0xFFF


def find_roots(
    mem: PhysicalMemory, kernel: KernelImage | None = None, options: RootOptions | None = None
) -> list[Root]:
    """All candidates, best first, without duplicates (same arch, mode and table)."""
    opt = options or RootOptions()
    arch = opt.arch or mem.arch or (kernel.arch if kernel else None) or "x86_64"
    found: list[Root] = []
    if arch == "riscv64":
        found += _riscv(mem, kernel, opt)
    elif arch == "x86_64":
        found += _explicit_x86(opt) + _cpu_x86(mem, opt) + _vmcoreinfo_x86(mem, opt)
    else:
        found += _explicit_arm(opt) + _cpu_arm(mem, opt) + _vmcoreinfo_arm(mem, opt)
    if arch != "riscv64":
        found += _symbols(mem, kernel, arch, opt)
    if not found and opt.scan and arch == "x86_64":
        found += _scan_x86(mem, opt)
    # One candidate per table; when several sources agree, say so (agreement is evidence).
    unique: dict[tuple[str, str, int, str | None], Root] = {}
    for root in found:
        key = (root.arch, root.mode, root.table, root.half)
        if key in unique:
            first = unique[key]
            unique[key] = replace(first, source=f"{first.source}; {root.source}")
        else:
            unique[key] = root
    return list(unique.values())


def _riscv(mem: PhysicalMemory, kernel: KernelImage | None, opt: RootOptions) -> list[Root]:
    from pmoview import roots_riscv as rv

    found: list[Root] = []
    if opt.satp is not None:
        found.append(replace(rv.root_from_satp(opt.satp, "--satp", opt.sum, opt.mxr), cpu=opt.cpu))
    found += rv.cpu_roots(mem, opt.cpu, opt.sum, opt.mxr)
    if kernel is not None:
        found += rv.symbol_roots(mem, kernel, opt.symbols, opt.riscv_mode, opt.sum)
    if not found and opt.scan:
        found += rv.scan_roots(mem, kernel, opt.riscv_mode, opt.sum)
    return [replace(r, mxr=opt.mxr) for r in found]


def _x86(table: int, la57: bool, source: str, opt: RootOptions, cpu: int | None = None) -> Root:
    return Root(
        arch="x86_64",
        mode="x86_64-5level" if la57 else "x86_64-4level",
        table=table,
        source=source,
        nxe=opt.nxe,
        maxphyaddr=opt.maxphyaddr,
        cpu=cpu,
    )


def _explicit_x86(opt: RootOptions) -> list[Root]:
    if opt.cr3 is None:
        return []
    return [_x86(opt.cr3 & _pa_mask(opt.maxphyaddr), bool(opt.la57), "--cr3", opt)]


def _cpu_x86(mem: PhysicalMemory, opt: RootOptions) -> list[Root]:
    out = []
    for cpu in mem.cpus:
        if opt.cpu is not None and cpu.index != opt.cpu:
            continue
        regs = cpu.regs
        if "cr3" not in regs or not regs.get("cr0", 0) & CR0_PG:
            continue  # e.g. an AP still halted in real mode: no paging, no root
        la57 = bool(regs.get("cr4", 0) & CR4_LA57) if opt.la57 is None else opt.la57
        nxe_opt = opt
        if "efer" in regs and opt.nxe is None:
            nxe_opt = replace(opt, nxe=bool(regs["efer"] & (1 << 11)))
        out.append(_x86(regs["cr3"] & _pa_mask(opt.maxphyaddr), la57, f"CPU {cpu.index} CR3", nxe_opt, cpu.index))
    return out


def _vmcoreinfo_x86(mem: PhysicalMemory, opt: RootOptions) -> list[Root]:
    info = mem.vmcoreinfo
    va = vmci.symbol(info, "init_top_pgt")
    if va is None:
        return []
    phys_base = vmci.number(info, "phys_base") or 0
    l5 = vmci.number(info, "pgtable_l5_enabled")
    la57 = bool(l5) if opt.la57 is None else opt.la57
    pa = (va - X86_START_KERNEL_MAP + phys_base) & _pa_mask(opt.maxphyaddr)
    return [_x86(pa, la57, "VMCOREINFO init_top_pgt - __START_KERNEL_map + phys_base", opt)]


def _arm_va_bits(tcr: int | None, fallback: int | None, t1: bool) -> int:
    if tcr is not None:
        tsz = (tcr >> (16 if t1 else 0)) & 0x3F
        return 64 - tsz
    return fallback or 48


def _arm(table: int, half: str, va_bits: int, source: str, opt: RootOptions) -> Root:
    return Root(
        arch="aarch64",
        mode="aarch64-4k",
        table=table,
        source=source,
        half=half,
        va_bits=va_bits,
        mair=opt.mair,
        maxphyaddr=min(opt.maxphyaddr, 52),
    )


# TCR_EL1 fields (Arm ARM D19.2.139): per half the size offset, the walk-disable bit, the granule encoding
# and hierarchical-permission-disable bit; IPS, the intermediate (here: output) physical address size.
class TcrHalf(NamedTuple):
    tsz: int
    epd: int
    tg: int
    tg_codes: dict[int, str]
    hpd: int


TCR_HALVES = {
    "ttbr1": TcrHalf(16, 23, 30, {2: "aarch64-4k", 1: "aarch64-16k", 3: "aarch64-64k"}, 42),
    "ttbr0": TcrHalf(0, 7, 14, {0: "aarch64-4k", 2: "aarch64-16k", 1: "aarch64-64k"}, 41),
}
TCR_IPS_BITS = {0: 32, 1: 36, 2: 40, 3: 42, 4: 44, 5: 48, 6: 52}
SCTLR_M = 1


def _cpu_arm(mem: PhysicalMemory, opt: RootOptions) -> list[Root]:
    """One root per half per CPU whose registers a live target (the gdbstub) gives: TTBRn_EL1 with the
    granule, size, HPD and PA size of TCR_EL1 and the CPU's MAIR_EL1. A dump's notes carry none of them."""
    out = []
    baddr = ((1 << 48) - 1) & ~1
    for cpu in mem.cpus:
        regs = cpu.regs
        if (opt.cpu is not None and cpu.index != opt.cpu) or "tcr_el1" not in regs:
            continue
        sctlr = regs.get("sctlr_el1", regs.get("sctlr"))
        if sctlr is not None and not sctlr & SCTLR_M:
            continue  # MMU off: no translation to show
        tcr = regs["tcr_el1"]
        for half, f in TCR_HALVES.items():
            ttbr = regs.get(f"{half}_el1")
            mode = f.tg_codes.get((tcr >> f.tg) & 3)
            if ttbr is None or mode is None or (tcr >> f.epd) & 1:
                continue
            pa_bits = TCR_IPS_BITS.get((tcr >> 32) & 7, 48)
            out.append(
                Root(
                    arch="aarch64",
                    mode=mode,
                    table=ttbr & baddr,
                    source=f"CPU {cpu.index} {half.upper()}_EL1",
                    half=half,
                    va_bits=64 - ((tcr >> f.tsz) & 0x3F),
                    mair=opt.mair if opt.mair is not None else regs.get("mair_el1"),
                    maxphyaddr=min(opt.maxphyaddr, pa_bits),
                    hpd=bool((tcr >> f.hpd) & 1),
                    cpu=cpu.index,
                )
            )
    return out


def _explicit_arm(opt: RootOptions) -> list[Root]:
    out = []
    baddr = ((1 << 48) - 1) & ~1
    if opt.ttbr1 is not None:
        out.append(_arm(opt.ttbr1 & baddr, "ttbr1", _arm_va_bits(opt.tcr, None, True), "--ttbr1", opt))
    if opt.ttbr0 is not None:
        out.append(_arm(opt.ttbr0 & baddr, "ttbr0", _arm_va_bits(opt.tcr, None, False), "--ttbr0", opt))
    return out


def _vmcoreinfo_arm(mem: PhysicalMemory, opt: RootOptions) -> list[Root]:
    info = mem.vmcoreinfo
    va = vmci.symbol(info, "swapper_pg_dir")
    voff = vmci.number(info, "kimage_voffset")
    if va is None or voff is None:
        return []
    t1sz = vmci.number(info, "TCR_EL1_T1SZ")
    va_bits = 64 - t1sz if t1sz else (vmci.number(info, "VA_BITS") or 48)
    pa = (va - voff) & ((1 << 64) - 1)
    return [_arm(pa, "ttbr1", va_bits, "VMCOREINFO swapper_pg_dir - kimage_voffset", opt)]


def _symbols(mem: PhysicalMemory, kernel: KernelImage | None, arch: str, opt: RootOptions) -> list[Root]:
    if kernel is None:
        return []
    out = []
    for name in opt.symbols:
        va = kernel.symbol(name)
        if va is None:
            continue
        pa = kernel.va_to_pa(va)
        if pa is None:
            continue
        source = f"symbol {name} of {kernel.path} (ELF load address)"
        if arch == "x86_64":
            out.append(_x86(pa, bool(opt.la57), source, opt))
        else:
            out.append(_arm(pa, "ttbr1", 48, source, opt))
    return out


def _scan_x86(mem: PhysicalMemory, opt: RootOptions) -> list[Root]:
    """Pages in low memory that look like a 4-level top table: present entries only in the kernel
    half or both halves, every present entry pointing at a page in the dump, no reserved bits, and
    entry 511 present (a higher-half kernel). Scored by entries present; the best few are kept."""
    mask = _pa_mask(opt.maxphyaddr)
    rsv_mask = ((1 << 52) - 1) & ~((1 << opt.maxphyaddr) - 1)
    candidates: list[tuple[int, int]] = []
    for pa, page in present_pages(mem, SCAN_LIMIT_BYTES):
        e = np.frombuffer(page, dtype="<u8")
        present = (e & 1) == 1
        if present[511] and 1 <= int(present.sum()) <= 64:
            targets = e[present] & np.uint64(mask)
            reserved = (e[present] & np.uint64(rsv_mask)) != 0
            ps = (e[present] & np.uint64(0x80)) != 0
            if not reserved.any() and not ps.any() and all(mem.is_present(int(t)) for t in targets):
                candidates.append((int(present.sum()), pa))
    candidates.sort(key=lambda c: (-c[0], c[1]))
    return [_x86(pa, bool(opt.la57), f"scan of low memory ({n} entries present)", opt) for n, pa in candidates[:4]]

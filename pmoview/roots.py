"""Where the page tables start. Candidates come from, in order of trust: explicit options, the
CPU state in the dump (one root per distinct CR3), VMCOREINFO, kernel symbols, and a validated scan.
Each candidate says where it came from."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from parsers.errors import DumpFormatError
from pmoview import rootkind
from pmoview import vmcoreinfo as vmci
from pmoview.arch.mode import UnsupportedPaging
from pmoview.arch.root import Root, paging_mode
from pmoview.memory import PhysicalMemory
from pmoview.memory.base import present_pages

if TYPE_CHECKING:
    from pmoview.kernel import KernelImage

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
    svpbmt: bool = False  # riscv64: the CPU implements Svpbmt (PBMT in leaves is a memory type)
    kind: str | None = None  # the root kind to put first ("kernel" when None): pmoview.rootkind.KINDS


def _pa_mask(maxphyaddr: int) -> int:
    return ((1 << maxphyaddr) - 1) & ~0xFFF


def find_roots(
    mem: PhysicalMemory,
    kernel: KernelImage | None = None,
    options: RootOptions | None = None,
    problems: list[str] | None = None,
) -> list[Root]:
    """All candidates, best first, without duplicates (same arch, mode and table), each with its
    kind (``pmoview.rootkind``): explicit options first, then kernel roots (a PTI user CR3's kernel
    twin among them), then user roots.

    A candidate from the dump whose paging mode pmoview cannot walk (UnsupportedPaging: a granule or
    VA size no AArch64 has) is left out and the reason appended to ``problems``; one from the options
    (``--ttbr1``, ``--tcr``, ...) raises it: the user asked for exactly that."""
    opt = options or RootOptions()
    arch = opt.arch or mem.arch or (kernel.arch if kernel else None) or "x86_64"
    found: list[Root] = []
    sink = problems if problems is not None else []

    def from_dump(make: Callable[[], list[Root]]) -> list[Root]:
        try:
            return [r for r in make() if _walkable(r, sink)]
        except UnsupportedPaging as exc:
            sink.append(str(exc))
            return []

    if arch == "riscv64":
        found += _riscv(mem, kernel, opt)
    elif arch == "x86_64":
        found += _explicit_x86(opt) + _cpu_x86(mem, opt) + _vmcoreinfo_x86(mem, opt)
    else:
        found += [r for r in _explicit_arm(mem, opt) if _walkable(r, None)]
        found += from_dump(lambda: _cpu_arm(mem, opt)) + from_dump(lambda: _vmcoreinfo_arm(mem, opt))
    if arch != "riscv64":
        found += from_dump(lambda: _symbols(mem, kernel, arch, opt))
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
    return rootkind.classify(mem, list(unique.values()), prefer=opt.kind or rootkind.KERNEL)


def _walkable(root: Root, problems: list[str] | None) -> bool:
    """Whether the walker has rows for this root; without ``problems`` the reason is raised."""
    try:
        paging_mode(root)
    except UnsupportedPaging as exc:
        if problems is None:
            raise
        problems.append(f"{root.source}: {exc}")
        return False
    return True


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
    return [replace(r, mxr=opt.mxr if opt.mxr is not None else r.mxr, svpbmt=opt.svpbmt) for r in found]


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
    armed = []  # CR3 loaded, CR0.PG not set yet: boot code stopped between the two (a live guest, a step)
    for cpu in mem.cpus:
        if opt.cpu is not None and cpu.index != opt.cpu:
            continue
        regs = cpu.regs
        if "cr3" not in regs:
            continue  # a capture kernel's NT_PRSTATUS holds general registers only: no root here
        if not regs.get("cr0", 0) & CR0_PG:
            table = regs["cr3"] & _pa_mask(opt.maxphyaddr)
            if table and mem.is_present(table):
                la57 = bool(regs.get("cr4", 0) & CR4_LA57) if opt.la57 is None else opt.la57
                source = f"CPU {cpu.index} CR3 (CR0.PG=0: loaded, paging not on yet)"
                armed.append(_x86(table, la57, source, opt, cpu.index))
            continue  # an AP still halted in real mode has CR3 0: no root
        la57 = bool(regs.get("cr4", 0) & CR4_LA57) if opt.la57 is None else opt.la57
        nxe_opt = opt
        if "efer" in regs and opt.nxe is None:
            nxe_opt = replace(opt, nxe=bool(regs["efer"] & (1 << 11)))
        out.append(_x86(regs["cr3"] & _pa_mask(opt.maxphyaddr), la57, f"CPU {cpu.index} CR3", nxe_opt, cpu.index))
    return out + armed


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


@dataclass(frozen=True)
class ArmGeometry:
    """How one AArch64 half translates, and where each parameter came from (for ``Root.source``)."""

    mode: str
    va_bits: int
    ds: bool | None
    hpd: bool
    maxphyaddr: int
    tcr: int | None
    why: str
    tbi: bool = False


def arm_geometry(mem: PhysicalMemory, opt: RootOptions, half: str, tcr_value: int | None = None) -> ArmGeometry:
    """Granule and VA size of one half: from TCR_EL1 (``--tcr`` or the CPU's own) when known, else from
    VMCOREINFO (``PAGESIZE``, ``NUMBER(TCR_EL1_T1SZ)``, ``NUMBER(VA_BITS)``; Linux gives TTBR0 the
    same VA size as TTBR1), else 4 KiB and 48 bits. UnsupportedPaging for a granule AArch64 lacks."""
    from pmoview.arch.aarch64 import decode_tcr, granule_mode  # AArch64 dumps only: x86 start-up skips it

    tcr = opt.tcr if opt.tcr is not None else tcr_value
    if tcr is not None:
        t = decode_tcr(tcr)
        h = t.half(half)
        pa_bits = min(opt.maxphyaddr, t.pa_bits)
        return ArmGeometry(h.mode, h.va_bits, t.ds, h.hpd, pa_bits, tcr, f"TCR_EL1 {tcr:#x}", h.tbi)
    info = mem.vmcoreinfo
    why = []
    page_size = vmci.plain_number(info, "PAGESIZE")
    mode = "aarch64-4k"
    if page_size is not None:
        mode = granule_mode(page_size)
        why.append(f"PAGESIZE {page_size}")
    t1sz = vmci.number(info, "TCR_EL1_T1SZ")
    va_bits = vmci.number(info, "VA_BITS")
    if t1sz:
        va_bits = 64 - t1sz
        why.append(f"TCR_EL1_T1SZ {t1sz}")
    elif va_bits:
        why.append(f"VA_BITS {va_bits}")
    text = "VMCOREINFO " + ", ".join(why) if why else "4 KiB granule and 48-bit VA assumed (no TCR_EL1, no VMCOREINFO)"
    return ArmGeometry(mode, va_bits or 48, None, False, min(opt.maxphyaddr, 52), None, text)


def _arm(table: int, half: str, geo: ArmGeometry, source: str, opt: RootOptions, cpu: int | None = None) -> Root:
    return Root(
        arch="aarch64",
        mode=geo.mode,
        table=table,
        source=f"{source} ({geo.why})",
        half=half,
        va_bits=geo.va_bits,
        mair=opt.mair,
        maxphyaddr=geo.maxphyaddr,
        hpd=geo.hpd,
        ds=geo.ds,
        tcr=geo.tcr,
        tbi=geo.tbi,
        cpu=cpu,
    )


SCTLR_M = 1  # SCTLR_EL1.M: the stage 1 MMU is on


def _from_ttbr(ttbr: int, half: str, geo: ArmGeometry, source: str, opt: RootOptions, cpu: int | None = None) -> Root:
    """A root from a TTBR value: the table address as the MMU takes it (ASID, CnP masked; aligned to
    the top table's size, not to a page)."""
    from pmoview.arch.aarch64 import ttbr_table_address

    probe = _arm(0, half, geo, source, opt, cpu)
    return replace(probe, table=ttbr_table_address(ttbr, paging_mode(probe)))


def _explicit_arm(mem: PhysicalMemory, opt: RootOptions) -> list[Root]:
    out = []
    for half, value in (("ttbr1", opt.ttbr1), ("ttbr0", opt.ttbr0)):
        if value is not None:
            out.append(_from_ttbr(value, half, arm_geometry(mem, opt, half), f"--{half} {value:#x}", opt))
    return out


def _cpu_arm(mem: PhysicalMemory, opt: RootOptions) -> list[Root]:
    """TTBR1_EL1 / TTBR0_EL1 of each CPU whose state the dump (or a live target: the gdbstub) records,
    with that CPU's TCR_EL1 and MAIR_EL1. A CPU with its MMU off (SCTLR_EL1.M = 0) has no translation
    to show; a half whose walks TCR_EL1.EPDn disables is left out. A dump's notes carry none of these."""
    from pmoview.arch.aarch64 import decode_tcr

    out = []
    for cpu in mem.cpus:
        if opt.cpu is not None and cpu.index != opt.cpu:
            continue
        regs = cpu.regs
        sctlr = regs.get("sctlr_el1", regs.get("sctlr"))
        if sctlr is not None and not sctlr & SCTLR_M:
            continue
        tcr = regs.get("tcr_el1")
        for half in ("ttbr1", "ttbr0"):
            value = regs.get(f"{half}_el1")
            if value is None:
                continue
            geo = arm_geometry(mem, opt, half, tcr)
            if geo.tcr is not None and decode_tcr(geo.tcr).half(half).epd:
                continue
            cpu_opt = opt if opt.mair is not None or "mair_el1" not in regs else replace(opt, mair=regs["mair_el1"])
            out.append(
                _from_ttbr(value, half, geo, f"CPU {cpu.index} {half.upper()}_EL1 {value:#x}", cpu_opt, cpu.index)
            )
    return out


def _vmcoreinfo_arm(mem: PhysicalMemory, opt: RootOptions) -> list[Root]:
    info = mem.vmcoreinfo
    va = vmci.symbol(info, "swapper_pg_dir")
    voff = vmci.number(info, "kimage_voffset")
    if va is None or voff is None:
        return []
    pa = (va - voff) & ((1 << 64) - 1)
    geo = arm_geometry(mem, opt, "ttbr1")
    return [_arm(pa, "ttbr1", geo, "VMCOREINFO swapper_pg_dir - kimage_voffset", opt)]


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
            out.append(_arm(pa, "ttbr1", arm_geometry(mem, opt, "ttbr1"), source, opt))
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


EXPLICIT_SOURCES = ("--cr3", "--ttbr0", "--ttbr1")


def judge_explicit_root(mem: PhysicalMemory, root: Root) -> str | None:
    """For a root the user named (``--cr3``, ``--ttbr0/1``): None when its page looks like a top table,
    else why not (no valid entry; most valid entries point outside the dump or set a reserved bit).
    A root whose table is not in the dump at all raises ``DumpFormatError``: it cannot be walked.
    A wrong --cr3 must not read as an empty address space."""
    option = root.source
    page = mem.read_page(root.table & ~0xFFF)
    if page is None:
        raise DumpFormatError(
            mem.path,
            None,
            f"a page table at {option} {root.table:#x}",
            f"PA {root.table:#x} is not in the dump (pmoview info lists the ranges it holds)",
        )
    entries = np.frombuffer(page, dtype="<u8")
    valid = entries[(entries & np.uint64(1)) == 1]
    if valid.size == 0:
        return f"{option} {root.table:#x}: the page at PA {root.table:#x} has no valid entry; is it a page table?"
    mask = _pa_mask(min(root.maxphyaddr, 52))
    # x86: PS is reserved in a top-level entry; a page of code or data usually has it set somewhere.
    bad = sum(1 for v in valid.tolist() if (root.arch == "x86_64" and v & 0x80) or not mem.is_present(int(v) & mask))
    if bad * 2 > valid.size:
        return (
            f"{option} {root.table:#x}: {bad} of its {valid.size} valid entries point outside the dump or have "
            f"reserved bits set; is it a page table?"
        )
    return None

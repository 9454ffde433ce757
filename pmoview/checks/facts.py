"""Facts a profile's expressions refer to, read from the dump, each with where it came from.

- every VMCOREINFO ``NUMBER(x)`` as ``x`` and ``SYMBOL(x)`` as ``SYMBOL(x)`` (an address), KERNELOFFSET;
- x86_64 Linux: ``page_offset_base`` -- VMCOREINFO ``SYMBOL(page_offset_base)`` is the address of the
  variable, so its 8-byte value is read through the kernel mapping (the VA translated by the walk,
  else __START_KERNEL_map + phys_base); without it (no KASLR of the memory layout) the defaults
  0xffff888000000000 (4-level) / 0xff11000000000000 (5-level);
- arm64 Linux: ``PAGE_OFFSET`` = -(1 << VA_BITS), ``PAGE_END`` = -(1 << (VA_BITS_MIN - 1)) (the linear
  map is the lower half of the TTBR1 range), ``_text`` = KIMAGE_VADDR (= MODULES_END) + KERNELOFFSET
  (arch/arm64/include/asm/memory.h, 6.1).
"""

from __future__ import annotations

import struct
from typing import Any

import numpy as np

from pmoview.checks.profiles import U64, Profile, vmcoreinfo_facts
from pmoview.memory.base import AbsentMemoryError

START_KERNEL_MAP = 0xFFFF_FFFF_8000_0000
PAGE_OFFSET_4L = 0xFFFF_8880_0000_0000
PAGE_OFFSET_5L = 0xFF11_0000_0000_0000


def _read_u64(mem: Any, pa: int) -> int | None:
    try:
        return int(struct.unpack("<Q", mem.read(pa, 8))[0])
    except AbsentMemoryError:
        return None


def gather_facts(mem: Any, space: Any, kernel: Any, profile: Profile) -> tuple[dict[str, int], dict[str, str]]:
    facts, sources = vmcoreinfo_facts(mem.vmcoreinfo)
    root = space.root
    if root.arch == "x86_64" and (profile.name.startswith("linux") or "page_offset_base" in _names(profile)):
        _x86_linux(mem, space, kernel, facts, sources)
    if root.arch == "aarch64":
        _arm64(space, kernel, facts, sources)
    if kernel is not None and not mem.vmcoreinfo:
        _elf_symbols(kernel, profile, facts, sources)
    if root.arch == "riscv64" and profile.name.startswith("linux"):
        _riscv_linux(space, facts, sources)
    return facts, sources


RISCV_PAGE_OFFSET = {"riscv64-sv39": 0xFFFF_FFD6_0000_0000, "riscv64-sv48": 0xFFFF_AF80_0000_0000}
RISCV_PAGE_OFFSET_SV57 = 0xFF60_0000_0000_0000


def _riscv_linux(space: Any, facts: dict[str, int], sources: dict[str, str]) -> None:
    """PAGE_OFFSET by paging mode (asm/page.h PAGE_OFFSET_L3/L4/L5); phys_ram_base and the kernel's load
    address from VMCOREINFO when the dump has it, else read from the page tables (and said so)."""
    if "PAGE_OFFSET" not in facts:
        facts["PAGE_OFFSET"] = RISCV_PAGE_OFFSET.get(space.root.mode, RISCV_PAGE_OFFSET_SV57)
        sources["PAGE_OFFSET"] = f"Linux's PAGE_OFFSET for {space.root.mode} (no VMCOREINFO NUMBER(PAGE_OFFSET))"
    if "phys_ram_base" not in facts:
        t = space.translate(facts["PAGE_OFFSET"])
        if t.pa is not None:
            facts["phys_ram_base"] = t.pa
            sources["phys_ram_base"] = "what the page tables map at PAGE_OFFSET (no VMCOREINFO NUMBER(phys_ram_base))"
    link = facts.get("KERNEL_LINK_ADDR", 0xFFFF_FFFF_8000_0000)
    if "va_kernel_pa_offset" in facts:
        facts["kernel_pa"] = (link - facts["va_kernel_pa_offset"]) & U64
        sources["kernel_pa"] = "KERNEL_LINK_ADDR - VMCOREINFO NUMBER(va_kernel_pa_offset)"
    else:
        t = space.translate(link)
        if t.pa is not None:
            facts["kernel_pa"] = t.pa
            sources["kernel_pa"] = "what the page tables map at KERNEL_LINK_ADDR (no VMCOREINFO va_kernel_pa_offset)"


def _elf_symbols(kernel: Any, profile: Profile, facts: dict[str, int], sources: dict[str, str]) -> None:
    """``SYMBOL(x)`` from the kernel ELF where no VMCOREINFO names it (xv6: etext, trampoline)."""
    for word in _names(profile):
        if word.startswith("SYMBOL(") and word.endswith(")") and word not in facts:
            va = kernel.symbol(word[7:-1])
            if va is not None:
                facts[word] = va & U64
                sources[word] = f"symbol {word[7:-1]} of {kernel.path}"


def _names(profile: Profile) -> set[str]:
    out: set[str] = set()
    values: list[Any] = []
    for r in profile.regions:
        values += [r.va_start, r.va_end, r.pa_base] + [x for e in r.exempt for x in (e.pa_start, e.pa_end)]
    if profile.stacks is not None:
        values.append(profile.stacks.top)
    for v in values:
        if isinstance(v, str):
            out.update(w for w in v.replace("+", " ").replace("-", " ").split())
    return out


def infer_direct_map(space: Any, lowest: int) -> tuple[int, str] | None:
    """The direct map's base from the page tables alone: the VA - PA offset, 1 GiB aligned (KASLR
    randomises the region in PUD-sized steps) and at or above the non-KASLR base, that maps the most
    memory and maps PA 0 (the direct map starts there). Streamed over [lowest, __START_KERNEL_map) a
    batch of mappings at a time: the offsets are few, the mappings may be millions."""
    # the whole tree first, in VA order (the order of its anomalies), and no further than it went
    end = min(START_KERNEL_MAP, space.scan_end)
    by_delta: dict[int, list[int]] = {}  # offset -> [bytes mapped, lowest PA], in order of first meeting
    for cols in space.mapping_batches(lowest, end):
        va = cols.va_start
        delta = va - cols.pa_start  # mod 2**64, as the VA - PA offset is
        keep = (va >= np.uint64(lowest)) & (va < np.uint64(START_KERNEL_MAP))
        keep &= (delta % np.uint64(1 << 30) == 0) & (delta >= np.uint64(lowest))
        if not keep.any():
            continue
        deltas, sizes, pas = delta[keep], cols.size[keep], cols.pa_start[keep]
        values, first, inverse = np.unique(deltas, return_index=True, return_inverse=True)
        for k in np.argsort(first, kind="stable").tolist():
            mine = inverse.ravel() == k
            acc = by_delta.setdefault(int(values[k]), [0, 1 << 64])
            acc[0] += int(sizes[mine].sum(dtype=np.uint64))
            acc[1] = min(acc[1], int(pas[mine].min()))
    if not by_delta:
        return None
    best = max(by_delta, key=lambda d: (by_delta[d][1] < (1 << 20), by_delta[d][0]))
    size, low = by_delta[best]
    if low >= 1 << 20:
        return None
    return best, f"the largest VA - PA offset in the kernel half that maps PA 0 ({size >> 20} MiB at {best:#x})"


def _x86_linux(mem: Any, space: Any, kernel: Any, facts: dict[str, int], sources: dict[str, str]) -> None:
    if "phys_base" not in facts:
        facts["phys_base"] = 0
        sources["phys_base"] = "assumed 0 (no VMCOREINFO NUMBER(phys_base))"
    l5 = space.root.mode == "x86_64-5level"
    default = PAGE_OFFSET_5L if l5 else PAGE_OFFSET_4L
    var = facts.get("SYMBOL(page_offset_base)")
    via = "VMCOREINFO SYMBOL"
    if var is None and kernel is not None and kernel.symbol("page_offset_base") is not None:
        var = (kernel.symbol("page_offset_base") + facts.get("KERNELOFFSET", 0)) & U64
        via = "kernel symbol + KERNELOFFSET"
    if var is None:
        inferred = infer_direct_map(space, default)
        if inferred is not None and inferred[0] != default:
            facts["page_offset_base"] = inferred[0]
            sources["page_offset_base"] = (
                f"inferred: VMCOREINFO has no SYMBOL(page_offset_base) and no kernel symbol was given; {inferred[1]}"
            )
            return
        facts["page_offset_base"] = default
        sources["page_offset_base"] = (
            f"default for {'5' if l5 else '4'}-level paging without memory-layout KASLR "
            "(no SYMBOL(page_offset_base))" + (f"; the page tables agree ({inferred[1]})" if inferred else "")
        )
        return
    t = space.translate(var)
    pa, how = t.pa, "translated through the kernel mapping"
    if pa is None:
        pa, how = (var - START_KERNEL_MAP + facts["phys_base"]) & U64, "at __START_KERNEL_map + phys_base"
    value = _read_u64(mem, pa)
    if value is None or value < (1 << 63) or value & 0x3FFF_FFFF:
        facts["page_offset_base"] = default
        sources["page_offset_base"] = (
            f"default {default:#x}: the variable at VA {var:#x} (PA {pa:#x}) "
            f"{'is not in the dump' if value is None else f'holds {value:#x}, not a base'}"
        )
        return
    facts["page_offset_base"] = value
    sources["page_offset_base"] = f"read from the variable page_offset_base at VA {var:#x} ({via}), PA {pa:#x} {how}"


def _arm64(space: Any, kernel: Any, facts: dict[str, int], sources: dict[str, str]) -> None:
    va_bits = facts.get("VA_BITS") or space.root.va_bits or 48
    if "VA_BITS" not in facts:
        facts["VA_BITS"] = va_bits
        sources["VA_BITS"] = "the root's VA size"
    facts["PAGE_OFFSET"] = (-(1 << va_bits)) & U64
    sources["PAGE_OFFSET"] = f"-(1 << VA_BITS), VA_BITS = {va_bits}"
    va_min = min(va_bits, 48)
    facts["PAGE_END"] = (-(1 << (va_min - 1))) & U64
    sources["PAGE_END"] = f"-(1 << (VA_BITS_MIN - 1)), VA_BITS_MIN = {va_min}"
    if "_text" not in facts:
        off = facts.get("KERNELOFFSET", 0)
        if "MODULES_END" in facts:
            facts["_text"] = (facts["MODULES_END"] + off) & U64
            sources["_text"] = "KIMAGE_VADDR (VMCOREINFO NUMBER(MODULES_END)) + KERNELOFFSET"
        elif kernel is not None and kernel.symbol("_text") is not None:
            facts["_text"] = (kernel.symbol("_text") + off) & U64
            sources["_text"] = "kernel ELF symbol _text + KERNELOFFSET"

"""The RAM map the PMO must cover, and where it came from.

In order of trust:
1. ``--ram START-END`` ranges given by the user (type 1);
2. the Multiboot2 memory map (tag 6): through the kernel's copy (symbols ``mb2_mmap_copy`` /
   ``mb2_mmap_count`` in the seed kernel, read through the kernel mapping), at ``--mb2-info ADDR``
   (the PA of the boot information), or found by a validated scan of low memory;
   for x86 Linux dumps, the firmware E820 map in the boot_params zero page, found by a validated scan;
3. the dump's present ranges. Those are QEMU's RAM *and ROM* blocks, not the firmware's map: they
   include VGA memory at 0xfd000000 and the BIOS ROM at 0xfffc0000 and leave out 0xa0000-0xc0000
   (field notes). Only used as the last fallback, and the report says so.
"""

from __future__ import annotations

import bisect
import itertools
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

import numpy as np

from parsers.errors import DumpFormatError
from parsers.multiboot2 import MEMORY_TYPES, MMAP_ENTRY_SIZE, MmapEntry, parse_boot_info, parse_mmap_entries
from pmoview.checks.findings import Interval, merge_intervals
from pmoview.memory.base import PAGE_SIZE, AbsentMemoryError, PhysicalMemory, present_pages

MB2_SYMBOLS = ("mb2_mmap_copy", "mb2_mmap_count")
MAX_ENTRIES = 512
MAX_PA = 1 << 52
SCAN_BYTES = 64 << 20  # low memory searched for a boot information structure
SCAN_MAX_TOTAL = 64 << 10  # largest boot information accepted by the scan


@dataclass(frozen=True)
class RamRange:
    """One physical range of the machine's memory map, end exclusive, with its type (1: usable RAM)."""

    start: int
    end: int  # exclusive
    type: int

    @property
    def type_name(self) -> str:
        return MEMORY_TYPES.get(self.type, f"type {self.type}")

    def to_json(self) -> dict[str, Any]:
        return {"start": hex(self.start), "end": hex(self.end), "type": self.type}


@dataclass
class RamMap:
    """The machine's RAM and where pmoview learned it (an option, Multiboot2, E820, the dump's own ranges)."""

    ranges: list[RamRange]
    source: str  # "option" | "multiboot2" | "e820" | "dump"
    detail: str  # in words: where exactly
    tried: list[str] = field(default_factory=list)  # sources tried before, and why they were not used

    @property
    def authoritative(self) -> bool:
        """False for the dump-ranges fallback: those ranges are not known to be RAM."""
        return self.source != "dump"

    def of_types(self, types: Sequence[int]) -> list[Interval]:
        return merge_intervals((r.start, r.end) for r in self.ranges if r.type in types)

    def ram_intervals(self) -> list[Interval]:
        """Everything that is memory of some kind the kernel may map as RAM (types 1, 3, 4)."""
        return self.of_types((1, 3, 4))

    @property
    def top(self) -> int:
        ram = self.ram_intervals()
        return ram[-1][1] if ram else 0

    def type_at(self, pa: int) -> int | None:
        """The type of the first range (in start order) holding ``pa``. A bisect, not a scan: checks ask
        once per missing page, and a fragmented map has thousands of ranges."""
        ranges = self.ranges
        key = (id(ranges), len(ranges))
        if getattr(self, "_index_key", None) != key:
            ends = [r.end for r in ranges]
            self._index = ([r.start for r in ranges], list(itertools.accumulate(ends, max)))
            self._index_key = key
        starts, reach = self._index
        i = bisect.bisect_right(starts, pa) - 1
        if i < 0 or reach[i] <= pa:
            return None
        if i == 0 or reach[i - 1] <= pa:  # no earlier range reaches pa: only ranges[i] can hold it
            return ranges[i].type if ranges[i].end > pa else None
        return next(r.type for r in ranges[: i + 1] if r.start <= pa < r.end)

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "detail": self.detail,
            "ranges": [r.to_json() for r in self.ranges],
            "tried": self.tried,
        }


def _entries_to_ranges(entries: Sequence[MmapEntry]) -> list[RamRange]:
    return sorted(
        (RamRange(e.base_addr, e.base_addr + e.length, e.type) for e in entries if e.length),
        key=lambda r: (r.start, r.end),
    )


def validate_entries(entries: Sequence[MmapEntry]) -> str | None:
    """None when the entries look like a firmware memory map, else what is wrong."""
    if not entries:
        return "no entries"
    if len(entries) > MAX_ENTRIES:
        return f"{len(entries)} entries (more than {MAX_ENTRIES})"
    if not any(e.type == 1 and e.length for e in entries):
        return "no available-RAM entry"
    spans = sorted((e.base_addr, e.base_addr + e.length) for e in entries if e.length)
    for e in entries:
        if e.base_addr + e.length > MAX_PA or e.type == 0 or e.type > 0xFFFF:
            return f"implausible entry base {e.base_addr:#x} length {e.length:#x} type {e.type}"
    for (a0, a1), (b0, b1) in pairwise(spans):
        if b0 < a1:
            return f"overlapping entries {a0:#x}-{a1:#x} and {b0:#x}-{b1:#x}"
    return None


def _read(mem: PhysicalMemory, pa: int, n: int) -> bytes | None:
    try:
        return mem.read(pa, n)
    except AbsentMemoryError:
        return None


def _va_to_pa(space: Any, kernel: Any, va: int) -> tuple[int | None, str]:
    if space is not None:
        t = space.translate(va)
        if t.pa is not None:
            return t.pa, "through the kernel mapping"
    if kernel is not None:
        pa = kernel.va_to_pa(va)
        if pa is not None:
            return pa, "at its ELF load address"
    return None, ""


def from_kernel_symbols(
    mem: PhysicalMemory, space: Any, kernel: Any, symbols: tuple[str, str] = MB2_SYMBOLS
) -> tuple[RamMap | None, str]:
    copy_name, count_name = symbols
    copy_va = kernel.symbol(copy_name) if kernel is not None else None
    count_va = kernel.symbol(count_name) if kernel is not None else None
    if copy_va is None or count_va is None:
        return None, f"kernel symbols {copy_name}/{count_name}: " + (
            "no --kernel ELF" if kernel is None else "not in the kernel's symbol table"
        )
    count_pa, how = _va_to_pa(space, kernel, count_va)
    copy_pa, how2 = _va_to_pa(space, kernel, copy_va)
    if count_pa is None or copy_pa is None:
        return None, f"kernel symbols {copy_name}/{count_name}: their VAs do not translate"
    raw = _read(mem, count_pa, 4)
    if raw is None:
        return None, f"{count_name} at PA {count_pa:#x} is not in the dump"
    count = struct.unpack("<I", raw)[0]
    if not 0 < count <= MAX_ENTRIES:
        return None, f"{count_name} = {count} is not a plausible entry count"
    data = _read(mem, copy_pa, count * MMAP_ENTRY_SIZE)
    if data is None:
        return None, f"{copy_name} at PA {copy_pa:#x} is not in the dump"
    entries = parse_mmap_entries(data, count, path=mem.path)
    bad = validate_entries(entries)
    if bad:
        return None, f"{copy_name} does not look like a memory map: {bad}"
    detail = (
        f"Multiboot2 memory map: the kernel's copy {copy_name} ({count} entries, VA {copy_va:#x}, "
        f"PA {copy_pa:#x} {how2 or how})"
    )
    return RamMap(_entries_to_ranges(entries), "multiboot2", detail), ""


def from_boot_info(mem: PhysicalMemory, pa: int, how: str) -> tuple[RamMap | None, str]:
    head = _read(mem, pa, 8)
    if head is None:
        return None, f"Multiboot2 boot information at PA {pa:#x} is not in the dump"
    total = struct.unpack_from("<I", head)[0]
    data = _read(mem, pa, min(max(total, 8), 1 << 20))
    if data is None:
        return None, f"Multiboot2 boot information at PA {pa:#x} ({total} bytes) is not wholly in the dump"
    try:
        info = parse_boot_info(data, f"{mem.path} PA {pa:#x}")
    except DumpFormatError as exc:
        return None, f"no Multiboot2 boot information at PA {pa:#x}: {exc.one_line()}"
    if info.mmap is None:
        return None, f"the Multiboot2 boot information at PA {pa:#x} has no memory map tag"
    bad = validate_entries(info.mmap)
    if bad:
        return None, f"the Multiboot2 memory map at PA {pa:#x} does not look like one: {bad}"
    detail = f"Multiboot2 memory map (tag 6, {len(info.mmap)} entries) in the boot information at PA {pa:#x} {how}"
    return RamMap(_entries_to_ranges(info.mmap), "multiboot2", detail), ""


def scan_boot_info(mem: PhysicalMemory, budget: int = SCAN_BYTES) -> tuple[RamMap | None, str]:
    """Look for a Multiboot2 boot information structure in low memory: 8-aligned, total_size a
    multiple of 8 and at most 64 KiB, reserved 0, a first tag of a known type, a memory map tag and
    an end tag, and a memory map that passes ``validate_entries``."""
    for pa, page in present_pages(mem, budget):
        words = np.frombuffer(page, dtype="<u4").reshape(-1, 2)
        total, reserved = words[:, 0], words[:, 1]
        # the first tag follows the 8-byte header: a known type, a size that fits
        ttype = np.append(words[1:, 0], 0)
        tsize = np.append(words[1:, 1], 0)
        cand = np.flatnonzero(
            (reserved == 0)
            & (total >= 24)
            & (total <= SCAN_MAX_TOTAL)
            & (total % 8 == 0)
            & (ttype >= 1)
            & (ttype <= 21)
            & (tsize >= 8)
            & (tsize + 8 <= total)
        )
        for i in cand.tolist():
            ram, _ = from_boot_info(mem, pa + 8 * i, "found by scanning low memory")
            if ram is not None:
                return ram, ""
    return None, f"no Multiboot2 boot information in the first {budget >> 20} MiB of the dump"


# Linux x86 boot protocol (Documentation/arch/x86/zero-page.rst, boot.rst): struct boot_params, the
# "zero page", holds the firmware's E820 map: e820_entries (u8) at 0x1e8, e820_table (128 x
# {u64 addr, u64 size, u32 type}, packed, 20 bytes) at 0x2d0, and the setup header with boot_flag
# 0xAA55 at 0x1fe and the magic "HdrS" at 0x202.
BP_E820_ENTRIES, BP_E820_TABLE, BP_BOOT_FLAG, BP_HEADER = 0x1E8, 0x2D0, 0x1FE, 0x202
E820_MAX = 128
E820_ENTRY = struct.Struct("<QQI")


def parse_zero_page(data: bytes) -> list[MmapEntry] | None:
    """The E820 entries of a boot_params page, or None when it is not one."""
    if len(data) < BP_E820_TABLE + E820_MAX * E820_ENTRY.size or data[BP_HEADER : BP_HEADER + 4] != b"HdrS":
        return None
    if struct.unpack_from("<H", data, BP_BOOT_FLAG)[0] != 0xAA55:
        return None
    n = data[BP_E820_ENTRIES]
    if not 0 < n <= E820_MAX:
        return None
    entries = [
        MmapEntry(a, size, t)
        for a, size, t in (E820_ENTRY.unpack_from(data, BP_E820_TABLE + i * E820_ENTRY.size) for i in range(n))
    ]
    return None if validate_entries(entries) else entries


def scan_e820(mem: PhysicalMemory, budget: int = SCAN_BYTES) -> tuple[RamMap | None, str]:
    """Find Linux's boot_params (the zero page the boot loader filled; it stays in low memory) by its
    "HdrS" magic and take its E820 table, after validating it like a Multiboot2 map."""
    for pa, page in present_pages(mem, budget):
        i = page.find(b"HdrS")
        while i >= 0:
            base = pa + i - BP_HEADER
            data = _read(mem, base, PAGE_SIZE) if base >= 0 else None
            entries = parse_zero_page(data) if data else None
            if entries:
                detail = (
                    f"the firmware E820 map ({len(entries)} entries) in Linux's boot_params (zero page) "
                    f'at PA {base:#x}, found by scanning low memory for its "HdrS" setup header'
                )
                return RamMap(_entries_to_ranges(entries), "e820", detail), ""
            i = page.find(b"HdrS", i + 1)
    return None, f"no Linux boot_params with an E820 map in the first {budget >> 20} MiB of the dump"


def from_dump(mem: PhysicalMemory) -> RamMap:
    # valid_ranges: a filtered kdump still lists the RAM it left out (bitmap 1)
    ranges = [RamRange(r.start, r.end, 1) for r in mem.valid_ranges()]
    return RamMap(
        ranges,
        "dump",
        "the dump's present ranges (fallback: these are the hypervisor's RAM and ROM "
        "blocks, not the firmware memory map; they may include VGA memory and the BIOS ROM; "
        "give --ram or --mb2-info for an exact check)",
    )


def find_ram(
    mem: PhysicalMemory,
    space: Any = None,
    kernel: Any = None,
    ram: Sequence[tuple[int, int]] | None = None,
    mb2_info: int | None = None,
    scan: bool = True,
    symbols: tuple[str, str] = MB2_SYMBOLS,
    e820: bool = False,
) -> RamMap:
    """``scan``: look for Multiboot2 boot information in low memory; ``e820``: look for Linux's
    boot_params E820 map (x86 Linux dumps)."""
    if ram:
        ranges = [RamRange(s, e, 1) for s, e in merge_intervals(ram)]
        return RamMap(ranges, "option", "--ram ranges given on the command line (type 1)")
    tried: list[str] = []
    if mb2_info is not None:
        got, why = from_boot_info(mem, mb2_info, "(--mb2-info)")
        if got is None:
            raise DumpFormatError(mem.path, mb2_info, "a Multiboot2 boot information structure (--mb2-info)", why)
        return got
    # The remaining sources in order of trust; each answers (map, "") or (None, why not).
    sources: list[Callable[[], tuple[RamMap | None, str]]] = [lambda: from_kernel_symbols(mem, space, kernel, symbols)]
    if e820:
        sources.append(lambda: scan_e820(mem))
    if scan:
        sources.append(lambda: scan_boot_info(mem))
    for source in sources:
        got, why = source()
        if got is not None:
            got.tried = got.tried or tried
            return got
        tried.append(why)
    fallback = from_dump(mem)
    fallback.tried = tried
    return fallback

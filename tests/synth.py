"""Synthetic page-table trees, built entry by entry with the Construct layouts in ``parsers``.

Reusable by every test module (and ``benchmarks/``):
- ``X86Tree(levels=4|5)`` and ``Arm64Tree(mode="aarch64-4k", va_bits=48, half="ttbr1")`` allocate
  tables in a ``SparseMemory`` and ``map(va, pa, size, **leaf_fields)`` creates the path; field names
  are the manuals' (``rw``, ``us``, ``xd``, ``g``, ``pat``...; ``AP``, ``UXN``, ``PXN``, ``AttrIndx``...).
  Intermediate entries get ``table_fields`` (default: the most permissive ones).
  ``set_entry(va, level, value)`` / ``entry(va, level)`` reach any entry on a VA's path.
- ``x86_table``, ``x86_leaf``, ``arm_table``, ``arm_leaf``: one entry's value.
- ``CountingMemory``: wraps a PhysicalMemory and counts pages read (STYLE rule 9).
- ``SynthDirectMap``: a PhysicalMemory that synthesises, on the fly, an x86_64 4-level tree mapping
  ``gib`` GiB at ``base_va`` with 4 KiB pages (64 GiB = 16 M leaves in 32 K PT pages), for cost tests.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from parsers.aarch64_desc import block_descriptor, page_descriptor, table_descriptor
from parsers.x86_64_entry import LEAF_FORMATS, table_entry
from pmoview.arch import Root
from pmoview.arch.layout import build_entry
from pmoview.memory import DumpInfo, PhysicalMemory, Range, SparseMemory

PAGE = 4096
KiB, MiB, GiB = 1 << 10, 1 << 20, 1 << 30
DIRECT_MAP = 0xFFFF_8880_0000_0000


# -- x86_64 ---------------------------------------------------------------------------------------
def x86_table(pa: int, **fields: int) -> int:
    """A PML5E/PML4E/PDPTE/PDE pointing to a table (default P, R/W, U/S set)."""
    f: dict[str, int] = {"p": 1, "rw": 1, "us": 1}
    f.update(fields)
    return build_entry(table_entry, address=pa >> 12, **f)


def x86_leaf(pa: int, size: int = PAGE, **fields: int) -> int:
    """A PTE, 2 MiB PDE or 1 GiB PDPTE (PS set for the large ones); default P only."""
    struct = LEAF_FORMATS[size]
    f: dict[str, int] = {"p": 1}
    if size != PAGE:
        f["ps"] = 1
    f.update(fields)
    return build_entry(struct, address=pa >> size.bit_length() - 1, **f)


class X86Tree:
    SHIFTS: ClassVar[dict[int, int]] = {5: 48, 4: 39, 3: 30, 2: 21, 1: 12}
    SIZE_LEVEL: ClassVar[dict[int, int]] = {PAGE: 1, 2 * MiB: 2, GiB: 3}

    def __init__(
        self,
        levels: int = 4,
        mem: SparseMemory | None = None,
        table_base: int = 0x10_0000,
        table_fields: dict[str, int] | None = None,
    ) -> None:
        self.levels = levels
        self.mem = mem if mem is not None else SparseMemory(info=DumpInfo(arch="x86_64"))
        self.next_table = table_base
        self.table_fields = table_fields or {}
        self.root = self.new_table()

    @property
    def mode(self) -> str:
        return "x86_64-5level" if self.levels == 5 else "x86_64-4level"

    def root_obj(self, **kw: Any) -> Root:
        return Root(arch="x86_64", mode=self.mode, table=self.root, source="synthetic", **kw)

    def new_table(self) -> int:
        pa = self.next_table
        self.next_table += PAGE
        self.mem.write(pa, bytes(PAGE))
        return pa

    def index(self, va: int, level: int) -> int:
        return (va >> self.SHIFTS[level]) & 511

    def read(self, table: int, index: int) -> int:
        return int.from_bytes(self.mem.read(table + 8 * index, 8), "little")

    def write(self, table: int, index: int, value: int) -> None:
        self.mem.write(table + 8 * index, value.to_bytes(8, "little"))

    def table_of(self, va: int, level: int, create: bool = True, table_fields: dict[str, int] | None = None) -> int:
        """PA of the ``level`` table on ``va``'s path (creating tables above it as needed)."""
        table = self.root
        for lv in range(self.levels, level, -1):
            i = self.index(va, lv)
            e = self.read(table, i)
            if not e & 1:
                if not create:
                    raise KeyError(f"no level {lv - 1} table for {va:#x}")
                child = self.new_table()
                self.write(table, i, x86_table(child, **{**self.table_fields, **(table_fields or {})}))
                e = self.read(table, i)
            table = e & 0x000F_FFFF_FFFF_F000
        return table

    def map(
        self, va: int, pa: int, size: int = PAGE, table_fields: dict[str, int] | None = None, **leaf_fields: int
    ) -> None:
        level = self.SIZE_LEVEL[size]
        table = self.table_of(va, level, table_fields=table_fields)
        self.write(table, self.index(va, level), x86_leaf(pa, size, **leaf_fields))

    def entry(self, va: int, level: int) -> int:
        return self.read(self.table_of(va, level, create=False), self.index(va, level))

    def set_entry(self, va: int, level: int, value: int) -> None:
        self.write(self.table_of(va, level), self.index(va, level), value)


# -- AArch64 --------------------------------------------------------------------------------------
ARM_GRANULE_SHIFT = {"aarch64-4k": 12, "aarch64-16k": 14, "aarch64-64k": 16}


def _arm_oa(pa: int, lsb: int, oa: str) -> dict[str, int]:
    """Address fields of a descriptor in format ``oa`` ("48", "lpa2", "lpa") for output address ``pa``."""
    if oa == "lpa2":
        return {"in_place": (pa & ((1 << 50) - 1)) >> lsb, "hi": pa >> 50}
    if oa == "lpa":
        return {"in_place": (pa & ((1 << 48) - 1)) >> lsb, "hi": pa >> 48}
    return {"in_place": pa >> lsb}


def arm_table(pa: int, granule_shift: int = 12, oa: str = "48", **fields: int) -> int:
    f: dict[str, int] = {"valid": 1, "type": 1}
    a = _arm_oa(pa, granule_shift, oa)
    f["next_level"] = a["in_place"]
    if "hi" in a:
        f["next_level_hi"] = a["hi"]
    f.update(fields)
    return build_entry(table_descriptor(granule_shift, oa), **f)  # type: ignore[arg-type]


def arm_leaf(pa: int, shift: int, granule_shift: int = 12, oa: str = "48", **fields: int) -> int:
    """A page (``shift == granule_shift``) or block descriptor; default valid, AF, SH inner (not with
    LPA2, where bits 9:8 are address bits), AttrIndx 0."""
    page = shift == granule_shift
    struct = page_descriptor(granule_shift, oa) if page else block_descriptor(shift, oa)  # type: ignore[arg-type]
    f: dict[str, int] = {"valid": 1, "type": 1 if page else 0, "AF": 1}
    if oa != "lpa2":
        f["SH"] = 3
    a = _arm_oa(pa, shift, oa)
    f["OA"] = a["in_place"]
    if "hi" in a:
        f["OA_hi"] = a["hi"]
    f.update(fields)
    return build_entry(struct, **f)


class Arm64Tree:
    def __init__(
        self,
        mode: str = "aarch64-4k",
        va_bits: int = 48,
        half: str = "ttbr1",
        mem: SparseMemory | None = None,
        table_base: int = 0x4000_0000,
        oa: str | None = None,
        table_bytes: int | None = None,
    ) -> None:
        """``oa``: descriptor format ("48", "lpa2", "lpa"; default "lpa2" for a 4/16 KiB VA over 48 bits).
        ``table_bytes``: the size of the top table allocation (default: a granule)."""
        self.mode, self.va_bits, self.half = mode, va_bits, half
        self.g = ARM_GRANULE_SHIFT[mode]
        self.oa = oa or ("lpa2" if va_bits > 48 and self.g != 16 else "48")
        self.bits = self.g - 3
        self.start = 4 - -(-(va_bits - self.g) // self.bits)
        self.mem = mem if mem is not None else SparseMemory(info=DumpInfo(arch="aarch64"))
        self.next_table = table_base
        self.root = self.new_table(table_bytes)

    def root_obj(self, **kw: Any) -> Root:
        return Root(
            arch="aarch64",
            mode=self.mode,
            table=self.root,
            source="synthetic",
            va_bits=self.va_bits,
            half=self.half,
            **kw,
        )

    def shift(self, level: int) -> int:
        return self.g + (3 - level) * self.bits

    def new_table(self, nbytes: int | None = None) -> int:
        pa = self.next_table
        size = nbytes or 1 << self.g
        self.next_table = -(-(pa + size) // (1 << self.g)) << self.g  # the next one granule-aligned
        self.mem.write(pa, bytes(size))
        return pa

    def table_address(self, entry: int) -> int:
        addr = entry & ((1 << (50 if self.oa == "lpa2" else 48)) - 1) & ~((1 << self.g) - 1)
        if self.oa == "lpa2":
            addr |= ((entry >> 8) & 3) << 50
        elif self.oa == "lpa":
            addr |= ((entry >> 12) & 15) << 48
        return addr

    def offset(self, va: int) -> int:
        return va - ((1 << 64) - (1 << self.va_bits)) if self.half == "ttbr1" else va

    def index(self, va: int, level: int) -> int:
        return (self.offset(va) >> self.shift(level)) & ((1 << self.bits) - 1)

    def read(self, table: int, index: int) -> int:
        return int.from_bytes(self.mem.read(table + 8 * index, 8), "little")

    def write(self, table: int, index: int, value: int) -> None:
        self.mem.write(table + 8 * index, value.to_bytes(8, "little"))

    def table_of(self, va: int, level: int, create: bool = True, table_fields: dict[str, int] | None = None) -> int:
        table = self.root
        for lv in range(self.start, level):
            i = self.index(va, lv)
            e = self.read(table, i)
            if not e & 1:
                if not create:
                    raise KeyError(f"no level {lv + 1} table for {va:#x}")
                child = self.new_table()
                self.write(table, i, arm_table(child, self.g, self.oa, **(table_fields or {})))
                e = self.read(table, i)
            table = self.table_address(e)
        return table

    def level_of(self, size: int) -> int:
        for lv in range(self.start, 4):
            if 1 << self.shift(lv) == size:
                return lv
        raise ValueError(f"no level maps {size:#x} bytes")

    def map(
        self, va: int, pa: int, size: int | None = None, table_fields: dict[str, int] | None = None, **fields: int
    ) -> None:
        level = self.level_of(size or 1 << self.g)
        table = self.table_of(va, level, table_fields=table_fields)
        self.write(table, self.index(va, level), arm_leaf(pa, self.shift(level), self.g, self.oa, **fields))

    def entry(self, va: int, level: int) -> int:
        return self.read(self.table_of(va, level, create=False), self.index(va, level))

    def set_entry(self, va: int, level: int, value: int) -> None:
        self.write(self.table_of(va, level), self.index(va, level), value)


# -- memory wrappers ------------------------------------------------------------------------------
class CountingMemory(PhysicalMemory):
    """Counts ``read_page`` calls and distinct pages: the walk's cost, not the dump's size."""

    def __init__(self, inner: PhysicalMemory) -> None:
        self.inner = inner
        self.path, self.format, self.file_size, self.info = inner.path, inner.format, inner.file_size, inner.info
        self.reads = 0
        self.pages: set[int] = set()

    def ranges(self) -> list[Range]:
        return self.inner.ranges()

    def read_page(self, pa: int) -> bytes | None:
        self.reads += 1
        self.pages.add(pa)
        return self.inner.read_page(pa)

    def close(self) -> None:
        self.inner.close()


class SynthDirectMap(PhysicalMemory):
    """``gib`` GiB of RAM at PA 0, mapped at ``base_va`` with 4 KiB pages, tables made on demand.

    Layout: PML4 at 0x1000, PDPT at 0x2000, PDs from 0x3000, PTs from 0x100000 (inside the RAM they
    map, as in a real kernel). Leaf flags come from one Construct-built PTE (P, RW, A, D, G, XD)."""

    PML4, PDPT, PD0, PT0 = 0x1000, 0x2000, 0x3000, 0x100000

    def __init__(self, gib: int = 64, base_va: int = DIRECT_MAP) -> None:
        assert 1 <= gib <= 512 and self.PD0 + gib * PAGE <= self.PT0
        self.gib, self.base_va = gib, base_va
        self.path, self.format, self.file_size = "<synthetic direct map>", "synthetic", 0
        self.info = DumpInfo(arch="x86_64")
        self.leaf_flags = x86_leaf(0, PAGE, rw=1, a=1, d=1, g=1, xd=1)
        self.n_pt = gib * 512
        self._zero = bytes(PAGE)
        self._pml4 = self._table({(base_va >> 39) & 511: x86_table(self.PDPT, us=0)})
        self._pdpt = self._table(
            {((base_va >> 30) & 511) + i: x86_table(self.PD0 + i * PAGE, us=0) for i in range(gib)}
        )
        self._pt_offsets = np.arange(512, dtype=np.uint64) * np.uint64(PAGE) | np.uint64(self.leaf_flags)
        self._table_flags = np.uint64(x86_table(0, us=0))

    @staticmethod
    def _table(entries: dict[int, int]) -> bytes:
        arr = np.zeros(512, dtype="<u8")
        for i, v in entries.items():
            arr[i] = v
        return arr.tobytes()

    @property
    def root(self) -> Root:
        return Root(arch="x86_64", mode="x86_64-4level", table=self.PML4, source="synthetic", nxe=True)

    def ranges(self) -> list[Range]:
        return [Range(0, self.gib << 30)]

    def close(self) -> None:
        """Nothing to release: pages are made on demand."""

    def read_page(self, pa: int) -> bytes | None:
        if pa >= self.gib << 30:
            return None
        if pa == self.PML4:
            return self._pml4
        if pa == self.PDPT:
            return self._pdpt
        if self.PD0 <= pa < self.PD0 + self.gib * PAGE:
            i = (pa - self.PD0) // PAGE
            first = self.PT0 + i * 512 * PAGE
            pts = np.arange(512, dtype=np.uint64) * np.uint64(PAGE) + np.uint64(first)
            return (pts | self._table_flags).tobytes()
        if self.PT0 <= pa < self.PT0 + self.n_pt * PAGE:
            j = (pa - self.PT0) // PAGE
            return (self._pt_offsets + np.uint64(j * 2 * MiB)).tobytes()
        return self._zero


class SynthArmLinearMap(PhysicalMemory):
    """``gib`` GiB of RAM at PA 0 mapped with 16 KiB pages at the start of a 52-bit TTBR1 half (FEAT_LPA2
    descriptors), tables made on demand: the AArch64 counterpart of ``SynthDirectMap``.

    Layout: a 32-entry (256-byte) level 0 table at 0x1000, level 1 at 0x4000, level 2 at 0x8000 (one per
    64 GiB), level 3 tables from 0x100000 (2048 pages of 16 KiB each)."""

    L0, L1, L2, L3_0, G = 0x1000, 0x4000, 0x8000, 0x100000, 1 << 14

    def __init__(self, gib: int = 16) -> None:
        assert 1 <= gib <= 64 and self.L3_0 + gib * 32 * self.G <= gib << 30
        self.gib = gib
        self.path, self.format, self.file_size = "<synthetic arm linear map>", "synthetic", 0
        self.info = DumpInfo(arch="aarch64")
        self.base_va = (1 << 64) - (1 << 52)
        leaf = arm_leaf(0, 14, 14, "lpa2", PXN=1, UXN=1, AttrIndx=0)
        self.n_l3 = gib * 32
        self._zero = bytes(PAGE)
        self._l3_offsets = np.arange(2048, dtype=np.uint64) * np.uint64(self.G) | np.uint64(leaf)
        self._table_flags = np.uint64(arm_table(0, 14, "lpa2"))
        self._pages = {
            self.L0: self._table({0: arm_table(self.L1, 14, "lpa2")}),
            self.L1: self._table({0: arm_table(self.L2, 14, "lpa2")}),
        }

    @staticmethod
    def _table(entries: dict[int, int]) -> bytes:
        arr = np.zeros(512, dtype="<u8")  # the first 4 KiB of the table; the rest reads as zeros
        for i, v in entries.items():
            arr[i] = v
        return arr.tobytes()

    @property
    def root(self) -> Root:
        return Root("aarch64", "aarch64-16k", self.L0, "synthetic", va_bits=52, half="ttbr1")

    def ranges(self) -> list[Range]:
        return [Range(0, self.gib << 30)]

    def close(self) -> None:
        """Nothing to release: pages are made on demand."""

    def read_page(self, pa: int) -> bytes | None:
        if pa >= self.gib << 30:
            return None
        if pa in self._pages:
            return self._pages[pa]
        if self.L2 <= pa < self.L2 + self.G:
            first = (pa - self.L2) // 8  # index of the first entry in this 4 KiB piece
            idx = np.arange(first, first + 512, dtype=np.uint64)
            tables = np.uint64(self.L3_0) + idx * np.uint64(self.G)
            return np.where(idx < self.n_l3, tables | self._table_flags, np.uint64(0)).astype("<u8").tobytes()
        if self.L3_0 <= pa < self.L3_0 + self.n_l3 * self.G:
            t, piece = divmod(pa - self.L3_0, self.G)
            base = t * 2048 * self.G + piece // 8 * self.G
            return (self._l3_offsets[:512] + np.uint64(base)).tobytes()
        return self._zero

"""Paging modes as data: one ``PagingMode`` per (architecture, mode, CPU parameters), one ``LevelRow``
per table level. The walker (``pmoview.arch.walker``) and the decoder (``pmoview.arch.decode``) read
only these rows; nothing there knows whether it walks x86_64 or AArch64.

How a row is used, for an entry ``e`` of a table at that level:
  valid     ``e & valid_mask`` non-zero (x86 P, AArch64 bit 0); anything else in an invalid entry is ignored
  leaf      among valid entries, ``e & leaf_mask == leaf_value`` selects a page/block (x86 PS = 1, or every
            entry of a PT; AArch64 bits[1:0] = 0b01 above the last level, 0b11 at it); with ``leaf_any``
            it is ``e & leaf_mask != 0`` instead (RISC-V: any of R, W, X); the others point to a table
  fault     a leaf where ``leaf_ok`` is False (PS = 1 in a PML4E, a level 0 block), a table pointer where
            ``table_ok`` is False (AArch64 0b01 at level 3), or any bit of ``*_fault_mask`` set: the MMU
            stops with a fault (x86 #PF with RSVD, AArch64 translation / address size fault); so does a
            leaf matching one of ``leaf_fault_patterns`` (``e & mask == value``: an encoding, not a bit,
            is reserved -- RISC-V W without R)
  res0      bits the manuals call RES0 but that do not make the MMU fault: reported, walk continues
  address   ``(e & table_addr_mask) << addr_shift`` (next table) or ``(e & leaf_addr_mask) << addr_shift``
            (output address); the shift is 0 where the address sits in place (x86, Arm), 2 where a
            page number at bit 10 names a 4 KiB frame (RISC-V PPN); where a 52-bit format moves the top
            address bits elsewhere (AArch64 LPA2/LPA, ``addr_hi``: descriptor lsb, width, PA lsb), those
            bits are put back in place
  key       ``e & leaf_key_mask``: the bits that make a leaf's flags; two leaves with equal key and equal
            accumulated table bits have equal flags (the merge key)

Permissions combine with the parent tables through ``acc``: starting from ``acc_init``, each table
entry on the way down does ``acc = (acc & (e | ~acc_and_mask)) | (e & acc_or_mask)``; x86 ANDs R/W and
U/S and ORs XD, AArch64 ORs APTable, UXNTable and PXNTable. ``rules`` then say how each effective
flag comes from the leaf's bits and ``acc`` (``FlagRule``), evaluated once per distinct (key, acc).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

# Kinds of decoded entries (numpy uint8 in the decoder).
NONE, TABLE, LEAF, FAULT = 0, 1, 2, 3

Op = Literal["all", "any", "value"]


class UnsupportedPaging(ValueError):
    """A paging mode or parameter combination the walker has no rows for (say, a granule no AArch64
    has, or TnSZ out of range): unusable input, not a bug. The message names what is missing."""


@dataclass(frozen=True)
class Term:
    """One bit field: of the leaf entry or of the accumulated table bits, optionally inverted."""

    src: Literal["leaf", "acc"]
    lsb: int
    width: int = 1
    invert: bool = False


@dataclass(frozen=True)
class FlagRule:
    """``all``: every term is 1 (AND); ``any``: some term is 1 (OR); ``value``: the one term's value."""

    name: str
    op: Op
    terms: tuple[Term, ...]


@dataclass(frozen=True)
class LevelRow:
    """One level of a paging mode: its index bits, its entries, and how the walker decodes each entry there."""

    level: int  # as the manual numbers it: x86 5 (PML5) .. 1 (PT); AArch64 -1/0 .. 3
    name: str
    shift: int  # VA bit of this level's index lsb; also log2 of a leaf's size here
    index_bits: int  # VA bits indexed here: the table holds 1 << index_bits entries
    valid_mask: int
    leaf_mask: int
    leaf_value: int
    leaf_ok: bool
    table_ok: bool
    table_addr_mask: int
    leaf_addr_mask: int
    table_fault_mask: int
    leaf_fault_mask: int
    table_res0_mask: int
    leaf_res0_mask: int
    leaf_key_mask: int
    attr_bits: tuple[int, ...]  # bits of the memory-type index, lsb first (x86 PWT, PCD, PAT; AArch64 AttrIndx)
    fault_text: str = "reserved bits set"  # why a leaf here (not leaf_ok) or a table here (not table_ok) faults
    addr_shift: int = 0  # address = (e & *_addr_mask) << addr_shift
    leaf_any: bool = False  # leaf when any bit of leaf_mask is set (leaf_value unused)
    leaf_fault_patterns: tuple[tuple[int, int, str], ...] = ()  # (mask, value, why): reserved leaf encodings
    table_fault_text: str = ""  # what the table_fault_mask bits are, for fault reasons
    leaf_fault_text: str = ""  # what the leaf_fault_mask bits are, for fault reasons
    addr_hi: tuple[int, int, int] = (0, 0, 0)  # (descriptor lsb, width, PA lsb) of moved top address bits

    def is_leaf(self, entry: int) -> bool:
        """Whether a valid ``entry`` at this level maps memory (as opposed to pointing to a table)."""
        if self.leaf_any:
            return bool(entry & self.leaf_mask)
        return (entry & self.leaf_mask) == self.leaf_value

    def _high_bits(self, entry: int) -> int:
        src, width, dst = self.addr_hi
        return ((entry >> src) & ((1 << width) - 1)) << dst if width else 0

    def table_address(self, entry: int) -> int:
        return (entry & self.table_addr_mask) << self.addr_shift | self._high_bits(entry)

    def leaf_address(self, entry: int) -> int:
        return (entry & self.leaf_addr_mask) << self.addr_shift | self._high_bits(entry)

    @property
    def entries(self) -> int:
        return 1 << self.index_bits

    @property
    def span(self) -> int:
        """Bytes of VA one entry covers (the leaf size at this level)."""
        return 1 << self.shift


@dataclass(frozen=True)
class PagingMode:
    """The rows of one paging mode (x86 4/5-level, an AArch64 granule and VA size, RISC-V Sv39/48/57), top first."""

    name: str
    arch: str
    levels: tuple[LevelRow, ...]  # top level first
    va_bits: int
    # Entry offsets (0 .. 2**va_bits) become VAs: offset + upper_add when offset >= split.
    split: int
    upper_add: int
    acc_init: int
    acc_and_mask: int
    acc_or_mask: int
    rules: tuple[FlagRule, ...]
    cache_names: tuple[str, ...]  # memory-type index -> name ("WB", "Device-nGnRE", "PAT5", ...)
    el0_writable_implies_pxn: bool = False  # AArch64: a region writable at EL0 never executes at EL1
    entry_size: int = 8
    notes: tuple[str, ...] = field(default=())  # assumptions made when building the mode
    oa_bits: int = 52  # effective output (physical) address size: larger addresses fault

    def level_row(self, level: int) -> LevelRow:
        for row in self.levels:
            if row.level == level:
                return row
        raise KeyError(f"{self.name} has no level {level}")

    def va_of(self, offset: int) -> int:
        return offset + self.upper_add if offset >= self.split else offset

    def offset_of(self, va: int) -> int | None:
        """The walk offset of ``va``, or None when the MMU would not translate it (non-canonical)."""
        if va < self.split:
            off = va
        elif va >= self.split + self.upper_add:
            off = va - self.upper_add
        else:
            return None
        return off if 0 <= off < (1 << self.va_bits) else None

    def clamp_offset(self, va: int) -> int:
        """Monotonic map of any VA in [0, 2**64] onto [0, 2**va_bits] for range bounds."""
        if va < self.split:
            off = va
        elif va < self.split + self.upper_add:
            off = self.split
        else:
            off = va - self.upper_add
        return max(0, min(off, 1 << self.va_bits))

    def combine(self, acc: int, entry: int) -> int:
        return (acc & (entry | ~self.acc_and_mask)) | (entry & self.acc_or_mask)

    @property
    def va_limit(self) -> int:
        return 1 << self.va_bits

    @property
    def top_table_bytes(self) -> int:
        """Size of the top table: the alignment its base register's address must have."""
        return self.levels[0].entries * self.entry_size

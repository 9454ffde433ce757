"""One decoded table as the rows a tree shows: table pointers one by one, runs of leaves and of empty
entries summarised (a PT of 512 contiguous pages is one row, not 512). No Textual; numpy, one pass.

Also: the bits of one entry with name, value and meaning (from the
Construct layouts in ``parsers``, the single description of the bit layout).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from pmoview.arch.mode import FAULT, LEAF, NONE, TABLE

KIND_NAMES = {NONE: "none", TABLE: "table", LEAF: "leaf", FAULT: "fault"}


@dataclass(frozen=True)
class Row:
    """Entries ``first .. first+count-1`` of one table. kind: "table", "leaf", "fault", "none"."""

    first: int
    count: int
    kind: str
    va_start: int | None
    va_end: int | None  # exclusive
    target: int | None  # next table / output address of the first entry
    span: int  # bytes of VA per entry (page size for leaves)
    flags: Any = None  # effective Flags of a leaf run
    backed: bool | None = None  # the dump holds the target (table page, every page of the run)
    recursive: bool = False  # a table pointer back to a table on its own path
    reason: str | None = None  # why a fault faults

    @property
    def last(self) -> int:
        return self.first + self.count - 1

    def index_text(self) -> str:
        return f"[{self.first}]" if self.count == 1 else f"[{self.first}-{self.last}]"


def table_rows(space: Any, view: Any) -> list[Row]:
    """Rows for a ``TableView`` reached from the root (``root_table``/``children``). Call from a worker:
    checking that targets are in the dump may read the dump's index."""
    if not view.backed:
        return []
    kind = np.asarray(view.kind)
    addr = np.asarray(view.addr)
    raw = np.asarray(view.raw)
    n = int(kind.shape[0])
    span = view.row.span
    key = raw & np.uint64(view.row.leaf_key_mask)
    # A run breaks where the kind changes, at every table or fault, and between leaves that are not
    # contiguous in PA or differ in attribute bits.
    brk = np.ones(n, dtype=bool)
    if n > 1:
        same = kind[1:] == kind[:-1]
        none_run = same & (kind[1:] == NONE)
        leaf_run = same & (kind[1:] == LEAF) & (addr[1:] == addr[:-1] + np.uint64(span)) & (key[1:] == key[:-1])
        brk[1:] = ~(none_run | leaf_run)
    if view.offset is not None:  # a run never crosses the hole between the lower and upper VA halves
        cut = (view.mode.split - view.offset) // span
        if 0 < cut < n:
            brk[cut] = True
    starts = np.flatnonzero(brk)
    counts = np.diff(np.append(starts, n))
    backed_leaf = None
    leaf_idx = np.flatnonzero(kind == LEAF)
    walker = getattr(space, "walker", None)
    if leaf_idx.size and walker is not None:
        backed_leaf = np.zeros(n, dtype=bool)
        backed_leaf[leaf_idx] = walker.backed(addr[leaf_idx], span)
    rows = []
    for s, c in zip(starts.tolist(), counts.tolist(), strict=False):
        k = int(kind[s])
        va0 = view.va(s)
        va1 = None if va0 is None else va0 + c * span
        target = int(addr[s]) if k in (TABLE, LEAF) else None
        flags = backed = reason = None
        recursive = False
        if k == LEAF:
            flags = space.leaf_flags(view, s)
            backed = bool(backed_leaf[s : s + c].all()) if backed_leaf is not None else None
        elif k == TABLE:
            backed = space.mem.is_present(target)
            recursive = target == view.pa or any(e.table_pa == target for e in view.path)
        elif k == FAULT:
            reason = view.fault_reason(s)
        rows.append(Row(s, c, KIND_NAMES[k], va0, va1, target, span, flags, backed, recursive, reason))
    return rows


# -- one entry's bits --------------------------------------------------------------------------------

MEANINGS = {
    # x86_64 (Intel SDM Vol. 3A tables 4-15 .. 4-20)
    "p": ("present", "not present"),
    "rw": ("writable", "read-only"),
    "us": ("user", "supervisor only"),
    "pwt": ("write-through", "write-back"),
    "pcd": ("cache disabled", "cacheable"),
    "a": ("accessed", "not accessed"),
    "d": ("dirty", "clean"),
    "ps": ("maps a page", "points to a table"),
    "g": ("global (kept across CR3 loads)", "not global"),
    "pat": ("PAT bit 2", "PAT bit 2 clear"),
    "xd": ("execute-disable", "executable"),
    "pk": ("protection key", ""),
    "address": ("physical address", ""),
    # AArch64 (Arm ARM D8.3)
    "valid": ("valid", "invalid"),
    "type": ("table / page", "block"),
    "AttrIndx": ("MAIR index", ""),
    "NS": ("non-secure", "secure"),
    "AP": ("access permissions", ""),
    "SH": ("shareability", ""),
    "AF": ("accessed", "not accessed (faults on access)"),
    "nG": ("not global (ASID-tagged)", "global"),
    "nT": ("block translation entry", ""),
    "GP": ("guarded page", ""),
    "DBM": ("dirty bit modifier", ""),
    "Contiguous": ("one of a contiguous set", ""),
    "PXN": ("privileged execute-never", "EL1 may execute"),
    "UXN": ("unprivileged execute-never", "EL0 may execute"),
    "PBHA": ("page-based hardware attributes", ""),
    "sw": ("software use", ""),
    "OA": ("output address", ""),
    "next_level": ("next-level table address", ""),
    "NSTable": ("non-secure table", ""),
    "APTable": ("limits access below", ""),
    "UXNTable": ("EL0 execute-never below", ""),
    "PXNTable": ("EL1 execute-never below", ""),
}
RISCV_MEANINGS = {
    # RISC-V privileged spec 4.4.1 (Sv39 PTE), Svpbmt, Svnapot
    "v": ("valid", "not valid"),
    "r": ("readable", "not readable"),
    "w": ("writable", "not writable"),
    "x": ("executable", "not executable"),
    "u": ("user (U-mode; S-mode only with SUM, never executes)", "supervisor only"),
    "g": ("global (all ASIDs)", "not global"),
    "a": ("accessed", "not accessed"),
    "d": ("dirty", "clean"),
    "rsw": ("reserved for supervisor software", ""),
    "n": ("NAPOT (needs Svnapot: reserved here)", "not NAPOT"),
}
AP_TEXT = {0: "EL1 RW, EL0 none", 1: "EL1 RW, EL0 RW", 2: "EL1 RO, EL0 none", 3: "EL1 RO, EL0 RO"}


@dataclass(frozen=True)
class BitField:
    """One named field of an entry as the entry view shows it: its bits and how to read them."""

    name: str
    lsb: int
    width: int
    value: int
    meaning: str

    @property
    def bits(self) -> str:
        return str(self.lsb) if self.width == 1 else f"{self.lsb + self.width - 1}:{self.lsb}"


def layout_for(arch: str, level: int, kind: str, span: int, granule_shift: int = 12, oa: str = "48") -> tuple[str, Any]:
    """(layout name, Construct) describing an entry of this kind at this level; AArch64 layouts depend on
    the granule and the output address format ("48", "lpa2", "lpa": ``aarch64_format``)."""
    if arch == "riscv64":
        from parsers import riscv_pte as rv

        names = {0: "4 KiB page", 1: "2 MiB megapage", 2: "1 GiB gigapage", 3: "512 GiB terapage", 4: "256 TiB"}
        if kind == "leaf" or kind == "fault" and level in names:
            return (f"leaf PTE ({names[level]})", rv.pte(level))
        return ("non-leaf PTE (next table)", rv.table_pte)
    if arch == "x86_64":
        from parsers import x86_64_entry as x

        if kind == "leaf" or (kind == "fault" and level in (1, 2, 3)):
            fmt = {
                1 << 30: ("PDPTE (1 GiB page)", x.pdpte_1g),
                1 << 21: ("PDE (2 MiB page)", x.pde_2m),
                1 << 12: ("PTE (4 KiB page)", x.pte_4k),
            }.get(span)
            if fmt:
                return fmt
        return ("table pointer", x.table_entry)
    from parsers import aarch64_desc as a

    oa_format: Any = oa if oa in a.OA_FORMATS else "48"
    suffix = "" if oa_format == "48" else f", FEAT_{str(oa_format).upper()}"
    if kind == "leaf":
        if level == 3:
            return (f"page descriptor{suffix}", a.page_descriptor(granule_shift, oa_format))
        return (f"block descriptor{suffix}", a.block_descriptor(span.bit_length() - 1, oa_format))
    return (f"table descriptor{suffix}", a.table_descriptor(granule_shift, oa_format))


def aarch64_format(mode: Any) -> tuple[int, str]:
    """(granule shift, output address format) of an AArch64 PagingMode, for ``layout_for``."""
    src = mode.levels[-1].addr_hi[0]
    return mode.levels[-1].shift, {8: "lpa2", 12: "lpa"}.get(src, "48")


def entry_bits(
    arch: str, level: int, kind: str, span: int, entry: int, granule_shift: int = 12, oa: str = "48"
) -> tuple[str, list[BitField]]:
    """Every field of ``entry`` (as the layout for its kind names it), MSB first, with its meaning."""
    from pmoview.arch.layout import field_layout

    if arch == "riscv64" and kind == "fault" and not entry & 0xE:
        kind = "table"  # a non-leaf entry that faults (A/D/U/N/PBMT set, or a pointer at level 0)
    name, struct = layout_for(arch, level, kind, span, granule_shift, oa)
    fields = []
    meanings = RISCV_MEANINGS if arch == "riscv64" else MEANINGS
    for fname, (lsb, width) in sorted(field_layout(struct).items(), key=lambda kv: -kv[1][0]):
        value = (entry >> lsb) & ((1 << width) - 1)
        on, off = meanings.get(fname, ("", ""))
        if arch == "riscv64" and fname in ("ppn", "ppn_low", "pbmt"):
            meaning = _riscv_meaning(fname, value, lsb)
        elif fname.startswith(("ign", "res0", "rsvd")):
            meaning = "ignored" if fname.startswith("ign") else ("reserved: must be 0" if value else "reserved")
        elif fname in ("address", "OA", "next_level"):
            meaning = f"{value << lsb:#x}"
        elif fname in ("OA_hi", "next_level_hi"):  # the top address bits a 52-bit format moves
            dst = 50 if width == 2 else 48
            meaning = f"address bits {dst + width - 1}:{dst} = {value << dst:#x}"
        elif fname == "AP":
            meaning = AP_TEXT.get(value, "")
        elif width == 1:
            meaning = on if value else off
        else:
            meaning = on
        fields.append(BitField(fname, lsb, width, value, meaning))
    return name, fields


def split_run(space: Any, row: Row, index: int) -> list[Row]:
    """``row`` cut so that entry ``index`` stands alone: the part before it, the entry, the part after
    (parts that would be empty are left out). Go-to-VA lands on a run and must show the very entry that
    maps the VA, not the run's first. Whether a leaf part's frames are in the dump is looked up again
    only when the whole run was not (a run in the dump has every part in it)."""
    if row.count == 1 or not row.first <= index <= row.last:
        return [row]
    walker = getattr(space, "walker", None)
    parts = []
    for first, last in ((row.first, index - 1), (index, index), (index + 1, row.last)):
        if last < first:
            continue
        skip = first - row.first
        count = last - first + 1
        va0 = None if row.va_start is None else row.va_start + skip * row.span
        va1 = None if va0 is None else va0 + count * row.span
        target = row.target
        backed = row.backed
        if row.kind == "leaf" and row.target is not None:
            target = row.target + skip * row.span
            if row.backed is False and walker is not None:
                pages = np.arange(count, dtype=np.uint64) * np.uint64(row.span) + np.uint64(target)
                backed = bool(np.asarray(walker.backed(pages, row.span)).all())
        parts.append(
            Row(first, count, row.kind, va0, va1, target, row.span, row.flags, backed, row.recursive, row.reason)
        )
    return parts


def flags_short(flags: Any, page_size: int | None = None) -> str:
    """Flags in as few columns as ptdump's, the two a reader looks for first (``RW``/``ro``, ``x``/``NX``),
    then the rest without padding: a narrow terminal cuts the tail, never the permissions."""
    head = ["RW" if flags.writable else "ro", "NX" if flags.nx else "x"]
    rest = [w for w in flags.text(page_size).split() if w not in ("RW", "ro", "NX", "x")]
    return " ".join(head + rest)


def _riscv_meaning(name: str, value: int, lsb: int) -> str:
    from parsers.riscv_pte import PAGE_SHIFT, PBMT_NAMES, PPN_LSB

    if name == "ppn":  # the page number names a frame: PA = PPN << 12
        return f"physical page number: PA {value << (lsb - PPN_LSB + PAGE_SHIFT):#x}"
    if name == "ppn_low":
        return "not 0: misaligned superpage (faults)" if value else "0 (superpage aligned)"
    return PBMT_NAMES[value] + (" (needs Svpbmt: reserved without it)" if value else "")

"""AddressSpace: one root's page tables over a PhysicalMemory, walked lazily.

``translate`` does what the MMU does for one VA (following even a recursive entry); ``chunks`` and
``leaves`` enumerate present leaves in VA order (vectorised chunks, or one ``Leaf`` per page);
``mappings`` merges them into runs; ``table``/``root_table``/``children`` serve lazy tree views;
``anomalies`` collects what the walks so far found (``scan()`` walks everything once, keeping nothing).
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from pmoview.arch import Root, paging_mode
from pmoview.arch.columns import MappingColumns
from pmoview.arch.decode import U8, U64, fault_reason
from pmoview.arch.flags import Flags, FlagsCache
from pmoview.arch.merge import BATCH_ROWS, merge_all, merge_columns
from pmoview.arch.mode import FAULT, LEAF, NONE, TABLE, LevelRow, PagingMode
from pmoview.arch.records import Anomaly, EntryRef, Leaf, Mapping, Translation, WalkLimits, WalkStats, path_key
from pmoview.arch.walker import LeafChunk, Walker
from pmoview.memory.base import PhysicalMemory

__all__ = [
    "AddressSpace",
    "Anomaly",
    "EntryRef",
    "Flags",
    "Leaf",
    "LeafChunk",
    "Mapping",
    "MappingColumns",
    "TableView",
    "Translation",
    "WalkLimits",
    "WalkStats",
]


def _calling(fn: Callable[[LeafChunk], None], chunks: Iterator[LeafChunk]) -> Iterator[LeafChunk]:
    for ch in chunks:
        fn(ch)
        yield ch


@dataclass(frozen=True, eq=False)
class TableView:
    """One decoded table. Reached from the root (``root_table``/``children``) it also knows the VA of
    entry 0, the path to it and the accumulated table bits; from ``table(pa, level)`` it does not.
    ``backed`` False: the dump lacks the table (arrays empty)."""

    pa: int
    row: LevelRow
    mode: PagingMode
    backed: bool
    raw: U64
    kind: U8
    addr: U64
    offset: int | None = None  # walk offset of entry 0
    path: tuple[EntryRef, ...] = ()
    acc: int | None = None
    recursive: bool = False  # reached through an entry that points back to a table on its own path

    @property
    def level(self) -> int:
        return self.row.level

    @property
    def name(self) -> str:
        return self.row.name

    def __len__(self) -> int:
        return int(self.raw.shape[0])

    def entry(self, i: int) -> EntryRef:
        return EntryRef(self.row.level, i, int(self.raw[i]), self.pa)

    def present(self) -> list[int]:
        """Indices of valid entries (tables, leaves, and entries the MMU would fault on)."""
        return np.flatnonzero(self.kind != NONE).tolist()

    def kind_of(self, i: int) -> str:
        return {NONE: "not present", TABLE: "table", LEAF: "leaf", FAULT: "fault"}[int(self.kind[i])]

    def va(self, i: int) -> int | None:
        return None if self.offset is None else self.mode.va_of(self.offset + i * self.row.span)

    def fault_reason(self, i: int) -> str | None:
        return fault_reason(self.row, int(self.raw[i])) if self.kind[i] == FAULT else None


class AddressSpace:
    def __init__(self, mem: PhysicalMemory, root: Root, limits: WalkLimits | None = None) -> None:
        self.mem = mem
        self.root = root
        self.limits = limits or WalkLimits()
        self.mode = paging_mode(root)
        self.stats = WalkStats()
        self.assumptions: list[str] = list(self.mode.notes)
        if root.arch == "x86_64" and root.nxe is None:
            self.assumptions.append(
                "EFER.NXE is not known (QEMU dumps do not record EFER): bit 63 is read "
                "as XD, as on any kernel that sets it; --nxe off (Root.nxe=False) treats it as reserved"
            )
        self._anomalies: dict[tuple[object, ...], Anomaly] = {}
        self._limit_reported = False
        self.walker = Walker(mem, self.mode, root.table, self.limits, self.stats, self._report)
        self.flags = FlagsCache(self.mode)
        self._all: list[Mapping] | None = None
        self._columns: MappingColumns | None = None
        # Called with each chunk of leaves while a walk pauses between two: the TUI counts leaves there
        # and lends its lock to the threads waiting for it (a walk of millions of leaves takes seconds).
        self.between_chunks: Callable[[LeafChunk], None] | None = None
        self._scanned = False
        self._scan_end = 1 << 64

    # -- anomalies ----------------------------------------------------------------------------
    def _report(self, a: Anomaly) -> None:
        key = (a.kind, path_key(a.path), a.table_pa)
        if key in self._anomalies:
            return
        if len(self._anomalies) >= self.limits.max_anomalies and a.kind != "limit":
            if not self._limit_reported:
                self._limit_reported = True
                self._anomalies[("limit", "anomalies")] = Anomaly(
                    "limit",
                    (),
                    a.va_start,
                    a.va_end,
                    f"more than {self.limits.max_anomalies:,} anomalies; the rest are not recorded "
                    "(WalkLimits.max_anomalies)",
                )
            return
        self._anomalies[key] = a

    @property
    def anomalies(self) -> list[Anomaly]:
        return list(self._anomalies.values())

    def level_name(self, level: int) -> str:
        return self.mode.level_row(level).name

    # -- one VA -------------------------------------------------------------------------------
    def untagged(self, va: int) -> int:
        """The VA the MMU walks: with AArch64 TCR_EL1.TBIn = 1 (``Root.tbi``) the top byte is a tag the
        MMU ignores, and bit 55 (sign-extended) picks the half. Other VAs are returned as they are."""
        if not self.root.tbi:
            return va
        return (va & ((1 << 56) - 1)) | ((0xFF << 56) if (va >> 55) & 1 else 0)

    def translate(self, va: int) -> Translation:
        off = self.mode.offset_of(self.untagged(va))
        if off is None:
            where = (
                ""
                if self.mode.arch == "x86_64"
                else f" (not in the {self.root.half or 'ttbr1'} half with VA_BITS={self.mode.va_bits})"
            )
            return Translation(va, None, None, None, [], None, "non-canonical VA" + where)
        table, acc = self.root.table, self.mode.acc_init
        path: list[EntryRef] = []
        for depth, row in enumerate(self.mode.levels):
            dec = self.walker.decoded(table, depth)
            if dec is None:
                missing = self.mem.absent_reason(table)
                reason = f"table at {table:#x} not in dump"
                return Translation(va, None, None, None, path, row.level, reason, None, missing)
            idx = (off >> row.shift) & (row.entries - 1)
            entry, kind = int(dec.raw[idx]), int(dec.kind[idx])
            path.append(EntryRef(row.level, idx, entry, table))
            if kind == NONE:
                return Translation(va, None, None, None, path, row.level, "not present")
            if kind == FAULT:
                return Translation(va, None, None, None, path, row.level, fault_reason(row, entry))
            if kind == LEAF:
                pa = int(dec.addr[idx]) + (off & (row.span - 1))
                backed = self.walker.backed_one(pa)
                absent = None if backed else self.mem.absent_reason(pa)
                flags = self.flags.get(row, entry, acc)
                return Translation(va, pa, row.span, flags, path, None, None, backed, absent)
            acc = self.mode.combine(acc, entry)
            table = int(dec.addr[idx])
        raise AssertionError("the last level holds no table pointers")  # rows guarantee it

    def entry_path(self, va: int) -> list[EntryRef]:
        """The entries the MMU reads for ``va`` (the stable identity of its leaf: ``path_key``)."""
        return self.translate(va).path

    # -- enumeration --------------------------------------------------------------------------
    def _bounds(self, va_start: int | None, va_end: int | None) -> tuple[int, int]:
        lo = 0 if va_start is None else self.mode.clamp_offset(va_start)
        hi = self.mode.va_limit if va_end is None else self.mode.clamp_offset(va_end)
        return lo, hi

    def chunks(self, va_start: int | None = None, va_end: int | None = None) -> Iterator[LeafChunk]:
        """Leaves meeting [va_start, va_end) as numpy chunks in VA order: the fast way to scan."""
        lo, hi = self._bounds(va_start, va_end)
        return self._walk_chunks(lo, hi)

    def _walk_chunks(self, lo: int, hi: int | None) -> Iterator[LeafChunk]:
        chunks = self.walker.chunks(lo, hi)
        return chunks if self.between_chunks is None else _calling(self.between_chunks, chunks)

    def leaves(self, va_start: int | None = None, va_end: int | None = None) -> Iterator[Leaf]:
        """Every present leaf meeting [va_start, va_end), in VA order, backed or not."""
        for ch in self.chunks(va_start, va_end):
            vas, pas, backed = ch.va.tolist(), ch.pa.tolist(), ch.backed.tolist()
            keys, accs = ch.key.tolist(), ch.acc.tolist()
            for i in range(len(vas)):
                yield Leaf(
                    vas[i], pas[i], ch.size, self.flags.get(ch.row, keys[i], accs[i]), list(ch.path(i)), backed[i]
                )

    def mappings(self, va_start: int | None = None, va_end: int | None = None) -> list[Mapping]:
        """Merged runs of leaves meeting the range (whole leaves, not clipped), ptdump style."""
        if va_start is None and va_end is None:
            return list(self.walk())
        return merge_all(self.chunks(va_start, va_end), self.flags)

    def mapping_batches(
        self, va_start: int | None = None, va_end: int | None = None, rows: int = BATCH_ROWS
    ) -> Iterator[MappingColumns]:
        """``mappings`` as column batches, streamed from the walk: nothing is kept, so memory follows
        one batch whatever the number of leaves (the way for output and checks of huge trees)."""
        return merge_columns(self.chunks(va_start, va_end), self.flags, rows)

    def columns(self) -> MappingColumns:
        """Every mapping as columns (one full walk, cached; 38 bytes per mapping)."""
        if self._columns is None:
            chunks = self._walk_chunks(0, None)
            self._columns = MappingColumns.concat(list(merge_columns(chunks, self.flags)), self.flags.table)
            self._walked_whole()
        return self._columns

    def scan(self) -> list[Anomaly]:
        """Walk the whole tree once, in VA order, keeping no leaf (memory follows one chunk): afterwards
        ``anomalies`` holds everything the tree has, in the order a full walk meets it."""
        if not self._scanned:
            for _ in self._walk_chunks(0, None):
                pass
            self._walked_whole()
        return self.anomalies

    def _walked_whole(self) -> None:
        self._scanned = True
        stop = self.walker.stopped_at
        self._scan_end = 1 << 64 if stop is None else self.mode.va_of(stop)

    @property
    def scan_end(self) -> int:
        """Where the whole-tree walk (``scan``, ``columns``) ended: 2**64, or the VA of the entry where
        a walk limit stopped it. What it did not reach, a walk of one range may: whoever wants to see
        what the whole walk saw (the checks) stops there."""
        self.scan()
        return self._scan_end

    def walk(self) -> list[Mapping]:
        """Walk the whole tree once (cached): every mapping, and every anomaly in ``anomalies``."""
        if self._all is None:
            cols = self.columns()
            was_enabled = gc.isenabled()
            gc.disable()  # tens of thousands of new tuples would trigger collections rescanning them
            try:
                self._all = cols.mappings()
            finally:
                if was_enabled:
                    gc.enable()
        return self._all

    def reverse(self, pa: int) -> list[int]:
        """Every VA that maps physical address ``pa``, ascending."""
        cols = self.columns()
        starts = cols.pa_start
        p = np.uint64(pa)
        hit = (starts <= p) & (p < starts + cols.size)
        return sorted(
            int(v) + (pa - int(s)) for v, s in zip(cols.va_start[hit].tolist(), starts[hit].tolist(), strict=True)
        )

    # -- lazy tree ----------------------------------------------------------------------------
    def _view(
        self,
        pa: int,
        depth: int,
        offset: int | None,
        path: tuple[EntryRef, ...],
        acc: int | None,
        recursive: bool = False,
    ) -> TableView:
        row = self.mode.levels[depth]
        dec = self.walker.decoded(pa, depth)
        if dec is None:
            empty = np.zeros(0, dtype=np.uint64)
            return TableView(
                pa, row, self.mode, False, empty, np.zeros(0, dtype=np.uint8), empty, offset, path, acc, recursive
            )
        return TableView(pa, row, self.mode, True, dec.raw, dec.kind, dec.addr, offset, path, acc, recursive)

    def table(self, pa: int, level: int) -> TableView:
        """The table at ``pa`` decoded as a ``level`` table (cached), without root context."""
        depth = [r.level for r in self.mode.levels].index(level)
        return self._view(pa, depth, None, (), None)

    def root_table(self) -> TableView:
        return self._view(self.root.table, 0, 0, (), self.mode.acc_init)

    def children(self, view: TableView, index: int) -> TableView | None:
        """The table entry ``index`` of ``view`` points to, or None when it points to no table."""
        if not view.backed or view.kind[index] != TABLE:
            return None
        depth = [r.level for r in self.mode.levels].index(view.level) + 1
        entry = view.entry(index)
        target = int(view.addr[index])
        on_path = target == view.pa or any(e.table_pa == target for e in view.path)
        offset = None if view.offset is None else view.offset + index * view.row.span
        acc = None if view.acc is None else self.mode.combine(view.acc, entry.entry)
        return self._view(target, depth, offset, (*view.path, entry), acc, on_path or view.recursive)

    def leaf_flags(self, view: TableView, index: int) -> Flags | None:
        """Effective flags of a leaf entry in a view reached from the root."""
        if not view.backed or view.kind[index] != LEAF or view.acc is None:
            return None
        return self.flags.get(view.row, int(view.raw[index]), view.acc)

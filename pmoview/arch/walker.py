"""The one walker: reads tables from PhysicalMemory, decodes them with a mode's rows, and yields the
leaves in VA order as numpy chunks. It judges nothing; what it cannot follow it reports as anomalies.

Batching: sibling tables that no leaf separates in VA order (say the 512 PTs under a PD) are read and
decoded together, up to ``WalkLimits.max_batch_tables`` at a time, so the numpy work per call covers
hundreds of thousands of entries instead of 512. Leaf chunks come out in VA order.

Rules for trees that are not trees:
- A table pointer to a table on the current path (the root: ``recursive-map``; another ancestor:
  ``cycle``) is reported and not descended. The MMU does follow it -- ``translate()`` does too, so a VA
  in a self-map window translates to the table page -- but enumeration treats that subtree as the
  table it is, already being enumerated, and lists none of its leaves again.
- A table reached from several entries (``shared-table``, reported once per table and walk) is walked
  from each: each entry maps its own VAs. Every visit counts toward ``WalkLimits.max_tables``; past it
  the walk stops with a ``limit`` anomaly, so a hostile DAG cannot make it run forever.
- A table the dump does not hold (``table-outside-memory``) ends that branch; a leaf whose frame the
  dump does not hold is still a leaf (``backed`` False: MMIO, holes, a truncated dump).
- An entry the MMU faults on (reserved bits, a block where none may be) yields nothing below it and a
  ``reserved-bits`` anomaly per table (with the count).
"""

from __future__ import annotations

import bisect
import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import accumulate

import numpy as np
import numpy.typing as npt

from pmoview.arch.decode import U64, Bool, Decoded, decode, fault_reason
from pmoview.arch.mode import FAULT, LEAF, NONE, TABLE, LevelRow, PagingMode
from pmoview.arch.records import Anomaly, EntryRef, WalkLimits, WalkStats
from pmoview.memory.base import PAGE_SIZE, PhysicalMemory

I64 = npt.NDArray[np.int64]


@dataclass(eq=False)
class Batch:
    """``n`` tables at one level, decoded together; ``raw`` holds their entries back to back."""

    depth: int  # index into PagingMode.levels
    pas: U64
    va0: U64  # walk offset of each table's entry 0
    acc: U64  # accumulated table bits from the entries above each table
    anc: U64  # (n, depth + 1): PAs of each table's ancestors and itself
    parent: Batch | None
    parent_flat: I64 | None  # index, in the parent's entries, of the entry pointing to each table
    raw: U64


@dataclass(eq=False)
class LeafChunk:
    """Leaves of one level in VA order: arrays, one element per leaf. ``path(i)`` builds EntryRefs."""

    row: LevelRow
    batch: Batch
    flat: I64
    va: U64
    pa: U64
    key: U64  # entry & row.leaf_key_mask
    acc: U64
    backed: Bool
    entries_per_table: int
    mode: PagingMode = field(repr=False)

    def __len__(self) -> int:
        return int(self.va.shape[0])

    @property
    def size(self) -> int:
        return self.row.span

    def path(self, i: int) -> tuple[EntryRef, ...]:
        return path_of(self.mode, self.batch, int(self.flat[i]))


def path_of(mode: PagingMode, batch: Batch | None, flat: int) -> tuple[EntryRef, ...]:
    refs: list[EntryRef] = []
    b = batch
    while b is not None:
        row = mode.levels[b.depth]
        t, i = divmod(flat, row.entries)
        refs.append(EntryRef(row.level, i, int(b.raw[flat]), int(b.pas[t])))
        if b.parent is None or b.parent_flat is None:
            break
        flat = int(b.parent_flat[t])
        b = b.parent
    return tuple(reversed(refs))


@dataclass
class _Run:
    """One whole-tree walk's bookkeeping: the tables seen (to report sharing and loops) and whether a limit
    stopped it."""

    seen: dict[int, tuple[int, int, int]] = field(default_factory=dict)  # table PA -> (level, parent PA, index)
    shared_reported: set[int] = field(default_factory=set)
    stopped: bool = False
    stop: int | None = None  # walk offset of the entry where a limit stopped it
    visited: int = 0  # tables visited by this walk (stats count every walk of the space)
    revisits: int = 0  # visits of a table this walk had already visited (shared tables, hostile DAGs)


class Walker:
    def __init__(
        self,
        mem: PhysicalMemory,
        mode: PagingMode,
        root_pa: int,
        limits: WalkLimits,
        stats: WalkStats,
        report: Callable[[Anomaly], None],
    ) -> None:
        self.mem = mem
        self.mode = mode
        self.root_pa = root_pa
        self.limits = limits
        self.stats = stats
        self.report = report
        self.stopped_at: int | None = None  # where a limit stopped the last walk run to its end (walk offset)
        # decoded tables, least recently used dropped first (functools' LRU; per walker, so per space)
        self._decoded = functools.lru_cache(maxsize=limits.table_cache)(self._decode_table)
        self._offsets = [np.arange(r.entries, dtype=np.uint64) * np.uint64(r.span) for r in mode.levels]
        rs = mem.ranges()
        self._range_starts = [r.start for r in rs]
        self._range_ends = [r.end for r in rs]
        self._starts = np.array(self._range_starts, dtype=np.uint64)
        self._ends = np.array(self._range_ends, dtype=np.uint64)

    # -- reading ------------------------------------------------------------------------------
    def read_table(self, pa: int, nbytes: int) -> bytes | None:
        if nbytes == PAGE_SIZE and not pa & (PAGE_SIZE - 1):
            self.stats.pages_read += 1
            return self.mem.read_page(pa)
        parts = []
        pos, end = pa, pa + nbytes
        while pos < end:
            page_pa = pos & ~(PAGE_SIZE - 1)
            self.stats.pages_read += 1
            page = self.mem.read_page(page_pa)
            if page is None:
                return None
            take = min(end, page_pa + PAGE_SIZE) - pos
            parts.append(page[pos - page_pa : pos - page_pa + take])
            pos += take
        return b"".join(parts)

    def decoded(self, pa: int, depth: int) -> Decoded | None:
        """One table decoded (cached per PA and level), or None when the dump lacks it."""
        dec = self._decoded(pa, depth)
        self.stats.cache_hits = self._decoded.cache_info().hits
        return dec

    def _decode_table(self, pa: int, depth: int) -> Decoded | None:
        row = self.mode.levels[depth]
        data = self.read_table(pa, row.entries * self.mode.entry_size)
        dec = None if data is None else decode(np.frombuffer(data, dtype="<u8"), row)
        if dec is not None:
            self.stats.entries_decoded += row.entries
        return dec

    def backed_one(self, pa: int, size: int = 1) -> bool:
        i = bisect.bisect_right(self._range_starts, pa) - 1
        return i >= 0 and pa + size <= self._range_ends[i]

    def backed(self, pa: U64, size: int) -> Bool:
        """Whether the dump holds every byte of [pa, pa + size)."""
        if self._starts.size == 0 or pa.size == 0:
            return np.zeros(pa.shape, dtype=bool)
        lo, hi = int(pa.min()), int(pa.max()) + size
        j = int(np.searchsorted(self._starts, np.uint64(lo), side="right")) - 1
        if j >= 0 and hi <= int(self._ends[j]):  # the common case: one dump range holds them all
            return np.ones(pa.shape, dtype=bool)
        i = np.searchsorted(self._starts, pa, side="right").astype(np.int64) - 1
        ok = i >= 0
        ends = self._ends[np.maximum(i, 0)]
        return ok & (ends >= pa + np.uint64(size))

    def va_of(self, off: U64) -> U64:
        """Canonical VAs of walk offsets (``off`` ascending, as in every chunk)."""
        m = self.mode
        if m.upper_add == 0 or off.size == 0:
            return off
        if int(off[0]) >= m.split:
            return off + np.uint64(m.upper_add)
        if int(off[-1]) < m.split:
            return off
        return off + np.where(off >= np.uint64(m.split), np.uint64(m.upper_add), np.uint64(0))

    # -- walking ------------------------------------------------------------------------------
    def chunks(self, lo: int = 0, hi: int | None = None) -> Iterator[LeafChunk]:
        """Leaves whose walk offset range meets [lo, hi), in VA order."""
        hi = self.mode.va_limit if hi is None else hi
        if lo >= hi:
            return
        top = self.mode.levels[0]
        run = _Run()
        data = self.read_table(self.root_pa, top.entries * self.mode.entry_size)
        if data is None:
            self._anomaly(
                Anomaly(
                    "table-outside-memory",
                    (),
                    self.mode.va_of(0),
                    self.mode.va_of(hi - 1) + 1,
                    f"the top table at {self.root_pa:#x} is not in the dump",
                    self.root_pa,
                )
            )
            return
        self.stats.tables_visited += 1
        run.visited = 1
        run.seen[self.root_pa] = (top.level, -1, -1)
        pas = np.array([self.root_pa], dtype=np.uint64)
        root = Batch(
            0,
            pas,
            np.zeros(1, dtype=np.uint64),
            np.array([self.mode.acc_init], dtype=np.uint64),
            pas.reshape(1, 1),
            None,
            None,
            np.frombuffer(data, dtype="<u8"),
        )
        yield from self._walk(root, lo, hi, run)
        self.stopped_at = run.stop

    def _walk(self, b: Batch, lo: int, hi: int, run: _Run) -> Iterator[LeafChunk]:
        row = self.mode.levels[b.depth]
        n_entries = row.entries
        dec = decode(b.raw, row)
        self.stats.entries_decoded += int(b.raw.shape[0])
        off = (b.va0[:, None] + self._offsets[b.depth][None, :]).ravel()
        kind = dec.kind
        first, last = int(b.va0[0]), int(b.va0[-1]) + n_entries * row.span
        if lo > first or hi < last:
            outside = (off + np.uint64(row.span) <= np.uint64(lo)) | (off >= np.uint64(hi))
            if outside.any():
                kind = kind.copy()
                kind[outside] = NONE
        self._entry_anomalies(b, row, dec, kind, off)
        lpos = np.flatnonzero(kind == LEAF)
        tpos = np.flatnonzero(kind == TABLE)
        if tpos.size == 0:
            if lpos.size:
                yield self._leaf_chunk(b, row, dec, lpos, off)
            return
        # Runs of table entries with no leaf between them are walked as one batch of children.
        before = np.searchsorted(lpos, tpos)
        groups = np.split(tpos, np.flatnonzero(np.diff(before)) + 1) if lpos.size else [tpos]
        done = 0
        step = max(1, self.limits.max_batch_tables)
        for g in groups:
            k = int(np.searchsorted(lpos, g[0]))
            if k > done:
                yield self._leaf_chunk(b, row, dec, lpos[done:k], off)
                done = k
            for s in range(0, g.size, step):
                child = self._children(b, row, dec, g[s : s + step], off, run)
                if child is not None:
                    yield from self._walk(child, lo, hi, run)
                if run.stopped:
                    return
        if done < lpos.size:
            yield self._leaf_chunk(b, row, dec, lpos[done:], off)

    def _leaf_chunk(self, b: Batch, row: LevelRow, dec: Decoded, pos: I64, off: U64) -> LeafChunk:
        n, per = int(pos.size), row.entries
        self.stats.leaves += n
        first, last = int(pos[0]), int(pos[-1])
        if last - first + 1 == n:  # every entry in between is a leaf: slices, not gathers
            sel: slice | I64 = slice(first, last + 1)
            t0, t1 = first // per, last // per
            acc = b.acc[t0] if t0 == t1 else np.repeat(b.acc[t0 : t1 + 1], per)[first - t0 * per : last - t0 * per + 1]
        else:
            sel = pos
            acc = b.acc[pos // per]
        pa = dec.addr[sel]
        if isinstance(acc, np.uint64):
            acc = np.full(n, acc, dtype=np.uint64)
        return LeafChunk(
            row=row,
            batch=b,
            flat=pos,
            va=self.va_of(off[sel]),
            pa=pa,
            key=b.raw[sel] & np.uint64(row.leaf_key_mask),
            acc=acc,
            backed=self.backed(pa, row.span),
            entries_per_table=per,
            mode=self.mode,
        )

    def _children(self, b: Batch, row: LevelRow, dec: Decoded, pos: I64, off: U64, run: _Run) -> Batch | None:
        depth = b.depth + 1
        crow = self.mode.levels[depth]
        pas = dec.addr[pos]
        tno = pos // row.entries
        anc = b.anc[tno]
        on_path = (anc == pas[:, None]).any(axis=1)
        if on_path.any():
            for j in np.flatnonzero(on_path).tolist():
                p, target = int(pos[j]), int(pas[j])
                kind = "recursive-map" if target == self.root_pa else "cycle"
                what = (
                    "the top table (a recursive / self map)"
                    if kind == "recursive-map"
                    else "a table already on the path from the root"
                )
                self._entry_anomaly(
                    kind,
                    b,
                    row,
                    p,
                    off,
                    f"{row.name} entry points back to {what} at {target:#x}; its VA range is not enumerated again",
                    target,
                )
            keep = ~on_path
            pos, pas, tno, anc = pos[keep], pas[keep], tno[keep], anc[keep]
        left = self.limits.max_tables - run.visited
        if left < pos.size:
            run.stopped = True
            p = int(pos[max(left, 0)]) if pos.size else 0
            run.stop = int(off[p]) if pos.size else None
            self._entry_anomaly(
                "limit",
                b,
                row,
                p,
                off,
                f"walk stopped after visiting {self.limits.max_tables:,} tables "
                "(WalkLimits.max_tables); raise the limit to see the rest",
                None,
            )
            pos, pas, tno, anc = pos[: max(left, 0)], pas[: max(left, 0)], tno[: max(left, 0)], anc[: max(left, 0)]
        # Revisits are what a hostile DAG multiplies (a 16 KiB dump can ask for 512**3 PT visits):
        # distinct tables are bounded by the dump's size, revisits by WalkLimits.max_revisits.
        pa_list = pas.tolist()
        again: list[bool] = []
        first_here: set[int] = set()  # a table met twice in this batch is a revisit the second time
        for pa in pa_list:
            again.append(pa in run.seen or pa in first_here)
            first_here.add(pa)
        allowed = self.limits.max_revisits - run.revisits
        if sum(again) > allowed:
            cut = next(j for j, n in enumerate(accumulate(again)) if n > allowed)
            run.stopped = True
            run.stop = int(off[int(pos[cut])])
            self._entry_anomaly(
                "limit",
                b,
                row,
                int(pos[cut]),
                off,
                f"walk stopped after revisiting shared tables {self.limits.max_revisits:,} times "
                "(WalkLimits.max_revisits); raise the limit to see the rest",
                None,
            )
            pos, pas, tno, anc = pos[:cut], pas[:cut], tno[:cut], anc[:cut]
            pa_list, again = pa_list[:cut], again[:cut]
        run.revisits += sum(again)
        nbytes = crow.entries * self.mode.entry_size
        pages: list[bytes] = []
        keep_list: list[bool] = []
        self.mem.prefetch(pa_list)  # one round trip for the batch on a live target
        for j, pa in enumerate(pa_list):
            data = self.read_table(pa, nbytes)
            keep_list.append(data is not None)
            if data is None:
                self._entry_anomaly(
                    "table-outside-memory",
                    b,
                    row,
                    int(pos[j]),
                    off,
                    f"{row.name} entry points to a {crow.name} table at {pa:#x} that is not in the dump",
                    pa,
                )
                continue
            pages.append(data)
            # Shared: pointed to by two different entries. A table below a shared one is reached twice
            # through the same entry; that is not sharing of its own.
            p = int(pos[j])
            ref = (crow.level, int(b.pas[p // row.entries]), p % row.entries)
            prev = run.seen.get(pa)
            if prev is None:
                run.seen[pa] = ref
            elif prev[1:] != ref[1:] and pa not in run.shared_reported:
                run.shared_reported.add(pa)
                also = "" if prev[0] == crow.level else f", also as a level {prev[0]} table"
                self._entry_anomaly(
                    "shared-table",
                    b,
                    row,
                    p,
                    off,
                    f"{crow.name} table at {pa:#x} is referenced by more than one entry "
                    f"(first: index {prev[2]} of the table at {prev[1]:#x}){also}",
                    pa,
                )
        self.stats.tables_visited += len(pages)
        run.visited += len(pages)
        if not pages:
            return None
        if len(pages) != pas.size:
            keep = np.array(keep_list, dtype=bool)
            pos, pas, tno, anc = pos[keep], pas[keep], tno[keep], anc[keep]
        parent_entries = b.raw[pos]
        m = self.mode
        acc = (b.acc[tno] & (parent_entries | ~np.uint64(m.acc_and_mask))) | (parent_entries & np.uint64(m.acc_or_mask))
        raw = np.frombuffer(pages[0] if len(pages) == 1 else b"".join(pages), dtype="<u8")
        return Batch(depth, pas, off[pos], acc, np.concatenate([anc, pas[:, None]], axis=1), b, pos, raw)

    # -- anomalies ----------------------------------------------------------------------------
    def _anomaly(self, a: Anomaly) -> None:
        self.report(a)

    def _entry_anomaly(
        self,
        kind: str,
        b: Batch,
        row: LevelRow,
        flat: int,
        off: U64,
        detail: str,
        table_pa: int | None,
        last_flat: int | None = None,
    ) -> None:
        start = int(self.va_of(off[flat : flat + 1])[0])
        end_flat = flat if last_flat is None else last_flat
        end = int(self.va_of(off[end_flat : end_flat + 1])[0]) + row.span
        self.report(Anomaly(kind, path_of(self.mode, b, flat), start, end, detail, table_pa))

    def _entry_anomalies(self, b: Batch, row: LevelRow, dec: Decoded, kind: npt.NDArray[np.uint8], off: U64) -> None:
        fpos = np.flatnonzero(kind == FAULT)
        if fpos.size:
            self._per_table(
                "reserved-bits",
                b,
                row,
                fpos,
                off,
                lambda e: fault_reason(row, e) + " -- the MMU faults here; nothing below is mapped",
            )
        if dec.res0 is not None:
            rpos = np.flatnonzero(dec.res0 & ((kind == LEAF) | (kind == TABLE)))
            if rpos.size:
                self._per_table(
                    "reserved-bits",
                    b,
                    row,
                    rpos,
                    off,
                    lambda e: f"RES0 bits set in {row.name} entry {e:#018x} (ignored by the walk)",
                )

    def _per_table(self, kind: str, b: Batch, row: LevelRow, pos: I64, off: U64, text: Callable[[int], str]) -> None:
        tables, first, counts = np.unique(pos // row.entries, return_index=True, return_counts=True)
        for t, f, c in zip(tables.tolist(), first.tolist(), counts.tolist(), strict=False):
            p, q = int(pos[f]), int(pos[f + c - 1])
            more = f"; {c} such entries in this table" if c > 1 else ""
            self._entry_anomaly(kind, b, row, p, off, text(int(b.raw[p])) + more, int(b.pas[t]), last_flat=q)

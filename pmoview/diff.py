"""What differs between two address spaces: two dumps (before and after a boot stage) or two roots of
one dump (two CPUs; a PTI kernel PGD and its user PGD).

Both sides' merged mappings are swept together in VA order; every VA range falls in one of: mapped
only in A (``removed``), only in B (``added``), in both with a different target, page size or
effective flags (``changed``), or equal. Pieces are mappings clipped to the range they describe, and
neighbouring pieces of one kind merge when both sides continue each other (contiguous VA and PA, equal
page size and flags), so the result reads like a ptdump diff. Backing (whether the dump holds the
frames) is the dump's business, not the MMU's: it takes no part in the comparison.

Cost: one walk per side (``AddressSpace.columns``), then numpy only: the rows both sides have
identically are dropped first (most of them: two CPUs share the kernel half), the rest is cut at every
edge of either side, classified, clipped and merged as columns. ``Mapping`` objects are made only for
the differences found, which are what is shown.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import repeat

import numpy as np
import numpy.typing as npt

from pmoview.arch.columns import MappingColumns
from pmoview.arch.flags import FlagTable
from pmoview.arch.records import Mapping
from pmoview.space import AddressSpace

TOP = 1 << 64  # the exclusive end of the address space; 0 in uint64 columns
U64 = npt.NDArray[np.uint64]
I64 = npt.NDArray[np.int64]
Bool = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class Change:
    """A VA range mapped on both sides, differently. ``a`` and ``b`` are clipped to it."""

    va_start: int
    va_end: int
    a: Mapping
    b: Mapping


@dataclass(frozen=True)
class SpaceDiff:
    """What two address spaces map differently: mappings only in A, only in B, and changed in between."""

    removed: list[Mapping]
    added: list[Mapping]
    changed: list[Change]

    @property
    def equal(self) -> bool:
        return not (self.removed or self.added or self.changed)


@dataclass(frozen=True)
class _Pieces:
    """One side's mappings clipped to the ranges of one kind, in VA order (``end`` 0 is 2**64)."""

    start: U64
    end: U64
    pa_start: U64
    page_size: U64
    flag_id: npt.NDArray[np.int32]  # the side's own numbering
    count: U64
    backed: Bool
    level: npt.NDArray[np.int8]

    def continues(self) -> Bool:
        """Whether each piece continues the one before it (VA and PA contiguous, same page size and flags)."""
        out = np.zeros(self.start.shape[0], dtype=bool)
        out[1:] = (
            (self.end[:-1] == self.start[1:])
            & (self.pa_start[:-1] + (self.end[:-1] - self.start[:-1]) == self.pa_start[1:])
            & (self.page_size[:-1] == self.page_size[1:])
            & (self.flag_id[:-1] == self.flag_id[1:])
        )
        return out

    def joined(self, first: I64) -> _Pieces:
        """Each group of pieces starting at the ``first`` indices as one piece."""
        if not first.shape[0]:
            return self
        last = np.append(first[1:] - 1, self.start.shape[0] - 1)
        return _Pieces(
            self.start[first],
            self.end[last],
            self.pa_start[first],
            self.page_size[first],
            self.flag_id[first],
            np.add.reduceat(self.count, first),
            np.logical_and.reduceat(self.backed, first),
            self.level[first],
        )

    def mappings(self, flags: FlagTable) -> list[Mapping]:
        starts = self.start.tolist()
        ends = [s + n for s, n in zip(starts, (self.end - self.start).tolist(), strict=True)]  # the top: 2**64
        items = flags.items
        fields = (
            starts,
            ends,
            self.pa_start.tolist(),
            self.page_size.tolist(),
            [items[i] for i in self.flag_id.tolist()],
            self.count.tolist(),
            self.backed.tolist(),
            self.level.tolist(),
        )
        return list(map(tuple.__new__, repeat(Mapping), zip(*fields, strict=True)))


def _shared_flag_ids(a: MappingColumns, b: MappingColumns) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.int32]]:
    """Both sides' flag ids in one numbering (each space numbers its own flags): equal flags, equal ids."""
    if a.flags is b.flags:
        return a.flag_id, b.flag_id
    ids = {f: i for i, f in enumerate(list(a.flags.items))}
    b_items = list(b.flags.items)
    to_a = np.array([ids.setdefault(f, len(ids)) for f in b_items], dtype=np.int32)
    return a.flag_id, to_a[b.flag_id] if b_items else b.flag_id


def _unshared(
    a: MappingColumns, b: MappingColumns, fa: npt.NDArray[np.int32], fb: npt.NDArray[np.int32]
) -> tuple[Bool, Bool]:
    """Which rows of each side the other side lacks (same range, target, page size and flags): each
    side's rows do not overlap, so a row both have covers its range alone on both sides, equally."""
    keep_a, keep_b = np.ones(len(a), dtype=bool), np.ones(len(b), dtype=bool)
    if not len(a) or not len(b):
        return keep_a, keep_b
    pos = np.minimum(np.searchsorted(b.va_start, a.va_start), len(b) - 1)
    ia = np.flatnonzero(b.va_start[pos] == a.va_start)
    ib = pos[ia]
    same = (
        (a.count[ia] == b.count[ib])
        & (a.pa_start[ia] == b.pa_start[ib])
        & (a.page_size[ia] == b.page_size[ib])
        & (fa[ia] == fb[ib])
    )
    keep_a[ia[same]] = False
    keep_b[ib[same]] = False
    return keep_a, keep_b


def _covering(cols: MappingColumns, at: U64) -> tuple[I64, Bool]:
    """For each VA in ``at``: the row holding it (rows are VA-sorted and disjoint), and whether one does."""
    if not len(cols):
        return np.zeros(at.shape[0], dtype=np.int64), np.zeros(at.shape[0], dtype=bool)
    row = np.searchsorted(cols.va_start, at, side="right").astype(np.int64) - 1
    held = row >= 0
    row[~held] = 0
    end = cols.va_end[row]
    held &= (end == 0) | (end > at)  # end 0: the row ends at 2**64
    return row, held


def _clipped(cols: MappingColumns, row: I64, start: U64, end: U64) -> _Pieces:
    """Rows ``row`` restricted to [start, end) (which each must cover); ``count`` recounts the pages."""
    page = cols.page_size[row]
    length = end - start
    count = np.maximum(length // page + (length % page != 0), np.uint64(1))
    return _Pieces(
        start,
        end,
        cols.pa_start[row] + (start - cols.va_start[row]),
        page,
        cols.flag_id[row],
        count,
        cols.backed[row],
        cols.level[row],
    )


def _runs(p: _Pieces) -> _Pieces:
    return p.joined(np.flatnonzero(~p.continues()))


def diff_columns(
    a: MappingColumns, b: MappingColumns, va_start: int | None = None, va_end: int | None = None
) -> SpaceDiff:
    """Compare two sides' mappings (VA-ordered, non-overlapping rows), within [va_start, va_end) if given."""
    lo = 0 if va_start is None else va_start
    hi = TOP if va_end is None else va_end
    fa, fb = _shared_flag_ids(a, b)
    keep_a, keep_b = _unshared(a, b, fa, fb)
    a, fa, b, fb = a.take(keep_a), fa[keep_a], b.take(keep_b), fb[keep_b]
    if not len(a) and not len(b):
        return SpaceDiff([], [], [])
    # Cut [lo, hi) at every edge of either side: each piece is then held by at most one row per side.
    edges = np.concatenate([a.va_start, a.va_end, b.va_start, b.va_end])
    inside = edges > np.uint64(lo)  # an end of 2**64 (0) is never inside
    if hi < TOP:
        inside &= edges < np.uint64(hi)
    start = np.sort(np.concatenate([np.array([lo], dtype=np.uint64), edges[inside]]))
    start = start[np.concatenate(([True], start[1:] != start[:-1]))]  # np.unique, without its hashing pass
    end = np.append(start[1:], np.uint64(hi % TOP))
    row_a, in_a = _covering(a, start)
    row_b, in_b = _covering(b, start)
    both = np.flatnonzero(in_a & in_b)
    ra, rb, s = row_a[both], row_b[both], start[both]
    same = (
        (a.pa_start[ra] + (s - a.va_start[ra]) == b.pa_start[rb] + (s - b.va_start[rb]))
        & (a.page_size[ra] == b.page_size[rb])
        & (fa[ra] == fb[rb])
    )
    only_a, only_b, differ = np.flatnonzero(in_a & ~in_b), np.flatnonzero(in_b & ~in_a), both[~same]
    removed = _runs(_clipped(a, row_a[only_a], start[only_a], end[only_a]))
    added = _runs(_clipped(b, row_b[only_b], start[only_b], end[only_b]))
    ca = _clipped(a, row_a[differ], start[differ], end[differ])
    cb = _clipped(b, row_b[differ], start[differ], end[differ])
    first = np.flatnonzero(~(ca.continues() & cb.continues()))
    ca, cb = ca.joined(first), cb.joined(first)
    changed = list(
        map(
            Change,
            ca.start.tolist(),
            [s + n for s, n in zip(ca.start.tolist(), (ca.end - ca.start).tolist(), strict=True)],
            ca.mappings(a.flags),
            cb.mappings(b.flags),
        )
    )
    return SpaceDiff(removed.mappings(a.flags), added.mappings(b.flags), changed)


def va_order(result: SpaceDiff) -> npt.NDArray[np.int64]:
    """The entries of ``result`` in VA order, as numbers in removed, then added, then changed: entries
    starting at one VA keep that order (a stable sort of the three lists joined)."""
    starts = [m.va_start for m in result.removed] + [m.va_start for m in result.added]
    starts += [c.va_start for c in result.changed]
    return np.argsort(np.array(starts, dtype=np.uint64), kind="stable").astype(np.int64)


def diff_mappings(
    a: Sequence[Mapping], b: Sequence[Mapping], va_start: int | None = None, va_end: int | None = None
) -> SpaceDiff:
    """Compare two VA-ordered, non-overlapping mapping lists, within [va_start, va_end) if given."""
    flags = FlagTable()
    return diff_columns(
        MappingColumns.from_mappings(a, flags), MappingColumns.from_mappings(b, flags), va_start, va_end
    )


def space_columns(space: AddressSpace, va_start: int | None = None, va_end: int | None = None) -> MappingColumns:
    """The mappings meeting the range (whole ones), walking only that range; all of them cached."""
    if va_start is None and va_end is None:
        return space.columns()
    return MappingColumns.concat(list(space.mapping_batches(va_start, va_end)), space.flags.table)


def diff_spaces(a: AddressSpace, b: AddressSpace, va_start: int | None = None, va_end: int | None = None) -> SpaceDiff:
    """The difference between two address spaces (walked in full, or only the mappings meeting the range)."""
    if a.root.arch != b.root.arch:
        raise ValueError(f"cannot compare an {a.root.arch} address space with an {b.root.arch} one")
    return diff_columns(space_columns(a, va_start, va_end), space_columns(b, va_start, va_end), va_start, va_end)

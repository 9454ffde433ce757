"""Merged mappings as numpy columns: one array per field, one element per mapping.

A tree whose leaves do not merge has as many mappings as leaves (millions); as Python objects they
cost ~200 bytes and ~1 us each, as columns 38 bytes and a few ns. Everything that handles mappings in
bulk (merge, filters, writers, the TUI's list, checks) works on ``MappingColumns``; ``Mapping`` objects
are made only for what is shown or asked for (``mapping(i)``, ``mappings()``).

Flags are shared: ``flag_id`` indexes ``FlagTable.items`` (one table per address space, ids stable
for its lifetime). Equal ``Flags`` have equal ids, so "same flags" is an integer comparison.
``va_end`` is computed, not stored: a mapping ending at 2**64 wraps to 0 in uint64, so ``va_end_int``
gives the exact Python int.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import repeat

import numpy as np
import numpy.typing as npt

from pmoview.arch.flags import Flags, FlagTable
from pmoview.arch.records import Mapping

U64 = npt.NDArray[np.uint64]
I32 = npt.NDArray[np.int32]
I8 = npt.NDArray[np.int8]
Bool = npt.NDArray[np.bool_]
IndexLike = npt.NDArray[np.int64] | npt.NDArray[np.bool_] | slice


@dataclass(frozen=True, eq=False)
class MappingColumns:
    """Merged mappings in VA order (see ``Mapping`` for the meaning of each field)."""

    va_start: U64
    count: U64  # leaves in the run
    pa_start: U64
    page_size: U64
    flag_id: I32
    backed: Bool
    level: I8
    flags: FlagTable

    def __len__(self) -> int:
        return int(self.va_start.shape[0])

    @property
    def size(self) -> U64:
        return self.count * self.page_size

    @property
    def va_end(self) -> U64:
        """Exclusive ends, modulo 2**64 (0 for a mapping that ends at the top of the address space)."""
        return self.va_start + self.size

    def va_end_int(self, i: int) -> int:
        return int(self.va_start[i]) + int(self.count[i]) * int(self.page_size[i])

    def va_end_ints(self) -> list[int]:
        """Exclusive ends as ints, computed in numpy: only a mapping ending at 2**64 (it wraps to 0) is
        redone in Python."""
        ends = self.va_end
        out: list[int] = ends.tolist()
        for i in np.flatnonzero(ends < self.va_start).tolist():
            out[i] = self.va_end_int(i)
        return out

    def attr(self, name: str) -> Bool:
        """A boolean flag attribute per mapping (``writable``, ``user``, ``nx``, ...)."""
        if not len(self):
            return np.zeros(0, dtype=bool)
        lookup: Bool = self.flags.attr(name)
        return lookup[self.flag_id]

    def flags_of(self, i: int) -> Flags:
        return self.flags.items[int(self.flag_id[i])]

    def mapping(self, i: int) -> Mapping:
        return Mapping(
            int(self.va_start[i]),
            self.va_end_int(i),
            int(self.pa_start[i]),
            int(self.page_size[i]),
            self.flags_of(i),
            int(self.count[i]),
            bool(self.backed[i]),
            int(self.level[i]),
        )

    def mappings(self) -> list[Mapping]:
        """Every row as a ``Mapping`` (made from C with ``tuple.__new__``: no Python frame per row)."""
        vas, cnts, sizes = self.va_start.tolist(), self.count.tolist(), self.page_size.tolist()
        ends = [v + c * s for v, c, s in zip(vas, cnts, sizes, strict=True)]  # ints: the top page ends at 2**64
        items = self.flags.items
        objs = [items[i] for i in self.flag_id.tolist()]
        return list(
            map(
                tuple.__new__,
                repeat(Mapping),
                zip(
                    vas,
                    ends,
                    self.pa_start.tolist(),
                    sizes,
                    objs,
                    cnts,
                    self.backed.tolist(),
                    self.level.tolist(),
                    strict=True,
                ),
            )
        )

    def take(self, index: IndexLike) -> MappingColumns:
        return MappingColumns(
            self.va_start[index],
            self.count[index],
            self.pa_start[index],
            self.page_size[index],
            self.flag_id[index],
            self.backed[index],
            self.level[index],
            self.flags,
        )

    def overlapping(self, lo: int, hi: int) -> tuple[int, int]:
        """Row range [i, j) of the mappings meeting VA [lo, hi) (rows are VA-sorted and disjoint)."""
        ends = self.va_end
        n = len(self)
        # a mapping ending at 2**64 has end 0: it is the last row, and it meets any lo below its start+size
        i = int(np.searchsorted(self.va_start, np.uint64(min(lo, (1 << 64) - 1)), side="right")) - 1
        if i < 0 or (ends[i] != 0 and int(ends[i]) <= lo):
            i += 1
        j = n if hi >= 1 << 64 else int(np.searchsorted(self.va_start, np.uint64(hi), side="left"))
        return max(i, 0), max(j, max(i, 0))

    @classmethod
    def empty(cls, flags: FlagTable) -> MappingColumns:
        z = np.zeros(0, dtype=np.uint64)
        return cls(z, z, z, z, np.zeros(0, np.int32), np.zeros(0, bool), np.zeros(0, np.int8), flags)

    @classmethod
    def concat(cls, parts: Sequence[MappingColumns], flags: FlagTable) -> MappingColumns:
        if not parts:
            return cls.empty(flags)
        if len(parts) == 1:
            return parts[0]
        return cls(
            np.concatenate([p.va_start for p in parts]),
            np.concatenate([p.count for p in parts]),
            np.concatenate([p.pa_start for p in parts]),
            np.concatenate([p.page_size for p in parts]),
            np.concatenate([p.flag_id for p in parts]),
            np.concatenate([p.backed for p in parts]),
            np.concatenate([p.level for p in parts]),
            flags,
        )

    @classmethod
    def from_mappings(cls, maps: Sequence[Mapping], flags: FlagTable) -> MappingColumns:
        """For callers holding ``Mapping`` objects (tests, other sources); the walk never goes this way."""
        n = len(maps)
        return cls(
            np.fromiter((m.va_start for m in maps), dtype=np.uint64, count=n),
            np.fromiter((m.count for m in maps), dtype=np.uint64, count=n),
            np.fromiter((m.pa_start for m in maps), dtype=np.uint64, count=n),
            np.fromiter((m.page_size for m in maps), dtype=np.uint64, count=n),
            np.fromiter((flags.id_of(m.flags) for m in maps), dtype=np.int32, count=n),
            np.fromiter((m.backed for m in maps), dtype=bool, count=n),
            np.fromiter((m.level for m in maps), dtype=np.int8, count=n),
            flags,
        )


def rebatch(parts: Iterable[MappingColumns], flags: FlagTable, rows: int) -> Iterator[MappingColumns]:
    """Concatenate small batches into ones of at least ``rows`` rows (the last may be smaller)."""
    buf: list[MappingColumns] = []
    have = 0
    for p in parts:
        if not len(p):
            continue
        buf.append(p)
        have += len(p)
        if have >= rows:
            yield MappingColumns.concat(buf, flags)
            buf, have = [], 0
    if buf:
        yield MappingColumns.concat(buf, flags)

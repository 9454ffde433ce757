"""Leaves -> mappings (ptdump-style runs). Its own function: the walker never merges.

Within a chunk, run boundaries are found with numpy: a run breaks where VA or PA is not contiguous,
the attribute bits or the accumulated table bits differ, or backing changes. Python objects are made
per run; a run is joined to the previous one (across chunks and tables) when its flags are equal,
so two leaves whose raw bits differ but whose effective flags agree still merge.
"""
from __future__ import annotations

from typing import Iterable, Iterator

import numpy as np

from pmoview.arch.flags import Flags, FlagsCache
from pmoview.arch.records import Mapping
from pmoview.arch.walker import LeafChunk


class _Run:
    __slots__ = ("va_start", "va_end", "pa_start", "size", "flags", "count", "backed", "level")

    def __init__(self, va: int, pa: int, size: int, flags: Flags, count: int, backed: bool, level: int) -> None:
        self.va_start, self.va_end, self.pa_start = va, va + count * size, pa
        self.size, self.flags, self.count, self.backed, self.level = size, flags, count, backed, level

    def mapping(self) -> Mapping:
        return Mapping(self.va_start, self.va_end, self.pa_start, self.size, self.flags, self.count,
                       self.backed, self.level)


def merge(chunks: Iterable[LeafChunk], flags: FlagsCache) -> Iterator[Mapping]:
    pend: _Run | None = None
    for ch in chunks:
        n = len(ch)
        if n == 0:
            continue
        size = ch.size
        sz = np.uint64(size)
        if n > 1:
            brk = ((ch.va[1:] != ch.va[:-1] + sz) | (ch.pa[1:] != ch.pa[:-1] + sz) | (ch.key[1:] != ch.key[:-1])
                   | (ch.acc[1:] != ch.acc[:-1]) | (ch.backed[1:] != ch.backed[:-1]))
            starts = np.concatenate((np.zeros(1, dtype=np.int64), np.flatnonzero(brk) + 1))
        else:
            starts = np.zeros(1, dtype=np.int64)
        counts = np.diff(np.append(starts, n)).tolist()
        vas = ch.va[starts].tolist()
        pas = ch.pa[starts].tolist()
        keys = ch.key[starts].tolist()
        accs = ch.acc[starts].tolist()
        backs = ch.backed[starts].tolist()
        row, level = ch.row, ch.row.level
        for va, pa, key, acc, backed, count in zip(vas, pas, keys, accs, backs, counts):
            f = flags.get(row, key, acc)
            if (pend is not None and pend.va_end == va and pend.size == size and pend.backed == backed
                    and pend.pa_start + (pend.va_end - pend.va_start) == pa
                    and (pend.flags is f or pend.flags == f)):
                pend.va_end = va + count * size
                pend.count += count
                continue
            if pend is not None:
                yield pend.mapping()
            pend = _Run(va, pa, size, f, count, backed, level)
    if pend is not None:
        yield pend.mapping()

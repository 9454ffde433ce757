"""Leaves -> mappings (ptdump-style runs). Its own function: the walker never merges.

Within a chunk, run boundaries are found with numpy: a run breaks where VA or PA is not contiguous,
the attribute bits or the accumulated table bits differ, or backing changes. Python objects are made
per run; a run is joined to the previous one (across chunks and tables) when its flags are equal,
so two leaves whose raw bits differ but whose effective flags agree still merge.
"""

from __future__ import annotations

import gc
from collections.abc import Iterable, Iterator
from itertools import repeat

import numpy as np

from pmoview.arch.decode import U64
from pmoview.arch.flags import Flags, FlagsCache
from pmoview.arch.mode import LevelRow
from pmoview.arch.records import Mapping
from pmoview.arch.walker import I64, LeafChunk


def _flag_ids(row: LevelRow, key: U64, acc: U64, flags: FlagsCache) -> tuple[list[Flags], I64]:
    """Flags per run, and an id per run, equal for equal Flags. Distinct (key, acc) pairs are few:
    they are found with integer uniques and only they meet Python."""
    uk, ik = np.unique(key, return_inverse=True)
    ua, ia = np.unique(acc, return_inverse=True)
    pairs, inverse = np.unique(ik.ravel() * len(ua) + ia.ravel(), return_inverse=True)
    ks, as_ = uk[pairs // len(ua)].tolist(), ua[pairs % len(ua)].tolist()
    distinct = [flags.get(row, k, a) for k, a in zip(ks, as_, strict=False)]
    ids: dict[Flags, int] = {}
    distinct_ids = np.array([ids.setdefault(f, len(ids)) for f in distinct], dtype=np.int64)
    inv = inverse.ravel()
    return [distinct[i] for i in inv.tolist()], distinct_ids[inv]


def merge(chunks: Iterable[LeafChunk], flags: FlagsCache) -> Iterator[Mapping]:
    for block in merge_blocks(chunks, flags):
        yield from block


def merge_all(chunks: Iterable[LeafChunk], flags: FlagsCache) -> list[Mapping]:
    """``list(merge(...))``, with the cyclic GC paused: tens of thousands of new tuples would otherwise
    trigger collections that rescan the growing list (measured: a third of a real guest's walk)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return [m for block in merge_blocks(chunks, flags) for m in block]
    finally:
        if was_enabled:
            gc.enable()


def merge_blocks(chunks: Iterable[LeafChunk], flags: FlagsCache) -> Iterator[list[Mapping]]:
    """``merge``, a list of finished mappings at a time (cheaper than one generator step each)."""
    pend: Mapping | None = None
    for ch in chunks:
        n = len(ch)
        if n == 0:
            continue
        size, row = ch.size, ch.row
        sz = np.uint64(size)
        if n > 1:
            brk = (
                (ch.va[1:] != ch.va[:-1] + sz)
                | (ch.pa[1:] != ch.pa[:-1] + sz)
                | (ch.key[1:] != ch.key[:-1])
                | (ch.acc[1:] != ch.acc[:-1])
                | (ch.backed[1:] != ch.backed[:-1])
            )
            starts = np.concatenate((np.zeros(1, dtype=np.int64), np.flatnonzero(brk) + 1))
        else:
            starts = np.zeros(1, dtype=np.int64)
        counts = np.diff(np.append(starts, n)).astype(np.uint64)
        va, pa, backed = ch.va[starts], ch.pa[starts], ch.backed[starts]
        objs, fid = _flag_ids(row, ch.key[starts], ch.acc[starts], flags)
        if starts.size > 1:  # runs whose raw bits differ but whose effective flags are equal join up
            join = (
                (va[1:] == va[:-1] + counts[:-1] * sz)
                & (pa[1:] == pa[:-1] + counts[:-1] * sz)
                & (fid[1:] == fid[:-1])
                & (backed[1:] == backed[:-1])
            )
            if join.any():
                keep = np.concatenate(([True], ~join))
                firsts = np.flatnonzero(keep)
                counts = np.add.reduceat(counts, firsts)
                va, pa, backed = va[firsts], pa[firsts], backed[firsts]
                objs = [objs[i] for i in firsts.tolist()]
        vas, pas, cnts = va.tolist(), pa.tolist(), counts.tolist()
        ends = [v + c * size for v, c in zip(vas, cnts, strict=False)]  # Python ints: the top page ends at 2**64
        # tuple.__new__ straight from map(): no Python frame per mapping (a real guest has ~65 000).
        maps: list[Mapping] = list(
            map(
                tuple.__new__,
                repeat(Mapping),
                zip(vas, ends, pas, repeat(size), objs, cnts, backed.tolist(), repeat(row.level)),
            )
        )
        first = maps[0]
        if (
            pend is not None
            and pend.va_end == first.va_start
            and pend.page_size == size
            and pend.backed == first.backed
            and pend.pa_end == first.pa_start
            and pend.flags == first.flags
        ):
            maps[0] = pend._replace(va_end=first.va_end, count=pend.count + first.count)
        elif pend is not None:
            yield [pend]
        pend = maps.pop()
        if maps:
            yield maps
    if pend is not None:
        yield [pend]

"""Leaves -> mappings (ptdump-style runs). Its own function: the walker never merges.

Within a chunk, run boundaries are found with numpy: a run breaks where VA or PA is not contiguous,
or the attribute bits or the accumulated table bits differ; not where the dump's backing changes (a
filtered dump must list the same mappings as a full one): a run is ``backed`` when the dump holds every
page of it. Runs whose raw bits
differ but whose effective flags are equal join up (flags are compared by id in the space's
``FlagTable``: only the few distinct (key, acc) pairs meet Python). A run is joined to the previous
one across chunks and tables. The result streams as ``MappingColumns`` batches: memory follows the
batch, not the tree.
"""

from __future__ import annotations

import gc
from collections.abc import Iterable, Iterator

import numpy as np

from pmoview.arch.columns import I32, MappingColumns, rebatch
from pmoview.arch.decode import U64
from pmoview.arch.flags import FlagsCache
from pmoview.arch.mode import LevelRow
from pmoview.arch.records import Mapping
from pmoview.arch.walker import LeafChunk

BATCH_ROWS = 1 << 16  # mappings per yielded batch: a few MiB of columns, and output written in big strides


def _flag_ids(row: LevelRow, key: U64, acc: U64, flags: FlagsCache) -> I32:
    """The ``FlagTable`` id of every run's flags. Distinct (key, acc) pairs are few: they are found
    with integer uniques and only they meet Python."""
    if bool((key == key[0]).all()) and bool((acc == acc[0]).all()):  # the common case: one kind of leaf
        return np.full(key.shape[0], flags.table.id_of(flags.get(row, int(key[0]), int(acc[0]))), dtype=np.int32)
    uk, ik = np.unique(key, return_inverse=True)
    ua, ia = np.unique(acc, return_inverse=True)
    pairs, inverse = np.unique(ik.ravel() * len(ua) + ia.ravel(), return_inverse=True)
    ks, as_ = uk[pairs // len(ua)].tolist(), ua[pairs % len(ua)].tolist()
    table = flags.table
    ids = np.array([table.id_of(flags.get(row, k, a)) for k, a in zip(ks, as_, strict=True)], dtype=np.int32)
    out: I32 = ids[inverse.ravel()]
    return out


def _chunk_runs(ch: LeafChunk, flags: FlagsCache) -> MappingColumns:
    n, size, row = len(ch), ch.size, ch.row
    sz = np.uint64(size)
    if n > 1:
        brk = (
            (ch.va[1:] != ch.va[:-1] + sz)
            | (ch.pa[1:] != ch.pa[:-1] + sz)
            | (ch.key[1:] != ch.key[:-1])
            | (ch.acc[1:] != ch.acc[:-1])
        )
        starts = np.concatenate((np.zeros(1, dtype=np.int64), np.flatnonzero(brk) + 1))
    else:
        starts = np.zeros(1, dtype=np.int64)
    counts = np.diff(np.append(starts, n)).astype(np.uint64)
    va, pa = ch.va[starts], ch.pa[starts]
    backed = np.logical_and.reduceat(ch.backed, starts) if n else ch.backed[starts]
    fid = _flag_ids(row, ch.key[starts], ch.acc[starts], flags)
    if starts.size > 1:  # runs whose raw bits differ but whose effective flags are equal join up
        join = (va[1:] == va[:-1] + counts[:-1] * sz) & (pa[1:] == pa[:-1] + counts[:-1] * sz) & (fid[1:] == fid[:-1])
        if join.any():
            firsts = np.flatnonzero(np.concatenate(([True], ~join)))
            counts = np.add.reduceat(counts, firsts)
            backed = np.logical_and.reduceat(backed, firsts)
            va, pa, fid = va[firsts], pa[firsts], fid[firsts]
    k = va.shape[0]
    return MappingColumns(
        va,
        counts,
        pa,
        np.full(k, size, dtype=np.uint64),
        fid,
        backed,
        np.full(k, row.level, dtype=np.int8),
        flags.table,
    )


def _runs(chunks: Iterable[LeafChunk], flags: FlagsCache) -> Iterator[MappingColumns]:
    """Runs per chunk, joined across chunk boundaries; the last run is held back until the next chunk
    shows whether it continues."""
    pend: MappingColumns | None = None  # one row
    for ch in chunks:
        if not len(ch):
            continue
        cols = _chunk_runs(ch, flags)
        if pend is not None:
            size = int(pend.page_size[0])
            if (
                size == ch.size
                and pend.va_end_int(0) == int(cols.va_start[0])
                and int(pend.pa_start[0]) + int(pend.count[0]) * size == int(cols.pa_start[0])
                and pend.flag_id[0] == cols.flag_id[0]
            ):
                cols.backed[0] = bool(pend.backed[0]) and bool(cols.backed[0])
                cols.va_start[0] = pend.va_start[0]
                cols.pa_start[0] = pend.pa_start[0]
                cols.count[0] += pend.count[0]
            else:
                yield pend
        if len(cols) > 1:
            yield cols.take(slice(0, len(cols) - 1))
        pend = cols.take(slice(len(cols) - 1, len(cols)))
    if pend is not None:
        yield pend


def merge_columns(chunks: Iterable[LeafChunk], flags: FlagsCache, rows: int = BATCH_ROWS) -> Iterator[MappingColumns]:
    """Merged mappings in VA order, as column batches of about ``rows`` rows."""
    return rebatch(_runs(chunks, flags), flags.table, rows)


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
    for cols in merge_columns(chunks, flags, rows=4096):
        yield cols.mappings()

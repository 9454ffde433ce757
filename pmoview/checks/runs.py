"""Runs of mappings that one check would judge alike, found with numpy over ``MappingColumns``.

A check that looks at mappings one by one costs microseconds per mapping in Python; a tree whose
leaves do not merge (permissions alternating page by page) has millions. What a check concludes
depends on a few per-mapping facts (its flags, its page size, whether it maps the frame the rule
expects); neighbours that agree on those facts and touch in VA and PA give conclusions that join
anyway. ``runs`` finds those neighbours vectorised, so a check runs once per run, and a conclusion
that repeats at many separate runs is counted (``PendingCollector.count``), not built.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from pmoview.arch.columns import MappingColumns
from pmoview.arch.flags import Flags
from pmoview.arch.records import Mapping
from pmoview.checks.findings import MAX_PATHS, Pending, PendingCollector

Judge = Callable[[Mapping, int, int, int, int], list[Pending]]  # (mapping, va0, va1, pa0, pa1)

U64 = npt.NDArray[np.uint64]
I64 = npt.NDArray[np.int64]
Bool = npt.NDArray[np.bool_]

TOP = (1 << 64) - 1


@dataclass(frozen=True)
class Window:
    """The mappings meeting [lo, hi), clipped to it: ``va0/va1/pa0/pa1`` per mapping."""

    cols: MappingColumns
    va0: U64
    va1: U64
    pa0: U64
    pa1: U64

    @classmethod
    def of(cls, cols: MappingColumns, lo: int, hi: int) -> Window:
        i, j = cols.overlapping(lo, hi)
        part = cols.take(slice(i, j))
        start = part.va_start
        end = part.va_end
        end = np.where((end == 0) & (part.size != 0), np.uint64(TOP), end)  # the top page: end 2**64
        va0 = np.maximum(start, np.uint64(min(lo, TOP)))
        va1 = np.minimum(end, np.uint64(min(hi, TOP)))
        pa0: U64 = (part.pa_start + (va0 - start)).astype(np.uint64, copy=False)
        pa1: U64 = (pa0 + (va1 - va0)).astype(np.uint64, copy=False)
        return cls(part, va0, va1, pa0, pa1)

    def __len__(self) -> int:
        return len(self.cols)

    def touching(self) -> Bool:
        """``touching[k]``: mapping k + 1 starts where mapping k ends, in VA and in PA."""
        return np.asarray((self.va0[1:] == self.va1[:-1]) & (self.pa0[1:] == self.pa1[:-1]), dtype=bool)

    def runs(self, eligible: Bool, key: npt.NDArray[np.integer], *, pa_contiguous: bool = True) -> tuple[I64, I64]:
        """First and last index of each maximal run of eligible mappings with equal ``key`` that touch
        (in VA and, with ``pa_contiguous``, in PA)."""
        idx = np.flatnonzero(eligible)
        if idx.size == 0:
            return idx, idx
        near = self.touching() if pa_contiguous else np.asarray(self.va0[1:] == self.va1[:-1], dtype=bool)
        a, b = idx[:-1], idx[1:]
        cont = (b == a + 1) & near[a] & (key[b] == key[a])
        starts = idx[np.concatenate(([True], ~cont))]
        ends = idx[np.concatenate((~cont, [True]))]
        return starts, ends

    def with_evidence(self, pendings: list[Pending], first: int, last: int) -> list[Pending]:
        """Conclusions about a run carry, as a per-mapping check's would after joining, the entry
        paths of the run's first mappings (``MAX_PATHS``) and the count of the rest."""
        if last == first:
            return pendings
        starts = self.va0[first + 1 : last + 1]
        for p in pendings:
            if p.va_start is None or p.va_end is None:
                continue
            inside = np.flatnonzero((starts > np.uint64(p.va_start)) & (starts < np.uint64(min(p.va_end, TOP))))
            room = max(0, MAX_PATHS - len(p.paths) - len(p.path_vas))
            p.path_vas.extend(int(v) for v in starts[inside[:room]].tolist())
            p.paths_omitted += max(0, int(inside.size) - room)
        return pendings

    def mapping(self, first: int, last: int) -> Mapping:
        """One ``Mapping`` standing for mappings ``first..last`` (unclipped start, flags of the first)."""
        c = self.cols
        start = int(c.va_start[first])
        end = int(self.va1[last]) if last != first else c.va_end_int(first)
        return Mapping(
            start,
            max(end, int(self.va1[last])),
            int(c.pa_start[first]),
            int(c.page_size[first]),
            c.flags_of(first),
            int(c.count[first : last + 1].sum()),
            bool(c.backed[first]),
            int(c.level[first]),
        )


def per_flag(cols: MappingColumns, classify: Callable[[Flags], int]) -> I64:
    """``classify(flags) -> int`` evaluated once per distinct flags, as a per-mapping array."""
    table = np.array([classify(f) for f in cols.flags.items], dtype=np.int64)
    out: I64 = table[cols.flag_id] if len(cols) else np.zeros(0, dtype=np.int64)
    return out


def judge_runs(
    sink: PendingCollector, win: Window, starts: I64, ends: I64, key: npt.NDArray[np.integer], judge: Judge
) -> None:
    """Run ``judge`` once per run. Runs with one ``key`` conclude alike and never touch, so past the
    places the collector keeps whole, one more run is judged to learn where its conclusions go and
    the rest are counted there with their extent (no Pending built per run)."""
    if starts.size == 0:
        return
    run_key = key[starts]
    for value in np.unique(run_key).tolist():
        sel = np.flatnonzero(run_key == value)
        s, e = starts[sel], ends[sel]
        limit = min(s.size, sink.room_hint)
        for a, b in zip(s[:limit].tolist(), e[:limit].tolist(), strict=True):
            got = judge(win.mapping(a, b), int(win.va0[a]), int(win.va1[b]), int(win.pa0[a]), int(win.pa1[b]))
            sink.extend(win.with_evidence(got, a, b))
        if limit == s.size:
            continue
        a, b = int(s[limit]), int(e[limit])
        like = judge(win.mapping(a, b), int(win.va0[a]), int(win.va1[b]), int(win.pa0[a]), int(win.pa1[b]))
        rest_s, rest_e = s[limit:], e[limit:]
        units = int((rest_e - rest_s + 1).sum())
        for p in like:
            sink.count(
                p,
                places=int(rest_s.size),
                units=units,
                va_end=int(win.va1[rest_e].max()),
                pa_start=int(win.pa0[rest_s].min()),
                pa_end=int(win.pa1[rest_e].max()),
            )

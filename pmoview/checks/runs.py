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
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from pmoview.arch.columns import MappingColumns
from pmoview.arch.flags import Flags
from pmoview.arch.records import Mapping
from pmoview.checks.findings import MAX_PATHS, Pending, PendingCollector, bucket_key

Judge = Callable[[Mapping, int, int, int, int], list[Pending]]  # (mapping, va0, va1, pa0, pa1)

U64 = npt.NDArray[np.uint64]
I64 = npt.NDArray[np.int64]
Bool = npt.NDArray[np.bool_]

TOP = (1 << 64) - 1
MAX_KEYS = 1 << 16  # keys whose judged runs a RunCarry remembers below the limit (above it: forgotten, judged anew)


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


@dataclass
class RunCarry:
    """One kind of run (one eligibility and key) followed across a window's batches. A batch boundary
    cuts runs, not conclusions: the last run of a batch that reaches the batch's end is continued by
    the next batch's first run when that one touches it with the same key, and is judged or counted
    as the one run it is. ``judged``: runs per key judged in full so far (``judge_runs`` counts the
    rest, whichever batch they are in)."""

    pa_contiguous: bool = True
    judged: dict[int, int] = field(default_factory=dict)
    continued: bool = False  # this batch's first run continues the previous batch's last one
    open_judged: bool = False  # the previous batch's last run was judged in full (else counted)
    open_ends: set[tuple[Any, ...]] = field(default_factory=set)  # buckets of its conclusions ending where it ends
    _open: tuple[int, int, int] | None = None  # key, va1, pa1 of the last run, if it reached its batch's end

    def runs(self, win: Window, eligible: Bool, key: npt.NDArray[np.integer]) -> tuple[I64, I64]:
        """``win.runs`` for this batch, noting whether its first run continues the last batch's."""
        starts, ends = win.runs(eligible, key, pa_contiguous=self.pa_contiguous)
        o = self._open
        self.continued = bool(
            o is not None
            and starts.size
            and starts[0] == 0
            and int(key[0]) == o[0]
            and int(win.va0[0]) == o[1]
            and (not self.pa_contiguous or int(win.pa0[0]) == o[2])
        )
        last = len(win) - 1
        reaches = bool(ends.size) and int(ends[-1]) == last
        self._open = (int(key[last]), int(win.va1[last]), int(win.pa1[last])) if reaches else None
        return starts, ends


def judge_runs(
    sink: PendingCollector,
    win: Window,
    starts: I64,
    ends: I64,
    key: npt.NDArray[np.integer],
    judge: Judge,
    carry: RunCarry,
    whole: Bool | None = None,
) -> None:
    """Run ``judge`` once per run. Runs with one ``key`` conclude alike and never touch, so past the
    places the collector keeps whole, one more run is judged to learn where its conclusions go and
    the rest are counted there with their extent (no Pending built per run). Runs ``whole`` selects
    are judged in full whatever their number. A run the previous batch began (``carry``) is judged
    or counted as that one was: its conclusions join the ones before the boundary as one place."""
    if starts.size == 0:
        carry.open_judged, carry.open_ends = False, set()
        return
    whole = np.zeros(starts.size, dtype=bool) if whole is None else whole
    last = len(win) - 1
    open_judged, open_ends = False, set()  # how this batch's last run was judged, for the next batch

    def judged(a: int, b: int) -> list[Pending]:
        nonlocal open_judged, open_ends
        got = judge(win.mapping(a, b), int(win.va0[a]), int(win.va1[b]), int(win.pa0[a]), int(win.pa1[b]))
        if b == last:
            open_judged, open_ends = True, {bucket_key(p) for p in got if p.va_end == int(win.va1[b])}
        return got

    first = 0
    if carry.continued:
        a, b = int(starts[0]), int(ends[0])
        if carry.open_judged or whole[0]:
            got = judged(a, b)
            for p in got:
                if p.va_start == int(win.va0[a]) and bucket_key(p) in carry.open_ends:
                    p.count = 0  # the part before the boundary was counted already: one place, once
            sink.extend(win.with_evidence(got, a, b))
        else:
            like = judge(win.mapping(a, b), int(win.va0[a]), int(win.va1[b]), int(win.pa0[a]), int(win.pa1[b]))
            for p in like:
                sink.count(p, 0, b - a + 1, int(win.va1[b]), int(win.pa0[a]), int(win.pa1[b]))
        first = 1
    rest = np.arange(first, starts.size)
    for i in rest[whole[first:]].tolist():
        a, b = int(starts[i]), int(ends[i])
        sink.extend(win.with_evidence(judged(a, b), a, b))
    sel = rest[~whole[first:]]
    s_all, e_all = starts[sel], ends[sel]
    run_key = key[s_all]
    for value in np.unique(run_key).tolist():
        pick = np.flatnonzero(run_key == value)
        s, e = s_all[pick], e_all[pick]
        done = carry.judged.get(value, 0)
        limit = min(s.size, max(0, sink.room_hint - done))
        carry.judged[value] = done + limit
        for a, b in zip(s[:limit].tolist(), e[:limit].tolist(), strict=True):
            sink.extend(win.with_evidence(judged(a, b), a, b))
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
    carry.open_judged, carry.open_ends = open_judged, open_ends
    if len(carry.judged) > MAX_KEYS:  # a hostile window (a wrong offset per page): keep the keys that count
        carry.judged = {k: n for k, n in carry.judged.items() if n >= sink.room_hint}

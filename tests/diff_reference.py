"""The diff as it was first written: a sweep over ``Mapping`` objects, one Python step per edge. Kept
as the reference the columnar ``pmoview.diff.diff_columns`` is checked against."""

from __future__ import annotations

from collections.abc import Sequence

from pmoview.arch.records import Mapping
from pmoview.diff import Change, SpaceDiff


def clip(m: Mapping, lo: int, hi: int) -> Mapping:
    start, end = max(lo, m.va_start), min(hi, m.va_end)
    pages = max(1, -(-(end - start) // m.page_size))
    return m._replace(va_start=start, va_end=end, pa_start=m.pa_start + (start - m.va_start), count=pages)


def same_mapping(a: Mapping, b: Mapping, va: int) -> bool:
    return (
        a.pa_start + (va - a.va_start) == b.pa_start + (va - b.va_start)
        and a.page_size == b.page_size
        and a.flags == b.flags
    )


def continues(prev: Mapping, nxt: Mapping) -> bool:
    return (
        prev.va_end == nxt.va_start
        and prev.pa_end == nxt.pa_start
        and prev.page_size == nxt.page_size
        and prev.flags == nxt.flags
    )


def joined(prev: Mapping, nxt: Mapping) -> Mapping:
    return prev._replace(va_end=nxt.va_end, count=prev.count + nxt.count, backed=prev.backed and nxt.backed)


def reference_diff(
    a: Sequence[Mapping], b: Sequence[Mapping], va_start: int | None = None, va_end: int | None = None
) -> SpaceDiff:
    lo_bound = 0 if va_start is None else va_start
    hi_bound = 1 << 64 if va_end is None else va_end
    edges = sorted(
        {lo_bound, hi_bound} | {x for m in (*a, *b) for x in (m.va_start, m.va_end) if lo_bound < x < hi_bound}
    )
    removed: list[Mapping] = []
    added: list[Mapping] = []
    changed: list[Change] = []
    ia = ib = 0
    for lo, hi in zip(edges, edges[1:], strict=False):
        while ia < len(a) and a[ia].va_end <= lo:
            ia += 1
        while ib < len(b) and b[ib].va_end <= lo:
            ib += 1
        ma = a[ia] if ia < len(a) and a[ia].va_start <= lo else None
        mb = b[ib] if ib < len(b) and b[ib].va_start <= lo else None
        if ma is None and mb is None:
            continue
        if mb is None:
            assert ma is not None
            piece = clip(ma, lo, hi)
            if removed and continues(removed[-1], piece):
                removed[-1] = joined(removed[-1], piece)
            else:
                removed.append(piece)
        elif ma is None:
            piece = clip(mb, lo, hi)
            if added and continues(added[-1], piece):
                added[-1] = joined(added[-1], piece)
            else:
                added.append(piece)
        elif not same_mapping(ma, mb, lo):
            pa, pb = clip(ma, lo, hi), clip(mb, lo, hi)
            last = changed[-1] if changed else None
            if last is not None and continues(last.a, pa) and continues(last.b, pb):
                changed[-1] = Change(last.va_start, hi, joined(last.a, pa), joined(last.b, pb))
            else:
                changed.append(Change(lo, hi, pa, pb))
    return SpaceDiff(removed, added, changed)

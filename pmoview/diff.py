"""What differs between two address spaces: two dumps (before and after a boot stage) or two roots of
one dump (two CPUs; a PTI kernel PGD and its user PGD).

Both sides' merged mappings are swept together in VA order; every VA range falls in one of: mapped
only in A (``removed``), only in B (``added``), in both with a different target, page size or
effective flags (``changed``), or equal. Pieces are mappings clipped to the range they describe
(``clip``), and neighbouring pieces of one kind merge when both sides continue each other (contiguous
VA and PA, equal page size and flags), so the result reads like a ptdump diff. Backing (whether the
dump holds the frames) is the dump's business, not the MMU's: it takes no part in the comparison.

Cost: one walk per side (``AddressSpace.mappings``), one lockstep pass that drops the mappings both
sides have identically (most of them: two CPUs share the kernel half), and the sweep over the rest.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pmoview.arch.records import Mapping
from pmoview.space import AddressSpace


@dataclass(frozen=True)
class Change:
    """A VA range mapped on both sides, differently. ``a`` and ``b`` are clipped to it."""

    va_start: int
    va_end: int
    a: Mapping
    b: Mapping


@dataclass(frozen=True)
class SpaceDiff:
    removed: list[Mapping]
    added: list[Mapping]
    changed: list[Change]

    @property
    def equal(self) -> bool:
        return not (self.removed or self.added or self.changed)


def clip(m: Mapping, lo: int, hi: int) -> Mapping:
    """``m`` restricted to [lo, hi) (which it must cover); ``count`` recounts its pages."""
    start, end = max(lo, m.va_start), min(hi, m.va_end)
    pages = max(1, -(-(end - start) // m.page_size))
    return m._replace(va_start=start, va_end=end, pa_start=m.pa_start + (start - m.va_start), count=pages)


def same_mapping(a: Mapping, b: Mapping, va: int) -> bool:
    """Whether the MMU does the same at ``va`` through both: target, page size, effective flags."""
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


def _joined(prev: Mapping, nxt: Mapping) -> Mapping:
    return prev._replace(va_end=nxt.va_end, count=prev.count + nxt.count, backed=prev.backed and nxt.backed)


def _unshared(a: Sequence[Mapping], b: Sequence[Mapping]) -> tuple[list[Mapping], list[Mapping]]:
    """Both lists without the mappings the other side has exactly (same range, target, flags): each
    side's ranges do not overlap, so such a range is covered by that one mapping on both sides."""
    ra: list[Mapping] = []
    rb: list[Mapping] = []
    i = j = 0
    na, nb = len(a), len(b)
    while i < na and j < nb:
        x, y = a[i], b[j]
        if x.va_start < y.va_start:
            ra.append(x)
            i += 1
        elif y.va_start < x.va_start:
            rb.append(y)
            j += 1
        else:
            if x != y:
                ra.append(x)
                rb.append(y)
            i += 1
            j += 1
    ra.extend(a[i:])
    rb.extend(b[j:])
    return ra, rb


def diff_mappings(
    a: Sequence[Mapping], b: Sequence[Mapping], va_start: int | None = None, va_end: int | None = None
) -> SpaceDiff:
    """Compare two VA-ordered, non-overlapping mapping lists, within [va_start, va_end) if given."""
    a, b = _unshared(a, b)
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
                removed[-1] = _joined(removed[-1], piece)
            else:
                removed.append(piece)
        elif ma is None:
            piece = clip(mb, lo, hi)
            if added and continues(added[-1], piece):
                added[-1] = _joined(added[-1], piece)
            else:
                added.append(piece)
        elif not same_mapping(ma, mb, lo):
            pa, pb = clip(ma, lo, hi), clip(mb, lo, hi)
            last = changed[-1] if changed else None
            if last is not None and continues(last.a, pa) and continues(last.b, pb):
                changed[-1] = Change(last.va_start, hi, _joined(last.a, pa), _joined(last.b, pb))
            else:
                changed.append(Change(lo, hi, pa, pb))
    return SpaceDiff(removed, added, changed)


def diff_spaces(a: AddressSpace, b: AddressSpace, va_start: int | None = None, va_end: int | None = None) -> SpaceDiff:
    """The difference between two address spaces (walked in full, or only the mappings meeting the range)."""
    if a.root.arch != b.root.arch:
        raise ValueError(f"cannot compare an {a.root.arch} address space with an {b.root.arch} one")
    return diff_mappings(a.mappings(va_start, va_end), b.mappings(va_start, va_end), va_start, va_end)

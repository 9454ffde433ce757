"""Findings: what a check concludes, with its VA/PA range, severity and the entry paths that prove it.

Checks look at mappings (merged leaves) and entries one by one; what they conclude about neighbours
is usually the same conclusion about a larger range. ``Pending`` holds a conclusion before its
message is written; ``merge_pending`` joins neighbours (same kind, severity and group; VA ranges
touching; PA ranges touching when both have one) and only then renders the message, so a finding
about 2 560 2 MiB pages reads as one range, not 2 560 paragraphs.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from pmoview.sizes import size_text as size_text  # the checks' vocabulary; one implementation

ERROR, WARNING, INFO = "error", "warning", "info"
SEVERITIES = (ERROR, WARNING, INFO)
SEVERITY_RANK = {ERROR: 0, WARNING: 1, INFO: 2}

# Every kind a check may emit: the contract of the checks issue (names are stable).
KINDS = (
    "pmo-root-missing",
    "pmo-missing",
    "pmo-wrong-target",
    "pmo-flags",
    "pmo-page-size",
    "pmo-overlap",
    "pmo-extra",
    "kernel-segment-missing",
    "kernel-segment-wrong-target",
    "kernel-segment-perms",
    "wx",
    "user-kernel",
    "reserved-bits",
    "table-outside-memory",
    "recursive-map",
    "identity-map-leftover",
    "user-mark",
    "pti-leak",
    # added beyond the list: walker anomalies that are neither of the above
    "table-cycle",
    "walk-limit",
    "report-limit",
    # kernel stacks and their guard pages (profiles with a StackRule: xv6-riscv)
    "stack-missing",
    "stack-flags",
    "stack-guard",
)

MAX_PATHS = 8  # evidence kept per finding; the count of the rest goes in ``paths_omitted``


@dataclass(frozen=True)
class PathEntry:
    """One entry on an entry path: level number, index, raw entry value, and the level's name."""

    level: int
    index: int
    entry: int
    name: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"level": self.level, "index": self.index, "entry": hex(self.entry)}

    def text(self) -> str:
        return f"{self.name or 'L' + str(self.level)}[{self.index}]"


EntryPath = tuple[PathEntry, ...]
Evidence = EntryPath | int  # an entry path, or a VA whose path is walked only if the report shows it


def path_text(path: Sequence[PathEntry], values: bool = True) -> str:
    """``PML4[256] → PDPT[1] → PD[3]`` and, with ``values``, the raw entries after it."""
    arrow = " → ".join(e.text() for e in path)
    if not values or not path:
        return arrow
    return arrow + "  (" + ", ".join(f"{e.entry:#x}" for e in path) + ")"


@dataclass(frozen=True)
class Example:
    """One place an aggregated finding stands for: its range and the entry path of its first page."""

    va_start: int | None
    va_end: int | None
    pa_start: int | None
    pa_end: int | None
    path: EntryPath = ()

    def to_json(self) -> dict[str, Any]:
        def h(v: int | None) -> str | None:
            return None if v is None else hex(v)

        return {
            "va_start": h(self.va_start),
            "va_end": h(self.va_end),
            "pa_start": h(self.pa_start),
            "pa_end": h(self.pa_end),
            "path": [e.to_json() for e in self.path],
        }


@dataclass(frozen=True)
class Finding:
    """One finding of one check over a VA range, or aggregated over many (``count``, ``examples``)."""

    kind: str
    severity: str
    va_start: int | None
    va_end: int | None  # exclusive
    pa_start: int | None
    pa_end: int | None  # exclusive
    message: str
    paths: tuple[EntryPath, ...] = ()
    expected: str | None = None
    found: str | None = None
    root: int | None = None  # top table PA of the space the finding is about
    paths_omitted: int = 0
    suppressed_by: str | None = None  # id of an ok mark
    count: int = 1  # places (separate ranges) this finding stands for; > 1 when aggregated
    examples: tuple[Example, ...] = ()  # a few of those places, first ones first
    roots: tuple[int, ...] = ()  # every root the finding holds for (``root`` is the first)

    def to_json(self) -> dict[str, Any]:
        def h(v: int | None) -> str | None:
            return None if v is None else hex(v)

        out: dict[str, Any] = {
            "kind": self.kind,
            "severity": self.severity,
            "va_start": h(self.va_start),
            "va_end": h(self.va_end),
            "pa_start": h(self.pa_start),
            "pa_end": h(self.pa_end),
            "message": self.message,
            "paths": [[e.to_json() for e in p] for p in self.paths],
        }
        if self.expected is not None:
            out["expected"] = self.expected
        if self.found is not None:
            out["found"] = self.found
        if self.root is not None:
            out["root"] = hex(self.root)
        if self.roots:
            out["roots"] = [hex(r) for r in self.roots]
        if self.paths_omitted:
            out["paths_omitted"] = self.paths_omitted
        out["count"] = self.count
        out["examples"] = [e.to_json() for e in self.examples]
        return out

    def sort_key(self) -> tuple[int, int, int, str]:
        return (
            SEVERITY_RANK.get(self.severity, 9),
            -1 if self.va_start is None else self.va_start,
            -1 if self.pa_start is None else self.pa_start,
            self.kind,
        )


Render = Callable[["Pending"], tuple[str, str | None, str | None]]  # -> message, expected, found


@dataclass
class Pending:
    """A conclusion about one range, not yet worded. ``group`` keeps unlike conclusions of one kind
    apart (for pmo-flags: which attributes are wrong); ``data`` is what ``render`` needs."""

    kind: str
    severity: str
    group: Any
    va_start: int | None
    va_end: int | None
    pa_start: int | None
    pa_end: int | None
    render: Render
    paths: list[EntryPath] = field(default_factory=list)
    count: int = 1  # how many mappings/entries were joined
    data: dict[str, Any] = field(default_factory=dict)
    root: int | None = None
    paths_omitted: int = 0
    resolve: Callable[[int], EntryPath] | None = None  # entry path of a VA given as evidence
    path_vas: list[int] = field(default_factory=list)  # evidence not walked yet (after ``paths``)

    def resolved_paths(self, limit: int = MAX_PATHS) -> list[EntryPath]:
        """The first ``limit`` evidence paths, VAs walked now: only what a report shows is walked."""
        out = self.paths[:limit]
        for va in self.path_vas[: max(0, limit - len(out))]:
            out.append(self.resolve(va) if self.resolve is not None else ())
        return out

    def can_join(self, other: Pending) -> bool:
        if (self.kind, self.severity, self.group, self.root) != (other.kind, other.severity, other.group, other.root):
            return False
        if self.va_end is None or other.va_start is None or self.va_end != other.va_start:
            return False
        if (self.pa_end is None) != (other.pa_start is None):
            return False
        return self.pa_end is None or self.pa_end == other.pa_start or self.data.get("pa_free", False)

    def join(self, other: Pending) -> None:
        self.va_end = other.va_end
        if other.pa_end is not None:
            self.pa_end = other.pa_end if self.pa_end is None else max(self.pa_end, other.pa_end)
        if other.pa_start is not None and self.pa_start is not None:
            self.pa_start = min(self.pa_start, other.pa_start)
        self.count += other.count
        for key in ("parts",):  # list-valued details accumulate
            if isinstance(self.data.get(key), list) and isinstance(other.data.get(key), list):
                self.data[key] = self.data[key] + [x for x in other.data[key] if x not in self.data[key]]
        new = [p for p in other.paths if p not in self.paths]
        room = max(MAX_PATHS - len(self.paths) - len(self.path_vas), 0)
        self.paths.extend(new[:room])
        self.paths_omitted += other.paths_omitted + max(0, len(new) - room)
        new_vas = [v for v in other.path_vas if v not in self.path_vas]
        room = max(MAX_PATHS - len(self.paths) - len(self.path_vas), 0)
        self.path_vas.extend(new_vas[:room])
        self.paths_omitted += max(0, len(new_vas) - room)

    def finish(self) -> Finding:
        omitted_before = max(0, len(self.paths) + len(self.path_vas) - MAX_PATHS)
        self.paths, self.path_vas = self.resolved_paths(), []
        message, expected, found = self.render(self)
        paths = tuple(self.paths)
        omitted = self.paths_omitted + omitted_before
        return Finding(
            self.kind,
            self.severity,
            self.va_start,
            self.va_end,
            self.pa_start,
            self.pa_end,
            message,
            paths,
            expected,
            found,
            self.root,
            omitted,
            roots=() if self.root is None else (self.root,),
        )


AGGREGATE_OVER = 100  # more separate places of one kind and cause than this become one finding
MAX_EXAMPLES = 8  # places listed in an aggregated finding
EXACT_PLACES = 1024  # places per kind and cause kept whole while checking; the rest are counted
MAX_CAUSES = 1024  # causes (groups) per kind; more (a hostile tree's distinct wrong offsets) share one bucket
MAX_FINDINGS = 1000  # finding records per report; the rest are folded into one "not listed" finding
OTHER_CAUSES = "other causes"


def bucket_key(p: Pending) -> tuple[Any, ...]:
    try:
        hash(p.group)
        group: Any = p.group
    except TypeError:
        group = repr(p.group)
    return (p.kind, p.severity, group, p.root)


@dataclass
class _Bucket:
    """The places of one finding kind and cause: the first kept whole, the rest counted."""

    places: list[Pending] = field(default_factory=list)  # at most EXACT_PLACES, joined in arrival order
    tail: Pending | None = None  # the place being joined beyond them
    more: int = 0  # finished places beyond them (counted, not kept)
    more_units: int = 0
    va_end: int | None = None  # highest end among the counted places
    pa_start: int | None = None
    pa_end: int | None = None

    def count_tail(self) -> None:
        t = self.tail
        if t is None:
            return
        self.more += 1
        self.more_units += t.count
        if t.va_end is not None:
            self.va_end = t.va_end if self.va_end is None else max(self.va_end, t.va_end)
        if t.pa_start is not None:
            self.pa_start = t.pa_start if self.pa_start is None else min(self.pa_start, t.pa_start)
        if t.pa_end is not None:
            self.pa_end = t.pa_end if self.pa_end is None else max(self.pa_end, t.pa_end)
        self.tail = None


class PendingCollector:
    """Where checks put conclusions: neighbours are joined as they arrive, and past ``EXACT_PLACES``
    separate places of one kind and cause the rest are only counted (with their extent), so memory
    stays bounded however many leaves a tree has. ``merge_pending`` words the result."""

    room_hint = EXACT_PLACES + 1  # conclusions a bulk caller should build before counting the rest

    def __init__(self) -> None:
        self.buckets: dict[tuple[Any, ...], _Bucket] = {}
        self.causes: dict[tuple[Any, ...], int] = {}  # buckets per (kind, severity, root)

    def count(self, like: Pending, places: int, units: int, va_end: int, pa_start: int, pa_end: int) -> None:
        """``places`` more separate places concluding ``like`` (which is not added), counted only."""
        b = self._bucket(like)
        b.count_tail()
        b.more += places
        b.more_units += units
        b.va_end = va_end if b.va_end is None else max(b.va_end, va_end)
        if like.pa_start is not None:
            b.pa_start = pa_start if b.pa_start is None else min(b.pa_start, pa_start)
            b.pa_end = pa_end if b.pa_end is None else max(b.pa_end, pa_end)
        if not b.places:  # nothing kept whole yet: the example stands for the rest
            b.places.append(like)
            b.more -= 1

    def _bucket(self, p: Pending) -> _Bucket:
        key = bucket_key(p)
        b = self.buckets.get(key)
        if b is None:
            kind = (p.kind, p.severity, p.root)
            if self.causes.get(kind, 0) >= MAX_CAUSES:
                key = (p.kind, p.severity, OTHER_CAUSES, p.root)
                b = self.buckets.get(key)
            if b is None:
                self.causes[kind] = self.causes.get(kind, 0) + 1
                b = self.buckets[key] = _Bucket()
        return b

    def add(self, p: Pending) -> None:
        b = self._bucket(p)
        if b.tail is not None:
            if b.tail.can_join(p):
                b.tail.join(p)
            else:
                b.count_tail()
                b.tail = p
        elif b.places and b.places[-1].can_join(p):
            b.places[-1].join(p)
        elif len(b.places) < EXACT_PLACES:
            b.places.append(p)
        else:
            b.tail = p

    def extend(self, items: Iterable[Pending]) -> None:
        for p in items:
            self.add(p)

    def __iadd__(self, items: Iterable[Pending]) -> PendingCollector:
        self.extend(items)
        return self


def _place_order(p: Pending) -> tuple[int, int]:
    return (-1 if p.va_start is None else p.va_start, -1 if p.pa_start is None else p.pa_start)


def merge_pending(items: Iterable[Pending] | PendingCollector) -> list[Finding]:
    """Join touching conclusions (in VA order within each kind/group) and word them; a kind and cause
    found at more than ``AGGREGATE_OVER`` separate places becomes one finding with a ``count`` and
    ``examples`` (a report stays readable and bounded whatever the tree)."""
    if isinstance(items, PendingCollector):
        collector = items
    else:
        collector = PendingCollector()
        collector.extend(items)
    out: list[Finding] = []
    for b in collector.buckets.values():
        b.count_tail()
        b.places.sort(
            key=lambda p: (-1 if p.va_start is None else p.va_start, -1 if p.pa_start is None else p.pa_start)
        )
        joined: list[Pending] = []
        for p in b.places:
            if joined and joined[-1].can_join(p):
                joined[-1].join(p)
            else:
                joined.append(p)
        if len(joined) + b.more > AGGREGATE_OVER:
            out.append(_aggregate(joined, b))
        else:
            out += [p.finish() for p in joined]
    return cap_findings(out)


def cap_findings(findings: list[Finding]) -> list[Finding]:
    """At most ``MAX_FINDINGS`` records, the most severe first; the rest become one finding that says
    what was left out (a limit that cut the work says so)."""
    if len(findings) <= MAX_FINDINGS:
        return findings
    ordered = sort_findings(findings)
    kept, rest = ordered[: MAX_FINDINGS - 1], ordered[MAX_FINDINGS - 1 :]
    kinds = sorted({f.kind for f in rest})
    worst = min(rest, key=lambda f: SEVERITY_RANK.get(f.severity, 9)).severity
    more = Finding(
        "report-limit",
        worst,
        None,
        None,
        None,
        None,
        f"{len(rest):,} more findings ({', '.join(kinds)}) are not listed: a report holds at most "
        f"{MAX_FINDINGS:,} findings (pmoview.checks.findings.MAX_FINDINGS); the ones listed are the most severe.",
        count=sum(f.count for f in rest),
    )
    return [*kept, more]


def _aggregate(places: list[Pending], b: _Bucket) -> Finding:
    first = places[0]
    total = len(places) + b.more
    units = sum(p.count for p in places) + b.more_units
    examples = tuple(
        Example(p.va_start, p.va_end, p.pa_start, p.pa_end, (p.resolved_paths(1) or [()])[0])
        for p in places[:MAX_EXAMPLES]
    )
    va_ends = [p.va_end for p in places if p.va_end is not None] + ([b.va_end] if b.va_end is not None else [])
    pa_starts = [p.pa_start for p in places if p.pa_start is not None] + ([b.pa_start] if b.pa_start else [])
    pa_ends = [p.pa_end for p in places if p.pa_end is not None] + ([b.pa_end] if b.pa_end is not None else [])
    f = first.finish()
    va_end = max(va_ends) if va_ends else None
    where = f"VA {first.va_start:#x}-{va_end:#x}" if first.va_start is not None and va_end is not None else "this space"
    message = (
        f"{total:,} separate places in {where} have this finding ({units:,} mappings or entries in all); "
        f"the first: {f.message}"
    )
    return replace(
        f,
        va_end=va_end,
        pa_start=min(pa_starts) if pa_starts else None,
        pa_end=max(pa_ends) if pa_ends else None,
        message=message,
        count=total,
        examples=examples,
    )


def group_across_roots(findings: Iterable[Finding]) -> list[Finding]:
    """One finding per conclusion, with every root it holds for: a Linux dump has a root per CPU (and
    per process) sharing the kernel half, and the same finding once per root says nothing more."""
    grouped: dict[tuple[Any, ...], Finding] = {}
    for f in findings:
        key = (f.kind, f.severity, f.va_start, f.va_end, f.pa_start, f.pa_end, f.message, f.expected, f.found)
        first = grouped.get(key)
        if first is None:
            grouped[key] = f
            continue
        roots = first.roots + tuple(r for r in f.roots if r not in first.roots)
        new = [p for p in f.paths if p not in first.paths]
        room = max(MAX_PATHS - len(first.paths), 0)
        grouped[key] = replace(
            first,
            roots=roots,
            paths=first.paths + tuple(new[:room]),
            paths_omitted=first.paths_omitted + max(0, len(new) - room),
        )
    return list(grouped.values())


def sort_findings(findings: Iterable[Finding]) -> list[Finding]:
    return sorted(findings, key=lambda f: f.sort_key())


def with_severity(f: Finding, severity: str) -> Finding:
    return replace(f, severity=severity)


# -- interval helpers (half-open [start, end) lists, sorted) ------------------------------------------
Interval = tuple[int, int]


def merge_intervals(items: Iterable[Interval]) -> list[Interval]:
    out: list[Interval] = []
    for s, e in sorted(items):
        if e <= s:
            continue
        if out and s <= out[-1][1]:
            if e > out[-1][1]:
                out[-1] = (out[-1][0], e)
        else:
            out.append((s, e))
    return out


class IntervalUnion:
    """A union of intervals gathered piece by piece (a window's batches, in VA order), kept merged: its
    size follows how many separate ranges there are, not how many pieces were added. ``first_overlap``
    and ``first_gap`` are ``intersect_intervals``/``subtract_intervals`` of one range, first piece only."""

    def __init__(self) -> None:
        self._items: list[Interval] = []
        self._sorted = True
        self._ends: list[int] | None = None

    def add(self, start: int, end: int) -> None:
        if end <= start:
            return
        items = self._items
        self._ends = None
        if items and items[-1][0] <= start <= items[-1][1]:
            if end > items[-1][1]:
                items[-1] = (items[-1][0], end)
            return
        if items and start < items[-1][0]:
            self._sorted = False
        items.append((start, end))

    def merged(self) -> list[Interval]:
        if not self._sorted:
            self._items = merge_intervals(self._items)
            self._sorted = True
        return self._items

    def _first_after(self, a: int) -> int:
        """Index of the first merged interval ending after ``a``."""
        if self._ends is None:
            self._ends = [e for _, e in self.merged()]
        return bisect_right(self._ends, a)

    def first_overlap(self, a: int, b: int) -> Interval | None:
        items = self.merged()
        i = self._first_after(a)
        if a >= b or i == len(items) or items[i][0] >= b:
            return None
        return max(a, items[i][0]), min(b, items[i][1])

    def first_gap(self, a: int, b: int) -> Interval | None:
        items = self.merged()
        if a >= b:
            return None
        i = self._first_after(a)
        if i == len(items) or items[i][0] >= b:
            return a, b
        if items[i][0] > a:
            return a, items[i][0]
        pos = items[i][1]
        if pos >= b:
            return None
        nxt = items[i + 1][0] if i + 1 < len(items) else b
        return pos, min(nxt, b)


def subtract_intervals(base: Iterable[Interval], minus: Iterable[Interval]) -> list[Interval]:
    """``base`` minus ``minus`` (both any order); the result is sorted and merged."""
    cut = merge_intervals(minus)
    out: list[Interval] = []
    for s, e in merge_intervals(base):
        pos = s
        for cs, ce in cut:
            if ce <= pos:
                continue
            if cs >= e:
                break
            if cs > pos:
                out.append((pos, cs))
            pos = max(pos, ce)
            if pos >= e:
                break
        if pos < e:
            out.append((pos, e))
    return out


def intersect_intervals(a: Iterable[Interval], b: Iterable[Interval]) -> list[Interval]:
    am, bm = merge_intervals(a), merge_intervals(b)
    out: list[Interval] = []
    i = j = 0
    while i < len(am) and j < len(bm):
        s, e = max(am[i][0], bm[j][0]), min(am[i][1], bm[j][1])
        if s < e:
            out.append((s, e))
        if am[i][1] < bm[j][1]:
            i += 1
        else:
            j += 1
    return out


def rng(a: int | None, b: int | None) -> str:
    if a is None:
        return "-"
    return f"{a:#x}-{b:#x}" if b is not None else f"{a:#x}"

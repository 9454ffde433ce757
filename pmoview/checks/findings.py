"""Findings: what a check concludes, with its VA/PA range, severity and the entry paths that prove it.

Checks look at mappings (merged leaves) and entries one by one; what they conclude about neighbours
is usually the same conclusion about a larger range. ``Pending`` holds a conclusion before its
message is written; ``merge_pending`` joins neighbours (same kind, severity and group; VA ranges
touching; PA ranges touching when both have one) and only then renders the message, so a finding
about 2 560 2 MiB pages reads as one range, not 2 560 paragraphs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

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
    # added beyond the list: walker anomalies that are neither of the above
    "table-cycle",
    "walk-limit",
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


def path_text(path: Sequence[PathEntry], values: bool = True) -> str:
    """``PML4[256] → PDPT[1] → PD[3]`` and, with ``values``, the raw entries after it."""
    arrow = " → ".join(e.text() for e in path)
    if not values or not path:
        return arrow
    return arrow + "  (" + ", ".join(f"{e.entry:#x}" for e in path) + ")"


@dataclass(frozen=True)
class Finding:
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
        if self.paths_omitted:
            out["paths_omitted"] = self.paths_omitted
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
        room = max(MAX_PATHS - len(self.paths), 0)
        self.paths.extend(new[:room])
        self.paths_omitted += other.paths_omitted + max(0, len(new) - room)

    def finish(self) -> Finding:
        message, expected, found = self.render(self)
        paths = tuple(self.paths[:MAX_PATHS])
        omitted = self.paths_omitted + max(0, len(self.paths) - MAX_PATHS)
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
        )


def merge_pending(items: Iterable[Pending]) -> list[Finding]:
    """Join touching conclusions (in VA order within each kind/group) and word them."""
    buckets: dict[tuple[Any, ...], list[Pending]] = {}
    for p in items:
        buckets.setdefault((p.kind, p.severity, repr(p.group), p.root), []).append(p)
    out: list[Finding] = []
    for group in buckets.values():
        group.sort(key=lambda p: (-1 if p.va_start is None else p.va_start, -1 if p.pa_start is None else p.pa_start))
        cur: Pending | None = None
        for p in group:
            if cur is not None and cur.can_join(p):
                cur.join(p)
                continue
            if cur is not None:
                out.append(cur.finish())
            cur = Pending(
                p.kind,
                p.severity,
                p.group,
                p.va_start,
                p.va_end,
                p.pa_start,
                p.pa_end,
                p.render,
                list(p.paths),
                p.count,
                dict(p.data),
                p.root,
                p.paths_omitted,
            )
        if cur is not None:
            out.append(cur.finish())
    return out


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


def size_text(n: int) -> str:
    for unit, shift in (("TiB", 40), ("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if n >= 1 << shift:
            v = n / (1 << shift)
            return f"{v:.0f} {unit}" if v == int(v) else f"{v:.1f} {unit}"
    return f"{n} bytes"


def page_size_text(n: int) -> str:
    return {4096: "4 KiB", 2 << 20: "2 MiB", 1 << 30: "1 GiB"}.get(n, size_text(n))


def rng(a: int | None, b: int | None) -> str:
    if a is None:
        return "-"
    return f"{a:#x}-{b:#x}" if b is not None else f"{a:#x}"

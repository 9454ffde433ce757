"""Which findings lie under a page-table node: an index built once per set of findings.

A tree view asks for every row it draws; scanning every finding per row made the cost rows x
findings. The index answers from a dict of entry-path prefixes (the findings' evidence paths and
their examples') and, per severity, start-sorted VA ranges with a running maximum of their ends.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from itertools import accumulate

from pmoview.checks.findings import Finding

SEVERITY_RANK = {"info": 1, "warning": 2, "error": 3}

PathKey = tuple[tuple[int, int], ...]


class FindingIndex:
    def __init__(self, findings: Iterable[Finding]) -> None:
        self.by_prefix: dict[PathKey, int] = {}
        ranges: dict[int, list[tuple[int, int]]] = {}
        for f in findings:
            rank = SEVERITY_RANK.get(f.severity.lower(), 0)
            paths = [*f.paths, *(e.path for e in f.examples)]
            for path in paths:
                key = tuple((e.level, e.index) for e in path)
                for n in range(1, len(key) + 1):
                    if self.by_prefix.get(key[:n], 0) < rank:
                        self.by_prefix[key[:n]] = rank
            if f.va_start is not None and f.va_end is not None:
                ranges.setdefault(rank, []).append((f.va_start, f.va_end))
        # highest rank first: the first overlap found is the answer
        self.ranges: list[tuple[int, list[int], list[int]]] = []
        for rank in sorted(ranges, reverse=True):
            items = sorted(ranges[rank])
            self.ranges.append((rank, [s for s, _ in items], list(accumulate((e for _, e in items), max))))

    def severity(self, key: Sequence[tuple[int, int]], va_start: int | None, va_end: int | None) -> int:
        """Highest severity rank (3 error, 2 warning, 1 info, 0 none) of findings whose evidence path
        runs through ``key`` or whose VA range meets [va_start, va_end)."""
        best = self.by_prefix.get(tuple(key), 0)
        if va_start is None or va_end is None:
            return best
        for rank, starts, max_ends in self.ranges:
            if rank <= best:
                break
            i = bisect.bisect_left(starts, va_end)  # ranges starting before the row ends
            if i and max_ends[i - 1] > va_start:
                return rank
        return best

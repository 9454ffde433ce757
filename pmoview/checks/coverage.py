"""PMO (direct map) coverage: which RAM the PMO maps where the profile's rule says (covered), maps to
another frame (wrong), or leaves unmapped (missing).

Computed once, by the PMO check (``pmoview.checks.pmo``) from the same walk and the same RAM map as its
findings, one ``PmoCoverage`` per root and PMO region; ``check --format json`` writes it as the
``coverage`` section, the text report prints it, the TUI draws it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pmoview.checks.findings import Interval, intersect_intervals, merge_intervals, subtract_intervals
from pmoview.sizes import size_text

COVERED, MISSING, WRONG = "covered", "missing", "wrong"
STATUSES = (COVERED, MISSING, WRONG)
MASK64 = (1 << 64) - 1


@dataclass(frozen=True)
class CoverageRange:
    """Physical [pa_start, pa_end) of RAM, what the PMO does with it, and at which VA the rule puts it."""

    pa_start: int
    pa_end: int  # exclusive
    status: str  # covered, missing, wrong
    va_start: int
    maps_pa: int | None = None  # wrong: the frame the PMO maps at va_start instead

    @property
    def size(self) -> int:
        return self.pa_end - self.pa_start

    @property
    def detail(self) -> str:
        return "" if self.maps_pa is None else f"maps PA {self.maps_pa:#x}"

    def to_json(self) -> dict[str, Any]:
        return {
            "pa_start": hex(self.pa_start),
            "pa_end": hex(self.pa_end),
            "va_start": hex(self.va_start),
            "maps_pa": None if self.maps_pa is None else hex(self.maps_pa),
        }


@dataclass(frozen=True)
class PmoCoverage:
    """The RAM a PMO region must map (``ram``: the region's cover types), split into ranges by status."""

    root: int  # top table PA of the space
    region: str  # the profile's region name
    rule: str  # the region's PA rule, e.g. "PA = VA - 0xffff800000000000 + 0"
    pa_base: int
    va_start: int  # VA of pa_base
    ram_source: str  # option, multiboot2, e820, dump
    authoritative: bool  # False: the RAM is the dump's ranges, not known to be RAM
    ram: tuple[Interval, ...]
    ranges: tuple[CoverageRange, ...]  # PA order, no overlaps, covering ``ram`` exactly

    @property
    def base(self) -> int:
        """The VA of PA 0 under the region's rule."""
        return (self.va_start - self.pa_base) & MASK64

    def va_of(self, pa: int) -> int:
        return (pa - self.pa_base + self.va_start) & MASK64

    def of_status(self, status: str) -> list[CoverageRange]:
        return [r for r in self.ranges if r.status == status]

    def totals(self) -> dict[str, int]:
        out = dict.fromkeys(STATUSES, 0)
        for r in self.ranges:
            out[r.status] += r.size
        return out

    def bar(self, width: int) -> list[str]:
        """One status per column across [0, end of RAM): "" where there is no RAM; the worst wins."""
        if not self.ram or width <= 0:
            return []
        top = max(e for _, e in self.ram)
        rank = {"": 0, COVERED: 1, WRONG: 2, MISSING: 3}
        cols = [""] * width
        for r in self.ranges:
            a = r.pa_start * width // top
            b = max(a + 1, -(-r.pa_end * width // top))
            for c in range(a, min(b, width)):
                if rank[r.status] > rank[cols[c]]:
                    cols[c] = r.status
        return cols

    def to_json(self) -> dict[str, Any]:
        totals = self.totals()
        return {
            "root": hex(self.root),
            "region": self.region,
            "rule": self.rule,
            "va_of_pa0": hex(self.base),
            "ram_source": self.ram_source,
            "ram": [{"start": hex(a), "end": hex(b)} for a, b in self.ram],
            **{status: [r.to_json() for r in self.of_status(status)] for status in STATUSES},
            "bytes": {"ram": sum(b - a for a, b in self.ram), **totals},
        }

    def text(self) -> list[str]:
        """The text report's lines: totals, then every range that is not covered."""
        t = self.totals()
        ram = sum(b - a for a, b in self.ram)
        head = (
            f"{self.region} (root {self.root:#x}, {self.rule}): RAM {size_text(ram)} from {self.ram_source}: "
            f"covered {size_text(t[COVERED])}, missing {size_text(t[MISSING])}, wrong {size_text(t[WRONG])}"
        )
        lines = [head]
        for r in self.ranges:
            if r.status != COVERED:
                detail = f", {r.detail}" if r.detail else ""
                where = f"PA {r.pa_start:#x}-{r.pa_end:#x} ({size_text(r.size)}) at VA {r.va_start:#x}"
                lines.append(f"  {r.status:<7} {where}{detail}")
        return lines


def pmo_coverage(
    *,
    root: int,
    region: str,
    rule: str,
    pa_base: int,
    va_start: int,
    ram_source: str,
    authoritative: bool,
    ram: list[Interval],
    correct: list[Interval],
    wrong: list[tuple[Interval, int]],
) -> PmoCoverage:
    """Split ``ram`` by what the walk found: ``correct`` PA ranges mapped where the rule says, ``wrong``
    PA slots ((start, end), PA actually mapped at start) mapped to another frame; the rest is missing."""
    ram = merge_intervals(ram)

    def va(pa: int) -> int:
        return (pa - pa_base + va_start) & MASK64

    out: list[CoverageRange] = []
    covered = intersect_intervals(ram, merge_intervals(correct))
    out += [CoverageRange(a, b, COVERED, va(a)) for a, b in covered]
    wrong_ram: list[Interval] = []
    for (s0, s1), maps_pa in sorted(wrong):
        for a, b in intersect_intervals(ram, [(s0, s1)]):
            out.append(CoverageRange(a, b, WRONG, va(a), maps_pa + (a - s0)))
            wrong_ram.append((a, b))
    missing = subtract_intervals(subtract_intervals(ram, covered), merge_intervals(wrong_ram))
    out += [CoverageRange(a, b, MISSING, va(a)) for a, b in missing]
    out.sort(key=lambda r: r.pa_start)
    return PmoCoverage(
        root, region, rule, pa_base, va_start, ram_source, authoritative, tuple(ram), tuple(_merged(out))
    )


def _merged(ranges: list[CoverageRange]) -> list[CoverageRange]:
    """Neighbours with the same status (and, for wrong, a continuing frame) read as one range."""
    out: list[CoverageRange] = []
    for r in ranges:
        last = out[-1] if out else None
        if (
            last is not None
            and last.status == r.status
            and last.pa_end == r.pa_start
            and (r.maps_pa is None) == (last.maps_pa is None)
            and (r.maps_pa is None or last.maps_pa is not None and last.maps_pa + last.size == r.maps_pa)
        ):
            out[-1] = CoverageRange(last.pa_start, r.pa_end, r.status, last.va_start, last.maps_pa)
        else:
            out.append(r)
    return out

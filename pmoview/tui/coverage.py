"""PMO (direct map) coverage of physical memory for one root: each RAM range covered, missing or wrong.

No Textual. The PMO base comes from the checks' report when it says, else from VMCOREINFO
(``page_offset_base``), else from the known layouts (seed 0xffff800000000000, Linux x86_64 4-level
0xffff888000000000 and 5-level 0xff11000000000000, arm64 PAGE_OFFSET - PHYS_OFFSET), keeping the
candidate that actually maps the start of RAM to itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pmoview import vmcoreinfo as vmci

SEED_PMO = 0xFFFF_8000_0000_0000
LINUX_X86_4L = 0xFFFF_8880_0000_0000
LINUX_X86_5L = 0xFF11_0000_0000_0000
MASK64 = (1 << 64) - 1


@dataclass(frozen=True)
class Segment:
    """Physical [pa_start, pa_end) of RAM and what the PMO does with it."""

    pa_start: int
    pa_end: int
    status: str  # "covered", "missing", "wrong"
    detail: str = ""

    @property
    def size(self) -> int:
        return self.pa_end - self.pa_start


@dataclass
class Coverage:
    base: int | None
    base_source: str
    ram: list[tuple[int, int]]
    ram_source: str
    segments: list[Segment]

    def va_of(self, pa: int) -> int | None:
        return None if self.base is None else (self.base + pa) & MASK64

    def totals(self) -> dict[str, int]:
        out = {"covered": 0, "missing": 0, "wrong": 0}
        for s in self.segments:
            out[s.status] = out.get(s.status, 0) + s.size
        return out

    def bar(self, width: int) -> list[str]:
        """One status per column across [0, end of RAM): "" where there is no RAM; the worst wins."""
        if not self.ram or width <= 0:
            return []
        top = max(e for _, e in self.ram)
        rank = {"": 0, "covered": 1, "wrong": 2, "missing": 3}
        cols = [""] * width
        for s in self.segments:
            a = s.pa_start * width // top
            b = max(a + 1, -(-s.pa_end * width // top))
            for c in range(a, min(b, width)):
                if rank[s.status] > rank[cols[c]]:
                    cols[c] = s.status
        return cols


def _report_attr(report: Any, *names: str) -> Any:
    for name in names:
        obj = report
        for part in name.split("."):
            obj = getattr(obj, part, None)
            if obj is None:
                break
        if obj is not None:
            return obj
    return None


def ram_ranges(session: Any) -> tuple[list[tuple[int, int]], str]:
    """RAM from the checks' report (its RAM map: Multiboot2, e820, option), else the dump's ranges."""
    report = session.report
    ram = _report_attr(report, "ram", "layout.ram") if report is not None else None
    if ram is not None and hasattr(ram, "ram_intervals"):
        return [
            (int(a), int(b)) for a, b in ram.ram_intervals()
        ], f"{getattr(ram, 'source', 'checks')}: {getattr(ram, 'detail', '')}".rstrip(": ")
    if ram:
        out = []
        for r in ram:
            if hasattr(r, "start"):
                out.append((int(r.start), int(r.end)))
            else:
                out.append((int(r[0]), int(r[1])))
        return out, str(getattr(report, "ram_source", "checks report"))
    return [(r.start, r.end) for r in session.mem.ranges()], "ranges present in the dump (not known to be RAM)"


def candidates(session: Any, space: Any) -> list[tuple[int, str]]:
    out: list[tuple[int, str]] = []
    report = session.report
    profile = getattr(report, "profile", None) if report is not None else None
    if profile is not None and hasattr(profile, "regions_of"):
        for r in profile.regions_of("pmo"):
            out.append(((r.va_start - r.pa_base) & MASK64, f"profile {profile.name}: {r.name} ({r.rule_text})"))
    base = _report_attr(report, "pmo_base", "layout.pmo_base") if report is not None else None
    if isinstance(base, int):
        out.append((base, "checks report"))
    info = session.mem.vmcoreinfo
    if space.mode.arch == "x86_64":
        sym = vmci.symbol(info, "page_offset_base")
        if sym is not None:
            t = space.translate(sym)
            if t.pa is not None:
                try:
                    v = int.from_bytes(session.mem.read(t.pa, 8), "little")
                    out.append((v, "page_offset_base (VMCOREINFO)"))
                except LookupError:
                    pass
        out += [
            (SEED_PMO, "seed design"),
            (LINUX_X86_4L, "Linux 4-level default"),
            (LINUX_X86_5L, "Linux 5-level default"),
        ]
    elif space.mode.arch == "riscv64":
        out.append((0, "identity (xv6: VA = PA from KERNBASE to PHYSTOP)"))
    else:
        va_bits = vmci.number(info, "VA_BITS") or space.mode.va_bits
        page_offset = (-(1 << va_bits)) & MASK64
        phys = vmci.number(info, "PHYS_OFFSET")
        if phys is None and session.mem.ranges():
            phys = session.mem.ranges()[0].start
        out.append(((page_offset - (phys or 0)) & MASK64, "arm64 PAGE_OFFSET - PHYS_OFFSET"))
    out += dominant_offsets(space)
    return out


def dominant_offsets(space: Any, n: int = 3) -> list[tuple[int, str]]:
    """VA - PA offsets of kernel-half mappings, most memory first (a KASLR'd direct map shows up here)."""
    weight: dict[int, int] = {}
    for m in space.walk():
        if m.va_start >> 63 and not m.flags.user:
            off = (m.va_start - m.pa_start) & MASK64
            if off & ((1 << 30) - 1) == 0:
                weight[off] = weight.get(off, 0) + (m.va_end - m.va_start)
    best = sorted(weight.items(), key=lambda kv: -kv[1])[:n]
    return [(off, f"largest VA-PA offset in the kernel half ({size >> 20} MiB)") for off, size in best]


def pmo_coverage(session: Any, index: int = 0) -> Coverage:
    """Call from a worker holding ``session.lock``."""
    space = session.spaces[index]
    ram, ram_source = ram_ranges(session)
    chosen: tuple[int, str] | None = None
    for base, source in candidates(session, space):
        hits = 0
        for start, end in ram[:8]:
            probe = (start + 0xFFF) & ~0xFFF
            if probe >= end:
                continue
            t = space.translate((base + probe) & MASK64)
            if t.pa == probe:
                hits += 1
        if hits:
            chosen = (base, source)
            break
    if chosen is None:
        segs = [Segment(a, b, "missing", "no PMO base found") for a, b in ram]
        return Coverage(None, "none of the known PMO bases maps RAM", ram, ram_source, segs)
    base, source = chosen
    segments: list[Segment] = []

    def add(a: int, b: int, status: str, detail: str = "") -> None:
        if b <= a:
            return
        last = segments[-1] if segments else None
        if last is not None and last.status == status and last.pa_end == a and last.detail == detail:
            segments[-1] = Segment(last.pa_start, b, status, detail)
        else:
            segments.append(Segment(a, b, status, detail))

    for start, end in ram:
        va0, va1 = base + start, base + end
        if va1 > MASK64 + 1:
            add(start, end, "missing", "PMO window past the top of the VA space")
            continue
        pos = start
        for m in space.mappings(va0, va1):
            a = max(m.va_start, va0) - base
            b = min(m.va_end, va1) - base
            if b <= pos:
                continue
            a = max(a, pos)
            add(pos, a, "missing")
            if (m.va_start - m.pa_start) & MASK64 == base:
                add(a, b, "covered")
            else:
                add(a, b, "wrong", f"maps PA {m.pa_start + (a + base - m.va_start):#x}")
            pos = b
        add(pos, end, "missing")
    return Coverage(base, source, ram, ram_source, segments)

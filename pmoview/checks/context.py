"""What every check reads: the space, its mappings, the resolved profile, the RAM map, the options."""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pmoview.arch import EntryRef, Flags, Mapping
from pmoview.checks.coverage import PmoCoverage
from pmoview.checks.findings import EntryPath, PathEntry, Pending
from pmoview.checks.profiles import ResolvedProfile
from pmoview.checks.ram import RamMap
from pmoview.kernel import KernelImage
from pmoview.marks import Mark
from pmoview.memory import PhysicalMemory
from pmoview.space import AddressSpace

CACHEABLE = ("WB", "WT", "WP", "Normal", "Normal-Tagged")


@dataclass
class CheckOptions:
    """``cpu_features``: the CPU's relevant CPUID/HWCAP flags (None: unknown). ``allow_1g``: accept
    1 GiB pages without knowing the features. ``ram``/``mb2_info``/``scan_ram``: where the RAM map
    comes from. ``marks``: the TUI's sidecar (``pmoview.marks``)."""

    cpu_features: frozenset[str] | None = None
    allow_1g: bool = False
    ram: list[tuple[int, int]] | None = None
    mb2_info: int | None = None
    scan_ram: bool = True
    marks: Iterable[Mark] | None = None  # a MarkSet or a list of Marks
    kernel_offset: int | None = None  # added to ELF VAs (KASLR); None: from VMCOREINFO KERNELOFFSET


@dataclass
class CheckContext:
    space: AddressSpace
    mem: PhysicalMemory
    profile: ResolvedProfile
    ram: RamMap
    kernel: KernelImage | None
    options: CheckOptions
    maps: list[Mapping] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # facts the report states once (assumptions, fallbacks)
    skipped: dict[str, str] = field(default_factory=dict)  # kind -> why the check could not run
    coverage: list[PmoCoverage] = field(default_factory=list)  # one per PMO region, from the PMO check

    def __post_init__(self) -> None:
        if not self.maps:
            self.maps = list(self.space.walk())
        self._ends = [m.va_end for m in self.maps]

    @property
    def root(self) -> int:
        return int(self.space.root.table)

    @property
    def arch(self) -> str:
        return str(self.space.root.arch)

    def maps_in(self, lo: int, hi: int) -> list[Mapping]:
        """Mappings meeting [lo, hi), in VA order (not clipped)."""
        i = bisect.bisect_right(self._ends, lo)
        out = []
        while i < len(self.maps) and self.maps[i].va_start < hi:
            out.append(self.maps[i])
            i += 1
        return out

    def path(self, refs: Sequence[EntryRef]) -> EntryPath:
        out = []
        for e in refs:
            try:
                name = self.space.level_name(e.level)
            except KeyError:
                name = f"L{e.level}"
            out.append(PathEntry(int(e.level), int(e.index), int(e.entry), name))
        return tuple(out)

    def path_of_va(self, va: int) -> EntryPath:
        return self.path(self.space.translate(va).path)

    def memory_type(self, flags: Flags) -> str | None:
        cache = getattr(flags, "cache", None)
        if (cache is None or cache.startswith(("AttrIndx", "PAT"))) and self.profile.profile.cache_names:
            return self.profile.profile.cache_names.get(int(getattr(flags, "attr_index", 0)), cache)
        return cache

    def cacheable(self, flags: Flags) -> bool:
        return self.memory_type(flags) in CACHEABLE

    def level_span(self, level: int) -> int:
        return int(self.space.mode.level_row(level).span)

    def pending(
        self,
        kind: str,
        severity: str,
        group: Any,
        va_start: int | None,
        va_end: int | None,
        pa_start: int | None,
        pa_end: int | None,
        render: Any,
        paths: Sequence[EntryPath] = (),
        **data: Any,
    ) -> Pending:
        return Pending(
            kind, severity, group, va_start, va_end, pa_start, pa_end, render, list(paths), 1, dict(data), self.root
        )


def has_attr(flags: Flags, attr: str, ctx: CheckContext) -> bool:
    """Whether a leaf's effective flags have ``attr`` (vocabulary in profiles.ATTRS)."""
    if attr == "present":
        return bool(flags.present)
    if attr == "writable":
        return bool(flags.writable)
    if attr == "readonly":
        return not flags.writable
    if attr == "nx":
        return bool(flags.nx)
    if attr == "exec":
        return not flags.nx
    if attr == "user":
        return bool(flags.user)
    if attr == "supervisor":
        return not flags.user
    if attr == "global":
        return bool(flags.global_)
    if attr == "cacheable":
        return ctx.cacheable(flags)
    raise KeyError(attr)


ATTR_WORDS = {
    "present": ("present", "not present"),
    "writable": ("writable", "read-only"),
    "readonly": ("read-only", "writable"),
    "nx": ("no-execute (NX/XD)", "executable (no NX/XD)"),
    "exec": ("executable", "no-execute"),
    "supervisor": ("supervisor-only", "user-accessible (U/S=1)"),
    "user": ("user-accessible", "supervisor-only"),
    "global": ("global", "not global"),
    "cacheable": ("cacheable", "uncached"),
}


def flags_words(flags: Flags, ctx: CheckContext) -> str:
    """``RW, NX, supervisor, WB`` for a message."""
    parts = [
        "RW" if flags.writable else "read-only",
        "NX" if flags.nx else "executable",
        "user" if flags.user else "supervisor",
    ]
    mt = ctx.memory_type(flags)
    if mt:
        parts.append(mt)
    return ", ".join(parts)

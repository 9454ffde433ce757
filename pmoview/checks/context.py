"""What every check reads: the space, its mappings, the resolved profile, the RAM map, the options."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pmoview.arch import EntryRef, Flags, Mapping
from pmoview.arch.columns import Bool, MappingColumns
from pmoview.arch.merge import BATCH_ROWS as MERGE_BATCH_ROWS
from pmoview.checks.coverage import PmoCoverage
from pmoview.checks.findings import EntryPath, Evidence, PathEntry, Pending, PendingCollector
from pmoview.checks.profiles import ResolvedProfile
from pmoview.checks.ram import RamMap
from pmoview.kernel import KernelImage
from pmoview.marks import Mark
from pmoview.memory import PhysicalMemory
from pmoview.space import AddressSpace

MAPS_BLOCK = 4096
BATCH_ROWS = MERGE_BATCH_ROWS  # mappings per batch a check holds (at least; a walk chunk is not split)
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


@dataclass(frozen=True)
class MapsIn:
    """The mappings meeting [lo, hi) of a space, iterated as ``Mapping`` objects a block at a time: each
    pass streams the range's walk again (``AddressSpace.mapping_batches``), nothing is kept."""

    space: AddressSpace
    lo: int
    hi: int

    def __iter__(self) -> Iterator[Mapping]:
        for batch in self.space.mapping_batches(self.lo, self.hi, BATCH_ROWS):
            for k in range(0, len(batch), MAPS_BLOCK):
                yield from batch.take(slice(k, k + MAPS_BLOCK)).mappings()


@dataclass
class CheckContext:
    """What every check reads (the space, the dump, the resolved profile, RAM, the kernel, the options)
    and where the checks put what they conclude."""

    space: AddressSpace
    mem: PhysicalMemory
    profile: ResolvedProfile
    ram: RamMap
    kernel: KernelImage | None
    options: CheckOptions
    notes: list[str] = field(default_factory=list)  # facts the report states once (assumptions, fallbacks)
    skipped: dict[str, str] = field(default_factory=dict)  # kind -> why the check could not run
    sink: PendingCollector = field(default_factory=PendingCollector)  # where hot loops put conclusions
    coverage: list[PmoCoverage] = field(default_factory=list)  # one per PMO region, from the PMO check

    def __post_init__(self) -> None:
        # The checks hold no whole-tree columns: each streams the ranges it judges, a batch at a time
        # (memory follows one batch, not the leaf count). One full walk first, as the checks always
        # did, so ``space.anomalies`` is complete and in VA order for the structure check.
        self.space.scan()

    @property
    def root(self) -> int:
        return int(self.space.root.table)

    @property
    def arch(self) -> str:
        return str(self.space.root.arch)

    def batches(self, lo: int, hi: int) -> Iterator[MappingColumns]:
        """The mappings meeting [lo, hi) as column batches, streamed from the walk (runs of the leaves
        meeting the range: one that goes on past an end is cut at the last leaf meeting it). Nothing
        past where the whole-tree walk stopped (a walk limit): every check judges what that walk saw."""
        return self.space.mapping_batches(lo, min(hi, self.space.scan_end), BATCH_ROWS)

    def maps_in(self, lo: int, hi: int) -> MapsIn:
        """Mappings meeting [lo, hi), in VA order (not clipped): iterable any number of times, each
        pass making ``Mapping`` objects ``MAPS_BLOCK`` at a time (never the whole range at once)."""
        return MapsIn(self.space, lo, min(hi, self.space.scan_end))

    def maps_where(self, lo: int, hi: int, keep: Callable[[MappingColumns], Bool]) -> Iterator[Mapping]:
        """``maps_in`` restricted to the mappings ``keep`` selects (a numpy mask over columns): a check
        that concerns few mappings does not meet the others in Python."""
        for part in self.batches(lo, hi):
            idx = np.flatnonzero(keep(part))
            for k in range(0, idx.size, MAPS_BLOCK):
                yield from part.take(idx[k : k + MAPS_BLOCK]).mappings()

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
        paths: Sequence[Evidence] = (),
        **data: Any,
    ) -> Pending:
        return Pending(
            kind,
            severity,
            group,
            va_start,
            va_end,
            pa_start,
            pa_end,
            render,
            [p for p in paths if not isinstance(p, int)],
            1,
            dict(data),
            self.root,
            resolve=self.path_of_va,
            path_vas=[p for p in paths if isinstance(p, int)],
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

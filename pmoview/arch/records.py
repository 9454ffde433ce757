"""Values the walker hands out: entries, leaves, merged mappings, translations, anomalies, limits."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol

from pmoview.arch.flags import Flags


class EntryRef(NamedTuple):
    """One entry: ``(level, index)`` pairs from the root are an entry's stable identity (marks use them).
    (Named tuples, not dataclasses, for the records made by the thousand: 4x cheaper to create.)"""

    level: int
    index: int  # type: ignore[assignment]  # a field named like tuple.index, by contract
    entry: int
    table_pa: int

    def key(self) -> tuple[int, int]:
        return (self.level, self.index)


class LevelIndex(Protocol):
    """An entry on a path: the walker's ``EntryRef``, the checks' ``PathEntry``, ..."""

    @property
    def level(self) -> int: ...
    @property
    def index(self) -> int: ...


PathKey = tuple[tuple[int, int], ...]


def path_key(path: Iterable[LevelIndex]) -> PathKey:
    """An entry path as ``((level, index), ...)``: the stable identity marks and the tree key entries by."""
    return tuple((e.level, e.index) for e in path)


@dataclass(frozen=True, slots=True)
class Translation:
    """What a walk of one VA found: the PA and page size, or why it faults, with the entries walked."""

    va: int
    pa: int | None
    page_size: int | None
    flags: Flags | None
    path: list[EntryRef]
    stop_level: int | None = None  # level whose entry ended the walk without a page
    reason: str | None = None  # why pa is None: "not present", "non-canonical VA", "reserved bits set ..."
    backed: bool | None = None  # whether the dump holds the byte at ``pa``
    absent: str | None = None  # why the dump lacks the frame (or the table): "excluded by dump level 31", ...


class Leaf(NamedTuple):
    va: int
    pa: int
    size: int
    flags: Flags
    path: list[EntryRef]
    backed: bool  # every byte of the page is in the dump


class Mapping(NamedTuple):
    """A merged run of leaves: contiguous VA and PA, equal flags, page size and backing."""

    va_start: int
    va_end: int  # exclusive
    pa_start: int
    page_size: int
    flags: Flags
    count: int  # type: ignore[assignment]  # a field named like tuple.count, by contract
    backed: bool = True
    level: int = 0  # level of its leaves

    @property
    def size(self) -> int:
        return self.va_end - self.va_start

    @property
    def pa_end(self) -> int:
        return self.pa_start + self.size


@dataclass(frozen=True, slots=True)
class Anomaly:
    """Found while walking. kind: table-outside-memory, reserved-bits, recursive-map, cycle,
    shared-table, limit. ``path`` ends at the entry concerned (empty for the root itself)."""

    kind: str
    path: tuple[EntryRef, ...]
    va_start: int
    va_end: int
    detail: str
    table_pa: int | None = None


@dataclass(frozen=True)
class WalkLimits:
    """Bounds that make every walk finish. ``max_tables`` counts table visits (a table shared by
    several entries counts each time it is walked)."""

    max_tables: int = 2_000_000
    max_revisits: int = 65_536  # visits of tables already visited in the walk (see docs/limits.md)
    max_anomalies: int = 10_000
    max_batch_tables: int = 64  # sibling tables decoded together (32 K entries: stays in cache)
    table_cache: int = 4096  # decoded tables kept for translate() and table views


@dataclass
class WalkStats:
    """What a walk cost: tables visited, entries decoded, dump pages read."""

    tables_visited: int = 0
    entries_decoded: int = 0
    pages_read: int = 0
    leaves: int = 0
    cache_hits: int = 0
    extra: dict[str, int] = field(default_factory=dict)

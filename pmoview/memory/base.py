"""The one interface every dump format answers: physical bytes, present ranges, CPU states, notes."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Self, TypeAlias

import numpy as np
import numpy.typing as npt

from parsers.elf_notes import Note

Addresses: TypeAlias = Sequence[int] | npt.NDArray[np.uint64]
"""Physical addresses, as ints or a numpy column."""

PAGE_SIZE = 4096
NOT_IN_DUMP = "not in the dump"  # the reason when nothing more precise is known


@dataclass(frozen=True, order=True)
class Range:
    """A physical range, ``end`` exclusive."""

    start: int
    end: int

    @property
    def size(self) -> int:
        return self.end - self.start

    def __contains__(self, pa: object) -> bool:
        return isinstance(pa, int) and self.start <= pa < self.end

    def to_json(self) -> dict[str, str]:
        return {"start": hex(self.start), "end": hex(self.end)}


@dataclass(frozen=True)
class CpuState:
    """One CPU's registers as far as the dump records them; names lowercase (``cr3``, ``ttbr1_el1``)."""

    index: int
    arch: str
    regs: Mapping[str, int]
    sources: tuple[str, ...] = ()


class AbsentMemoryError(LookupError):
    """The dump holds no bytes for this physical address (not the same as zeros)."""

    def __init__(self, pa: int) -> None:
        self.pa = pa
        super().__init__(f"physical address {pa:#x} is not in the dump")


def merge_ranges(ranges: list[Range]) -> list[Range]:
    out: list[Range] = []
    for r in sorted(ranges):
        if r.end <= r.start:
            continue
        if out and r.start <= out[-1].end:
            if r.end > out[-1].end:
                out[-1] = Range(out[-1].start, r.end)
        else:
            out.append(r)
    return out


@dataclass
class DumpInfo:
    """What a dump says about itself besides memory (filled by each backend on open)."""

    arch: str | None = None
    cpus: list[CpuState] = field(default_factory=list)
    vmcoreinfo: dict[str, str] | None = None
    notes: list[Note] = field(default_factory=list)
    details: dict[str, object] = field(default_factory=dict)  # format-specific facts for `info`


class PhysicalMemory(ABC):
    """Read-only physical memory. ``read_page`` is the hot path: aligned, ``None`` when absent."""

    path: str
    format: str
    file_size: int
    info: DumpInfo

    @abstractmethod
    def ranges(self) -> list[Range]:
        """Sorted, merged physical ranges the dump holds bytes for."""

    def valid_ranges(self) -> list[Range]:
        """Physical ranges the dump says existed, readable or not (a filtered kdump's bitmap 1).
        Equal to ``ranges()`` for formats that only describe what they hold."""
        return self.ranges()

    def absent_reason(self, pa_start: int, pa_end: int | None = None) -> str:
        """Why the dump lacks memory in [pa_start, pa_end) (default: the page at ``pa_start``), in words
        for the user: a filtered kdump says "excluded by dump level 31" for pages the machine had and
        makedumpfile left out, and "not memory the machine had" for the rest."""
        return NOT_IN_DUMP

    def absent_reasons(self, pa_starts: Addresses, pa_ends: Addresses) -> tuple[list[str], list[int]]:
        """``absent_reason`` for many ranges at once, as the distinct reasons and, per range, the index of
        its reason among them (a batch of 60,000 unbacked mappings has two or three reasons; dumps with
        bitmaps answer in one numpy pass)."""
        names: dict[str, int] = {}
        ids = [
            names.setdefault(self.absent_reason(a, b), len(names))
            for a, b in zip(map(int, pa_starts), map(int, pa_ends), strict=True)
        ]
        return list(names), ids

    @abstractmethod
    def read_page(self, pa: int) -> bytes | None:
        """The 4 KiB page at 4 KiB-aligned ``pa``, or ``None`` when the dump lacks any of it."""

    def read(self, pa: int, n: int) -> bytes:
        """``n`` bytes at ``pa``; raises AbsentMemoryError naming the first missing address."""
        if n <= 0:
            return b""
        chunks = []
        pos, end = pa, pa + n
        while pos < end:
            page_pa = pos & ~(PAGE_SIZE - 1)
            page = self.read_page(page_pa)
            if page is None:
                raise AbsentMemoryError(pos)
            take = min(end, page_pa + PAGE_SIZE) - pos
            chunks.append(page[pos - page_pa : pos - page_pa + take])
            pos += take
        return b"".join(chunks)

    def prefetch(self, pas: Iterable[int]) -> None:
        """A hint that the pages at ``pas`` are about to be read: a live backend fetches them in one round
        trip. Files need no hint."""
        return None

    def is_present(self, pa: int) -> bool:
        return self.read_page(pa & ~(PAGE_SIZE - 1)) is not None

    @property
    def cpus(self) -> list[CpuState]:
        return self.info.cpus

    @property
    def vmcoreinfo(self) -> dict[str, str] | None:
        return self.info.vmcoreinfo

    @property
    def arch(self) -> str | None:
        return self.info.arch

    @abstractmethod
    def close(self) -> None:
        """Release the file; reads after close are an error."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def present_pages(mem: PhysicalMemory, budget: int) -> Iterator[tuple[int, bytes]]:
    """The dump's present pages in PA order, until ``budget`` bytes have been looked at: the bounded
    walk every low-memory scan (roots, Multiboot2, E820) makes."""
    seen = 0
    ahead = 64 * PAGE_SIZE  # a live target reads this much per round trip instead of page by page
    for r in mem.ranges():
        pa = r.start & ~(PAGE_SIZE - 1)
        while pa < r.end and seen < budget:
            if not (pa - r.start) % ahead:
                mem.prefetch(range(pa, min(r.end, pa + ahead, pa + budget - seen), PAGE_SIZE))
            page = mem.read_page(pa)
            seen += PAGE_SIZE
            if page is not None:
                yield pa, page
            pa += PAGE_SIZE
        if seen >= budget:
            return

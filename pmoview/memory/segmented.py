"""Physical memory as sorted segments of one mapped file (raw images, ELF cores, LiME)."""

from __future__ import annotations

import bisect
from dataclasses import dataclass

from parsers.errors import DumpFormatError
from pmoview.memory.base import PAGE_SIZE, DumpInfo, PhysicalMemory, Range, merge_ranges
from pmoview.memory.fileview import MappedFile

# Physical addresses a dump can hold bytes for: below 2**63 (no CPU has more than 52 PA bits), so every
# Range end fits in an int64/uint64 for the walker's numpy. A segment reaching past it (an ELF PT_LOAD
# with p_paddr -1 for "no physical address", a hostile LiME header) is clipped and counted in
# ``info.details["segments_outside_pa_space"]``, not fatal: the rest of the dump is still evidence.
PA_LIMIT = 1 << 63


@dataclass(frozen=True, order=True)
class Segment:
    """A run of physical memory in the dump file: PA, size and where its bytes are (or implicit zeros)."""

    pa: int
    size: int
    file_offset: int  # -1: bytes are implicit zeros (ELF p_memsz beyond p_filesz)


class SegmentedMemory(PhysicalMemory):
    def __init__(self, file: MappedFile, fmt: str, segments: list[Segment], info: DumpInfo) -> None:
        self.file = file
        self.path = file.path
        self.format = fmt
        self.file_size = file.size
        self.info = info
        for seg in segments:
            if seg.file_offset >= 0 and seg.file_offset + seg.size > file.size:
                raise DumpFormatError(
                    file.path,
                    seg.file_offset,
                    f"{seg.size:#x} bytes of PA {seg.pa:#x} inside the file",
                    f"file ends at {file.size:#x} (truncated dump)",
                )
        inside = [s for s in segments if s.pa < PA_LIMIT]
        clipped = [Segment(s.pa, min(s.size, PA_LIMIT - s.pa), s.file_offset) for s in inside]
        outside = len(segments) - len(inside) + sum(c.size != s.size for c, s in zip(clipped, inside, strict=False))
        if outside:
            info.details["segments_outside_pa_space"] = outside
        self.segments = _disjoint(clipped)
        self._starts = [s.pa for s in self.segments]
        self._ranges = merge_ranges([Range(s.pa, s.pa + s.size) for s in self.segments])

    def ranges(self) -> list[Range]:
        return list(self._ranges)

    def _segment(self, pa: int) -> Segment | None:
        i = bisect.bisect_right(self._starts, pa) - 1
        if i >= 0 and pa < self.segments[i].pa + self.segments[i].size:
            return self.segments[i]
        return None

    def read_page(self, pa: int) -> bytes | None:
        seg = self._segment(pa)
        if seg is None:
            return None
        off = pa - seg.pa
        if off + PAGE_SIZE <= seg.size:
            if seg.file_offset < 0:
                return bytes(PAGE_SIZE)
            start = seg.file_offset + off
            self.file.release(PAGE_SIZE)
            return self.file.map[start : start + PAGE_SIZE]
        # The page straddles segments (unaligned ELF segments): assemble it, or report it absent.
        parts = []
        pos = pa
        while pos < pa + PAGE_SIZE:
            s = self._segment(pos)
            if s is None:
                return None
            take = min(pa + PAGE_SIZE, s.pa + s.size) - pos
            if s.file_offset < 0:
                parts.append(bytes(take))
            else:
                start = s.file_offset + pos - s.pa
                parts.append(self.file.map[start : start + take])
            pos += take
        return b"".join(parts)

    def close(self) -> None:
        self.file.close()


def _disjoint(segments: list[Segment]) -> list[Segment]:
    """Clip overlaps so lookups can bisect. Overlapping PT_LOADs of one dump describe the same RAM."""
    out: list[Segment] = []
    covered = -1
    for seg in sorted(s for s in segments if s.size > 0):
        end = seg.pa + seg.size
        if end <= covered:
            continue
        if seg.pa < covered:
            cut = covered - seg.pa
            seg = Segment(covered, seg.size - cut, seg.file_offset + cut if seg.file_offset >= 0 else -1)
        out.append(seg)
        covered = end
    return out

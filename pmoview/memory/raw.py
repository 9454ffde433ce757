"""Raw flat images: byte N of the file is PA ``base + N``. No header, so only opened on request."""

from __future__ import annotations

from pmoview.memory.base import DumpInfo
from pmoview.memory.fileview import MappedFile
from pmoview.memory.segmented import Segment, SegmentedMemory


def open_raw(path: str, base: int = 0, arch: str | None = None) -> SegmentedMemory:
    file = MappedFile(path)
    info = DumpInfo(arch=arch, details={"base": base})
    return SegmentedMemory(file, "raw", [Segment(base, file.size, 0)], info)

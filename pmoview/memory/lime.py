"""LiME dumps: a sequence of range headers, each followed by the range's bytes."""

from __future__ import annotations

import construct

from parsers.errors import DumpFormatError
from parsers.lime import LIME_HEADER_SIZE, LIME_MAGIC, lime_range_header
from pmoview.memory.base import DumpInfo
from pmoview.memory.fileview import MappedFile
from pmoview.memory.segmented import Segment, SegmentedMemory

MAX_LIME_RANGES = 1 << 20


def is_lime(head: bytes) -> bool:
    return len(head) >= 4 and int.from_bytes(head[:4], "little") == LIME_MAGIC


def open_lime(file: MappedFile, arch: str | None = None) -> SegmentedMemory:
    segments: list[Segment] = []
    pos = 0
    while pos < file.size:
        if len(segments) >= MAX_LIME_RANGES:
            raise DumpFormatError(file.path, pos, f"at most {MAX_LIME_RANGES} LiME ranges", "more")
        raw = file.read(pos, LIME_HEADER_SIZE, "a LiME range header (32 bytes)")
        try:
            hdr = lime_range_header.parse(raw)
        except construct.ConstructError:
            raise DumpFormatError(
                file.path, pos, "a LiME range header (magic 0x4c694d45)", f"{raw[:4].hex()}"
            ) from None
        if hdr.version != 1 or hdr.e_addr < hdr.s_addr:
            raise DumpFormatError(
                file.path,
                pos,
                "a LiME v1 header with s_addr <= e_addr",
                f"version {hdr.version}, {hdr.s_addr:#x}-{hdr.e_addr:#x}",
            )
        size = hdr.e_addr - hdr.s_addr + 1
        data_at = pos + LIME_HEADER_SIZE
        if data_at + size > file.size:
            raise DumpFormatError(
                file.path,
                data_at,
                f"{size:#x} bytes of range {hdr.s_addr:#x}",
                f"file ends at {file.size:#x} (truncated dump)",
            )
        segments.append(Segment(hdr.s_addr, size, data_at))
        pos = data_at + size
    return SegmentedMemory(file, "lime", segments, DumpInfo(arch=arch, details={"lime_ranges": len(segments)}))

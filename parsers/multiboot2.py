"""Multiboot2 boot information: the fixed header, the tag headers, and tag 6 (memory map).

Source: The Multiboot2 Specification version 2.0, section 3.6 "Boot information format":
3.6.1 "Basic tags structure" (``u32 total_size``, ``u32 reserved``; tags follow, each starting at
an 8-byte aligned offset with ``u32 type``, ``u32 size``; the list ends with a tag of type 0 and
size 8) and 3.6.8 "Memory map" (``u32 type = 6``, ``u32 size``, ``u32 entry_size``,
``u32 entry_version``, then entries of ``u64 base_addr``, ``u64 length``, ``u32 type``,
``u32 reserved``; ``entry_size`` is a multiple of 8 and entries must be read with it, so that
later versions may append fields; ``entry_version`` is 0). Memory types: 1 available RAM,
3 usable RAM holding ACPI information, 4 reserved memory to preserve on hibernation (ACPI NVS),
5 defective RAM, any other value reserved.

All fields are little-endian (the i386/x86_64 boot protocol). Values leave this module as frozen
dataclasses; malformed input raises ``DumpFormatError`` naming the offset.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from construct import Array, Int32ul, Int64ul, Struct, this

from parsers.errors import DumpFormatError, parse_at

TAG_END = 0
TAG_MMAP = 6
TAG_ALIGN = 8
ENTRY_VERSION = 0

MEMORY_TYPES = {1: "available RAM", 2: "reserved", 3: "ACPI reclaimable", 4: "ACPI NVS", 5: "defective RAM"}

boot_info_header = Struct(
    "total_size" / Int32ul,
    "reserved" / Int32ul,
)

tag_header = Struct(
    "type" / Int32ul,
    "size" / Int32ul,
)

mmap_entry = Struct(
    "base_addr" / Int64ul,
    "length" / Int64ul,
    "type" / Int32ul,
    "reserved" / Int32ul,
)
MMAP_ENTRY_SIZE = 24

mmap_tag_header = Struct(
    "type" / Int32ul,
    "size" / Int32ul,
    "entry_size" / Int32ul,
    "entry_version" / Int32ul,
)

# The whole memory map tag when entry_size == 24 (what every loader writes today); used to build.
mmap_tag = Struct(
    "type" / Int32ul,
    "size" / Int32ul,
    "entry_size" / Int32ul,
    "entry_version" / Int32ul,
    "entries" / Array((this.size - 16) // MMAP_ENTRY_SIZE, mmap_entry),
)


@dataclass(frozen=True)
class MmapEntry:
    """One Multiboot2 memory-map entry: base, length and type."""

    base_addr: int
    length: int
    type: int
    reserved: int = 0

    @property
    def end(self) -> int:
        return self.base_addr + self.length

    @property
    def type_name(self) -> str:
        return MEMORY_TYPES.get(self.type, f"type {self.type} (reserved)")


@dataclass(frozen=True)
class Tag:
    """One Multiboot2 boot-information tag: its type, size and offset."""

    type: int
    size: int
    offset: int  # from the start of the boot information


@dataclass(frozen=True)
class BootInfo:
    """A Multiboot2 boot-information structure: its tags and, when tag 6 is there, the memory map."""

    total_size: int
    tags: tuple[Tag, ...]
    mmap: tuple[MmapEntry, ...] | None  # None: no tag 6
    entry_size: int | None = None
    entry_version: int | None = None


def _entry(c: Any) -> MmapEntry:
    return MmapEntry(int(c.base_addr), int(c.length), int(c.type), int(c.reserved))


def parse_mmap_entries(
    data: bytes, count: int, entry_size: int = MMAP_ENTRY_SIZE, offset: int = 0, path: str = "<bytes>"
) -> tuple[MmapEntry, ...]:
    """``count`` entries ``entry_size`` bytes apart (the first 24 bytes of each are read)."""
    if entry_size < MMAP_ENTRY_SIZE or entry_size % 8:
        raise DumpFormatError(
            path, offset, "a Multiboot2 mmap entry_size that is a multiple of 8 and >= 24", str(entry_size)
        )
    return tuple(
        _entry(parse_at(mmap_entry, data, offset + i * entry_size, "a Multiboot2 mmap entry", path))
        for i in range(count)
    )


def parse_boot_info(data: bytes, path: str = "<bytes>", max_size: int = 1 << 20) -> BootInfo:
    """Parse a Multiboot2 boot information structure at the start of ``data``.

    Validates what the spec promises: reserved 0, total_size within ``data`` and ``max_size``, tags
    8-aligned and inside total_size, sizes >= 8, a type-0 end tag of size 8, and for tag 6 an
    entry_size that is a multiple of 8 (>= 24) and entry_version 0."""
    hdr = parse_at(boot_info_header, data, 0, "a Multiboot2 boot information header", path)
    total = int(hdr.total_size)
    if hdr.reserved != 0:
        raise DumpFormatError(path, 4, "Multiboot2 boot information reserved field 0", hex(hdr.reserved))
    if total < 16 or total > max_size or total > len(data) or total % TAG_ALIGN:
        raise DumpFormatError(
            path, 0, f"a Multiboot2 total_size of 16..{min(max_size, len(data))} bytes, a multiple of 8", str(total)
        )
    tags: list[Tag] = []
    mmap: tuple[MmapEntry, ...] | None = None
    entry_size = entry_version = None
    off = 8
    while True:
        if off + 8 > total:
            raise DumpFormatError(path, off, "a Multiboot2 end tag (type 0, size 8) before total_size", "none")
        th = parse_at(tag_header, data, off, "a Multiboot2 tag header", path)
        ttype, tsize = int(th.type), int(th.size)
        if tsize < 8 or off + tsize > total:
            raise DumpFormatError(path, off, f"a Multiboot2 tag size of 8..{total - off}", str(tsize))
        tags.append(Tag(ttype, tsize, off))
        if ttype == TAG_END:
            if tsize != 8:
                raise DumpFormatError(path, off, "a Multiboot2 end tag of size 8", str(tsize))
            break
        if ttype == TAG_MMAP:
            mh = parse_at(mmap_tag_header, data, off, "a Multiboot2 memory map tag", path)
            es, ev = int(mh.entry_size), int(mh.entry_version)
            if es < MMAP_ENTRY_SIZE or es % 8:
                raise DumpFormatError(
                    path, off + 8, "a Multiboot2 mmap entry_size that is a multiple of 8, >= 24", str(es)
                )
            if ev != ENTRY_VERSION:
                raise DumpFormatError(path, off + 12, "Multiboot2 mmap entry_version 0", str(ev))
            count = (tsize - 16) // es
            mmap = parse_mmap_entries(data, count, es, off + 16, path)
            entry_size, entry_version = es, ev
        off += (tsize + TAG_ALIGN - 1) & ~(TAG_ALIGN - 1)
    return BootInfo(total, tuple(tags), mmap, entry_size, entry_version)


def build_mmap_tag(entries: list[MmapEntry] | tuple[MmapEntry, ...]) -> bytes:
    return mmap_tag.build(
        {
            "type": TAG_MMAP,
            "size": 16 + MMAP_ENTRY_SIZE * len(entries),
            "entry_size": MMAP_ENTRY_SIZE,
            "entry_version": ENTRY_VERSION,
            "entries": [
                {"base_addr": e.base_addr, "length": e.length, "type": e.type, "reserved": e.reserved} for e in entries
            ],
        }
    )


def build_boot_info(
    entries: list[MmapEntry] | tuple[MmapEntry, ...], other_tags: list[tuple[int, bytes]] | None = None
) -> bytes:
    """A boot information structure holding ``other_tags`` (type, payload) and a memory map tag."""
    body = b""
    for ttype, payload in other_tags or []:
        tag = tag_header.build({"type": ttype, "size": 8 + len(payload)}) + payload
        body += tag + bytes(-len(tag) % TAG_ALIGN)
    m = build_mmap_tag(entries)
    body += m + bytes(-len(m) % TAG_ALIGN)
    body += tag_header.build({"type": TAG_END, "size": 8})
    return boot_info_header.build({"total_size": 8 + len(body), "reserved": 0}) + body

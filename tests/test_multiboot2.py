"""parsers.multiboot2: round trips (parse == obj, build == data, sizeof), validation with located errors,
and the boot information a real seed guest left in memory."""

from __future__ import annotations

import re
import struct

import pytest
from conftest import SAMPLES, load_truth
from hypothesis import given
from hypothesis import strategies as st

from parsers.errors import DumpFormatError
from parsers.multiboot2 import (
    MMAP_ENTRY_SIZE,
    MmapEntry,
    boot_info_header,
    build_boot_info,
    build_mmap_tag,
    mmap_entry,
    mmap_tag,
    parse_boot_info,
    parse_mmap_entries,
    tag_header,
)

ENTRIES = (
    MmapEntry(0, 0x9FC00, 1),
    MmapEntry(0x9FC00, 0x400, 2),
    MmapEntry(0x100000, 0x5FEE0000, 1),
    MmapEntry(0xFD00000000, 0x300000000, 2),
)


def test_mmap_entry_round_trip() -> None:
    data = struct.pack("<QQII", 0x100000, 0x5FEE0000, 1, 0)
    obj = mmap_entry.parse(data)
    assert (obj.base_addr, obj.length, obj.type, obj.reserved) == (0x100000, 0x5FEE0000, 1, 0)
    assert mmap_entry.build(obj) == data
    assert mmap_entry.sizeof() == MMAP_ENTRY_SIZE == 24
    assert boot_info_header.sizeof() == 8 and tag_header.sizeof() == 8


def test_mmap_tag_round_trip() -> None:
    data = build_mmap_tag(ENTRIES)
    assert len(data) == 16 + 24 * len(ENTRIES)
    parsed = mmap_tag.parse(data)
    assert (parsed.type, parsed.entry_size, parsed.entry_version) == (6, 24, 0)
    assert mmap_tag.build(parsed) == data
    assert tuple(MmapEntry(e.base_addr, e.length, e.type, e.reserved) for e in parsed.entries) == ENTRIES


def test_boot_info_round_trip_skips_other_tags() -> None:
    data = build_boot_info(ENTRIES, other_tags=[(1, b"console=ttyS0\0"), (2, b"GRUB 2.06\0")])
    info = parse_boot_info(data)
    assert info.total_size == len(data) and len(data) % 8 == 0
    assert [t.type for t in info.tags] == [1, 2, 6, 0]
    assert all(t.offset % 8 == 0 for t in info.tags)
    assert info.mmap == ENTRIES and info.entry_size == 24 and info.entry_version == 0
    assert info.mmap[2].end == 0x5FFE0000 and info.mmap[0].type_name == "available RAM"


@given(
    st.lists(st.tuples(st.integers(0, (1 << 52) - 1), st.integers(0, 1 << 40), st.integers(0, 2**32 - 1)), max_size=20)
)
def test_any_entries_survive_build_and_parse(raw: list[tuple[int, int, int]]) -> None:
    entries = tuple(MmapEntry(b, n, t) for b, n, t in raw)
    assert parse_boot_info(build_boot_info(entries)).mmap == entries


def test_longer_entry_size_is_honoured() -> None:
    # entry_size 32: a future version appended 8 bytes; readers must step by entry_size
    body = b"".join(struct.pack("<QQII", e.base_addr, e.length, e.type, 0) + b"\xee" * 8 for e in ENTRIES)
    tag = struct.pack("<IIII", 6, 16 + len(body), 32, 0) + body
    end = struct.pack("<II", 0, 8)
    data = struct.pack("<II", 8 + len(tag) + len(end), 0) + tag + end
    assert parse_boot_info(data).mmap == ENTRIES
    assert parse_mmap_entries(body, len(ENTRIES), 32) == ENTRIES


@pytest.mark.parametrize(
    "mutate, where",
    [
        (lambda d: d[:4] + struct.pack("<I", 1) + d[8:], 4),  # reserved must be 0
        (lambda d: struct.pack("<I", len(d) + 64) + d[4:], 0),  # total_size past the data
        (lambda d: d[:-8] + struct.pack("<II", 1, 8), None),  # no end tag
    ],
)
def test_malformed_boot_info_raises_located_error(mutate, where) -> None:  # type: ignore[no-untyped-def]
    data = mutate(build_boot_info(ENTRIES))
    with pytest.raises(DumpFormatError) as e:
        parse_boot_info(data, "mbi")
    if where is not None:
        assert e.value.offset == where
    assert "Multiboot2" in str(e.value)


def test_bad_entry_size_is_refused() -> None:
    data = bytearray(build_boot_info(ENTRIES))
    struct.pack_into("<I", data, 16, 20)  # entry_size of the mmap tag (first tag, at offset 8)
    with pytest.raises(DumpFormatError, match="entry_size"):
        parse_boot_info(bytes(data))


def test_real_seed_guest_boot_information_matches_truth() -> None:
    d = SAMPLES / "seed-hole"
    if not (d / "truth.json").exists() or not (d / "serial.log").exists():
        pytest.skip("seed-hole sample not present")
    m = re.search(r"mb2_info=(0x[0-9a-f]+)", (d / "serial.log").read_text())
    if m is None:
        pytest.skip("serial log does not give the boot information address")
    from pmoview.memory import open_dump

    dump = next((d / n for n in ("dump.kdump", "dump.kdump.xz") if (d / n).exists()), None)
    if dump is None:
        pytest.skip("no kdump in seed-hole")
    mem = open_dump(str(dump))
    pa = int(m.group(1), 16)
    total = struct.unpack("<I", mem.read(pa, 4))[0]
    data = mem.read(pa, total)
    info = parse_boot_info(data, str(dump))
    truth = load_truth(d)
    assert info.mmap is not None
    got = [{"start": hex(e.base_addr), "end": hex(e.end), "type": e.type} for e in info.mmap]
    assert got == truth["ram_map"]
    # and the structure rebuilt from its parsed entries is byte-identical in its memory map tag
    tag = next(t for t in info.tags if t.type == 6)
    assert build_mmap_tag(info.mmap) == data[tag.offset : tag.offset + tag.size]

"""Physical memory backends on files built with the parsers' own Construct definitions."""

from __future__ import annotations

from pathlib import Path

import dumpsynth as synth
import pytest

from parsers.errors import DumpFormatError
from pmoview.memory import AbsentMemoryError, Range, open_dump

PAGE_A = bytes(range(256)) * 16
PAGE_Z = bytes(4096)


def write(tmp_path: Path, name: str, data: bytes) -> str:
    p = tmp_path / name
    p.write_bytes(data)
    return str(p)


@pytest.fixture
def kdump_pages() -> dict[int, bytes]:
    # A hole at pfn 2..4, a zero page that is present, and a page far up (above 4 GiB).
    return {0: PAGE_A, 1: PAGE_Z, 5: PAGE_A[::-1], 0x100010: b"\x5a" * 4096}


def test_kdump_reads_pages_and_tells_absent_from_zero(tmp_path: Path, kdump_pages: dict[int, bytes]) -> None:
    mem = open_dump(write(tmp_path, "d.kdump", synth.kdump(kdump_pages)))
    assert mem.format == "kdump"
    assert mem.read_page(0) == PAGE_A
    assert mem.read_page(0x1000) == PAGE_Z
    assert mem.read_page(0x2000) is None
    with pytest.raises(AbsentMemoryError) as exc:
        mem.read(0x1FFE, 4)
    assert exc.value.pa == 0x2000
    assert mem.read(0x100010 * 4096 + 7, 3) == b"\x5a" * 3
    assert mem.ranges() == [Range(0, 0x2000), Range(0x5000, 0x6000), Range(0x100010000, 0x100011000)]


def test_flattened_kdump_reads_like_the_plain_file(tmp_path: Path, kdump_pages: dict[int, bytes]) -> None:
    plain = synth.kdump(
        kdump_pages, notes=synth.prstatus_note() + synth.qemu_note(cr3=0x5000), vmcoreinfo=b"OSRELEASE=6.1.0\n"
    )
    mem = open_dump(write(tmp_path, "d.flat", synth.flatten(plain, chunk=1000)))
    assert mem.format == "kdump-flattened"
    assert mem.read_page(0x5000) == PAGE_A[::-1]
    assert mem.cpus[0].regs["cr3"] == 0x5000
    assert mem.vmcoreinfo == {"OSRELEASE": "6.1.0"}


def test_kdump_uncompressed_pages_and_64k_blocks(tmp_path: Path) -> None:
    block = bytes(range(256)) * 256
    mem = open_dump(
        write(tmp_path, "d.kdump", synth.kdump({3: block}, block_size=65536, compress=False, machine="aarch64"))
    )
    assert mem.arch == "aarch64"
    assert mem.read_page(3 * 65536 + 4096) == block[4096:8192]
    assert mem.ranges() == [Range(3 * 65536, 4 * 65536)]


def test_elf_core_cpus_pair_prstatus_with_qemu_notes(tmp_path: Path) -> None:
    notes = (
        synth.prstatus_note(rip=0x10)
        + synth.prstatus_note(rip=0x20)
        + synth.qemu_note(cr3=0x1000, cr4=0x1020)
        + synth.qemu_note(cr0=0x10, cr3=0)
    )
    mem = open_dump(write(tmp_path, "d.elf", synth.elf_core([(0x1000, PAGE_A), (0x100000000, PAGE_Z)], notes)))
    assert mem.format == "elf"
    assert [c.regs["rip"] for c in mem.cpus] == [0x10, 0x20]
    assert mem.cpus[0].regs["cr4"] == 0x1020 and mem.cpus[1].regs["cr0"] == 0x10
    assert mem.read_page(0x100000000) == PAGE_Z
    assert mem.read_page(0) is None


def test_lime_ranges(tmp_path: Path) -> None:
    mem = open_dump(write(tmp_path, "d.lime", synth.lime([(0x1000, PAGE_A * 2), (0x40000000, PAGE_Z)])))
    assert mem.ranges() == [Range(0x1000, 0x3000), Range(0x40000000, 0x40001000)]
    assert mem.read(0x1FFE, 4) == PAGE_A[-2:] + PAGE_A[:2]


def test_raw_image_with_base(tmp_path: Path) -> None:
    mem = open_dump(write(tmp_path, "d.raw", PAGE_A * 2), base=0x100000)
    assert mem.format == "raw" and mem.ranges() == [Range(0x100000, 0x102000)]
    assert mem.read_page(0) is None


def test_dump_file_is_opened_read_only(tmp_path: Path, kdump_pages: dict[int, bytes]) -> None:
    path = write(tmp_path, "d.kdump", synth.kdump(kdump_pages))
    Path(path).chmod(0o400)
    mem = open_dump(path)
    assert mem.read_page(0) == PAGE_A


# -- bad input: one located error, bounded work -------------------------------------------------


def test_empty_file(tmp_path: Path) -> None:
    with pytest.raises(DumpFormatError, match="empty file"):
        open_dump(write(tmp_path, "e", b""))


def test_unknown_content_names_the_formats(tmp_path: Path) -> None:
    with pytest.raises(DumpFormatError, match="kdump, flattened kdump, ELF or LiME") as exc:
        open_dump(write(tmp_path, "u", b"hello world" * 100))
    assert exc.value.offset == 0


def test_kdump_truncated_in_the_bitmaps(tmp_path: Path, kdump_pages: dict[int, bytes]) -> None:
    data = synth.kdump(kdump_pages)
    with pytest.raises(DumpFormatError, match="bitmap"):
        open_dump(write(tmp_path, "t", data[: 3 * 4096 + 10]))


def test_kdump_hostile_max_mapnr_is_clamped_to_the_bitmap(tmp_path: Path) -> None:
    data = bytearray(synth.kdump({0: PAGE_A}))
    data[4096 + 96 : 4096 + 104] = (1 << 60).to_bytes(8, "little")  # max_mapnr_64 claims 2^60 pages
    mem = open_dump(write(tmp_path, "h", bytes(data)))
    assert mem.read_page(0) == PAGE_A
    assert mem.read_page(1 << 50) is None
    assert mem.ranges() == [Range(0, 0x1000)]


def test_kdump_bitmap_blocks_past_the_end(tmp_path: Path) -> None:
    data = bytearray(synth.kdump({0: PAGE_A}))
    data[436:440] = (1 << 31).to_bytes(4, "little")  # bitmap_blocks
    with pytest.raises(DumpFormatError, match="bitmap blocks"):
        open_dump(write(tmp_path, "h", bytes(data)))


def test_kdump_descriptor_pointing_past_the_end(tmp_path: Path) -> None:
    data = synth.kdump({0: PAGE_A, 1: PAGE_A[::-1]}, compress=False)
    mem = open_dump(write(tmp_path, "p", data[: len(data) - 100]))  # the last page's data is cut short
    assert mem.read_page(0) == PAGE_A
    assert mem.read_page(0x1000) is None  # half-written: absent, and counted, not fatal
    assert mem.info.details["unreadable_blocks"] == 1
    assert "data of block 0x1" in str(mem.info.details["first_unreadable"])


def test_elf_note_size_past_the_segment(tmp_path: Path) -> None:
    note = bytearray(synth.prstatus_note())
    note[4:8] = (1 << 31).to_bytes(4, "little")
    with pytest.raises(DumpFormatError, match="note"):
        open_dump(write(tmp_path, "n", synth.elf_core([(0, PAGE_A)], bytes(note))))


def test_elf_pt_load_past_the_end(tmp_path: Path) -> None:
    data = synth.elf_core([(0, PAGE_A * 4)])
    with pytest.raises(DumpFormatError, match="truncated"):
        open_dump(write(tmp_path, "t", data[:-4096]))


def test_lime_truncated(tmp_path: Path) -> None:
    data = synth.lime([(0x1000, PAGE_A * 2)])
    with pytest.raises(DumpFormatError, match="truncated"):
        open_dump(write(tmp_path, "l", data[:-1]))


def test_flattened_without_end_marker(tmp_path: Path) -> None:
    data = synth.flatten(synth.kdump({0: PAGE_A}))
    with pytest.raises(DumpFormatError, match="truncated"):
        open_dump(write(tmp_path, "f", data[:-16]))

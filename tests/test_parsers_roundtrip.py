"""Every Construct struct parses what it builds and builds what it parses (STYLE rule 4)."""

from __future__ import annotations

import numpy as np
import pytest
from construct import Container

from parsers import elf_core, elf_notes, kdump, lime


def _roundtrip(struct, obj):  # type: ignore[no-untyped-def]
    data = struct.build(obj)
    assert len(data) == struct.sizeof()
    parsed = struct.parse(data)
    assert struct.build(parsed) == data
    return parsed


def test_disk_dump_header_roundtrip() -> None:
    obj = dict(
        header_version=6,
        utsname=kdump.build_utsname("6.1.0-56-amd64"),
        timestamp_sec=1,
        timestamp_usec=2,
        status=1,
        block_size=4096,
        sub_hdr_size=1,
        bitmap_blocks=2,
        max_mapnr=0x80000,
        total_ram_blocks=0,
        device_blocks=0,
        written_blocks=0,
        current_cpu=0,
        nr_cpus=2,
    )
    parsed = _roundtrip(kdump.disk_dump_header, obj)
    assert kdump.disk_dump_header.sizeof() == 464
    assert parsed.block_size == 4096 and parsed.nr_cpus == 2


def test_kdump_sub_header_layout_matches_diskdump_mod_h() -> None:
    assert kdump.kdump_sub_header.sizeof() == 104
    fields = dict(
        phys_base=0x1000000,
        dump_level=1,
        split=0,
        start_pfn=0,
        end_pfn=5,
        offset_vmcoreinfo=0x2000,
        size_vmcoreinfo=10,
        offset_note=0x3000,
        size_note=20,
        offset_eraseinfo=0,
        size_eraseinfo=0,
        start_pfn_64=0,
        end_pfn_64=5,
        max_mapnr_64=1 << 40,
    )
    raw = kdump.kdump_sub_header.build(fields)
    assert int.from_bytes(raw[96:104], "little") == 1 << 40  # max_mapnr_64 at offset 96
    _roundtrip(kdump.kdump_sub_header, fields)


def test_page_desc_numpy_dtype_matches_construct() -> None:
    raw = kdump.page_desc.build(dict(offset=0x123456, size=77, flags=1, page_flags=9))
    arr = np.frombuffer(raw, dtype=kdump.PAGE_DESC_DTYPE)[0]
    assert (int(arr["offset"]), int(arr["size"]), int(arr["flags"]), int(arr["page_flags"])) == (0x123456, 77, 1, 9)
    assert np.dtype(kdump.PAGE_DESC_DTYPE).itemsize == kdump.PAGE_DESC_SIZE


def test_flat_headers_roundtrip() -> None:
    assert kdump.flat_header.sizeof() == kdump.FLAT_HEADER_SIZE
    _roundtrip(kdump.flat_header, dict(type=1, version=1))
    parsed = _roundtrip(kdump.flat_record_header, dict(offset=-1, buf_size=-1))
    assert parsed.offset == kdump.FLAT_END


def test_lime_header_roundtrip() -> None:
    parsed = _roundtrip(lime.lime_range_header, dict(version=1, s_addr=0x1000, e_addr=0x1FFF))
    assert lime.LIME_HEADER_SIZE == 32 and parsed.e_addr == 0x1FFF


def test_elf_headers_roundtrip() -> None:
    _roundtrip(
        elf_core.elf64_ehdr,
        dict(
            e_type=4,
            e_machine=62,
            e_version=1,
            e_entry=0,
            e_phoff=64,
            e_shoff=0,
            e_flags=0,
            e_ehsize=64,
            e_phentsize=56,
            e_phnum=1,
            e_shentsize=0,
            e_shnum=0,
            e_shstrndx=0,
        ),
    )
    assert elf_core.elf64_phdr.sizeof() == 56


@pytest.mark.parametrize(
    "struct,size",
    [(elf_notes.prstatus_x86_64, 336), (elf_notes.prstatus_aarch64, 392), (elf_notes.qemu_cpu_state_x86_64, 432)],
)
def test_note_descriptor_sizes_match_the_kernel_and_qemu(struct, size) -> None:  # type: ignore[no-untyped-def]
    assert struct.sizeof() == size


def test_note_record_roundtrip_and_alignment() -> None:
    raw = elf_notes.build_note("VMCOREINFO", 0, b"OSRELEASE=6.1\n")
    assert len(raw) % 4 == 0
    (note,) = elf_notes.iter_notes(raw)
    assert note.name == "VMCOREINFO" and note.desc == b"OSRELEASE=6.1\n"
    assert isinstance(elf_notes.note_record.parse(raw), Container)


def test_vmcoreinfo_keeps_values_as_text() -> None:
    parsed = elf_notes.decode_vmcoreinfo(b"OSRELEASE=6.1.0\nNUMBER(phys_base)=-12345\nKERNELOFFSET=1a000000\n\0\0")
    assert parsed == {"OSRELEASE": "6.1.0", "NUMBER(phys_base)": "-12345", "KERNELOFFSET": "1a000000"}

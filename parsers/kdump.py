"""kdump-compressed ("diskdump") files and makedumpfile's flattened stream.

Sources: makedumpfile ``diskdump_mod.h`` (``disk_dump_header``, ``kdump_sub_header``,
``page_desc``), makedumpfile ``makedumpfile.h`` (``makedumpfile_header``,
``makedumpfile_data_header``: the flattened format, big-endian) and QEMU
``include/sysemu/dump.h`` (``DiskDumpHeader64``, ``KdumpSubHeader64``), which writes the same
layout. Only the 64-bit little-endian variant exists for x86_64 and aarch64.
"""

from __future__ import annotations

from dataclasses import dataclass

from construct import Bytes, Const, Int32sl, Int32ul, Int64sb, Int64sl, Int64ul, Padding, Struct

KDUMP_SIGNATURE = b"KDUMP   "
FLAT_SIGNATURE = b"makedumpfile\0\0\0\0"
FLAT_HEADER_SIZE = 4096
FLAT_END = -1  # offset and size of the end record

DUMP_DH_COMPRESSED_ZLIB = 0x1
DUMP_DH_COMPRESSED_LZO = 0x2
DUMP_DH_COMPRESSED_SNAPPY = 0x4
DUMP_DH_COMPRESSED_INCOMPLETE = 0x8
DUMP_DH_EXCLUDED_VMEMMAP = 0x10
DUMP_DH_COMPRESSED_ZSTD = 0x20

UTS_FIELD = 65

disk_dump_header = Struct(
    "signature" / Const(KDUMP_SIGNATURE),
    "header_version" / Int32sl,
    "utsname"
    / Struct(
        *[name / Bytes(UTS_FIELD) for name in ("sysname", "nodename", "release", "version", "machine", "domainname")]
    ),
    Padding(6),  # align timestamp to 8
    "timestamp_sec" / Int64sl,
    "timestamp_usec" / Int64sl,
    "status" / Int32ul,
    "block_size" / Int32sl,
    "sub_hdr_size" / Int32sl,
    "bitmap_blocks" / Int32ul,
    "max_mapnr" / Int32ul,
    "total_ram_blocks" / Int32ul,
    "device_blocks" / Int32ul,
    "written_blocks" / Int32ul,
    "current_cpu" / Int32ul,
    "nr_cpus" / Int32sl,
)

kdump_sub_header = Struct(
    "phys_base" / Int64ul,
    "dump_level" / Int32sl,
    "split" / Int32sl,
    "start_pfn" / Int64ul,
    "end_pfn" / Int64ul,
    "offset_vmcoreinfo" / Int64sl,
    "size_vmcoreinfo" / Int64ul,
    "offset_note" / Int64sl,
    "size_note" / Int64ul,
    "offset_eraseinfo" / Int64sl,
    "size_eraseinfo" / Int64ul,
    "start_pfn_64" / Int64ul,
    "end_pfn_64" / Int64ul,
    "max_mapnr_64" / Int64ul,
)

page_desc = Struct(
    "offset" / Int64sl,
    "size" / Int32ul,
    "flags" / Int32ul,
    "page_flags" / Int64ul,
)
PAGE_DESC_SIZE = page_desc.sizeof()
# numpy view of an array of page_desc, checked against the Construct definition in the tests.
PAGE_DESC_DTYPE = [("offset", "<i8"), ("size", "<u4"), ("flags", "<u4"), ("page_flags", "<u8")]

flat_header = Struct(
    "signature" / Const(FLAT_SIGNATURE),
    "type" / Int64sb,
    "version" / Int64sb,
    Padding(FLAT_HEADER_SIZE - 32),
)
flat_record_header = Struct("offset" / Int64sb, "buf_size" / Int64sb)
FLAT_RECORD_HEADER_SIZE = flat_record_header.sizeof()


@dataclass(frozen=True)
class KdumpHeader:
    """The kdump disk_dump_header and kdump_sub_header fields pmoview uses, decoded."""

    header_version: int
    release: str
    machine: str
    status: int
    block_size: int
    sub_hdr_size: int
    bitmap_blocks: int
    max_mapnr: int  # the 64-bit value from the sub-header when the version has it
    nr_cpus: int
    phys_base: int
    dump_level: int  # makedumpfile -d: 1 zero, 2 cache, 4 cache+private, 8 user, 16 free pages
    offset_vmcoreinfo: int
    size_vmcoreinfo: int
    offset_note: int
    size_note: int


def _cstr(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("ascii", "replace")


def decode_headers(main: bytes, sub: bytes) -> KdumpHeader:
    """Combine the main header and the sub-header (both already located by the caller)."""
    h = disk_dump_header.parse(main)
    s = kdump_sub_header.parse(sub)
    version = h.header_version
    return KdumpHeader(
        header_version=version,
        release=_cstr(h.utsname.release),
        machine=_cstr(h.utsname.machine),
        status=h.status,
        block_size=h.block_size,
        sub_hdr_size=h.sub_hdr_size,
        bitmap_blocks=h.bitmap_blocks,
        max_mapnr=s.max_mapnr_64 if version >= 6 else h.max_mapnr,
        nr_cpus=h.nr_cpus,
        phys_base=s.phys_base,
        dump_level=s.dump_level,
        offset_vmcoreinfo=s.offset_vmcoreinfo if version >= 3 else 0,
        size_vmcoreinfo=s.size_vmcoreinfo if version >= 3 else 0,
        offset_note=s.offset_note if version >= 4 else 0,
        size_note=s.size_note if version >= 4 else 0,
    )


def build_utsname(release: str = "", machine: str = "x86_64") -> dict[str, bytes]:
    def field(text: str) -> bytes:
        return text.encode().ljust(UTS_FIELD, b"\0")

    return dict(
        sysname=field("Linux"),
        nodename=field(""),
        release=field(release),
        version=field(""),
        machine=field(machine),
        domainname=field(""),
    )

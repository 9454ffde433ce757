"""The real sample dumps as fuzz seeds: where their structures lie, and how to damage them cheaply.

A real dump is tens of MiB (a sparse ELF core is 5 GiB logical), so mutated copies are not written
per input: one working copy is made per seed and each input is a list of ``Patch``es written into it
and undone afterwards (``patched``). Truncation writes a head of the file (``write_head``), and for
the flattened format also a head re-terminated with the end marker (``flat_head_terminated``), so
the reassembled kdump itself is truncated rather than the record stream.

Structure maps name every field and region of a real file by the Construct definitions in
``parsers`` (offsets are never hand-counted): kdump (plain offsets: header, sub-header, notes,
VMCOREINFO, both bitmaps, page descriptors, page data), the flattened stream (record headers; plain
offsets are mapped into it through its records) and ELF cores (ehdr, each phdr, each note header).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import construct

from parsers.elf_core import elf64_ehdr, elf64_phdr
from parsers.kdump import (
    FLAT_END,
    FLAT_HEADER_SIZE,
    FLAT_RECORD_HEADER_SIZE,
    PAGE_DESC_SIZE,
    disk_dump_header,
    flat_record_header,
    kdump_sub_header,
    page_desc,
)
from pmoview.memory import open_dump
from pmoview.memory.container import compression_of, decompressed_path

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "sample_dumps"
END_RECORD = flat_record_header.build({"offset": FLAT_END, "buf_size": FLAT_END})


# -- finding the samples ----------------------------------------------------------------------------
def sample_file(sample: str, name: str) -> Path | None:
    """``sample_dumps/<sample>/<name>`` uncompressed (``.xz`` samples through pmoview's own cache)."""
    for candidate in (SAMPLES / sample / name, SAMPLES / sample / f"{name}.xz"):
        if candidate.exists():
            with open(candidate, "rb") as fh:
                kind = compression_of(fh.read(8))
            return Path(decompressed_path(str(candidate), kind)) if kind else candidate
    return None


def sparse_copy(src: Path, dst: Path, limit: int | None = None) -> Path:
    """Copy keeping holes (a 5 GiB ELF core with 8 MiB of data copies in milliseconds); ``limit``
    copies only the first ``limit`` bytes (a truncated dump)."""
    size = src.stat().st_size if limit is None else min(limit, src.stat().st_size)
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        fd = fin.fileno()
        pos = 0
        while pos < size:
            try:
                data = os.lseek(fd, pos, os.SEEK_DATA)
            except OSError:  # no data after pos
                break
            if data >= size:
                break
            hole = min(os.lseek(fd, data, os.SEEK_HOLE), size)
            fin.seek(data)
            fout.seek(data)
            left = hole - data
            while left:
                chunk = fin.read(min(left, 1 << 20))
                fout.write(chunk)
                left -= len(chunk)
            pos = hole
        fout.truncate(size)
    return dst


# -- structure maps -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Field:
    name: str
    offset: int  # in the file being patched
    width: int  # bytes
    signed: bool = False


@dataclass
class Layout:
    """Fields (integers one can set to hostile values), regions (byte ranges to flip bits in) and
    boundaries (file offsets where a structure starts or ends: places to truncate)."""

    size: int
    fields: list[Field] = field(default_factory=list)
    regions: list[tuple[str, int, int]] = field(default_factory=list)
    boundaries: list[int] = field(default_factory=list)


def struct_fields(struct: construct.Struct, base: int, prefix: str) -> list[Field]:
    out, off = [], 0
    for sc in struct.subcons:
        n = sc.sizeof()
        if sc.name and n in (1, 2, 4, 8):
            out.append(Field(f"{prefix}.{sc.name}", base + off, n))
        off += n
    return out


@dataclass
class FlatIndex:
    """Record headers of a flattened file: (header file offset, plain offset, size, data file offset)."""

    records: list[tuple[int, int, int, int]]
    size: int  # file size

    def to_file(self, plain: int) -> int | None:
        hit = self.locate(plain)
        return None if hit is None else hit[0]

    def locate(self, plain: int) -> tuple[int, int] | None:
        """(file offset of plain byte ``plain``, file offset where its record's data ends)."""
        for _, off, size, data_at in self.records:  # linear: used while building layouts only
            if off <= plain < off + size:
                return data_at + plain - off, data_at + size
        return None


def flat_index(path: Path) -> FlatIndex:
    records = []
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        pos = FLAT_HEADER_SIZE
        while pos + FLAT_RECORD_HEADER_SIZE <= size:
            fh.seek(pos)
            rec = flat_record_header.parse(fh.read(FLAT_RECORD_HEADER_SIZE))
            if rec.offset == FLAT_END:
                break
            records.append((pos, rec.offset, rec.buf_size, pos + FLAT_RECORD_HEADER_SIZE))
            pos += FLAT_RECORD_HEADER_SIZE + rec.buf_size
    return FlatIndex(records, size)


def unflatten(flat: Path, out: Path) -> Path:
    """``makedumpfile -R``: the plain kdump a flattened stream encodes (holes left as holes)."""
    idx = flat_index(flat)
    with open(flat, "rb") as fin, open(out, "wb") as fout:
        end = 0
        for _, off, size, data_at in idx.records:
            fin.seek(data_at)
            fout.seek(off)
            fout.write(fin.read(size))
            end = max(end, off + size)
        fout.truncate(end)
    return out


def kdump_plain_layout(path: Path) -> Layout:
    """Layout of a kdump in *plain* offsets (for a flattened file, map them with ``FlatIndex.to_file``)."""
    with open_dump(str(path)) as mem:
        h, bs = mem.header, mem.block_size  # type: ignore[attr-defined]
        bitmap_offset, bitmap_len, desc_offset = mem.bitmap_offset, mem.bitmap_len, mem.desc_offset  # type: ignore[attr-defined]
        _, rank = mem._index()  # type: ignore[attr-defined]
        n_desc = int(rank[-1])
        size = mem.file.size  # type: ignore[attr-defined]
        notes = [n.offset for n in mem.info.notes]
    lay = Layout(size)
    lay.fields += struct_fields(disk_dump_header, 0, "header")
    lay.fields += struct_fields(kdump_sub_header, bs, "sub_header")
    for i in sorted({0, 1, 2, n_desc // 2, n_desc - 1} & set(range(n_desc))):
        lay.fields += struct_fields(page_desc, desc_offset + i * PAGE_DESC_SIZE, f"desc[{i}]")
    for off in notes:
        lay.fields += [
            Field(f"note@{off:#x}.n_namesz", off, 4),
            Field(f"note@{off:#x}.n_descsz", off + 4, 4),
            Field(f"note@{off:#x}.n_type", off + 8, 4),
        ]
    lay.regions += [("header", 0, disk_dump_header.sizeof()), ("sub_header", bs, bs + kdump_sub_header.sizeof())]
    if h.size_note:
        lay.regions.append(("notes", h.offset_note, h.offset_note + h.size_note))
    if h.size_vmcoreinfo:
        lay.regions.append(("vmcoreinfo", h.offset_vmcoreinfo, h.offset_vmcoreinfo + h.size_vmcoreinfo))
    lay.regions += [
        ("bitmap1", bitmap_offset, bitmap_offset + bitmap_len),
        ("bitmap2", bitmap_offset + bitmap_len, bitmap_offset + 2 * bitmap_len),
        ("descriptors", desc_offset, desc_offset + n_desc * PAGE_DESC_SIZE),
        ("page data", desc_offset + n_desc * PAGE_DESC_SIZE, size),
    ]
    desc_bounds = [desc_offset + i * PAGE_DESC_SIZE for i in (0, 1, 2, n_desc // 2, n_desc - 1, n_desc)]
    lay.boundaries = sorted(
        {
            0,
            8,
            12,
            402,
            disk_dump_header.sizeof() - 1,
            disk_dump_header.sizeof(),
            bs,
            bs + kdump_sub_header.sizeof(),
            *notes,
            *(n + 12 for n in notes),
            h.offset_note + h.size_note if h.size_note else bs,
            h.offset_vmcoreinfo + h.size_vmcoreinfo if h.size_vmcoreinfo else bs,
            bitmap_offset,
            bitmap_offset + 1,
            bitmap_offset + bitmap_len,
            bitmap_offset + 2 * bitmap_len - 1,
            *desc_bounds,
            desc_bounds[-1] + 100,
            size - 1,
        }
        - {0}
        | {1}
    )
    return lay


def flat_layout(path: Path) -> Layout:
    """Layout of a flattened file in file offsets: its record headers, plus the plain structures
    (found through a reassembled copy) mapped into the records that carry them."""
    idx = flat_index(path)
    lay = Layout(idx.size)
    recs = idx.records
    picks = sorted({0, 1, 2, 3, len(recs) // 2, len(recs) - 1} & set(range(len(recs))))
    for i in picks:
        at = recs[i][0]
        lay.fields += [Field(f"record[{i}].offset", at, 8, True), Field(f"record[{i}].buf_size", at + 8, 8, True)]
    lay.boundaries = sorted(
        {
            1,
            16,
            FLAT_HEADER_SIZE - 1,
            FLAT_HEADER_SIZE,
            *[recs[i][0] + k for i in picks for k in (0, 8, FLAT_RECORD_HEADER_SIZE)],
            idx.size - FLAT_RECORD_HEADER_SIZE,
            idx.size - 1,
        }
        - {0}
    )
    lay.regions.append(("flat header", 0, FLAT_HEADER_SIZE))
    return lay


def map_plain_layout(plain: Layout, idx: FlatIndex) -> Layout:
    """A plain-offset layout moved into a flattened file (parts not in any record are dropped)."""
    out = Layout(idx.size)
    for f in plain.fields:
        at = idx.to_file(f.offset)
        if at is not None and idx.to_file(f.offset + f.width - 1) == at + f.width - 1:
            out.fields.append(Field(f.name, at, f.width, f.signed))
    for name, a, b in plain.regions:
        hit = idx.locate(a)
        if hit is not None:  # the part of the region inside the record that holds its start
            out.regions.append((name, hit[0], min(hit[1], hit[0] + (b - a))))
    return out


def elf_layout(path: Path) -> Layout:
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        ehdr = elf64_ehdr.parse(fh.read(elf64_ehdr.sizeof()))
        phdrs = []
        for i in range(ehdr.e_phnum):
            fh.seek(ehdr.e_phoff + i * ehdr.e_phentsize)
            phdrs.append(elf64_phdr.parse(fh.read(elf64_phdr.sizeof())))
        notes: list[int] = []
        for ph in phdrs:
            if ph.p_type == 4:
                fh.seek(ph.p_offset)
                blob = fh.read(ph.p_filesz)
                pos = 0
                while pos + 12 <= len(blob):
                    namesz, descsz = (
                        int.from_bytes(blob[pos : pos + 4], "little"),
                        int.from_bytes(blob[pos + 4 : pos + 8], "little"),
                    )
                    if namesz == descsz == 0:
                        break
                    notes.append(ph.p_offset + pos)
                    pos += 12 + (-(-namesz // 4) * 4) + (-(-descsz // 4) * 4)
    lay = Layout(size)
    lay.fields += struct_fields(elf64_ehdr, 0, "ehdr")
    ph_end = ehdr.e_phoff + ehdr.e_phnum * ehdr.e_phentsize
    for i in range(len(phdrs)):
        lay.fields += struct_fields(elf64_phdr, ehdr.e_phoff + i * ehdr.e_phentsize, f"phdr[{i}]")
    for off in notes:
        lay.fields += [
            Field(f"note@{off:#x}.n_namesz", off, 4),
            Field(f"note@{off:#x}.n_descsz", off + 4, 4),
            Field(f"note@{off:#x}.n_type", off + 8, 4),
        ]
    lay.regions += [("ehdr", 0, elf64_ehdr.sizeof()), ("phdrs", ehdr.e_phoff, ph_end)]
    lay.regions += [("notes", ph.p_offset, ph.p_offset + ph.p_filesz) for ph in phdrs if ph.p_type == 4]
    loads = [ph.p_offset for ph in phdrs if ph.p_type == 1]
    lay.boundaries = sorted(
        {
            1,
            4,
            16,
            18,
            56,
            elf64_ehdr.sizeof() - 1,
            elf64_ehdr.sizeof(),
            *[ehdr.e_phoff + i * ehdr.e_phentsize + k for i in range(len(phdrs)) for k in (0, 8, 32)],
            ph_end,
            *notes,
            *(n + 12 for n in notes),
            *(n + 20 for n in notes),
            *[x for x in loads[:3]],
            *(x + 4096 for x in loads[:3]),
        }
        - {0}
    )
    lay.boundaries = [b for b in lay.boundaries if b < size]
    return lay


# -- damage ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Patch:
    offset: int
    data: bytes
    why: str = ""


def field_patch(f: Field, value: int, why: str = "") -> Patch:
    value &= (1 << (8 * f.width)) - 1  # two's complement for negative values
    return Patch(
        f.offset,
        value.to_bytes(f.width, "little" if not f.name.startswith("record[") else "big"),
        why or f"{f.name}={value:#x}",
    )


def hostile_values(f: Field, file_size: int) -> list[int]:
    top = (1 << (8 * f.width)) - 1
    vals = {0, 1, top, top >> 1, (top >> 1) + 1, file_size, file_size + 1, file_size - 1, 4095, 4097}
    if f.width >= 4:
        vals |= {1 << 31, 1 << 20, 0xFFFF_F000}
    if f.width == 8:
        vals |= {1 << 40, 1 << 62, 1 << 63, -1 & top, -2 & top, (1 << 52) - 1}
    return sorted(v & top for v in vals)


@contextmanager
def patched(path: Path, patches: list[Patch]) -> Iterator[Path]:
    """Write the patches into ``path`` and put the original bytes back afterwards."""
    saved: list[tuple[int, bytes]] = []
    size = path.stat().st_size
    with open(path, "r+b") as fh:
        for p in patches:
            if p.offset >= size:
                continue
            fh.seek(p.offset)
            saved.append((p.offset, fh.read(min(len(p.data), size - p.offset))))
            fh.seek(p.offset)
            fh.write(p.data[: size - p.offset])
    try:
        yield path
    finally:
        with open(path, "r+b") as fh:
            for off, data in reversed(saved):
                fh.seek(off)
                fh.write(data)


def write_head(src: Path, n: int, dst: Path, suffix: bytes = b"") -> Path:
    """The first ``n`` bytes of ``src`` (holes kept), then ``suffix``."""
    sparse_copy(src, dst, n)
    if suffix:
        with open(dst, "ab") as fout:
            fout.write(suffix)
    return dst


def flat_head_terminated(src: Path, idx: FlatIndex, records: int, dst: Path) -> Path:
    """The first ``records`` records of a flattened file and the end marker: a valid stream whose
    reassembled kdump stops wherever those records stop."""
    end = idx.records[records][0] if records < len(idx.records) else idx.size - FLAT_RECORD_HEADER_SIZE
    return write_head(src, end, dst, END_RECORD)


def prepare_copy(src: Path, dst: Path) -> Path:
    if src.stat().st_blocks * 512 < src.stat().st_size // 2:
        return sparse_copy(src, dst)
    shutil.copyfile(src, dst)
    return dst


# -- seeds ------------------------------------------------------------------------------------------
@dataclass
class Seed:
    name: str
    path: Path  # a private working copy: patched in place and restored
    layout: Layout
    flat: FlatIndex | None = None


SEED_SPECS = {
    # name: (sample, file, kind)
    "seed-correct/flat": ("seed-correct", "dump.kdump", "flat"),
    "seed-correct/plain": ("seed-correct", "dump.kdump", "plain"),
    "seed-correct/elf": ("seed-correct", "dump.elf", "elf"),
    "seed-no-pml4-256/flat": ("seed-no-pml4-256", "dump.kdump", "flat"),
    "linux-x86_64-4l-nokaslr/flat": ("linux-x86_64-4l-nokaslr", "dump.kdump", "flat"),
    "linux-x86_64-5l-kaslr/flat": ("linux-x86_64-5l-kaslr", "dump.kdump", "flat"),
    "linux-arm64/flat": ("linux-arm64", "dump.kdump", "flat"),
}


def make_seed(name: str, workdir: Path) -> Seed | None:
    sample, file, kind = SEED_SPECS[name]
    src = sample_file(sample, file)
    if src is None:
        return None
    work = workdir / name.replace("/", "-")
    if kind == "elf":
        prepare_copy(src, work)
        return Seed(name, work, elf_layout(work))
    if kind == "plain":
        unflatten(src, work)
        return Seed(name, work, kdump_plain_layout(work))
    prepare_copy(src, work)
    idx = flat_index(work)
    lay = flat_layout(work)
    mapped = map_plain_layout(kdump_plain_layout(work), idx)
    lay.fields += mapped.fields
    lay.regions += mapped.regions
    return Seed(name, work, lay, idx)

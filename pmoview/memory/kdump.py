"""kdump-compressed dumps (makedumpfile, QEMU ``dump-guest-memory -z/-l/-s``), plain or flattened.

Opening reads the two headers and the notes only. The page index (bitmap → descriptor number) is
built on first use with numpy, and decompressed blocks are kept in a bounded LRU cache.
"""

from __future__ import annotations

import functools
import zlib
from collections.abc import Callable

import numpy as np

from parsers.elf_notes import decode_vmcoreinfo, iter_notes
from parsers.errors import DumpFormatError
from parsers.kdump import (
    DUMP_DH_COMPRESSED_LZO,
    DUMP_DH_COMPRESSED_SNAPPY,
    DUMP_DH_COMPRESSED_ZLIB,
    DUMP_DH_COMPRESSED_ZSTD,
    FLAT_SIGNATURE,
    KDUMP_SIGNATURE,
    PAGE_DESC_DTYPE,
    PAGE_DESC_SIZE,
    decode_headers,
    disk_dump_header,
    flat_header,
    kdump_sub_header,
)
from pmoview.memory.base import NOT_IN_DUMP, PAGE_SIZE, Addresses, DumpInfo, PhysicalMemory, Range
from pmoview.memory.fileview import FlattenedFile, MappedFile
from pmoview.memory.notes import apply_notes, arch_from_machine

CACHE_BYTES = 64 << 20
MAX_NOTE_BYTES = 64 << 20
_COMPRESSION_FLAGS = (
    DUMP_DH_COMPRESSED_ZLIB | DUMP_DH_COMPRESSED_LZO | DUMP_DH_COMPRESSED_SNAPPY | DUMP_DH_COMPRESSED_ZSTD
)
_POPCOUNT8 = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)


def is_kdump(head: bytes) -> bool:
    return head[:8] == KDUMP_SIGNATURE or head[:16] == FLAT_SIGNATURE


def _decompressor(flags: int, path: str, offset: int) -> Callable[[bytes, int], bytes]:
    """The decoder for a page descriptor's compression flag. Every codec is a plain dependency with
    wheels (zlib: the standard library; zstd: zstandard; LZO: lzallright; snappy: cramjam), and every
    decoder is bounded: a hostile block cannot make more than a small multiple of one block."""
    if flags & DUMP_DH_COMPRESSED_ZLIB:
        return _inflate
    if flags & DUMP_DH_COMPRESSED_ZSTD:
        return _unzstd
    if flags & DUMP_DH_COMPRESSED_LZO:
        return _unlzo
    if flags & DUMP_DH_COMPRESSED_SNAPPY:
        return _unsnappy
    raise DumpFormatError(path, offset, "a page descriptor with a known compression flag", f"flags {flags:#x}")


def _inflate(data: bytes, size: int) -> bytes:
    d = zlib.decompressobj()
    out = d.decompress(data, size)  # bounded: a hostile stream cannot inflate past one block
    if d.unconsumed_tail:
        raise ValueError(f"the stream inflates past {size} bytes")
    return out


def _unzstd(data: bytes, size: int) -> bytes:
    # ZstdDecompressor.decompress ignores max_output_size when the frame header declares a content
    # size: a 2 KiB frame then inflates to 64 MiB (measured). A bounded stream read cannot.
    import zstandard  # each codec loads with the first block that needs it: a dump uses one, or none

    with zstandard.ZstdDecompressor().stream_reader(data) as reader:
        return bytes(reader.read(size + 1))  # one byte more: a longer block fails the size check


def _unlzo(data: bytes, size: int) -> bytes:
    # makedumpfile writes LZO1X-1 blocks (lzo1x_1_compress). lzallright grows its output as the
    # stream asks; the input is at most two blocks and an LZO run adds at most 255 bytes per input
    # byte, so the worst case is bounded (about 2 MiB for a 4 KiB block), then the size check fails.
    from lzallright import LZOCompressor

    return LZOCompressor.decompress(data, size)


def _unsnappy(data: bytes, size: int) -> bytes:
    # raw snappy (makedumpfile's snappy_compress, QEMU's kdump-snappy): the stream states its length
    # first, so a block that claims more than one block is refused before anything is allocated.
    import cramjam

    claimed = cramjam.snappy.decompress_raw_len(data)
    if claimed != size:
        raise ValueError(f"the stream declares {claimed} bytes")
    out = bytearray(size)
    n = cramjam.snappy.decompress_raw_into(data, out)
    return bytes(out[:n])


SPAN_BITS = 1 << 27  # blocks a batch of absent-frame lookups may span (a 16 MiB bit array)


def _any_set(bits: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Per k, whether ``bits[starts[k]:ends[k]]`` has a set bit: the set bits' positions, searched (a
    prefix sum over a 2 GiB machine's half-million bits costs more than both searches)."""
    pos = np.flatnonzero(bits)
    found: np.ndarray = np.searchsorted(pos, starts) < np.searchsorted(pos, ends)
    return found


class KdumpMemory(PhysicalMemory):
    def __init__(self, base: MappedFile) -> None:
        self.path = base.path
        self.file_size = base.size
        head = base.read(0, min(base.size, 16), "a kdump signature")
        if head[:16] == FLAT_SIGNATURE:
            base.read(0, flat_header.sizeof(), "the 4 KiB makedumpfile flattened-format header")
            self.file: MappedFile | FlattenedFile = FlattenedFile(base)
            self.format = "kdump-flattened"
        else:
            self.file = base
            self.format = "kdump"
        f = self.file
        main = f.read(0, disk_dump_header.sizeof(), "a disk_dump_header")
        if main[:8] != KDUMP_SIGNATURE:
            raise DumpFormatError(self.path, 0, "the kdump signature 'KDUMP   '", repr(main[:8]))
        hdr0 = disk_dump_header.parse(main)
        bs = hdr0.block_size
        if bs < PAGE_SIZE or bs > (1 << 20) or bs & (bs - 1):
            raise DumpFormatError(self.path, 428, "block_size a power of two from 4 KiB to 1 MiB", str(bs))
        sub = f.read(bs, kdump_sub_header.sizeof(), "the kdump sub-header at block 1")
        h = decode_headers(main, sub)
        self.header = h
        self.block_size = bs
        if h.sub_hdr_size < 0 or h.bitmap_blocks == 0:
            raise DumpFormatError(
                self.path, 432, "sub_hdr_size >= 0 and bitmap_blocks > 0", f"{h.sub_hdr_size}, {h.bitmap_blocks}"
            )
        self.bitmap_offset = (1 + h.sub_hdr_size) * bs
        self.bitmap_len = h.bitmap_blocks * bs // 2  # two bitmaps of equal size
        self.desc_offset = self.bitmap_offset + h.bitmap_blocks * bs
        if self.desc_offset > f.size:
            raise DumpFormatError(
                self.path,
                self.bitmap_offset,
                f"{h.bitmap_blocks} bitmap blocks of {bs} bytes inside the file",
                f"file ends at {f.size:#x}",
            )
        # Pages the bitmaps can describe; the header's max_mapnr may be smaller, never larger.
        self.max_pfn = min(h.max_mapnr, self.bitmap_len * 8) if h.max_mapnr else self.bitmap_len * 8
        arch = arch_from_machine(h.machine)
        self.info = DumpInfo(
            arch=arch,
            details={
                "block_size": bs,
                "header_version": h.header_version,
                "release": h.release,
                "machine": h.machine,
                "phys_base": h.phys_base,
                "dump_level": h.dump_level,
                "max_mapnr": h.max_mapnr,
                "nr_cpus": h.nr_cpus,
            },
        )
        if h.size_note:
            if h.size_note > MAX_NOTE_BYTES:
                raise DumpFormatError(self.path, bs + 56, f"size_note under {MAX_NOTE_BYTES}", f"{h.size_note:#x}")
            blob = f.read(h.offset_note, h.size_note, "the ELF notes named by the sub-header")
            apply_notes(self.info, iter_notes(blob, h.offset_note, self.path), self.path)
        if h.size_vmcoreinfo and self.info.vmcoreinfo is None:
            if h.size_vmcoreinfo > MAX_NOTE_BYTES:
                raise DumpFormatError(
                    self.path, bs + 40, f"size_vmcoreinfo under {MAX_NOTE_BYTES}", f"{h.size_vmcoreinfo:#x}"
                )
            self.info.vmcoreinfo = decode_vmcoreinfo(
                f.read(h.offset_vmcoreinfo, h.size_vmcoreinfo, "the VMCOREINFO named by the sub-header")
            )
        self._bitmap: np.ndarray | None = None
        self._valid: np.ndarray | None = None
        self._rank: np.ndarray | None = None
        self._ranges: list[Range] | None = None
        # blocks, least recently used dropped first (functools' LRU; absent blocks are remembered too)
        self._blocks = functools.lru_cache(maxsize=max(16, CACHE_BYTES // bs))(self._read_block)
        self.blocks_decompressed = 0
        self.unreadable = 0

    # -- page index -------------------------------------------------------------------------
    def _index(self) -> tuple[np.ndarray, np.ndarray]:
        if self._bitmap is None or self._rank is None:
            nbytes = (self.max_pfn + 7) // 8
            raw = self.file.read(self.bitmap_offset + self.bitmap_len, nbytes, "the second (dumped pages) bitmap")
            bitmap = np.frombuffer(raw, dtype=np.uint8)
            counts = _POPCOUNT8[bitmap]
            rank = np.zeros(len(bitmap) + 1, dtype=np.int64)
            np.cumsum(counts, out=rank[1:])
            self._bitmap, self._rank = bitmap, rank
        return self._bitmap, self._rank

    def _desc_number(self, pfn: int) -> int | None:
        if pfn < 0 or pfn >= self.max_pfn:
            return None
        bitmap, rank = self._index()
        byte, bit = divmod(pfn, 8)
        b = int(bitmap[byte])
        if not (b >> bit) & 1:
            return None
        return int(rank[byte]) + int(_POPCOUNT8[b & ((1 << bit) - 1)])

    def _runs(self, bitmap: np.ndarray) -> list[Range]:
        bits = np.unpackbits(bitmap, bitorder="little")[: self.max_pfn]
        change = np.flatnonzero(bits[1:] != bits[:-1]) + 1  # where a run of 1s or 0s begins
        bounds = np.concatenate(([0], change, [len(bits)]))
        starts = bounds[:-1][bits[bounds[:-1]] == 1] if len(bits) else bounds[:0]
        ends = bounds[1:][bits[bounds[:-1]] == 1] if len(bits) else bounds[:0]
        return [Range(int(s) * self.block_size, int(e) * self.block_size) for s, e in zip(starts, ends, strict=False)]

    def ranges(self) -> list[Range]:
        if self._ranges is None:
            self._ranges = self._runs(self._index()[0])
        return list(self._ranges)

    def valid_ranges(self) -> list[Range]:
        """Bitmap 1: the pages the machine had, including those makedumpfile filtered out."""
        nbytes = (self.max_pfn + 7) // 8
        raw = self.file.read(self.bitmap_offset, nbytes, "the first (valid pages) bitmap")
        return self._runs(np.frombuffer(raw, dtype=np.uint8))

    def _valid_bits(self) -> np.ndarray:
        if self._valid is None:
            nbytes = (self.max_pfn + 7) // 8
            raw = self.file.read(self.bitmap_offset, nbytes, "the first (valid pages) bitmap")
            self._valid = np.frombuffer(raw, dtype=np.uint8)
        return self._valid

    def absent_reason(self, pa_start: int, pa_end: int | None = None) -> str:
        bs = self.block_size
        first = min(pa_start // bs, self.max_pfn)
        last = min(max(first + 1, -(-(pa_end if pa_end is not None else pa_start + 1) // bs)), self.max_pfn)
        b0, b1 = first // 8, (last + 7) // 8  # numpy over the bitmaps' bytes: cost is the range's bitmap
        valid = np.unpackbits(self._valid_bits()[b0:b1], bitorder="little")[first - b0 * 8 : last - b0 * 8]
        dumped = np.unpackbits(self._index()[0][b0:b1], bitorder="little")[first - b0 * 8 : last - b0 * 8]
        excluded = bool((valid & ~dumped).any())
        level = self.header.dump_level
        if excluded and level > 0:
            return f"excluded by dump level {level}"
        if excluded:
            return "left out of the dump (bitmap 1 lists it, bitmap 2 does not)"
        return NOT_IN_DUMP if valid.any() else "not memory the machine had (not in the dump's bitmap)"

    def absent_reasons(self, pa_starts: Addresses, pa_ends: Addresses) -> tuple[list[str], list[int]]:
        """``absent_reason`` per range in numpy passes over the bitmaps instead of one bitmap slice each: a
        one-block range looks its two bits up, longer ones search the set bits of the span they cover."""
        if len(pa_starts) == 0:
            return [], []
        bs, top = self.block_size, self.max_pfn
        first = np.minimum(np.asarray(pa_starts, dtype=np.uint64) // np.uint64(bs), np.uint64(top)).astype(np.int64)
        ends = np.asarray(pa_ends, dtype=np.uint64)
        last = np.minimum(np.maximum(first + 1, ((ends + np.uint64(bs - 1)) // np.uint64(bs)).astype(np.int64)), top)
        if top == 0:  # no bitmap: nothing was memory the machine had
            return super().absent_reasons(pa_starts, pa_ends)
        excluded = np.zeros(len(first), dtype=bool)
        had = np.zeros(len(first), dtype=bool)
        one = np.flatnonzero(last - first == 1)  # one block (a 4 KiB page): look its two bits up
        if len(one):
            pfn = first[one]
            shift = (pfn & 7).astype(np.uint8)
            had[one] = (self._valid_bits()[pfn >> 3] >> shift) & 1
            excluded[one] = had[one] & ~((self._index()[0][pfn >> 3] >> shift) & 1).astype(bool)
        more = np.flatnonzero(last - first > 1)  # the set bits of the span they cover, searched
        if len(more):
            lo, hi = int(first[more].min()), int(last[more].max())
            if hi - lo > SPAN_BITS:  # a sparse batch over a huge PA span: one range at a time
                return super().absent_reasons(pa_starts, pa_ends)
            b0, b1 = lo // 8, (hi + 7) // 8
            valid = np.unpackbits(self._valid_bits()[b0:b1], bitorder="little")[lo - b0 * 8 : hi - b0 * 8]
            dumped = np.unpackbits(self._index()[0][b0:b1], bitorder="little")[lo - b0 * 8 : hi - b0 * 8]
            i, j = first[more] - lo, last[more] - lo
            excluded[more] = _any_set(valid & ~dumped, i, j)
            had[more] = _any_set(valid, i, j)
        level = self.header.dump_level
        left_out = (
            f"excluded by dump level {level}"
            if level > 0
            else "left out of the dump (bitmap 1 lists it, bitmap 2 does not)"
        )
        names = [left_out, NOT_IN_DUMP, "not memory the machine had (not in the dump's bitmap)"]
        ids: list[int] = np.where(excluded, 0, np.where(had, 1, 2)).tolist()
        return names, ids

    # -- pages ------------------------------------------------------------------------------
    def read_block(self, pfn: int) -> bytes | None:
        """One whole dump block (``block_size`` bytes) by block number, or None when not dumped."""
        block: bytes | None = self._blocks(pfn)
        return block

    def _read_block(self, pfn: int) -> bytes | None:
        """``read_block`` on a cache miss: find, read and decompress the block."""
        n = self._desc_number(pfn)
        try:
            data = None if n is None else self._load(pfn, n)
        except DumpFormatError as exc:
            # A half-written or corrupted block is evidence of a failing machine, not a reason to stop:
            # it reads as absent (the walk reports it like any frame missing from the dump) and is counted.
            data = None
            self.unreadable += 1
            self.info.details["unreadable_blocks"] = self.unreadable
            self.info.details.setdefault("first_unreadable", exc.one_line())
        return data

    def _load(self, pfn: int, n: int) -> bytes:
        at = self.desc_offset + n * PAGE_DESC_SIZE
        desc = np.frombuffer(
            self.file.read(at, PAGE_DESC_SIZE, f"the page descriptor of block {pfn:#x}"), dtype=PAGE_DESC_DTYPE
        )[0]
        offset, size, flags = int(desc["offset"]), int(desc["size"]), int(desc["flags"])
        bs = self.block_size
        if size <= 0 or size > 2 * bs:
            raise DumpFormatError(self.path, at, f"a page descriptor size between 1 and {2 * bs}", str(size))
        data = self.file.read(offset, size, f"the data of block {pfn:#x} (descriptor at {at:#x})")
        self.blocks_decompressed += 1
        if not flags & _COMPRESSION_FLAGS:
            page = data
        else:
            decompress = _decompressor(flags, self.path, at)
            try:
                page = decompress(data, bs)
            except Exception as exc:  # each codec raises its own error type
                raise DumpFormatError(
                    self.path,
                    offset,
                    f"a compressed block {pfn:#x} that decompresses",
                    f"{type(exc).__name__}: {str(exc)[:80]}",
                ) from None
        if len(page) != bs:
            raise DumpFormatError(
                self.path, offset, f"block {pfn:#x} to decompress to {bs} bytes", f"{len(page)} bytes"
            )
        return page

    def read_page(self, pa: int) -> bytes | None:
        pfn, within = divmod(pa, self.block_size)
        block = self.read_block(pfn)
        if block is None:
            return None
        if self.block_size == PAGE_SIZE:
            return block
        return block[within : within + PAGE_SIZE]

    def close(self) -> None:
        self._blocks.cache_clear()
        self.file.close()


def open_kdump(file: MappedFile) -> KdumpMemory:
    return KdumpMemory(file)

"""Byte sources under the dump backends: a read-only mmap, and makedumpfile's flattened stream
seen as the plain file it encodes."""
from __future__ import annotations

import bisect
import mmap
import os

from parsers.errors import DumpFormatError
from parsers.kdump import FLAT_END, FLAT_HEADER_SIZE, FLAT_RECORD_HEADER_SIZE, flat_record_header

# A flattened file has one record per write; beyond this many it is more likely garbage than a dump.
MAX_FLAT_RECORDS = 50_000_000


class MappedFile:
    """A dump file opened read-only and mapped; every read is bounds-checked and located."""

    def __init__(self, path: str) -> None:
        self.path = path
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError as exc:
            raise DumpFormatError(path, None, "a readable file", exc.strerror or str(exc)) from None
        try:
            self.size = os.fstat(fd).st_size
            if self.size == 0:
                raise DumpFormatError(path, 0, "a dump file", "an empty file")
            self.map = mmap.mmap(fd, 0, access=mmap.ACCESS_READ)
        finally:
            os.close(fd)

    def read(self, offset: int, n: int, what: str) -> bytes:
        if offset < 0 or n < 0 or offset + n > self.size:
            raise DumpFormatError(self.path, offset, what,
                                  f"only {max(0, self.size - max(offset, 0)):#x} bytes left in a {self.size:#x}-byte file")
        return self.map[offset:offset + n]

    def close(self) -> None:
        self.map.close()


class FlattenedFile:
    """makedumpfile's flattened format: a stream of (offset, size, data) records, indexed once.

    Gaps between records read as zeros, as ``makedumpfile -R`` leaves holes in the file it writes.
    """

    def __init__(self, base: MappedFile) -> None:
        self.path = base.path
        self.base = base
        starts: list[int] = []
        ends: list[int] = []
        data_at: list[int] = []
        pos = FLAT_HEADER_SIZE
        while True:
            if pos + FLAT_RECORD_HEADER_SIZE > base.size:
                raise DumpFormatError(base.path, pos, "a flattened-format record header or the end marker",
                                      "end of file (truncated dump)")
            rec = flat_record_header.parse(base.map[pos:pos + FLAT_RECORD_HEADER_SIZE])
            if rec.offset == FLAT_END and rec.buf_size == FLAT_END:
                break
            if rec.offset < 0 or rec.buf_size < 0 or pos + FLAT_RECORD_HEADER_SIZE + rec.buf_size > base.size:
                raise DumpFormatError(base.path, pos, "a flattened-format record within the file",
                                      f"offset {rec.offset:#x} size {rec.buf_size:#x}")
            starts.append(rec.offset)
            ends.append(rec.offset + rec.buf_size)
            data_at.append(pos + FLAT_RECORD_HEADER_SIZE)
            pos += FLAT_RECORD_HEADER_SIZE + rec.buf_size
            if len(starts) > MAX_FLAT_RECORDS:
                raise DumpFormatError(base.path, pos, f"at most {MAX_FLAT_RECORDS} flattened records", "more")
        order = sorted(range(len(starts)), key=starts.__getitem__)  # stable: later writes stay later
        self._starts = [starts[i] for i in order]
        self._ends = [ends[i] for i in order]
        self._data_at = [data_at[i] for i in order]
        self.records = len(order)
        self.size = max(self._ends, default=0)
        self._overlaps = any(self._starts[i + 1] < self._ends[i] for i in range(len(order) - 1))

    def read(self, offset: int, n: int, what: str) -> bytes:
        if offset < 0 or n < 0 or offset + n > self.size:
            raise DumpFormatError(self.path, offset, what + " (offset in the reassembled kdump file)",
                                  f"past its end {self.size:#x}")
        if n == 0:
            return b""
        # Fast path: the whole read inside one record.
        i = bisect.bisect_right(self._starts, offset) - 1
        if not self._overlaps and i >= 0 and offset + n <= self._ends[i]:
            src = self._data_at[i] + offset - self._starts[i]
            return self.base.map[src:src + n]
        out = bytearray(n)
        lo = max(0, bisect.bisect_right(self._starts, offset) - 1) if not self._overlaps else 0
        for j in range(lo, len(self._starts)):
            s, e = self._starts[j], self._ends[j]
            if s >= offset + n:
                break
            a, b = max(s, offset), min(e, offset + n)
            if a < b:
                src = self._data_at[j] + a - s
                out[a - offset:b - offset] = self.base.map[src:src + (b - a)]
        return bytes(out)

    def close(self) -> None:
        self.base.close()

"""Byte sources under the dump backends: a read-only mmap, and makedumpfile's flattened stream
seen as the plain file it encodes."""

from __future__ import annotations

import bisect
import contextlib
import heapq
import itertools
import mmap
import os
import struct

from parsers.errors import DumpFormatError
from parsers.kdump import FLAT_END, FLAT_HEADER_SIZE, FLAT_RECORD_HEADER_SIZE

RELEASE_EVERY = 64 << 20  # bytes read from a mapped file between drops of its mapped pages (RSS bound)

# A flattened file has one record per write; beyond this many it is more likely garbage than a dump.
MAX_FLAT_RECORDS = 50_000_000


class MappedFile:
    """A dump file opened read-only and mapped; every read is bounds-checked and located."""

    def __init__(self, path: str) -> None:
        self.path = path
        if os.path.isdir(path):
            raise DumpFormatError(path, None, "a dump file", "a directory")
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError as exc:
            raise DumpFormatError(path, None, "a readable file", exc.strerror or str(exc)) from None
        try:
            self.size = os.fstat(fd).st_size
            if self.size == 0:
                raise DumpFormatError(path, 0, "a dump file", "an empty file")
            try:
                self.map = mmap.mmap(fd, 0, access=mmap.ACCESS_READ)
                self._touched = 0
            except (OSError, ValueError, OverflowError) as exc:  # ENOMEM under ulimit -v, a device, ...
                raise DumpFormatError(
                    path,
                    None,
                    "a regular file that can be mapped read-only",
                    getattr(exc, "strerror", None) or str(exc),
                ) from None
        finally:
            os.close(fd)

    def release(self, nbytes: int) -> None:
        """Count ``nbytes`` copied out of the mapping; past ``RELEASE_EVERY`` drop the mapped pages.
        Pages of a mapped file that were touched count in the process's RSS until unmapped: a walk of
        2 GiB of tables would otherwise hold 2 GiB. The page cache keeps them; a later read faults
        them back in (the mapping is read-only, so nothing is lost)."""
        self._touched += nbytes
        if self._touched >= RELEASE_EVERY:
            self._touched = 0
            if hasattr(mmap, "MADV_DONTNEED"):
                with contextlib.suppress(OSError):  # not supported here: RSS follows the bytes read
                    self.map.madvise(mmap.MADV_DONTNEED)

    def read(self, offset: int, n: int, what: str) -> bytes:
        if offset < 0 or n < 0 or offset + n > self.size:
            raise DumpFormatError(
                self.path,
                offset,
                what,
                f"only {max(0, self.size - max(offset, 0)):#x} bytes left in a {self.size:#x}-byte file",
            )
        self.release(n)
        return self.map[offset : offset + n]

    def close(self) -> None:
        self.map.close()


# The record header decoded with ``struct`` while indexing: a real dump has millions of records and
# Construct costs ~25 us each. tests/test_robust_limits.py checks it against ``flat_record_header``.
_RECORD = struct.Struct(">qq")
assert _RECORD.size == FLAT_RECORD_HEADER_SIZE


class FlattenedFile:
    """makedumpfile's flattened format: a stream of (offset, size, data) records, indexed once.

    Gaps between records read as zeros, as ``makedumpfile -R`` leaves holes in the file it writes.
    Where records overlap, the later one wins, as when ``makedumpfile -R`` writes them in order; the
    index is then cut into disjoint pieces once, so every read stays a bisect.
    """

    def __init__(self, base: MappedFile) -> None:
        self.path = base.path
        self.base = base
        starts: list[int] = []
        ends: list[int] = []
        data_at: list[int] = []
        pos = FLAT_HEADER_SIZE
        unpack, size, view = _RECORD.unpack_from, base.size, base.map
        while True:
            if pos + FLAT_RECORD_HEADER_SIZE > size:
                raise DumpFormatError(
                    base.path, pos, "a flattened-format record header or the end marker", "end of file (truncated dump)"
                )
            offset, buf_size = unpack(view, pos)
            if offset == FLAT_END and buf_size == FLAT_END:
                break
            if offset < 0 or buf_size < 0 or pos + FLAT_RECORD_HEADER_SIZE + buf_size > size:
                raise DumpFormatError(
                    base.path,
                    pos,
                    "a flattened-format record within the file",
                    f"offset {offset:#x} size {buf_size:#x}",
                )
            if len(starts) >= MAX_FLAT_RECORDS:
                raise DumpFormatError(
                    base.path,
                    pos,
                    f"at most {MAX_FLAT_RECORDS:,} flattened records (pmoview.memory.fileview.MAX_FLAT_RECORDS)",
                    "more",
                )
            starts.append(offset)
            ends.append(offset + buf_size)
            data_at.append(pos + FLAT_RECORD_HEADER_SIZE)
            pos += FLAT_RECORD_HEADER_SIZE + buf_size
        self.records = len(starts)
        order = sorted(range(len(starts)), key=starts.__getitem__)
        s_starts = [starts[i] for i in order]
        s_ends = [ends[i] for i in order]
        overlaps = any(s_starts[i + 1] < s_ends[i] for i in range(len(order) - 1))
        if overlaps:
            self._starts, self._ends, self._data_at = _last_write_wins(starts, ends, data_at, order)
        else:
            self._starts, self._ends, self._data_at = s_starts, s_ends, [data_at[i] for i in order]
        self.size = max(ends, default=0)
        self.overlapping = overlaps

    def read(self, offset: int, n: int, what: str) -> bytes:
        if offset < 0 or n < 0 or offset + n > self.size:
            raise DumpFormatError(
                self.path, offset, what + " (offset in the reassembled kdump file)", f"past its end {self.size:#x}"
            )
        if n == 0:
            return b""
        self.base.release(n)
        # Fast path: the whole read inside one record (pieces are disjoint).
        i = bisect.bisect_right(self._starts, offset) - 1
        if i >= 0 and offset + n <= self._ends[i]:
            src = self._data_at[i] + offset - self._starts[i]
            return self.base.map[src : src + n]
        out = bytearray(n)
        for j in range(max(0, i), len(self._starts)):
            s, e = self._starts[j], self._ends[j]
            if s >= offset + n:
                break
            a, b = max(s, offset), min(e, offset + n)
            if a < b:
                src = self._data_at[j] + a - s
                out[a - offset : b - offset] = self.base.map[src : src + (b - a)]
        return bytes(out)

    def close(self) -> None:
        self.base.close()


def _last_write_wins(
    starts: list[int], ends: list[int], data_at: list[int], order: list[int]
) -> tuple[list[int], list[int], list[int]]:
    """Disjoint pieces of overlapping records, each byte from the last record (in file order) that
    wrote it: one sweep over the record boundaries with a heap of the records covering them."""
    bounds = sorted(set(starts) | set(ends))
    heap: list[tuple[int, int]] = []  # (-record number, record number): the latest write on top
    out_s: list[int] = []
    out_e: list[int] = []
    out_d: list[int] = []
    k = 0
    for a, b in itertools.pairwise(bounds):
        while k < len(order) and starts[order[k]] <= a:
            heapq.heappush(heap, (-order[k], order[k]))
            k += 1
        while heap and ends[heap[0][1]] <= a:
            heapq.heappop(heap)
        if not heap:
            continue
        r = heap[0][1]
        src = data_at[r] + a - starts[r]
        if out_e and out_e[-1] == a and out_d[-1] + (a - out_s[-1]) == src:
            out_e[-1] = b  # the same record continues
        else:
            out_s.append(a)
            out_e.append(b)
            out_d.append(src)
    return out_s, out_e, out_d

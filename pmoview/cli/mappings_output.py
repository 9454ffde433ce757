"""Writers for ``pmoview mappings``: column batches in, text out, streamed.

JSON keeps the contract (an array of objects with ``va_start``, ``va_end``, ``pa_start``,
``page_size``, ``flags``) written compactly, one mapping per line, as each batch arrives: a million
mappings are never a million dicts. Per-row work is one ``%`` format over ints; what depends on the
flags (their JSON object, their ptdump text) is rendered once per distinct flags.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import chain, repeat
from typing import TYPE_CHECKING, TextIO

import numpy as np
import numpy.typing as npt

from pmoview.arch.columns import MappingColumns
from pmoview.arch.flags import Flags, FlagTable
from pmoview.sizes import size_short

if TYPE_CHECKING:  # the checks package is loaded only when the text listing names regions
    from pmoview.checks.regions import Region

FLAG_NAMES = ("present", "writable", "user", "nx", "user_nx", "global_", "accessed", "dirty")
JSON_ROW = '{"va_start":"0x%x","va_end":"0x%x","pa_start":"0x%x",%s'  # then page_size, flags[, absent]: _json_tails
WRITE_ROWS = 4096  # JSON rows formatted and written at a time
TEXT_ROW = "%#018x-%#018x %7s -> %#014x  %3s  %s"


def flags_json(flags: Flags | None) -> dict[str, bool | str] | None:
    """The ``flags`` object of translate and mappings JSON."""
    if flags is None:
        return None
    out: dict[str, bool | str] = {}
    for name in FLAG_NAMES:
        if hasattr(flags, name):
            out[name.rstrip("_")] = bool(getattr(flags, name))
    if flags.cache is not None:
        out["cache"] = flags.cache
    return out


class _PerFlags:
    """A string per flag id, rendered the first time an id is seen (ids only grow)."""

    def __init__(self, table: FlagTable, render: Callable[[Flags], str]) -> None:
        self.table = table
        self.render = render
        self.cache: list[str] = []

    def strings(self) -> list[str]:
        items = self.table.items
        while len(self.cache) < len(items):
            f = items[len(self.cache)]
            self.cache.append(self.render(f))
        return self.cache


def _ends(cols: MappingColumns) -> tuple[list[int], list[int], list[int]]:
    vas, cnts, sizes = cols.va_start.tolist(), cols.count.tolist(), cols.page_size.tolist()
    return vas, [v + c * s for v, c, s in zip(vas, cnts, sizes, strict=True)], sizes


def _end_ints(cols: MappingColumns) -> list[int]:
    """Exclusive ends as ints, computed in numpy: only a mapping ending at 2**64 (it wraps to 0) is
    redone in Python."""
    ends = cols.va_end
    out: list[int] = ends.tolist()
    for i in np.flatnonzero(ends < cols.va_start).tolist():
        out[i] = cols.va_end_int(i)
    return out


Absent = Callable[[npt.NDArray[np.uint64], npt.NDArray[np.uint64]], tuple[list[str], list[int]]]
"""Why the dump lacks each PA [start, end): ``PhysicalMemory.absent_reasons`` (distinct reasons, and
the index of each range's reason)."""
AbsentOne = Callable[[int, int], str]
"""Why the dump lacks PA [start, end): ``PhysicalMemory.absent_reason``."""


def _size_codes(sizes: npt.NDArray[np.uint64]) -> tuple[list[int], npt.NDArray[np.int64]]:
    """A small code per page size: its log2 (no sort; page sizes are powers of two), or its rank among
    the batch's distinct sizes should one not be."""
    shift = np.log2(sizes).astype(np.int64) if len(sizes) else np.zeros(0, np.int64)
    if np.array_equal(np.left_shift(np.uint64(1), shift.astype(np.uint64)), sizes):
        return [1 << k for k in range(int(shift.max(initial=0)) + 1)], shift
    values, code = np.unique(sizes, return_inverse=True)
    return values.tolist(), code.astype(np.int64)


def _json_tails(cols: MappingColumns, flag_json: list[str], absent: Absent | None) -> list[str]:
    """What follows each row's ``pa_start``: its ``page_size``, its flags, and ``"absent"`` for a mapping
    some of whose frames the dump lacks. Rendered once per distinct (page size, flags, reason): a
    4 KiB-page direct map in a filtered dump has tens of thousands of unbacked rows, a few page sizes,
    a few flags and two or three reasons."""
    size_values, size_code = _size_codes(cols.page_size)
    reasons = [""]
    why = np.zeros(len(cols), dtype=np.int64)
    unbacked = np.flatnonzero(~cols.backed)
    if absent is not None and len(unbacked):
        pas = cols.pa_start[unbacked]
        names, ids = absent(pas, pas + cols.size[unbacked])
        reasons += [',"absent":' + json.dumps(name) for name in names]
        why[unbacked] = np.asarray(ids, dtype=np.int64) + 1
    nf, nr = len(flag_json), len(reasons)
    key = (size_code * nf + cols.flag_id) * nr + why
    text = np.empty(int(key.max()) + 1 if len(key) else 0, dtype=object)
    for k in np.flatnonzero(np.bincount(key)).tolist():
        s, f, r = k // (nf * nr), k // nr % nf, k % nr
        text[k] = f'"page_size":{size_values[s]},"flags":{flag_json[f]}{reasons[r]}}}'
    tails: list[str] = text[key].tolist()
    return tails


def write_json(batches: Iterable[MappingColumns], out: TextIO, absent: Absent | None = None) -> int:
    """The JSON array, one object per line; returns the number of mappings written. A mapping some of
    whose frames the dump lacks gets ``"absent"``: why (e.g. "excluded by dump level 31").

    A batch is one ``%`` over one format string repeated per row: the per-row cost is C's formatting
    of four ints, with no Python frame or tuple per row."""
    per: _PerFlags | None = None
    n = 0
    full_fmt = ",\n".join(repeat(JSON_ROW, WRITE_ROWS))
    for cols in batches:
        rows = len(cols)
        if not rows:
            continue
        if per is None:
            per = _PerFlags(cols.flags, lambda f: json.dumps(flags_json(f), separators=(",", ":")))
        fields = tuple(
            chain.from_iterable(
                zip(
                    cols.va_start.tolist(),
                    _end_ints(cols),
                    cols.pa_start.tolist(),
                    _json_tails(cols, per.strings(), absent),
                    strict=True,
                )
            )
        )
        # in pieces of WRITE_ROWS: the strings stay in cache and their memory is reused, not faulted in anew
        for at in range(0, rows, WRITE_ROWS):
            take = min(WRITE_ROWS, rows - at)
            fmt = full_fmt if take == WRITE_ROWS else ",\n".join(repeat(JSON_ROW, take))
            out.write(("[\n" if n == 0 else ",\n") + fmt % fields[at * 4 : (at + take) * 4])
            n += take
    out.write("\n]\n" if n else "[]\n")
    return n


ALIAS_MIN = 4  # this many mappings of the same frames at a regular stride are one line


@dataclass
class _Segment:
    """Rows ``first..last`` of the listing that map the same frames (PA, size, flags): one mapping, or
    aliases of it at a regular VA stride (ESPfix maps one page 65,536 times)."""

    va: int
    end: int  # exclusive end of the last alias
    span: int
    pa: int
    page_size: int
    flag: int
    count: int
    stride: int  # VA distance between aliases (0 for one mapping)
    backed: bool = True  # the dump holds every frame

    def takes(self, va: int, span: int, pa: int, page_size: int, flag: int, backed: bool) -> bool:
        if (pa, span, page_size, flag, backed) != (self.pa, self.span, self.page_size, self.flag, self.backed):
            return False
        stride = va - (self.end - self.span)
        return stride > 0 and (self.count == 1 or stride == self.stride)

    def add(self, va: int) -> None:
        self.stride = va - (self.end - self.span)
        self.end = va + self.span
        self.count += 1


def _segments(batches: Iterable[MappingColumns]) -> Iterator[tuple[_Segment, FlagTable]]:
    """Mappings in VA order, aliases of one set of frames folded (streamed, one segment held back)."""
    held: _Segment | None = None
    table: FlagTable | None = None
    for cols in batches:
        if not len(cols):
            continue
        table = cols.flags
        vas, ends, sizes = _ends(cols)
        for va, end, size, pa, flag, backed in zip(
            vas, ends, sizes, cols.pa_start.tolist(), cols.flag_id.tolist(), cols.backed.tolist(), strict=True
        ):
            span = end - va
            if held is not None and held.takes(va, span, pa, size, flag, backed):
                held.add(va)
                continue
            if held is not None:
                yield held, table
            held = _Segment(va, end, span, pa, size, flag, 1, 0, backed)
    if held is not None and table is not None:
        yield held, table


def _unfold(seg: _Segment) -> Iterator[_Segment]:
    """A short run of aliases is listed mapping by mapping."""
    if seg.count >= ALIAS_MIN:
        yield seg
        return
    for k in range(seg.count):
        va = seg.va + k * seg.stride
        yield _Segment(va, va + seg.span, seg.span, seg.pa, seg.page_size, seg.flag, 1, 0, seg.backed)


def write_text(
    batches: Iterable[MappingColumns], out: TextIO, absent: AbsentOne | None = None, regions: Sequence[Region] = ()
) -> int:
    """The ptdump-style listing, one mapping per line, ``---[ Region ]---`` where a named region
    starts, aliases of the same frames at a regular stride as one line with their count; returns the
    number of mappings written (aliases counted one by one). A mapping some of whose frames the dump
    lacks ends with ``[why]``."""
    per: _PerFlags | None = None
    human: dict[int, str] = {}
    n = 0
    region_index = 0
    current: Region | None = None
    lines: list[str] = []
    for folded, table in _segments(batches):
        if per is None:
            per = _PerFlags(table, lambda f: f.text())
        ft = per.strings()
        for seg in _unfold(folded):
            while region_index < len(regions) and regions[region_index].end <= seg.va:
                region_index += 1
            here = regions[region_index] if region_index < len(regions) else None
            if here is not None and here.start > seg.va:
                here = None
            if here is not current and here is not None:
                lines.append(f"---[ {here.name} ]---")
            current = here
            size = human.get(seg.span) or human.setdefault(seg.span, size_short(seg.span))
            row = TEXT_ROW % (seg.va, seg.end, size, seg.pa, size_short(seg.page_size), ft[seg.flag])
            if seg.count > 1:
                row = (
                    TEXT_ROW % (seg.va, seg.end, f"{seg.count}x", seg.pa, size_short(seg.page_size), ft[seg.flag])
                    + f"  ({seg.count:,} aliases of these {size}, one every {seg.stride:#x})"
                )
            if not seg.backed and absent is not None:
                row += f"  [frames not in the dump: {absent(seg.pa, seg.pa + seg.span)}]"
            lines.append(row)
            n += seg.count
            if len(lines) >= 4096:
                out.write("\n".join(lines) + "\n")
                lines.clear()
    if lines:
        out.write("\n".join(lines) + "\n")
    return n

"""Writers for ``pmoview mappings``: column batches in, text out, streamed.

JSON keeps the contract (an array of objects with ``va_start``, ``va_end``, ``pa_start``,
``page_size``, ``flags``) written compactly, one mapping per line, as each batch arrives: a million
mappings are never a million dicts. Per-row work is one ``%`` format over ints; what depends on the
flags (their JSON object, their ptdump text) is rendered once per distinct flags.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from itertools import repeat
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
TEXT_ROW_WHY = TEXT_ROW + "%s"  # then why the dump lacks some of its frames, or nothing


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


Absent = Callable[[npt.NDArray[np.uint64], npt.NDArray[np.uint64]], tuple[list[str], list[int]]]
"""Why the dump lacks each PA [start, end): ``PhysicalMemory.absent_reasons`` (distinct reasons, and
the index of each range's reason)."""


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
        # the four fields of each row side by side, interleaved by slice assignment (C copies, no tuple per row)
        fields: list[int | str | None] = [None] * (4 * rows)
        fields[0::4] = cols.va_start.tolist()
        fields[1::4] = cols.va_end_ints()
        fields[2::4] = cols.pa_start.tolist()
        fields[3::4] = _json_tails(cols, per.strings(), absent)
        # in pieces of WRITE_ROWS: the strings stay in cache and their memory is reused, not faulted in anew
        for at in range(0, rows, WRITE_ROWS):
            take = min(WRITE_ROWS, rows - at)
            fmt = full_fmt if take == WRITE_ROWS else ",\n".join(repeat(JSON_ROW, take))
            out.write(("[\n" if n == 0 else ",\n") + fmt % tuple(fields[at * 4 : (at + take) * 4]))
            n += take
    out.write("\n]\n" if n else "[]\n")
    return n


ALIAS_MIN = 4  # this many mappings of the same frames at a regular stride are one line


def _same_frames(cols: MappingColumns) -> npt.NDArray[np.bool_]:
    """Per row after the first: whether it maps what the row before maps (PA, size, page size, flags,
    backing), i.e. could be an alias of it."""
    c = cols
    same: npt.NDArray[np.bool_] = (
        (c.pa_start[1:] == c.pa_start[:-1])
        & (c.count[1:] == c.count[:-1])
        & (c.page_size[1:] == c.page_size[:-1])
        & (c.flag_id[1:] == c.flag_id[:-1])
        & (c.backed[1:] == c.backed[:-1])
    )
    return same


def _alias_runs(cols: MappingColumns) -> list[tuple[int, int, int]]:
    """(first row, rows, stride) of each run of ``ALIAS_MIN`` or more aliases at a regular VA stride.
    Rows that map the same frames are cut greedily: a run takes the next row while the stride holds,
    and the row that breaks it starts the next run. Python works per group of same-frame rows (few: a
    direct map has none, ESPfix one of 65,536), never per row."""
    same = _same_frames(cols)
    if not same.any():
        return []
    edges = np.diff(np.concatenate(([0], same.astype(np.int8), [0])))
    va = cols.va_start
    runs = []
    for g0, g1 in zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist(), strict=True):
        # rows g0..g1 (inclusive) map the same frames; d[k] = VA step from row g0+k to g0+k+1
        d = np.diff(va[g0 : g1 + 1])
        s = g0
        while s < g1:
            stride = d[s - g0]
            brk = np.flatnonzero(d[s - g0 + 1 :] != stride)
            e = s + 1 + (int(brk[0]) if len(brk) else g1 - s - 1)  # last row the stride reaches
            if e - s + 1 >= ALIAS_MIN:
                runs.append((s, e - s + 1, int(stride)))
            s = e + 1
    return runs


def _tail_group(cols: MappingColumns) -> int:
    """First row of the trailing rows that map the same frames as the last row: held back for the next
    batch, so a run of aliases cut by a batch boundary is still folded."""
    same = _same_frames(cols)
    differ = np.flatnonzero(~same)
    return int(differ[-1]) + 1 if len(differ) else 0


def write_text(
    batches: Iterable[MappingColumns], out: TextIO, absent: Absent | None = None, regions: Sequence[Region] = ()
) -> int:
    """The ptdump-style listing, one mapping per line, ``---[ Region ]---`` where a named region
    starts, aliases of the same frames at a regular stride as one line with their count; returns the
    number of mappings written (aliases counted one by one). A mapping some of whose frames the dump
    lacks ends with ``[why]``. Per batch the rows are formatted in numpy passes and one ``%`` a row;
    Python loops only over aliases, regions and distinct sizes or reasons."""
    per: _PerFlags | None = None
    n = 0
    state = _TextState(regions)
    held: MappingColumns | None = None
    for cols in batches:
        if not len(cols):
            continue
        if per is None:
            per = _PerFlags(cols.flags, lambda f: f.text())
        if held is not None:
            cols = MappingColumns.concat([held, cols], cols.flags)
        cut = _tail_group(cols)
        held = cols.take(slice(cut, len(cols)))
        if cut:
            n += _write_text_batch(cols.take(slice(0, cut)), out, per.strings(), absent, state)
    if held is not None and per is not None:
        n += _write_text_batch(held, out, per.strings(), absent, state)
    return n


class _TextState:
    """The named regions, and the one the listing is in (a header is written on entering one)."""

    def __init__(self, regions: Sequence[Region]) -> None:
        self.regions = regions
        self.starts = np.array([r.start for r in regions], dtype=np.uint64)
        self.ends = np.array([min(r.end, (1 << 64) - 1) for r in regions], dtype=np.uint64)
        self.current = -1


def _write_text_batch(
    cols: MappingColumns, out: TextIO, flag_text: list[str], absent: Absent | None, state: _TextState
) -> int:
    """One batch of the listing; returns its number of mappings."""
    keep = np.ones(len(cols), dtype=bool)  # rows that start a line
    runs = _alias_runs(cols)
    for first, count, _ in runs:
        keep[first + 1 : first + count] = False
    line = np.flatnonzero(keep)
    lc = cols.take(line)
    va = lc.va_start.tolist()
    span = lc.count * lc.page_size
    span_values, span_code = np.unique(span, return_inverse=True)
    span_text = [size_short(v) for v in span_values.tolist()]
    page_values, page_code = np.unique(lc.page_size, return_inverse=True)
    page_text: list[str] = np.array([size_short(v) for v in page_values.tolist()], dtype=object)[page_code].tolist()
    flags: list[str] = np.array(flag_text, dtype=object)[lc.flag_id].tolist()
    why: list[str] = [""] * len(lc)
    unbacked = np.flatnonzero(~lc.backed)
    if absent is not None and len(unbacked):
        pas = lc.pa_start[unbacked]
        names, ids = absent(pas, pas + span[unbacked])
        said = [f"  [frames not in the dump: {name}]" for name in names]
        for row, k in zip(unbacked.tolist(), ids, strict=True):
            why[row] = said[k]
    pa = lc.pa_start.tolist()
    spans: list[str] = np.array(span_text, dtype=object)[span_code].tolist()
    text = [TEXT_ROW_WHY % t for t in zip(va, lc.va_end_ints(), spans, pa, page_text, flags, why, strict=True)]
    for first, count, stride in runs:  # the aliases' line: the first alias, the end of the last, the count
        k = int(np.searchsorted(line, first))
        size = span_text[int(span_code[k])]
        end = va[k] + (count - 1) * stride + int(span[k])
        text[k] = (
            TEXT_ROW % (va[k], end, f"{count}x", pa[k], page_text[k], flags[k])
            + f"  ({count:,} aliases of these {size}, one every {stride:#x})"
            + why[k]
        )
    _write_lines(text, lc.va_start, state, out)
    return len(cols)


def _write_lines(text: list[str], va: npt.NDArray[np.uint64], state: _TextState, out: TextIO) -> None:
    """The lines, with ``---[ Region ]---`` before the first line in a region."""
    if state.regions:
        idx = np.searchsorted(state.ends, va, side="right")
        inside = idx < len(state.regions)
        inside[inside] = state.starts[idx[inside]] <= va[inside]
        region = np.where(inside, idx, -1)
        before = np.concatenate(([state.current], region[:-1]))
        heads = np.flatnonzero((region != -1) & (region != before)).tolist()
        state.current = int(region[-1])
        at = 0
        for h in heads:
            out.write("".join(line + "\n" for line in text[at:h]))
            out.write(f"---[ {state.regions[int(region[h])].name} ]---\n")
            at = h
        text = text[at:]
    for at in range(0, len(text), WRITE_ROWS):
        out.write("\n".join(text[at : at + WRITE_ROWS]) + "\n")

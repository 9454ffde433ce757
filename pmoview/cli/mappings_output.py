"""Writers for ``pmoview mappings``: column batches in, text out, streamed.

JSON keeps the contract (an array of objects with ``va_start``, ``va_end``, ``pa_start``,
``page_size``, ``flags``) written compactly, one mapping per line, as each batch arrives: a million
mappings are never a million dicts. Per-row work is one ``%`` format over ints; what depends on the
flags (their JSON object, their ptdump text) is rendered once per distinct flags.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from typing import TextIO

import numpy as np

from pmoview.arch.columns import MappingColumns
from pmoview.arch.flags import Flags, FlagTable
from pmoview.sizes import size_short

FLAG_NAMES = ("present", "writable", "user", "nx", "user_nx", "global_", "accessed", "dirty")
JSON_ROW = '{"va_start":"0x%x","va_end":"0x%x","pa_start":"0x%x","page_size":%d,"flags":%s}'
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


Absent = Callable[[Sequence[int], Sequence[int]], list[str]]
"""Why the dump lacks each PA [start, end): ``PhysicalMemory.absent_reasons``."""


def _unbacked(cols: MappingColumns, ends: list[int], vas: list[int], absent: Absent | None) -> dict[int, str]:
    """Row -> why the dump lacks some of its frames, for the rows not wholly backed (few)."""
    if absent is None:
        return {}
    pas = cols.pa_start
    rows = np.flatnonzero(~cols.backed).tolist()
    starts = [int(pas[i]) for i in rows]
    reasons = absent(starts, [a + ends[i] - vas[i] for a, i in zip(starts, rows, strict=True)])
    return dict(zip(rows, reasons, strict=True))


def write_json(batches: Iterable[MappingColumns], out: TextIO, absent: Absent | None = None) -> int:
    """The JSON array, one object per line; returns the number of mappings written. A mapping some of
    whose frames the dump lacks gets ``"absent"``: why (e.g. "excluded by dump level 31")."""
    per: _PerFlags | None = None
    n = 0
    for cols in batches:
        if not len(cols):
            continue
        if per is None:
            per = _PerFlags(cols.flags, lambda f: json.dumps(flags_json(f), separators=(",", ":")))
        fj = per.strings()
        vas, ends, sizes = _ends(cols)
        rows = [
            JSON_ROW % t
            for t in zip(vas, ends, cols.pa_start.tolist(), sizes, [fj[i] for i in cols.flag_id.tolist()], strict=True)
        ]
        for i, why in _unbacked(cols, ends, vas, absent).items():
            rows[i] = rows[i][:-1] + ',"absent":' + json.dumps(why) + "}"
        out.write(("[\n" if n == 0 else ",\n") + ",\n".join(rows))
        n += len(rows)
    out.write("\n]\n" if n else "[]\n")
    return n


def write_text(batches: Iterable[MappingColumns], out: TextIO, absent: Absent | None = None) -> int:
    """The ptdump-style listing, one mapping per line; returns the number of mappings written. A
    mapping some of whose frames the dump lacks ends with ``[why]``."""
    per: _PerFlags | None = None
    human: dict[int, str] = {}
    n = 0
    for cols in batches:
        if not len(cols):
            continue
        if per is None:
            per = _PerFlags(cols.flags, lambda f: f.text())
        ft = per.strings()
        vas, ends, sizes = _ends(cols)
        spans = [e - v for v, e in zip(vas, ends, strict=True)]
        hs = [human.get(s) or human.setdefault(s, size_short(s)) for s in spans]
        pst = {s: size_short(s) for s in set(sizes)}
        ps = [pst[s] for s in sizes]
        rows = [
            TEXT_ROW % t
            for t in zip(vas, ends, hs, cols.pa_start.tolist(), ps, [ft[i] for i in cols.flag_id.tolist()], strict=True)
        ]
        for i, why in _unbacked(cols, ends, vas, absent).items():
            rows[i] += f"  [frames not in the dump: {why}]"
        out.write("\n".join(rows) + "\n")
        n += len(rows)
    return n

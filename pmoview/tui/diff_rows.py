"""The Diff view's model: a ``SpaceDiff``'s entries in VA order, built once in a worker (no Textual:
the view formats only the rows it draws)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from pmoview.diff import SpaceDiff, va_order
from pmoview.space import Mapping

KINDS = ("-", "+", "~")  # only in A, only in B, changed


def side_text(m: Mapping | None) -> str:
    """A's or B's mapping of one row: target, page size, flags."""
    if m is None:
        return ""
    size = m.page_size >> 10
    unit = f"{size >> 20}G" if size >= 1 << 20 else f"{size >> 10}M" if size >= 1 << 10 else f"{size}K"
    return f"{m.pa_start:#x} {unit} {m.flags.text()}"


@dataclass(frozen=True)
class DiffRow:
    """One line of the Diff view: the kind of change, its VA range, and the mapping on each side (None
    where that side has none)."""

    kind: str  # one of KINDS
    va_start: int
    va_end: int
    a: Mapping | None
    b: Mapping | None


@dataclass(frozen=True)
class DiffRows:
    """``order[y]`` is the entry drawn on row ``y``: removed first, then added, then changed, numbered
    in that order (entries starting at one VA keep it, as a stable sort of the lists joined)."""

    result: SpaceDiff
    order: npt.NDArray[np.int64]
    starts: npt.NDArray[np.uint64]  # VA start of each row, ascending
    width_a: int  # the A column's width: its longest text
    width_b: int

    @classmethod
    def build(cls, result: SpaceDiff) -> DiffRows:
        order = va_order(result)
        a_sides = [*result.removed, *(c.a for c in result.changed)]
        b_sides = [*result.added, *(c.b for c in result.changed)]
        width_a = max((len(side_text(m)) for m in a_sides), default=1)
        width_b = max((len(side_text(m)) for m in b_sides), default=1)
        vas = [m.va_start for m in result.removed] + [m.va_start for m in result.added]
        vas += [c.va_start for c in result.changed]
        return cls(result, order, np.array(vas, dtype=np.uint64)[order], width_a, width_b)

    def __len__(self) -> int:
        return int(self.order.shape[0])

    def row(self, y: int) -> DiffRow:
        i = int(self.order[y])
        r = self.result
        if i < len(r.removed):
            m = r.removed[i]
            return DiffRow("-", m.va_start, m.va_end, m, None)
        i -= len(r.removed)
        if i < len(r.added):
            m = r.added[i]
            return DiffRow("+", m.va_start, m.va_end, None, m)
        c = r.changed[i - len(r.added)]
        return DiffRow("~", c.va_start, c.va_end, c.a, c.b)

    def index_of_va(self, va: int) -> int | None:
        """The first row starting at ``va``, or None."""
        y = int(np.searchsorted(self.starts, np.uint64(va), side="left"))
        return y if y < len(self) and int(self.starts[y]) == va else None

"""The Diff view (``pmoview A --diff B``): what B maps differently from A, one row per difference in VA
order, ``-`` only in A, ``+`` only in B, ``~`` changed; enter shows the VA in A's tree."""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import DataTable

from pmoview.diff import SpaceDiff
from pmoview.space import Mapping

KIND_STYLE = {"-": "red", "+": "green", "~": "yellow"}


def _side(m: Mapping | None) -> str:
    if m is None:
        return ""
    size = m.page_size >> 10
    unit = f"{size >> 20}G" if size >= 1 << 20 else f"{size >> 10}M" if size >= 1 << 10 else f"{size}K"
    return f"{m.pa_start:#x} {unit} {m.flags.text()}"


class DiffTable(DataTable[Any]):
    """Kind, VA range, A's mapping and B's mapping of each difference.

    | Key | Action |
    | :- | :- |
    | `enter` | show the range's start in A's tree (``VaChosen``) |
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "choose", "Show in tree", show=False, id="diff.choose"),
    ]

    class VaChosen(Message):
        def __init__(self, va: int) -> None:
            super().__init__()
            self.va = va

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self.rows_va: list[int] = []

    def on_mount(self) -> None:
        self._columns()

    def _columns(self) -> None:
        if not self.columns:
            self.add_columns("", "VA range", "A", "B")

    def set_diff(self, result: SpaceDiff) -> None:
        rows: list[tuple[int, str, int, Mapping | None, Mapping | None]] = []
        rows += [(m.va_start, "-", m.va_end, m, None) for m in result.removed]
        rows += [(m.va_start, "+", m.va_end, None, m) for m in result.added]
        rows += [(c.va_start, "~", c.va_end, c.a, c.b) for c in result.changed]
        rows.sort(key=lambda r: r[0])
        self._columns()
        self.clear()
        self.rows_va = [r[0] for r in rows]
        for start, kind, end, a, b in rows:
            self.add_row(Text(kind, KIND_STYLE[kind]), f"{start:#018x}-{end:#018x}", _side(a), _side(b))

    def action_choose(self) -> None:
        if self.rows_va and self.cursor_row < len(self.rows_va):
            self.post_message(self.VaChosen(self.rows_va[self.cursor_row]))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_choose()

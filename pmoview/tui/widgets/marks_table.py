"""The marks on this dump, one row each."""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import DataTable

# Each mark kind's glyph (in the tree) and style (in both): every kind of pmoview.marks.KINDS.
MARK_LOOK = {
    "wrong": ("✗", "bold magenta"),
    "missing": ("∅", "bold magenta"),
    "ok": ("✓", "green"),
    "note": ("✎", "cyan"),
}


class MarksTable(DataTable[Any]):
    """Id, kind, root, entry path, VA range and note of each mark.

    | Key | Action |
    | :- | :- |
    | `enter` | show the marked entry or range in the tree (``MarkChosen``) |
    | `delete` / `x` | remove the mark (``MarkRemoved``) |
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "choose", "Show", show=False, id="marks.choose"),
        Binding("delete,x", "remove", "Remove mark", id="marks.remove", tooltip="Remove the mark under the cursor"),
    ]

    class MarkChosen(Message):
        def __init__(self, mark: Any) -> None:
            super().__init__()
            self.mark = mark

    class MarkRemoved(Message):
        def __init__(self, mark: Any) -> None:
            super().__init__()
            self.mark = mark

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self.marks: list[Any] = []

    def on_mount(self) -> None:
        self._columns()

    def _columns(self) -> None:
        if not self.columns:
            self.add_columns("id", "kind", "root", "entry path", "VA range", "note")

    def set_marks(self, marks: Any, level_names: dict[int, str] | None = None) -> None:
        names = level_names or {}
        self.marks = list(marks)
        row = self.cursor_row
        self._columns()
        self.clear()
        for m in self.marks:
            path = " → ".join(f"{names.get(lvl, f'L{lvl}')}[{idx}]" for lvl, idx in m.path) if m.path else ""
            va = f"{m.va_start:#x}-{m.va_end:#x}" if m.va_start is not None else ""
            self.add_row(m.id, Text(m.kind, MARK_LOOK[m.kind][1]), f"{m.root:#x}", path, va, m.note)
        if self.marks:
            self.move_cursor(row=min(row, len(self.marks) - 1))

    def current(self) -> Any | None:
        if not self.marks or self.cursor_row >= len(self.marks):
            return None
        return self.marks[self.cursor_row]

    def action_choose(self) -> None:
        m = self.current()
        if m is not None:
            self.post_message(self.MarkChosen(m))

    def action_remove(self) -> None:
        m = self.current()
        if m is not None:
            self.post_message(self.MarkRemoved(m))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_choose()

"""The Diff view (``pmoview A --diff B``): what B maps differently from A, one row per difference in VA
order, ``-`` only in A, ``+`` only in B, ``~`` changed; enter shows the VA in A's tree. A Line-API
ScrollView over ``DiffRows``: only the visible rows are formatted (a diff of two dumps has 100 000s)."""

from __future__ import annotations

from typing import Any, ClassVar

from rich.segment import Segment
from rich.style import Style
from textual.binding import BindingType
from textual.geometry import Size
from textual.message import Message
from textual.strip import Strip

from pmoview.tui.diff_rows import DiffRows, side_text
from pmoview.tui.widgets.line_list import LineList, list_bindings

KIND_STYLE = {"-": Style(color="red"), "+": Style(color="green"), "~": Style(color="yellow")}
VA_WIDTH = 37  # 0x + 16 digits, "-", 0x + 16 digits


class DiffView(LineList):
    """Kind, VA range, A's mapping and B's mapping of each difference.

    | Key | Action |
    | :- | :- |
    | `up` / `down` / `pgup` / `pgdn` / `home` / `end` | move the cursor |
    | `enter` | show the range's start in A's tree (``VaChosen``) |

    | Class | Description |
    | :- | :- |
    | `diff-view--cursor` | the cursor line |
    | `diff-view--header` | the column header |
    """

    BINDINGS: ClassVar[list[BindingType]] = list_bindings("diff")
    HEADER_CLASS = "diff-view--header"
    CURSOR_CLASS = "diff-view--cursor"
    COMPONENT_CLASSES: ClassVar[set[str]] = {CURSOR_CLASS, HEADER_CLASS}
    DEFAULT_CSS = """
    DiffView { height: 1fr; }
    DiffView > .diff-view--cursor { background: $accent 40%; }
    DiffView > .diff-view--header { text-style: bold; color: $text-muted; }
    """

    class VaChosen(Message):
        def __init__(self, va: int) -> None:
            super().__init__()
            self.va = va

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.rows: DiffRows | None = None

    def set_rows(self, rows: DiffRows) -> None:
        self.rows = rows
        self.forget_lines()
        self.virtual_size = Size(VA_WIDTH + rows.width_a + rows.width_b + 4, len(rows) + 1)  # kind, range, A, B
        self.cursor = 0
        self.refresh()

    def index_of_va(self, va: int) -> int | None:
        return None if self.rows is None else self.rows.index_of_va(va)

    def row_count(self) -> int:
        return len(self.rows) if self.rows is not None else 0

    def header(self) -> str:
        wa = self.rows.width_a if self.rows is not None else 1
        return f"  {'VA range':<{VA_WIDTH}} {'A':<{wa}} B"

    def row_strip(self, y: int) -> Strip:
        assert self.rows is not None
        r = self.rows.row(y)
        rest = f" {r.va_start:#018x}-{r.va_end:#018x} {side_text(r.a):<{self.rows.width_a}} {side_text(r.b)}"
        return Strip([Segment(r.kind, KIND_STYLE[r.kind]), Segment(rest)])

    def action_choose(self) -> None:
        if self.rows is not None and self.cursor < len(self.rows):
            self.post_message(self.VaChosen(int(self.rows.starts[self.cursor])))

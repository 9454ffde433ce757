"""ptdump-style mappings of one root, as a Line-API ScrollView over a NumPy model (tens of thousands
of rows paint at once: only the visible lines are formatted, and those are cached)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from rich.segment import Segment
from rich.style import Style
from textual.binding import BindingType
from textual.geometry import Size
from textual.message import Message
from textual.strip import Strip

from pmoview.memory.base import NOT_IN_DUMP
from pmoview.sizes import size_short
from pmoview.tui.mapping_model import MappingModel
from pmoview.tui.rows import flags_short
from pmoview.tui.widgets.line_list import LineList, list_bindings

# ptdump's columns, as narrow: VA range (end exclusive), size, page size, PA, flags (RW/ro and x/NX first).
HEADER = f"{'VA start-end (exclusive)':<37} {'size':>6} {'page':>4} {'PA start':<14} flags"


class MappingsView(LineList):
    """One line per merged mapping: VA range (end exclusive), size, page size, PA, flags (ptdump style).

    | Key | Action |
    | :- | :- |
    | `up` / `down` / `pgup` / `pgdn` / `home` / `end` | move the cursor |
    | `enter` | show the mapping's first page in the tree (``MappingChosen``) |

    | Class | Description |
    | :- | :- |
    | `mappings-view--cursor` | the cursor line |
    | `mappings-view--header` | the column header |
    """

    BINDINGS: ClassVar[list[BindingType]] = list_bindings("mappings")
    HEADER_CLASS = "mappings-view--header"
    CURSOR_CLASS = "mappings-view--cursor"
    COMPONENT_CLASSES: ClassVar[set[str]] = {CURSOR_CLASS, HEADER_CLASS}
    DEFAULT_CSS = """
    MappingsView { height: 1fr; }
    MappingsView > .mappings-view--cursor { background: $accent 40%; }
    MappingsView > .mappings-view--header { text-style: bold; color: $text-muted; }
    """

    class MappingChosen(Message):
        def __init__(self, mapping: Any) -> None:
            super().__init__()
            self.mapping = mapping

    class CursorMoved(Message):
        def __init__(self, mapping: Any | None) -> None:
            super().__init__()
            self.mapping = mapping

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.model: MappingModel | None = None
        self.absent: Callable[[int, int], str] | None = None  # why the dump lacks frames (PhysicalMemory)

    def set_model(self, model: MappingModel | None, absent: Callable[[int, int], str] | None = None) -> None:
        self.model = model
        self.absent = absent
        self._reset()

    def _reset(self) -> None:
        self.forget_lines()
        n = len(self.model) if self.model is not None else 0
        self.virtual_size = Size(100, n + 1)
        self.cursor = min(self.cursor, max(0, n - 1))
        self.refresh()
        self.post_message(self.CursorMoved(self.current()))

    def apply_filter(self, text: str) -> None:
        """Raises FilterError (from the model) for a word it does not know."""
        if self.model is None:
            return
        self.model.apply(text)
        self.cursor = 0
        self._reset()

    def current(self) -> Any | None:
        if self.model is None or not len(self.model):
            return None
        return self.model.mapping(self.cursor)

    def goto_va(self, va: int) -> None:
        if self.model is None:
            return
        i = self.model.index_of_va(va)
        if i is not None:
            self.cursor = i

    def _line_text(self, y: int) -> str:
        assert self.model is not None
        m = self.model.mapping(y)
        return (
            f"{m.va_start:#018x}-{m.va_end:#018x} {size_short(m.va_end - m.va_start):>6} {size_short(m.page_size):>4} "
            f"{m.pa_start:<#14x} {flags_short(m.flags, m.page_size)}"
            + ("" if getattr(m, "backed", True) else f"  ({self._absent(m)})")
        )

    def _absent(self, m: Any) -> str:
        if self.absent is None:
            return "not in dump: frames missing"
        why = self.absent(m.pa_start, m.pa_start + (m.va_end - m.va_start))
        return why if why == NOT_IN_DUMP else f"not in dump: {why}"  # not "not in dump: not in the dump"

    def row_count(self) -> int:
        return len(self.model) if self.model is not None else 0

    def header(self) -> str:
        return HEADER

    def row_strip(self, row: int) -> Strip:
        assert self.model is not None
        m = self.model.mapping(row)
        color = None
        if m.flags.writable and not m.flags.nx:
            color = "red"
        elif m.flags.user:
            color = "yellow"
        return Strip([Segment(self._line_text(row), Style(color=color) if color else Style())])

    def cursor_moved(self) -> None:
        self.post_message(self.CursorMoved(self.current()))

    def action_choose(self) -> None:
        m = self.current()
        if m is not None:
            self.post_message(self.MappingChosen(m))

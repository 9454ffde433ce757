"""A header line over one line per row, with a cursor, as a Line-API ScrollView: only the visible lines
are formatted (and cached), so a list of millions of rows costs what the screen shows. The mappings
list and the Diff view are made of it."""

from __future__ import annotations

from typing import Any, ClassVar

from rich.segment import Segment
from textual.binding import Binding, BindingType
from textual.cache import LRUCache
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip


def list_bindings(prefix: str) -> list[BindingType]:
    """The cursor keys and enter, with binding ids ``<prefix>.up`` ... ``<prefix>.choose``."""
    return [
        Binding("up", "cursor(-1)", "Up", show=False, id=f"{prefix}.up"),
        Binding("down", "cursor(1)", "Down", show=False, id=f"{prefix}.down"),
        Binding("pageup", "page(-1)", "Page up", show=False, id=f"{prefix}.pageup"),
        Binding("pagedown", "page(1)", "Page down", show=False, id=f"{prefix}.pagedown"),
        Binding("home", "jump(0)", "First", show=False, id=f"{prefix}.home"),
        Binding("end", "jump(-1)", "Last", show=False, id=f"{prefix}.end"),
        Binding("enter", "choose", "Show in tree", show=False, id=f"{prefix}.choose"),
    ]


class LineList(ScrollView, can_focus=True):
    """Subclasses give ``row_count``, ``header``, ``row_strip`` and ``action_choose``, and name their
    component classes for the header and the cursor line in ``HEADER_CLASS`` and ``CURSOR_CLASS``."""

    HEADER_CLASS: ClassVar[str]
    CURSOR_CLASS: ClassVar[str]

    cursor: reactive[int] = reactive(0)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._lines: LRUCache[int, Strip] = LRUCache(1024)

    def row_count(self) -> int:
        raise NotImplementedError

    def header(self) -> str:
        raise NotImplementedError

    def row_strip(self, row: int) -> Strip:
        raise NotImplementedError

    def cursor_moved(self) -> None:
        """Called after the cursor moved (a subclass tells its screen)."""

    def forget_lines(self) -> None:
        self._lines.clear()

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        width = self.size.width
        if y == 0:
            style = self.get_component_rich_style(self.HEADER_CLASS)
            return Strip([Segment(self.header(), style)]).crop_extend(scroll_x, scroll_x + width, style)
        row = scroll_y + y - 1
        if row >= self.row_count():
            return Strip.blank(width, self.rich_style)
        strip = self._lines.get(row)
        if strip is None:
            strip = self._lines[row] = self.row_strip(row)
        if row == self.cursor:
            strip = strip.apply_style(self.get_component_rich_style(self.CURSOR_CLASS))
        return strip.crop_extend(scroll_x, scroll_x + width, self.rich_style)

    def watch_cursor(self, old: int, new: int) -> None:
        self.refresh()
        _, scroll_y = self.scroll_offset
        height = max(1, self.size.height - 1)
        if new < scroll_y:
            self.scroll_to(y=new, animate=False)
        elif new >= scroll_y + height:
            self.scroll_to(y=new - height + 1, animate=False)
        self.cursor_moved()

    def _clamp(self, v: int) -> int:
        return max(0, min(v, self.row_count() - 1))

    def action_cursor(self, delta: int) -> None:
        self.cursor = self._clamp(self.cursor + delta)

    def action_page(self, direction: int) -> None:
        self.cursor = self._clamp(self.cursor + direction * max(1, self.size.height - 2))

    def action_jump(self, where: int) -> None:
        self.cursor = self._clamp(where if where >= 0 else 1 << 62)

    def on_click(self, event: Any) -> None:
        _, scroll_y = self.scroll_offset
        if event.y >= 1:
            self.cursor = self._clamp(scroll_y + event.y - 1)

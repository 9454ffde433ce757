"""ptdump-style mappings of one root, as a Line-API ScrollView over a NumPy model (tens of thousands
of rows paint at once: only the visible lines are formatted, and those are cached)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from rich.segment import Segment
from rich.style import Style
from textual.binding import Binding, BindingType
from textual.cache import LRUCache
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from pmoview.sizes import size_short
from pmoview.tui.mapping_model import MappingModel
from pmoview.tui.rows import flags_short

# ptdump's columns, as narrow: VA range (end exclusive), size, page size, PA, flags (RW/ro and x/NX first).
HEADER = f"{'VA start-end (exclusive)':<37} {'size':>6} {'page':>4} {'PA start':<14} flags"


class MappingsView(ScrollView, can_focus=True):
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

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "cursor(-1)", "Up", show=False, id="mappings.up"),
        Binding("down", "cursor(1)", "Down", show=False, id="mappings.down"),
        Binding("pageup", "page(-1)", "Page up", show=False, id="mappings.pageup"),
        Binding("pagedown", "page(1)", "Page down", show=False, id="mappings.pagedown"),
        Binding("home", "jump(0)", "First", show=False, id="mappings.home"),
        Binding("end", "jump(-1)", "Last", show=False, id="mappings.end"),
        Binding("enter", "choose", "Show in tree", show=False, id="mappings.choose"),
    ]
    COMPONENT_CLASSES: ClassVar[set[str]] = {"mappings-view--cursor", "mappings-view--header"}
    DEFAULT_CSS = """
    MappingsView { height: 1fr; }
    MappingsView > .mappings-view--cursor { background: $accent 40%; }
    MappingsView > .mappings-view--header { text-style: bold; color: $text-muted; }
    """

    cursor: reactive[int] = reactive(0)

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
        self._cache: LRUCache[int, Strip] = LRUCache(1024)

    def set_model(self, model: MappingModel | None, absent: Callable[[int, int], str] | None = None) -> None:
        self.model = model
        self.absent = absent
        self._reset()

    def _reset(self) -> None:
        self._cache.clear()
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
            + ("" if getattr(m, "backed", True) else f"  (not in dump: {self._absent(m)})")
        )

    def _absent(self, m: Any) -> str:
        if self.absent is None:
            return "frames missing"
        return self.absent(m.pa_start, m.pa_start + (m.va_end - m.va_start))

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        width = self.size.width
        if y == 0:
            style = self.get_component_rich_style("mappings-view--header")
            return Strip([Segment(HEADER, style)]).crop_extend(scroll_x, scroll_x + width, style)
        row = scroll_y + y - 1
        if self.model is None or row >= len(self.model):
            return Strip.blank(width, self.rich_style)
        strip = self._cache.get(row)
        if strip is None:
            m = self.model.mapping(row)
            color = None
            if m.flags.writable and not m.flags.nx:
                color = "red"
            elif m.flags.user:
                color = "yellow"
            strip = Strip([Segment(self._line_text(row), Style(color=color) if color else Style())])
            self._cache[row] = strip
        base = self.rich_style
        if row == self.cursor:
            cur = self.get_component_rich_style("mappings-view--cursor")
            strip = strip.apply_style(cur)
        return strip.crop_extend(scroll_x, scroll_x + width, base)

    def watch_cursor(self, old: int, new: int) -> None:
        self.refresh()
        _, scroll_y = self.scroll_offset
        height = max(1, self.size.height - 1)
        if new < scroll_y:
            self.scroll_to(y=new, animate=False)
        elif new >= scroll_y + height:
            self.scroll_to(y=new - height + 1, animate=False)
        self.post_message(self.CursorMoved(self.current()))

    def _clamp(self, v: int) -> int:
        n = len(self.model) if self.model is not None else 0
        return max(0, min(v, n - 1))

    def action_cursor(self, delta: int) -> None:
        self.cursor = self._clamp(self.cursor + delta)

    def action_page(self, direction: int) -> None:
        self.cursor = self._clamp(self.cursor + direction * max(1, self.size.height - 2))

    def action_jump(self, where: int) -> None:
        self.cursor = self._clamp(where if where >= 0 else 1 << 62)

    def action_choose(self) -> None:
        m = self.current()
        if m is not None:
            self.post_message(self.MappingChosen(m))

    def on_click(self, event: Any) -> None:
        _, scroll_y = self.scroll_offset
        if event.y >= 1:
            self.cursor = self._clamp(scroll_y + event.y - 1)

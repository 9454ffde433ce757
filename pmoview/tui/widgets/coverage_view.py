"""PMO coverage: a bar across physical memory and the covered / missing / wrong ranges."""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import DataTable, Static

from pmoview.checks import CoverageRange, PmoCoverage
from pmoview.sizes import size_short

STATUS_STYLE = {"covered": "green", "missing": "bold red", "wrong": "bold magenta", "": "grey30"}
STATUS_CHAR = {"covered": "█", "missing": "▁", "wrong": "▓", "": "·"}


class CoverageView(Vertical):
    """Each RAM range's fate in the PMO (direct map) of one root, and a bar across physical memory.

    | Key | Action |
    | :- | :- |
    | `enter` | jump to where the segment's entry is (or would be) in the tree (``SegmentChosen``) |
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "choose", "Show in tree", show=False, id="coverage.choose"),
    ]
    DEFAULT_CSS = """
    CoverageView { height: 1fr; }
    CoverageView > #coverage-bar { height: auto; padding: 0 1; }
    CoverageView > DataTable { height: 1fr; }
    """

    class SegmentChosen(Message):
        def __init__(self, segment: CoverageRange) -> None:
            super().__init__()
            self.segment = segment
            self.va = segment.va_start

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.coverage: PmoCoverage | None = None

    def compose(self) -> ComposeResult:
        yield Static("PMO coverage comes with the checks, after the walk…", id="coverage-bar")
        yield DataTable(cursor_type="row", zebra_stripes=True, id="coverage-table")

    def on_mount(self) -> None:
        self._columns()

    def _columns(self) -> DataTable[Any]:
        table: DataTable[Any] = self.query_one(DataTable)
        if not table.columns:
            table.add_columns("status", "PA range", "size", "PMO VA", "detail")
        return table

    def set_coverage(self, coverage: PmoCoverage | None, why_not: str = "") -> None:
        self.coverage = coverage
        table = self._columns()
        table.clear()
        if coverage is None:
            self.query_one("#coverage-bar", Static).update(f"no PMO coverage: {why_not}")
            return
        for s in coverage.ranges:
            table.add_row(
                Text(s.status, STATUS_STYLE[s.status]),
                f"{s.pa_start:#x}-{s.pa_end:#x}",
                size_short(s.size),
                f"{s.va_start:#x}",
                s.detail,
            )
        self._draw_bar()

    def on_resize(self) -> None:
        if self.coverage is not None:
            self._draw_bar()

    def _draw_bar(self) -> None:
        c = self.coverage
        if c is None:
            return
        width = max(10, self.size.width - 4)
        bar = Text()
        for status in c.bar(width):
            bar.append(STATUS_CHAR[status], STATUS_STYLE[status])
        totals = c.totals()
        top = max((e for _, e in c.ram), default=0)
        ram_note = "" if c.authoritative else " (the dump's ranges: not known to be RAM)"
        head = Text.assemble(
            (f"{c.region} ", "bold"),
            # Where the PMO starts and what it maps there, as ``check`` names it (not the VA of PA 0,
            # which on arm64 lies below the linear map: PHYS_OFFSET is not 0).
            (f"VA {c.va_start:#x}", "cyan"),
            f" maps PA {c.pa_base:#x}" if c.pa_base else "",
            f" ({c.rule}); RAM: {c.ram_source}{ram_note}\n",
            ("covered ", "green"),
            size_short(totals["covered"]),
            ("  missing ", "bold red"),
            size_short(totals["missing"]),
            ("  wrong ", "bold magenta"),
            size_short(totals["wrong"]),
            "\n",
        )
        self.query_one("#coverage-bar", Static).update(
            Text.assemble(head, bar, f"\n0x0{'':>{max(0, width - 3 - len(hex(top)))}}{top:#x}")
        )

    def current(self) -> CoverageRange | None:
        if self.coverage is None or not self.coverage.ranges:
            return None
        row = self.query_one(DataTable).cursor_row
        return self.coverage.ranges[row] if row < len(self.coverage.ranges) else None

    def action_choose(self) -> None:
        s = self.current()
        if s is not None:
            self.post_message(self.SegmentChosen(s))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_choose()

"""Findings from the checks (or the walker's anomalies), one row each."""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import DataTable

from pmoview.checks.findings import SEVERITY_RANK, Finding

SEVERITY_STYLE = {"error": "bold red", "warning": "yellow", "info": "blue"}


def _h(v: int | None) -> str:
    return "" if v is None else f"{v:#x}"


class FindingsTable(DataTable[Any]):
    """Severity, kind, VA range, PA range and message of each finding.

    | Key | Action |
    | :- | :- |
    | `enter` | jump to the evidence in the tree (``FindingChosen``) |
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "choose", "Show evidence", show=False, id="findings.choose"),
    ]

    class FindingChosen(Message):
        def __init__(self, finding: Finding) -> None:
            super().__init__()
            self.finding = finding

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self.findings: list[Finding] = []

    def on_mount(self) -> None:
        self._columns()

    def _columns(self) -> None:
        if not self.columns:
            self.add_columns("severity", "kind", "VA range", "PA range", "message")

    def set_findings(self, findings: list[Finding]) -> None:
        self.findings = sorted(findings, key=lambda f: (SEVERITY_RANK.get(f.severity, 3), f.va_start or 0))
        self._columns()
        self.clear()
        for f in self.findings:
            sev = f.severity
            va0, va1 = f.va_start, f.va_end
            pa0, pa1 = f.pa_start, f.pa_end
            self.add_row(
                Text(sev, SEVERITY_STYLE.get(sev, "")),
                f.kind,
                f"{_h(va0)}-{_h(va1)}" if va0 is not None else "",
                f"{_h(pa0)}-{_h(pa1)}" if pa0 is not None else "",
                f.message,
            )

    def current(self) -> Finding | None:
        if not self.findings or self.cursor_row >= len(self.findings):
            return None
        return self.findings[self.cursor_row]

    def action_choose(self) -> None:
        f = self.current()
        if f is not None:
            self.post_message(self.FindingChosen(f))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_choose()

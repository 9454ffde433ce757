"""The CPUs view: one row per CPU (mode, PC and its instruction, root, last fault), the record of the
CPU under the cursor beside it, and a jump to the entries involved."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import DataTable

from pmoview.cpus import CpuView


def _h(v: int | None) -> str:
    return "" if v is None else f"{v:#x}"


def fault_cell(v: CpuView) -> Text:
    f = v.fault
    if f is None:
        return Text("none", "dim")
    e = f.explanation
    if e.allowed:
        return Text(f"{f.source} {f.va:#x} {f.access}: allowed now", "dim")
    where = f" at {e.level_name}[{e.index}]" if e.level_name is not None and e.index is not None else ""
    return Text(f"{f.source} {f.va:#x} {f.access}: {e.reason}{where}", "bold red" if f.at_pc else "yellow")


def cpu_detail(v: CpuView) -> Text:
    """The whole record, as ``pmoview cpus`` prints it."""
    out = Text()
    out.append(f"CPU {v.index} ({v.arch}) · {v.mode + ' mode' if v.mode else 'mode unknown'}\n", "bold")
    out.append(f"pc {_h(v.pc)}  sp {_h(v.sp)}" + (f"  [{v.pc_instruction}]" if v.pc_instruction else "") + "\n")
    if v.root is not None:
        out.append(f"root {v.root.mode} at {v.root.table:#x} ({v.root.source})\n")
    out.append("  ".join(f"{k}={val:#x}" for k, val in v.registers.items() if val is not None) + "\n")
    t = v.pc_translation
    if t is not None:
        out.append(f"pc -> {t.pa:#x}\n" if t.pa is not None else f"pc -> unmapped: {t.reason}\n")
    f = v.fault
    if f is not None:
        e = f.explanation
        out.append("fault: ", "bold")
        out.append(fault_cell(v))
        out.append(f"\n{e.message}\naccess: {f.access_from}\n")
        for ref in e.path:
            out.append(f"  L{ref.level}[{ref.index}] = {ref.entry:#018x}\n")
        for a in e.assumptions:
            out.append(f"assumed: {a}\n", "dim")
    for n in v.notes:
        out.append(f"note: {n}\n", "dim")
    out.append("enter: show the fault's entries (or the PC's) in the tree", "dim")
    return out


class CpusTable(DataTable[Any]):
    """CPU, mode, PC, instruction, root and last fault of each CPU.

    | Key | Action |
    | :- | :- |
    | `enter` | jump to the entries of the CPU's fault, else of its PC (``CpuChosen``) |
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "choose", "Show entries", show=False, id="cpus.choose"),
    ]

    class CpuChosen(Message):
        def __init__(self, view: CpuView) -> None:
            super().__init__()
            self.view = view

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self.views: list[CpuView] = []

    def on_mount(self) -> None:
        self._columns()

    def _columns(self) -> None:
        if not self.columns:
            self.add_columns("CPU", "mode", "PC", "instruction", "root", "last fault")

    def set_views(self, views: Sequence[CpuView]) -> None:
        self.views = list(views)
        self._columns()
        self.clear()
        for v in self.views:
            self.add_row(
                str(v.index),
                v.mode or "?",
                _h(v.pc),
                v.pc_instruction or "",
                "" if v.root is None else f"{v.root.table:#x}",
                fault_cell(v),
            )

    def current(self) -> CpuView | None:
        if not self.views or self.cursor_row >= len(self.views):
            return None
        return self.views[self.cursor_row]

    def action_choose(self) -> None:
        v = self.current()
        if v is not None:
            self.post_message(self.CpuChosen(v))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_choose()

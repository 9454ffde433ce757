"""The entry inspector: everything about the entry under the tree cursor."""

from __future__ import annotations

from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.containers import VerticalScroll
from textual.widgets import Static

from pmoview.sizes import size_short
from pmoview.tui.rows import aarch64_format, entry_bits
from pmoview.tui.widgets.pagetable_tree import NodeData


class EntryInspector(VerticalScroll):
    """Raw value, every bit (name, value, meaning), the path from the root, the VA range covered and
    what the entry points to (a table, a page, a frame missing from the dump). Also shows the result
    of the last go-to-VA when the cursor is on its node, and the marks and findings on the entry.

    No bindings; it scrolls."""

    DEFAULT_CSS = """
    EntryInspector { height: 1fr; }
    EntryInspector > Static { width: 1fr; }
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._body = Static("Move the cursor in the tree to inspect an entry.", id="inspector-body")
        self.translation: Any = None

    def compose(self):  # type: ignore[no-untyped-def]
        yield self._body

    def show(self, session: Any, data: NodeData | None) -> None:
        self._body.update(self.render_entry(session, data))

    def render_entry(self, s: Any, data: NodeData | None) -> RenderableType:
        if s is None or data is None:
            return Text("Nothing selected.")
        space = s.spaces[data.space]
        root = s.roots[data.space]
        parts: list[RenderableType] = []
        if data.row is None:
            t = Table.grid(padding=(0, 2))
            t.add_row("root", Text(f"{root.table:#x}", "bold"))
            t.add_row("mode", root.mode)
            t.add_row("source", root.source)
            for note in getattr(space, "assumptions", []):
                t.add_row("assumes", Text(note, "italic"))
            parts.append(t)
            return Group(*parts)
        row, view = data.row, data.view
        entry = view.entry(row.first)
        levels = space.mode
        name = levels.level_row(view.level).name
        head = Table.grid(padding=(0, 2))
        head.add_row(
            "entry",
            Text(
                f"{name}[{row.first}]"
                + (f" (first of a run of {row.count}: [{row.first}-{row.last}])" if row.count > 1 else ""),
                "bold",
            ),
        )
        head.add_row("raw", Text(f"{entry.entry:#018x}", "bold cyan"))
        head.add_row("table", f"{name} @ {view.pa:#x}")
        path = " → ".join(f"{levels.level_row(e.level).name}[{e.index}]" for e in data.entry_refs())
        head.add_row("path", path)
        if row.va_start is not None and row.va_end is not None:
            head.add_row("VA range", f"{row.va_start:#x} - {row.va_end:#x} ({size_short(row.va_end - row.va_start)})")
        head.add_row("kind", row.kind)
        if row.kind == "table":
            child = levels.levels[[r.level for r in levels.levels].index(view.level) + 1].name
            where = (
                "in the dump"
                if row.backed
                else Text(f"NOT in the dump: {space.mem.absent_reason(row.target)}", "bold red")
            )
            head.add_row("target", Text.assemble(f"{child} table at {row.target:#x}, ", where))
            if row.recursive:
                head.add_row("", Text("points back to a table on its own path (recursive map)", "yellow"))
        elif row.kind == "leaf":
            assert row.target is not None
            end = row.target + row.count * row.span
            where = (
                "frames in the dump"
                if row.backed
                else Text(f"frame(s) NOT in the dump: {space.mem.absent_reason(row.target, end)}", "yellow")
            )
            head.add_row(
                "target", Text.assemble(f"{size_short(row.span)} page(s) at {row.target:#x}-{end:#x}, ", where)
            )
            if row.flags is not None:
                head.add_row("effective", Text(row.flags.text(row.span), "italic"))
                head.add_row("", _flag_words(row.flags))
                if row.flags.arch == "riscv64":
                    sum_ = root.sum
                    s_mode, u_mode = row.flags.access(sum_)
                    note = "" if sum_ is not None else " (sstatus.SUM not known: taken as 0)"
                    head.add_row("access", Text(f"S-mode {s_mode}, U-mode {u_mode}{note}", "dim"))
        elif row.kind == "fault":
            head.add_row("fault", Text(row.reason or "the MMU faults on this entry", "bold red"))
        parts.append(head)
        if row.kind != "none":
            granule_shift, oa = aarch64_format(space.mode) if space.mode.arch == "aarch64" else (12, "48")
            layout, fields = entry_bits(space.mode.arch, view.level, row.kind, row.span, entry.entry, granule_shift, oa)
            bits = Table(
                title=f"bits ({layout})",
                title_justify="left",
                box=None,
                padding=(0, 1),
                show_header=True,
                header_style="bold",
            )
            bits.add_column("bits", justify="right")
            bits.add_column("field")
            bits.add_column("value", justify="right")
            bits.add_column("meaning")
            for f in fields:
                value = f"{f.value:#x}" if f.width > 1 else str(f.value)
                style = "dim" if f.name.startswith(("ign", "res0", "rsvd")) and not f.value else ""
                if f.name.startswith(("res0", "rsvd")) and f.value:
                    style = "bold red"
                bits.add_row(f.bits, f.name, value, f.meaning, style=style)
            parts.append(Text(""))
            parts.append(bits)
        t = self.translation
        if t is not None and row.va_start is not None and row.va_end is not None and row.va_start <= t.va < row.va_end:
            parts.append(Text(""))
            if t.pa is not None:
                parts.append(
                    Text(f"go to {t.va:#x} → PA {t.pa:#x} ({size_short(t.page_size or 0)} page)", "bold green")
                )
            else:
                parts.append(Text(f"go to {t.va:#x}: the walk stops here: {t.reason}", "bold yellow"))
        root_pa = root.table
        marks = s.marks.for_path(root_pa, data.path_key())
        if row.va_start is not None and row.va_end is not None:
            marks += [m for m in s.marks.for_range(root_pa, row.va_start, row.va_end) if m not in marks]
        if marks:
            parts.append(Text(""))
            parts.append(Text("marks", "bold"))
            for m in marks:
                parts.append(Text(f"  {m.id} {m.kind}" + (f": {m.note}" if m.note else ""), "magenta"))
        return Group(*parts)


def _flag_words(f: Any) -> Text:
    words = [
        "writable" if f.writable else "read-only",
        "user" if f.user else "supervisor",
        "kernel-executable" if not f.nx else "kernel no-exec",
    ]
    if f.arch != "x86_64":
        words.append("user-executable" if not f.user_nx else "user no-exec")
    if f.global_:
        words.append("global")
    if f.cache:
        words.append(f"cache {f.cache}")
    return Text(", ".join(words), "dim")

"""The main screen: tree + inspector, mappings, PMO coverage, findings, marks; every action a Binding."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import ClassVar, Protocol

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.screen import Screen
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import DataTable, Footer, Header, ProgressBar, Static, TabbedContent, TabPane, Tree

from pmoview.arch.records import path_key
from pmoview.checks import Finding, PmoCoverage
from pmoview.cpus import CpuView
from pmoview.sizes import size_short
from pmoview.tui.diff_rows import DiffRows
from pmoview.tui.mapping_model import FILTER_HELP, FilterError, MappingModel
from pmoview.tui.screens.choice import ChoiceScreen
from pmoview.tui.screens.prompt import PromptScreen
from pmoview.tui.session import Session
from pmoview.tui.views import (
    COVERAGE,
    CPUS,
    DIFF,
    FINDINGS,
    MAPPINGS,
    MARKS,
    TREE,
    VIEWS,
    SessionView,
    view_action,
    view_key,
    view_label,
)
from pmoview.tui.widgets.coverage_view import CoverageView
from pmoview.tui.widgets.cpus_table import CpusTable, cpu_detail
from pmoview.tui.widgets.diff_view import DiffView
from pmoview.tui.widgets.entry_inspector import EntryInspector
from pmoview.tui.widgets.findings_table import FindingsTable
from pmoview.tui.widgets.mappings_view import MappingsView
from pmoview.tui.widgets.marks_table import MarksTable
from pmoview.tui.widgets.pagetable_tree import NodeData, PageTableTree

MARK_GROUP = Binding.Group("Mark", compact=True)
NARROW = 120  # below this many columns the inspector does not fit beside the tree
MARK_ACTIONS = {"mark_wrong", "mark_ok", "mark_missing", "note"}
SESSION_ACTIONS = {"goto", "find_pa", "filter", "export", *MARK_ACTIONS}
SORTED_SESSION_ACTIONS = tuple(sorted(SESSION_ACTIONS))
BINDINGS_SETTLE = 0.15  # seconds the cursor rests before the footer follows it


def parse_address(text: str) -> int:
    """An address as people type them: hex with or without ``0x``, ``_`` or ``'`` between digits."""
    v = int(text.strip().replace("_", "").replace("'", "").replace("`", ""), 16)
    if not 0 <= v < 1 << 64:
        raise ValueError("outside 0 .. 2**64")
    return v


def address_problem(text: str) -> str | None:
    try:
        parse_address(text)
    except ValueError:
        return f"not an address: {text!r} (hex, e.g. 0xffff800000000000)"
    return None


def _finding_detail(f: Finding) -> Text:
    out = Text()
    out.append(f"{f.severity} {f.kind}\n", "bold")
    out.append(f.message + "\n")
    for label, value in (("expected", f.expected), ("found", f.found)):
        if value:
            out.append(f"{label}: ", "bold")
            out.append(f"{value}\n")
    if len(f.roots) > 1:
        out.append("holds for roots: ", "bold")
        out.append(", ".join(f"{r:#x}" for r in f.roots) + "\n")
    for p in f.paths[:4]:
        out.append("evidence: ", "bold")
        out.append(" → ".join(e.text() for e in p) + "\n")
    if f.suppressed_by:
        out.append(f"suppressed by ok mark {f.suppressed_by}\n", "green")
    out.append("enter: show the evidence in the tree", "dim")
    return out


SEVERITY_ORDER = ("error", "warning", "info")


def verdict_text(findings: list[Finding], coverage: PmoCoverage | None, checked: bool) -> Text:
    """One or two lines: how bad, the worst finding in a few words, and the keys that show more."""
    from pmoview.checks.report import RULES

    if not checked:
        return Text("checking the page tables against the profile…", "dim")
    missing = coverage.totals().get("missing", 0) if coverage is not None else 0
    if not findings:
        out = Text("✓ no findings: the page tables match the profile", "bold green")
        out.append(
            "\npress 3 for coverage" + (f" ({size_short(missing)} of RAM not in the PMO)" if missing else ""), "dim"
        )
        out.append(", 2 for the mappings, g to go to a VA", "dim")
        return out
    counts = {sev: sum(1 for f in findings if f.severity == sev) for sev in SEVERITY_ORDER}
    worst = min(findings, key=lambda f: SEVERITY_ORDER.index(f.severity) if f.severity in SEVERITY_ORDER else 9)
    glyph, style = {"error": ("✗", "bold red"), "warning": ("!", "bold yellow")}.get(worst.severity, ("i", "bold blue"))
    tally = ", ".join(f"{n} {s}{'s' if n > 1 and s != 'info' else ''}" for s, n in counts.items() if n)
    out = Text.assemble((f"{glyph} {tally}", style), f" — {worst.kind} ")
    out.append(_where(worst) or RULES.get(worst.kind, ""))
    out.append("\npress ", "dim")
    out.append("4", "bold")
    out.append(" for the findings, ", "dim")
    out.append("3", "bold")
    out.append(f" for coverage ({size_short(missing)} of RAM not in the PMO)" if missing else " for coverage", "dim")
    return out


def _where(f: Finding) -> str:
    """A finding's place in a few columns: its PA range (what a PMO finding is about) or VA range."""
    for a, b, what in ((f.pa_start, f.pa_end, "PA"), (f.va_start, f.va_end, "VA")):
        if a is not None and b is not None:
            return f"{what} {a:#x}-{b:#x} ({size_short(b - a)})"
    return ""


class AppActions(Protocol):
    """What the main screen asks of its app: work that runs in the app's workers."""

    def goto_va(self, space: int, va: int) -> object: ...
    def find_pa(self, space: int, pa: int) -> object: ...
    def export(self, base: str) -> object: ...
    def save_marks(self) -> None: ...


@dataclass(frozen=True)
class Target:
    """What a mark made now would be about: an entry (path) and/or a VA range of one root."""

    space: int
    path: tuple[tuple[int, int], ...] | None
    va_start: int | None
    va_end: int | None
    present: bool  # something is mapped there (wrong/ok apply); False: a gap (missing applies)


class MainScreen(Screen[None]):
    """Everything about one dump.

    | Key | Action |
    | :- | :- |
    | `g` | go to a VA | `p` | find a PA | `/` | filter mappings |
    | `m` / `M` / `o` / `n` | mark wrong / missing / ok, note |
    | `e` | export report | `1`-`5` | switch view |
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        # Footer order is this order: at 80 columns the last ones fall off, so help, quit and the keys
        # that find things come first, the mark keys share one group.
        Binding("question_mark", "app.help", "Help", key_display="?", id="main.help", tooltip="Keys and symbols"),
        Binding("q", "app.quit", "Quit", id="main.quit", tooltip="Quit (marks are already saved)"),
        Binding("g", "goto", "Go to VA", id="main.goto", tooltip="Expand the tree to the leaf mapping a VA"),
        Binding("p", "find_pa", "Find PA", id="main.find_pa", tooltip="List every VA that maps a PA"),
        Binding(
            "slash",
            "filter",
            "Filter",
            key_display="/",
            id="main.filter",
            tooltip="Filter the mappings by attributes and VA range",
        ),
        Binding("e", "export", "Export", id="main.export", tooltip="Write findings and marks as Markdown and JSON"),
        Binding(
            "m",
            "mark_wrong",
            "Wrong",
            id="main.mark_wrong",
            tooltip="Mark this entry or mapping as wrong",
            group=MARK_GROUP,
        ),
        Binding(
            "M",
            "mark_missing",
            "Missing",
            id="main.mark_missing",
            tooltip="Mark this VA range (with no mapping) as missing",
            group=MARK_GROUP,
        ),
        Binding(
            "o",
            "mark_ok",
            "OK",
            id="main.mark_ok",
            tooltip="Mark this entry as expected as it is",
            group=MARK_GROUP,
        ),
        Binding("n", "note", "Note", id="main.note", tooltip="Attach a note to this entry or range", group=MARK_GROUP),
        Binding(
            "i",
            "toggle_inspector",
            "Inspector",
            id="main.inspector",
            tooltip="Show or hide the entry inspector (hidden at first on a narrow terminal)",
        ),
        *(Binding(view_key(v), view_action(v), v.title, show=False, id=f"main.view_{v.name}") for v in VIEWS),
    ]

    def __init__(self, actions: AppActions) -> None:
        self._shown_bindings: tuple[bool | None, ...] | None = None  # see _refresh_bindings_if_changed
        self._bindings_timer: Timer | None = None
        super().__init__()
        self.actions = actions
        self.session: Session | None = None
        self.mapping_model: MappingModel | None = None
        self.coverage: PmoCoverage | None = None
        self.findings: list[Finding] = []
        self.cpus: list[CpuView] = []
        self.first_paint: float | None = None  # time.monotonic() of the first refresh (tests check it)
        self.checked = False  # the checks have reported (findings may still be none)
        self.inspector_wanted: bool | None = None  # None: shown when it fits (see ``_layout``)

    def on_mount(self) -> None:
        self.call_after_refresh(self._painted)

    def _painted(self) -> None:
        if self.first_paint is None:
            self.first_paint = time.monotonic()

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("opening the dump…", id="verdict")
        with TabbedContent(id="tabs", initial=VIEWS[0].id):
            for view in VIEWS:
                with TabPane(view_label(view.id), id=view.id):
                    yield from view.content()
        with Horizontal(id="status-bar"):
            yield Static("starting…", id="status")
            yield ProgressBar(total=1.0, show_eta=False, show_percentage=False, id="progress")
        yield Footer(compact=True, show_command_palette=False)  # 80 columns: every key that matters

    # -- layout: the inspector beside the tree when there is room, toggled with i ----------------------
    def on_resize(self) -> None:
        self._layout()

    def _layout(self) -> None:
        narrow = self.size.width < NARROW
        shown = self.inspector_wanted if self.inspector_wanted is not None else not narrow
        self.set_class(narrow, "-narrow")
        self.set_class(not shown, "-no-inspector")
        # Narrow, the inspector goes below the tree (full width); wide, it takes 2/5 beside it.
        tree_width = self.size.width * 3 // 5 if shown and not narrow else self.size.width
        self.query_one(PageTableTree).set_narrow(tree_width < 100)

    def inspector_shown(self) -> bool:
        return not self.has_class("-no-inspector")

    def action_toggle_inspector(self) -> None:
        self.inspector_wanted = not self.inspector_shown()
        self._layout()

    # -- state from the app's workers ----------------------------------------------------------------
    def set_status(self, text: str, fraction: float | None) -> None:
        self.query_one("#status", Static).update(text)
        bar = self.query_one("#progress", ProgressBar)
        bar.display = fraction is not None and fraction < 1.0
        if fraction is not None:
            bar.update(progress=fraction)

    def set_session(self, session: Session) -> None:
        self.session = session
        if session.options.diff is None:  # no second dump: its tab would only take room at 80 columns
            self.query_one(TabbedContent).hide_tab(DIFF)
        self.query_one(PageTableTree).set_session(session)
        self.query_one(PageTableTree).focus()
        self.show_verdict()  # the dump is open: the verdict line says the checks are coming
        for widget in self.query(Widget):
            if isinstance(widget, SessionView):
                widget.show_session(session)
        self.sync_marks()
        self.refresh_bindings()

    def set_mappings(self, model: MappingModel) -> None:
        self.mapping_model = model
        absent = self.session.mem.absent_reason if self.session is not None else None
        self.query_one(MappingsView).set_model(model, absent)
        self._mappings_info()

    def _mappings_info(self) -> None:
        m = self.mapping_model
        if m is None:
            return
        shown = f"{len(m):,} of {len(m.cols):,}" if m.filter_text else f"{len(m.cols):,}"
        extra = f"  filter: {m.filter_text}" if m.filter_text else f"  (/ to filter: {FILTER_HELP})"
        self.query_one("#mappings-info", Static).update(f"root 0 · {shown} mappings{extra}")

    def set_findings(self, findings: list[Finding], suppressed: int = 0) -> None:
        self.findings = findings
        for t in self.query(FindingsTable):
            t.set_findings(findings)
        self.query_one(PageTableTree).refresh_labels()
        n = len(findings)
        count = f"({n}" + (f", {suppressed} ok" if suppressed else "") + ")" if n or suppressed else ""
        self.query_one(TabbedContent).get_tab(FINDINGS).label = view_label(FINDINGS, count)
        self.checked = True
        self.show_verdict()

    def set_cpus(self, views: list[CpuView]) -> None:
        self.cpus = views
        table = self.query_one(CpusTable)
        table.set_views(views)
        first = table.current()
        self.query_one("#cpu-detail", Static).update(cpu_detail(first) if first else "the dump records no CPU state")
        faults = sum(1 for v in views if v.fault is not None and not v.fault.explanation.allowed)
        count = f"({len(views)}" + (f", {faults} fault" if faults else "") + ")" if views else ""
        self.query_one(TabbedContent).get_tab(CPUS).label = view_label(CPUS, count)

    def set_diff(self, rows: DiffRows, title: str) -> None:
        """The Diff view's content (only with ``--diff B``)."""
        self.query_one(DiffView).set_rows(rows)
        n = len(rows)
        text = f"{title} · {n} difference(s): - only in A, + only in B, ~ changed; enter: the VA in A's tree"
        self.query_one("#diff-info", Static).update(text)
        self.query_one(TabbedContent).get_tab(DIFF).label = view_label(DIFF, f"({n})")

    def set_coverage(self, coverage: PmoCoverage | None, why_not: str = "") -> None:
        self.coverage = coverage
        for c in self.query(CoverageView):
            c.set_coverage(coverage, why_not)
        self.show_verdict()

    def show_unusable(self, why: str) -> None:
        """The input could not be opened (the ``pmoview`` command refuses it before the screen; a
        script that builds the app itself gets it here): say so where the verdict would be."""
        self.query_one("#verdict", Static).update(Text.assemble(("✗ cannot open: ", "bold red"), why))

    def show_verdict(self) -> None:
        """The first thing read: what is wrong, and which key shows it."""
        self.query_one("#verdict", Static).update(verdict_text(self.findings, self.coverage, self.checked))

    def sync_marks(self) -> None:
        s = self.session
        if s is None:
            return
        names = {r.level: r.name for r in s.spaces[0].mode.levels}
        for t in self.query(MarksTable):
            t.set_marks(s.marks, names)
        self.query_one(PageTableTree).refresh_labels()
        self.query_one(EntryInspector).show(s, self._tree_data())
        n = len(s.marks)
        self.query_one(TabbedContent).get_tab(MARKS).label = view_label(MARKS, f"({n})" if n else "")

    # -- what the cursor is on -----------------------------------------------------------------------
    def _tree_data(self) -> NodeData | None:
        node = self.query_one(PageTableTree).cursor_node
        return node.data if node is not None else None

    def active_tab(self) -> str:
        return self.query_one(TabbedContent).active or TREE

    def target(self) -> Target | None:
        tab = self.active_tab()
        if tab == TREE:
            d = self._tree_data()
            if d is None:
                return None
            if d.row is None:
                return Target(d.space, (), None, None, False)
            return Target(d.space, d.path_key(), d.row.va_start, d.row.va_end, d.row.kind != "none")
        if tab == MAPPINGS:
            m = self.query_one(MappingsView).current()
            return None if m is None else Target(0, None, m.va_start, m.va_end, True)
        if tab == COVERAGE:
            cv = self.query(CoverageView)
            seg = cv.first().current() if cv else None
            if seg is None:
                return None
            return Target(0, None, seg.va_start, seg.va_start + seg.size, seg.status != "missing")
        if tab == FINDINGS:
            ft = self.query(FindingsTable)
            f = ft.first().current() if ft else None
            if f is None or f.va_start is None:
                return None
            path = path_key(f.paths[0]) if f.paths else None
            return Target(self._space_of(f), path, f.va_start, f.va_end, "missing" not in f.kind)
        return None

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action not in SESSION_ACTIONS:
            return True
        if self.session is None:
            return None
        if action in MARK_ACTIONS:
            if not self.session.marks_writable:
                return None
            t = self.target()
            if t is None:
                return None
            if action in ("mark_wrong", "mark_ok"):
                return True if t.present and t.path != () else None
            if action == "mark_missing":
                return True if not t.present and t.va_start is not None else None
        if action == "filter" and self.mapping_model is None:
            return None
        return True

    def _binding_state(self) -> tuple[bool | None, ...]:
        """What the footer shows of the actions that depend on the session and the cursor."""
        return tuple(self.check_action(action, ()) for action in SORTED_SESSION_ACTIONS)

    def refresh_bindings(self) -> None:
        # every refresh (ours, or Textual's on a focus change) notes the state the footer then shows
        self._shown_bindings = self._binding_state()
        super().refresh_bindings()

    def _refresh_bindings_if_changed(self) -> None:
        """Each refresh makes the footer remount every key (50-150 ms of the event loop on a 160x50 screen,
        measured): a cursor move asks for one only when an action's availability changed, and only once
        the cursor has rested (``BINDINGS_SETTLE``), so a held arrow key is not slowed by the footer."""
        if self._bindings_timer is not None:
            self._bindings_timer.stop()
        self._bindings_timer = self.set_timer(BINDINGS_SETTLE, self._settled_bindings)

    def _settled_bindings(self) -> None:
        self._bindings_timer = None
        if self._binding_state() != self._shown_bindings:
            self.refresh_bindings()

    def on_tree_node_highlighted(self, event: Tree.NodeHighlighted[NodeData]) -> None:
        self.query_one(EntryInspector).show(self.session, event.node.data)
        self._refresh_bindings_if_changed()

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        self._refresh_bindings_if_changed()  # the focus moving with the view has refreshed them, mostly

    def on_mappings_view_cursor_moved(self, event: MappingsView.CursorMoved) -> None:
        self._refresh_bindings_if_changed()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if isinstance(event.control, FindingsTable):
            f = event.control.current()
            self.query_one("#finding-detail", Static).update(_finding_detail(f) if f is not None else "")
        elif isinstance(event.control, CpusTable):
            v = event.control.current()
            self.query_one("#cpu-detail", Static).update(cpu_detail(v) if v is not None else "")
        self._refresh_bindings_if_changed()

    # -- actions -------------------------------------------------------------------------------------
    def action_view(self, tab: str) -> None:
        tabs = self.query_one(TabbedContent)
        if tabs.get_tab(tab).display is False:  # the Diff view without --diff
            self.notify("start with pmoview A --diff B to compare A with a second dump B", timeout=4)
            return
        tabs.active = tab
        pane = self.query_one(f"#{tab}", TabPane)
        focusable = [w for w in pane.query("*") if w.can_focus]
        if focusable:
            focusable[0].focus()

    def _space_of(self, finding: Finding) -> int:
        """Which root a finding is about (``Finding.root`` is its top table's PA)."""
        return self._space_of_root(finding.root)

    def _space_of_root(self, table: int | None) -> int:
        if self.session is not None and table is not None:
            for i, r in enumerate(self.session.roots):
                if r.table == table:
                    return i
        return 0

    def _space_index(self) -> int:
        d = self._tree_data()
        return d.space if d is not None else 0

    def action_goto(self) -> None:
        def done(text: str | None) -> None:
            if text:
                self.actions.goto_va(self._space_index(), parse_address(text))

        self.app.push_screen(
            PromptScreen(
                "Go to VA",
                placeholder="0xffff800000000000",
                help_text="expands the tree to the leaf, or to where the walk stops",
                check=address_problem,
            ),
            done,
        )

    def action_find_pa(self) -> None:
        def done(text: str | None) -> None:
            if text:
                self.actions.find_pa(self._space_index(), parse_address(text))

        self.app.push_screen(
            PromptScreen("Find PA (every VA that maps it)", placeholder="0x1000000", check=address_problem), done
        )

    def show_reverse(self, space: int, pa: int, vas: list[int]) -> None:
        if not vas:
            self.notify(f"no VA maps {pa:#x}", severity="warning")
            return
        choices = [(va, f"{va:#018x}") for va in vas[:2000]]
        title = f"{len(vas)} VA(s) map {pa:#x}" + (" (first 2000)" if len(vas) > 2000 else "")

        def done(va: int | None) -> None:
            if va is not None:
                self.actions.goto_va(space, va)

        self.app.push_screen(ChoiceScreen(title, choices), done)

    def action_filter(self) -> None:
        model = self.mapping_model
        if model is None:  # check_action offers the filter only once the mappings are there
            return

        def problem(text: str) -> str | None:
            try:
                model.apply(text)
            except FilterError as exc:
                return str(exc)
            return None

        def done(text: str | None) -> None:
            if text is None:
                return
            self.query_one(MappingsView).apply_filter(text)
            self._mappings_info()
            self.action_view(MAPPINGS)

        old = model.filter_text
        self.app.push_screen(
            PromptScreen(
                "Filter mappings",
                value=old,
                placeholder="rw x 0xffff800000000000-0xffff900000000000",
                help_text=FILTER_HELP,
                check=problem,
            ),
            done,
        )

    def _mark(self, kind: str, note: str = "") -> None:
        t = self.target()
        s = self.session
        if t is None or s is None:
            return
        root = s.roots[t.space].table
        path = None if kind == "missing" else t.path
        if path is None and t.va_start is None:
            return
        va0, va1 = (t.va_start, t.va_end) if t.va_start is not None else (None, None)
        m = s.marks.add(kind, root, path, va0, va1, note)
        self.actions.save_marks()
        self.sync_marks()
        self.notify(f"{m.id}: marked {kind}" + (f" ({note})" if note else ""), timeout=2)

    def action_mark_wrong(self) -> None:
        self._mark("wrong")

    def action_mark_ok(self) -> None:
        self._mark("ok")

    def action_mark_missing(self) -> None:
        self._mark("missing")

    def action_note(self) -> None:
        def done(text: str | None) -> None:
            if text:
                self._mark("note", text)

        self.app.push_screen(PromptScreen("Note", placeholder="what is wrong or expected here"), done)

    def action_export(self) -> None:
        s = self.session
        if s is None:
            return

        def done(text: str | None) -> None:
            if text:
                self.actions.export(text)

        default = s.dump_path + ".pmoview-report"
        self.app.push_screen(PromptScreen("Export report to (…md and …json)", value=default), done)

    # -- jumps from the other views -------------------------------------------------------------------
    def reveal_path(self, space: int, path: Iterable[tuple[int, int]]) -> None:
        self.action_view(TREE)
        self.query_one(PageTableTree).reveal(space, list(path))

    def on_mappings_view_mapping_chosen(self, event: MappingsView.MappingChosen) -> None:
        self.actions.goto_va(0, event.mapping.va_start)

    def on_findings_table_finding_chosen(self, event: FindingsTable.FindingChosen) -> None:
        f = event.finding
        space = self._space_of(f)
        if f.paths:
            self.reveal_path(space, path_key(f.paths[0]))
        elif f.va_start is not None:
            self.actions.goto_va(space, f.va_start)

    def on_cpus_table_cpu_chosen(self, event: CpusTable.CpuChosen) -> None:
        """The fault's walk in the tree (down to the entry that denies it), else the PC's."""
        v = event.view
        if v.root is None or self.session is None:
            self.notify(f"CPU {v.index} has no page-table root", severity="warning")
            return
        space = next((i for i, r in enumerate(self.session.roots) if r.table == v.root.table), None)
        if space is None:
            self.notify(f"root {v.root.table:#x} of CPU {v.index} is not among the open roots", severity="warning")
            return
        f = v.fault
        if f is not None and f.explanation.path:
            self.reveal_path(space, path_key(f.explanation.path))
        elif v.pc is not None:
            self.actions.goto_va(space, v.pc)

    def on_diff_view_va_chosen(self, event: DiffView.VaChosen) -> None:
        self.actions.goto_va(0, event.va)

    def on_marks_table_mark_chosen(self, event: MarksTable.MarkChosen) -> None:
        m = event.mark
        space = self._space_of_root(m.root)
        if m.path:
            self.reveal_path(space, m.path)
        elif m.va_start is not None:
            self.actions.goto_va(space, m.va_start)

    def on_marks_table_mark_removed(self, event: MarksTable.MarkRemoved) -> None:
        if self.session is None:
            return
        self.session.marks.remove(event.mark.id)
        self.actions.save_marks()
        self.sync_marks()
        self.notify(f"{event.mark.id} removed", timeout=2)

    def on_coverage_view_segment_chosen(self, event: CoverageView.SegmentChosen) -> None:
        self.actions.goto_va(0, event.va)

    def on_page_table_tree_table_loaded(self, event: PageTableTree.TableLoaded) -> None:
        if event.node.parent is self.query_one(PageTableTree).root:  # a root table: the first thing seen
            self.query_one(EntryInspector).show(self.session, self._tree_data())
            self.refresh_bindings()

    def on_page_table_tree_revealed(self, event: PageTableTree.Revealed) -> None:
        if self.inspector_wanted is None and not self.inspector_shown():
            self.inspector_wanted = True  # a go-to asks about one entry: show it (i hides it again)
            self._layout()
            if event.node is not None:  # the tree just got shorter: keep the entry in view
                tree = self.query_one(PageTableTree)
                node = event.node
                self.call_after_refresh(lambda: tree.call_after_refresh(tree.scroll_to_node, node, animate=False))
        if event.node is not None:
            self.query_one(EntryInspector).show(self.session, event.node.data)
            self.query_one(PageTableTree).focus()
        self.refresh_bindings()

"""The main screen's views (its tabs), registered in one place.

Adding a view: write its widget in ``pmoview/tui/widgets/`` and add one ``View`` row to ``VIEWS``. The
row gives the tab (pane id and title), its digit key (its place in ``VIEWS``), its command-palette entry
(``view: <name>``) and its line in the help. A widget that shows what the dump holds implements
``SessionView``: the main screen hands it the session when the dump is open (``Lazy`` widgets are
mounted right after the first paint, long before a dump is open).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.lazy import Lazy
from textual.widgets import Static

from pmoview.tui.widgets.coverage_view import CoverageView
from pmoview.tui.widgets.cpus_table import CpusTable
from pmoview.tui.widgets.diff_view import DiffView
from pmoview.tui.widgets.entry_inspector import EntryInspector
from pmoview.tui.widgets.findings_table import FindingsTable
from pmoview.tui.widgets.log_view import LogView
from pmoview.tui.widgets.mappings_view import MappingsView
from pmoview.tui.widgets.marks_table import MarksTable
from pmoview.tui.widgets.pagetable_tree import PageTableTree

if TYPE_CHECKING:
    from pmoview.tui.session import Session


@runtime_checkable
class SessionView(Protocol):
    """A view widget that shows the open session's data (CPUs, a log, ...)."""

    def show_session(self, session: Session) -> None: ...


@dataclass(frozen=True)
class View:
    """One view of the TUI: its tab, key, palette entry and help, registered in one place."""

    name: str  # "tree": pane id "tab-tree", palette "view: tree", binding id "main.view_tree"
    title: str  # the tab's label
    help: str  # what the palette and the help say about it
    content: Callable[[], ComposeResult]  # the pane's widgets

    @property
    def id(self) -> str:
        return f"tab-{self.name}"


def _tree() -> ComposeResult:
    with Horizontal(id="tree-split"):
        yield PageTableTree(id="pt-tree")
        yield EntryInspector(id="inspector")


def _mappings() -> ComposeResult:
    with Vertical():
        yield Static("mappings appear when the walk is done", id="mappings-info")
        yield MappingsView(id="mappings")


def _coverage() -> ComposeResult:
    # Not Lazy: the checks' results are pushed to these views when they arrive, and a Lazy widget
    # mounted after that (a slow first paint, a pre-opened dump) stayed empty.
    yield CoverageView(id="coverage")


def _findings() -> ComposeResult:
    with Vertical():
        yield FindingsTable(id="findings")
        yield Static("", id="finding-detail")


def _marks() -> ComposeResult:
    yield MarksTable(id="marks")


def _cpus() -> ComposeResult:
    with Vertical():
        yield CpusTable(id="cpus")
        yield Static("CPU records appear when the dump is open", id="cpu-detail")


def _diff() -> ComposeResult:
    with Vertical():
        yield Static("start with `pmoview A --diff B` to compare A with a second dump B", id="diff-info")
        yield DiffView(id="diff")


def _log() -> ComposeResult:
    yield Lazy(LogView(id="kernel-log"))


VIEWS: tuple[View, ...] = (
    View("tree", "Tree", "Page-table tree and entry inspector", _tree),
    View("mappings", "Mappings", "ptdump-style mappings", _mappings),
    View("coverage", "Coverage", "PMO coverage of physical memory", _coverage),
    View("findings", "Findings", "Findings of the checks", _findings),
    View("marks", "Marks", "Your marks on this dump", _marks),
    View("cpus", "CPUs", "Each CPU: mode, PC, root and its last fault explained", _cpus),
    View("diff", "Diff", "What the --diff dump maps differently", _diff),
    View("log", "Log", "The kernel log (printk ring buffer) and the oops or panic in it", _log),
)
if len(VIEWS) > 9:
    raise RuntimeError("views are switched with the keys 1-9")

# The ids the main screen refers to by name.
TREE, MAPPINGS, COVERAGE, FINDINGS, MARKS, CPUS, DIFF = (
    f"tab-{n}" for n in ("tree", "mappings", "coverage", "findings", "marks", "cpus", "diff")
)
if not {TREE, MAPPINGS, COVERAGE, FINDINGS, MARKS, CPUS, DIFF} <= {v.id for v in VIEWS}:
    raise RuntimeError("a view the main screen needs is not registered")


def view_key(view: View) -> str:
    """The digit that switches to ``view``: its place in ``VIEWS``."""
    return str(VIEWS.index(view) + 1)


def view_action(view: View) -> str:
    return f"view('{view.id}')"


def view_label(view_id: str, extra: str = "") -> str:
    """A tab's label with its key first (content markup): a newcomer reads "4 Findings (2)"."""
    view = next(v for v in VIEWS if v.id == view_id)
    return f"[b u]{view_key(view)}[/] {view.title}" + (f" {extra}" if extra else "")

"""The pmoview app: opens the dump in workers and feeds the main screen with Messages.

Order of work after start (each a thread worker; the screen is up before any of them runs):
load (dump, kernel, roots, marks) → walk root 0 (mappings) → checks (findings and PMO coverage) → walk
the other roots. Tree tables load on expand in the tree's own workers. Nothing here touches a widget
from a thread: threads ``post_message`` and the handlers run on the event loop.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any, ClassVar

from textual import work
from textual.app import App
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.worker import Worker, WorkerState, get_current_worker

from pmoview.checks import PmoCoverage
from pmoview.checks.export import export, write_export
from pmoview.cpus import cpu_views
from pmoview.diff import diff_spaces
from pmoview.inputs import InputOptions, open_inputs
from pmoview.marks import atomic_write
from pmoview.tui.commands import PmoviewProvider
from pmoview.tui.diff_rows import DiffRows
from pmoview.tui.mapping_model import MappingModel
from pmoview.tui.screens.main import MainScreen
from pmoview.tui.session import Session, SessionOptions, open_session


class PmoviewApp(App[int]):
    """Page-table inspector for one dump. Build it with ``make_app``."""

    CSS_PATH = "pmoview.tcss"
    TITLE = "pmoview"
    COMMANDS = App.COMMANDS | {PmoviewProvider}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit", id="app.quit", tooltip="Quit (marks are already saved)"),
        Binding("question_mark", "help", "Help", key_display="?", id="app.help", tooltip="Keys and symbols"),
        Binding(
            "r",
            "reread",
            "Re-read",
            id="app.reread",
            tooltip="Read the dump again; for a live guest, a new snapshot after it moved",
        ),
    ]

    class Progress(Message):
        """Loading progress; a newer one replaces an older one still in the queue."""

        def __init__(self, text: str, fraction: float | None) -> None:
            super().__init__()
            self.text = text
            self.fraction = fraction

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, PmoviewApp.Progress)

    class Loaded(Message):
        def __init__(self, session: Session) -> None:
            super().__init__()
            self.session = session

    class Walked(Message):
        def __init__(self, index: int, model: MappingModel) -> None:
            super().__init__()
            self.index = index
            self.model = model

    class Checked(Message):
        def __init__(self, findings: list[Any], note: str | None) -> None:
            super().__init__()
            self.findings = findings
            self.note = note

    class Covered(Message):
        def __init__(self, coverage: PmoCoverage | None, why_not: str) -> None:
            super().__init__()
            self.coverage = coverage
            self.why_not = why_not

    class CpusRead(Message):
        def __init__(self, views: list[Any]) -> None:
            super().__init__()
            self.views = views

    class Diffed(Message):
        def __init__(self, result: Any, title: str) -> None:
            super().__init__()
            self.result = result
            self.title = title

    class Translated(Message):
        def __init__(self, space: int, translation: Any) -> None:
            super().__init__()
            self.space = space
            self.translation = translation

    class Reversed(Message):
        def __init__(self, space: int, pa: int, vas: list[int]) -> None:
            super().__init__()
            self.space = space
            self.pa = pa
            self.vas = vas

    class Exported(Message):
        def __init__(self, paths: tuple[str, str]) -> None:
            super().__init__()
            self.paths = paths

    def __init__(self, options: SessionOptions, session: Session | None = None) -> None:
        super().__init__()
        self.started = time.monotonic()
        self.loaded_at: float | None = None  # time.monotonic() when the opened session arrived
        self.options = options
        self.session: Session | None = None
        self._opened = session  # opened (so validated) before the screen started: ``pmoview.main``
        self.main = MainScreen(self)
        self.sub_title = os.path.basename(options.inputs.dump)
        self._save_lock = threading.Lock()
        self._save_generation = 0

    def on_mount(self) -> None:
        self.push_screen(self.main)
        self.load()

    # -- workers -----------------------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="load", exit_on_error=False)
    def load(self, previous: Session | None = None) -> None:
        worker = get_current_worker()
        if previous is not None:  # wait for the workers reading it, then let go of it (a live connection)
            with previous.lock:
                previous.inputs.close()

        def progress(text: str, fraction: float | None) -> None:
            self.post_message(self.Progress(text, fraction))

        session, self._opened = self._opened, None  # the first load only: a re-read (r) opens anew
        if session is None:
            session = open_session(self.options, progress, lambda: worker.is_cancelled)
        if session is not None:
            self.post_message(self.Loaded(session))

    @work(thread=True, exclusive=True, group="walk", exit_on_error=False)
    def analyse(self, session: Session) -> None:
        worker = get_current_worker()
        self.post_message(self.Progress("walking the page tables of root 0…", 0.1))

        def walked(leaves: int) -> None:
            self.post_message(self.Progress(f"walking root 0: {leaves:,} leaves…", 0.1))

        cols = session.walk(0, walked)
        self.post_message(self.Walked(0, MappingModel.build(cols)))
        if worker.is_cancelled:
            return
        self.post_message(self.Progress("running checks…", 0.5))

        def checked(leaves: int) -> None:
            self.post_message(self.Progress(f"checks: {leaves:,} leaves…", 0.5))

        findings = session.check(checked)
        self.post_message(self.Checked(findings, session.checks_note))
        coverage = session.coverage(0)
        why_not = ""
        if coverage is None:
            why_not = session.checks_note or "the profile has no PMO region for this root"
        self.post_message(self.Covered(coverage, why_not))
        with session.lock:
            views = cpu_views(session.mem, session.roots, session.options.inputs.limits)
        self.post_message(self.CpusRead(views))
        if session.options.diff is not None:
            self.post_message(self.Progress(f"comparing with {session.options.diff.dump}…", 0.9))
            other = open_inputs(session.options.diff)
            try:
                with session.lock:
                    session.walk(0)  # cached: the diff reads nothing more of this dump
                # B's walk reads only B (this worker's own): the session's lock stays free for the tree
                result = diff_spaces(session.spaces[0], other.space(other.roots[0]))
            finally:
                other.close()
            title = f"A {session.roots[0].table:#x} ({session.dump_path}) · B {other.roots[0].table:#x} ({other.path})"
            self.post_message(self.Diffed(DiffRows.build(result), title))
        self.post_message(self.Progress(self._summary(session), 1.0))

    @work(thread=True, exclusive=True, group="check", exit_on_error=False)
    def recheck(self) -> None:
        """Run the checks again (marks changed: "ok" marks suppress findings, wrong/missing add some)."""
        s = self.session
        if s is None or not s.mappings:
            return  # the first analysis has not finished; it will read the marks itself
        findings = s.check()
        self.post_message(self.Checked(findings, None))

    @work(thread=True, exclusive=True, group="goto", exit_on_error=False)
    def goto_va(self, space: int, va: int) -> None:
        s = self.session
        assert s is not None
        with s.lock:
            t = s.spaces[space].translate(va)
        self.post_message(self.Translated(space, t))

    @work(thread=True, exclusive=True, group="reverse", exit_on_error=False)
    def find_pa(self, space: int, pa: int) -> None:
        s = self.session
        assert s is not None
        self.post_message(self.Progress(f"finding every VA that maps {pa:#x}…", 0.5))
        with s.lock:
            vas = s.spaces[space].reverse(pa)
        self.post_message(self.Reversed(space, pa, vas))

    @work(thread=True, exclusive=True, group="export", exit_on_error=False)
    def export(self, base: str) -> None:
        s = self.session
        assert s is not None
        names = {r.level: r.name for r in s.spaces[0].mode.levels}
        why = s.checks_note or "the checks have not finished"
        result = export(s.report, s.marks, dump=s.identity, roots=s.roots, level_names=names, why_no_report=why)
        self.post_message(self.Exported(write_export(result, base)))

    def save_marks(self) -> None:
        """Save the marks now: the JSON is made here, a thread writes it (the newest save wins)."""
        s = self.session
        if s is None or not s.marks_writable:
            return
        self._save_generation += 1
        self._write_marks(s.marks.path, s.marks.dumps(), self._save_generation)
        self.recheck()

    @work(thread=True, group="save", exit_on_error=False)
    def _write_marks(self, path: str, text: str, generation: int) -> None:
        with self._save_lock:
            if generation == self._save_generation:
                atomic_write(path, text)

    # -- results -----------------------------------------------------------------------------------
    def _summary(self, s: Session) -> str:
        maps = sum(len(m) for m in s.mappings.values())
        root = s.roots[0]
        taken = s.mem.info.details.get("snapshot_time")
        live = f" · snapshot {taken} (r re-reads)" if taken else ""
        # The findings are the verdict line's; this line stays within 80 columns.
        return f"{s.mem.format} · {root.mode} · {len(s.roots)} root(s) · {maps:,} mappings · {len(s.marks)} marks{live}"

    def on_pmoview_app_progress(self, message: Progress) -> None:
        if not self.main.is_attached:  # quitting: results that arrive now are dropped
            return
        self.main.set_status(message.text, message.fraction)

    def on_pmoview_app_loaded(self, message: Loaded) -> None:
        if not self.main.is_attached:  # quitting: results that arrive now are dropped
            return
        self.session = s = message.session
        self.loaded_at = time.monotonic()
        self.main.set_session(s)
        taken = s.mem.info.details.get("snapshot_time")
        live = f" · snapshot {taken}" if taken else ""
        self.main.set_status(f"{s.mem.format} · {len(s.roots)} root(s){live} · walking…", 0.1)
        if s.marks_error:
            self.notify(s.marks_error, title="marks not loaded", severity="error", timeout=20)
        elif s.marks_warning:
            self.notify(s.marks_warning, title="marks", severity="warning", timeout=10)
        for text in s.inputs.warnings:  # a --cr3/--ttbr that looks like no page table
            self.notify(text, title="root", severity="warning", timeout=20)
        self.analyse(s)

    def on_pmoview_app_walked(self, message: Walked) -> None:
        if not self.main.is_attached:  # quitting: results that arrive now are dropped
            return
        self.main.set_mappings(message.model)

    def on_pmoview_app_checked(self, message: Checked) -> None:
        if not self.main.is_attached:  # quitting: results that arrive now are dropped
            return
        self.main.set_findings(
            message.findings,
            len(self.session.report.suppressed) if self.session is not None and self.session.report is not None else 0,
        )
        if self.session is not None and not any(w.group == "walk" and not w.is_finished for w in self.workers):
            self.main.set_status(self._summary(self.session), 1.0)
        if message.note:
            self.notify(message.note, severity="warning", timeout=6)

    def on_pmoview_app_covered(self, message: Covered) -> None:
        if not self.main.is_attached:  # quitting: results that arrive now are dropped
            return
        self.main.set_coverage(message.coverage, message.why_not)

    def on_pmoview_app_cpus_read(self, message: CpusRead) -> None:
        if not self.main.is_attached:  # quitting: results that arrive now are dropped
            return
        self.main.set_cpus(message.views)

    def on_pmoview_app_diffed(self, message: Diffed) -> None:
        if not self.main.is_attached:  # quitting: results that arrive now are dropped
            return
        self.main.set_diff(message.result, message.title)

    def on_pmoview_app_translated(self, message: Translated) -> None:
        if not self.main.is_attached:  # quitting: results that arrive now are dropped
            return
        t = message.translation
        from pmoview.tui.widgets.entry_inspector import EntryInspector

        self.main.query_one(EntryInspector).translation = t
        self.main.reveal_path(message.space, [e.key() for e in t.path])
        if t.pa is None:
            self.notify(f"{t.va:#x}: {t.reason}", severity="warning", timeout=4)

    def on_pmoview_app_reversed(self, message: Reversed) -> None:
        if not self.main.is_attached:  # quitting: results that arrive now are dropped
            return
        if self.session is not None:
            self.main.set_status(self._summary(self.session), 1.0)
        self.main.show_reverse(message.space, message.pa, message.vas)

    def on_pmoview_app_exported(self, message: Exported) -> None:
        if not self.main.is_attached:  # quitting: results that arrive now are dropped
            return
        self.notify("report written: " + ", ".join(message.paths), timeout=8)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state != WorkerState.ERROR:
            return
        error: Any = event.worker.error
        text = str(error.one_line()) if hasattr(error, "one_line") else f"{type(error).__name__}: {error}"
        if event.worker.group == "load":
            self.main.set_status(f"[b red]cannot open:[/] {text}", None)
            self.main.show_unusable(text)
        self.notify(text, title=f"{event.worker.group} failed", severity="error", timeout=15)

    def action_reread(self) -> None:
        """Open everything again: a live guest is read anew (registers, roots, tables), a file re-opened."""
        if any(w.group == "load" and not w.is_finished for w in self.workers):
            return
        previous, self.session = self.session, None
        self.main.set_status(f"re-reading {self.options.inputs.dump}…", 0.05)
        self.load(previous)

    def action_help(self) -> None:
        from pmoview.tui.screens.help import HelpScreen  # Markdown is slow to import: not before it is needed

        self.push_screen(HelpScreen())


def make_app(
    inputs: InputOptions,
    *,
    profile: str | None = None,
    spec: str | None = None,
    marks: str | None = None,
    diff: InputOptions | None = None,
    session: Session | None = None,
) -> PmoviewApp:
    """The app for ``inputs`` (dump, kernel, roots, limits), checked against ``profile``/``spec``, with
    marks in the sidecar ``marks`` (default: beside the dump); ``diff``: a second dump for the Diff view;
    ``session``: the same already opened (``open_session``), so unusable input is refused before the
    screen starts."""
    return PmoviewApp(SessionOptions(inputs, profile=profile, spec=spec, marks=marks, diff=diff), session)

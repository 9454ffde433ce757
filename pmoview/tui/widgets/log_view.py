"""The kernel log of the dump (printk ring buffer via VMCOREINFO) with the oops or panic it records
summarised on top. Read in a worker thread when the dump is open: the screen never waits for it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual import work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Log, Static

from parsers.errors import DumpFormatError
from pmoview.kernel_log import KernelLog, Oops, find_oops, read_kernel_log

if TYPE_CHECKING:
    from pmoview.tui.session import Session


def oops_summary(oops: Oops | None, log: KernelLog) -> str:
    head = f"{len(log.records):,} records ({log.layout})"
    if log.missing:
        head += f", {log.missing} not in the dump"
    if oops is None:
        return head + " · no oops or panic"
    parts = [f"{k}: {v}" for k, v in oops.to_json().items() if v is not None]
    return head + "\n" + " · ".join(parts)


class LogView(Vertical):
    """The log, oldest first; the summary line names the panic message, fault address, access, CPU."""

    def compose(self) -> ComposeResult:
        yield Static("the kernel log is read when the dump is open", id="log-summary")
        yield Log(id="log-lines", highlight=False)

    def on_mount(self) -> None:
        # mounted lazily: the dump may have been opened before this view existed
        session = getattr(self.screen, "session", None)
        if session is not None:
            self._read(session)

    def show_session(self, session: Session) -> None:
        self._read(session)

    @work(thread=True, exclusive=True, group="kernel-log")
    def _read(self, session: Session) -> None:
        root = next((r for r in session.roots if getattr(r, "kind", None) == "kernel"), None)
        try:
            if root is None:
                raise DumpFormatError(session.dump_path, None, "a kernel root to read the log through", "none")
            log = read_kernel_log(session.mem, root)
        except DumpFormatError as exc:
            self.app.call_from_thread(self._show_error, exc.one_line())
            return
        self.app.call_from_thread(self._show, log, find_oops(log))

    def _show_error(self, text: str) -> None:
        self.query_one("#log-summary", Static).update(f"no kernel log: {text}")

    def _show(self, log: KernelLog, oops: Oops | None) -> None:
        self.query_one("#log-summary", Static).update(oops_summary(oops, log))
        lines = self.query_one("#log-lines", Log)
        lines.clear()
        lines.write_lines(r.line() for r in log.records)

    def log_text(self) -> Any:
        return self.query_one("#log-lines", Log).lines

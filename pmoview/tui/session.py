"""What the TUI has open: the dump, kernel, roots, one AddressSpace per root, marks and findings.

No Textual here; opening is the model's (``pmoview.inputs.open_inputs``). Every call that reads the
dump runs in a worker thread and holds ``Session.lock``: the memory backends and the walker keep LRU
caches that are not safe to share between threads. The long walk lends the lock out between chunks of
leaves, so the tree's tables still load while a huge tree is walked. ``open_session`` reports progress
through a callback and checks a cancel callback between steps.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from pmoview.arch import Root
from pmoview.arch.columns import MappingColumns
from pmoview.checks import Finding, PmoCoverage, Report, run_checks
from pmoview.checks.index import FindingIndex
from pmoview.inputs import InputOptions, Inputs, open_inputs
from pmoview.kernel import KernelImage
from pmoview.marks import MarksError, MarkSet, dump_identity, identity_mismatch, load_marks, sidecar_path
from pmoview.memory import PhysicalMemory
from pmoview.memory.container import UnpackProgress
from pmoview.space import AddressSpace, LeafChunk

Progress = Callable[[str, float | None], None]
WalkProgress = Callable[[int], None]  # leaves walked so far
PROGRESS_EVERY = 0.1  # seconds between two walk progress reports


class LendingLock:
    """A re-entrant lock whose holder can let waiting threads go first between two steps of a long job
    (``lend``): the tree's table loads and a go-to-VA then wait for one chunk of a walk, not all of it."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._turn = threading.Condition(self._lock)
        self._count = threading.Lock()  # guards _waiting (+= is not atomic between threads)
        self._waiting = 0  # threads blocked in __enter__
        self._owner: int | None = None  # the holding thread and how deep it holds: set under the lock
        self._depth = 0

    def __enter__(self) -> LendingLock:
        with self._count:
            self._waiting += 1
        try:
            self._lock.acquire()
        finally:
            with self._count:
                self._waiting -= 1
        self._owner = threading.get_ident()
        self._depth += 1
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._depth -= 1
        if not self._depth:
            self._owner = None
        self._turn.notify_all()  # a lender waiting for its turn back
        self._lock.release()

    def lend(self, timeout: float = 0.5) -> None:
        """Between two steps of the holder's job: if other threads wait for the lock, release it (however
        deeply held) until one of them is done or ``timeout`` passes, then hold it again as before. A
        thread that does not hold the lock lends nothing."""
        me = threading.get_ident()
        if self._waiting > 0 and self._owner == me:
            depth = self._depth
            self._owner, self._depth = None, 0
            self._turn.wait(timeout)
            self._owner, self._depth = me, depth


@dataclass(frozen=True)
class SessionOptions:
    """What the TUI opens: the model's inputs, the checks' profile and spec, the marks sidecar."""

    inputs: InputOptions
    profile: str | None = None  # seed, linux-x86_64, linux-arm64; None: picked from the dump
    spec: str | None = None  # TOML layout spec extending the profile
    marks: str | None = None  # sidecar path; None: DUMP.pmoview-marks.json beside the dump
    diff: InputOptions | None = None  # a second dump to compare root 0 with (the Diff view)


@dataclass
class Session:
    """One open dump as the TUI holds it: the inputs, an address space per root, the marks, the checks'
    report, and the lock the workers share."""

    options: SessionOptions
    inputs: Inputs
    spaces: list[AddressSpace]
    marks: MarkSet
    marks_error: str | None = None  # the sidecar was refused: marks are not saved
    marks_warning: str | None = None
    identity: dict[str, Any] = field(default_factory=dict)
    lock: LendingLock = field(default_factory=LendingLock)
    mappings: dict[int, MappingColumns] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    finding_index: FindingIndex | None = None  # the tree's per-row severity, built with the findings
    report: Report | None = None
    checks_note: str | None = None

    def __repr__(self) -> str:
        return f"Session({self.dump_path!r}, roots={len(self.roots)}, marks={len(self.marks)})"

    @property
    def dump_path(self) -> str:
        return self.inputs.path

    @property
    def mem(self) -> PhysicalMemory:
        return self.inputs.mem

    @property
    def kernel(self) -> KernelImage | None:
        return self.inputs.kernel

    @property
    def roots(self) -> list[Root]:
        return self.inputs.roots

    @property
    def marks_writable(self) -> bool:
        return self.marks_error is None

    def __post_init__(self) -> None:
        for space in self.spaces:  # every walk (mappings, checks, a reverse lookup) lends the lock
            space.between_chunks = self._between_chunks
        self._walk_progress: WalkProgress | None = None
        self._leaves = 0
        self._reported = 0.0

    def _between_chunks(self, chunk: LeafChunk) -> None:
        if self._walk_progress is not None:
            self._leaves += len(chunk)
            if time.monotonic() - self._reported >= PROGRESS_EVERY:
                self._reported = time.monotonic()
                self._walk_progress(self._leaves)
        self.lock.lend()

    def walk(self, i: int, progress: WalkProgress | None = None) -> MappingColumns:
        """Every mapping of root ``i`` as columns (cached by the space); call from a worker. The lock is
        lent between chunks of leaves; ``progress`` hears the leaves walked so far, every 0.1 s."""
        with self.lock, self._counting(progress):
            cols: MappingColumns = self.spaces[i].columns()
        self.mappings[i] = cols
        return cols

    @contextmanager
    def _counting(self, progress: WalkProgress | None) -> Iterator[None]:
        """``progress`` hears the leaves walked meanwhile (call holding the lock)."""
        self._walk_progress, self._leaves, self._reported = progress, 0, time.monotonic()
        try:
            yield
        finally:
            self._walk_progress = None

    def check(self, progress: WalkProgress | None = None) -> list[Finding]:
        """Run the checks on root 0 ("ok" marks suppress findings, wrong/missing marks add some); a
        failure is kept in ``checks_note`` for the user and leaves the previous findings. ``progress``
        hears the leaves the checks' walks have gone through, every 0.1 s."""
        try:
            with self.lock, self._counting(progress):
                report = run_checks(
                    self.spaces[0],
                    self.mem,
                    self.options.profile,
                    kernel=self.kernel,
                    spec=self.options.spec,
                    marks=self.marks if self.marks_writable else None,
                )
        except Exception as exc:  # noqa: BLE001 - shown to the user; the tree and mappings still work
            self.checks_note = f"checks failed: {type(exc).__name__}: {exc}"
            return self.findings
        self.report = report
        findings = list(report.findings)
        self.finding_index = FindingIndex(findings)  # here, in the worker: its cost follows the findings
        self.findings = findings
        return self.findings

    def coverage(self, i: int) -> PmoCoverage | None:
        """The checks' PMO coverage of root ``i`` (its first PMO region), once ``check`` has run."""
        if self.report is None:
            return None
        table = self.roots[i].table
        return next((c for c in self.report.coverage if c.root == table), None)


def open_session(
    options: SessionOptions,
    progress: Progress | None = None,
    cancelled: Callable[[], bool] = lambda: False,
    unpack: UnpackProgress | None = None,
) -> Session | None:
    """Open everything the options name. Returns None when cancelled. Raises DumpFormatError for
    unusable input, including a dump with no page-table root. ``unpack`` hears how far the
    decompression of a compressed dump is."""
    say = progress or (lambda text, frac: None)
    inputs = open_inputs(options.inputs, lambda text: say(text, 0.3), unpack=unpack)
    if cancelled():
        inputs.close()
        return None
    spaces = [inputs.space(r) for r in inputs.roots]
    say("loading marks", 0.8)
    ident = dump_identity(inputs.path, inputs.mem.format)
    marks_path = options.marks or sidecar_path(inputs.path)
    error = warning = None
    try:
        marks = load_marks(marks_path, ident)
        warning = identity_mismatch(marks.dump, ident)
    except MarksError as exc:
        error = str(exc)
        marks = MarkSet(marks_path, ident, [])
    return Session(options, inputs, spaces, marks, error, warning, ident)

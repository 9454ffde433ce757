"""What the TUI has open: the dump, kernel, roots, one AddressSpace per root, marks and findings.

No Textual here. Every call that reads the dump runs in a worker thread and holds ``Session.lock``:
the memory backends and the walker keep LRU caches that are not safe to share between threads.
``open_session`` reports progress through a callback and checks a cancel callback between steps.
"""

from __future__ import annotations

import argparse
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pmoview.arch.columns import MappingColumns
from pmoview.marks import MarksError, MarkSet, dump_identity, identity_mismatch, load_marks, sidecar_path

Progress = Callable[[str, float | None], None]

# Options ``make_app`` accepts, with the defaults the CLI's argparse would give.
DEFAULTS: dict[str, Any] = {
    "dump_format": "auto",
    "base": None,
    "kernel": None,
    "system_map": None,
    "profile": None,
    "spec": None,
    "marks": None,
    "arch": None,
    "cr3": None,
    "la57": None,
    "nxe": "auto",
    "maxphyaddr": 52,
    "ttbr0": None,
    "ttbr1": None,
    "tcr": None,
    "mair": None,
    "cpu": None,
    "root_symbol": [],
    "max_tables": None,
}


def options_namespace(dump_path: str, **options: Any) -> argparse.Namespace:
    unknown = set(options) - set(DEFAULTS)
    if unknown:
        raise TypeError(f"unknown option(s): {', '.join(sorted(unknown))}")
    return argparse.Namespace(dump=dump_path, **{**DEFAULTS, **{k: v for k, v in options.items() if v is not None}})


@dataclass(frozen=True)
class SimpleFinding:
    """A finding made here when ``pmoview.checks`` is not available: the walker's anomalies."""

    kind: str
    severity: str
    va_start: int | None
    va_end: int | None
    pa_start: int | None
    pa_end: int | None
    message: str
    paths: tuple[tuple[tuple[int, int], ...], ...] = ()


@dataclass
class Session:
    args: argparse.Namespace
    mem: Any
    kernel: Any
    roots: list[Any]
    spaces: list[Any]
    marks: MarkSet
    marks_error: str | None = None  # the sidecar was refused: marks are not saved
    marks_warning: str | None = None
    identity: dict[str, Any] = field(default_factory=dict)
    lock: threading.RLock = field(default_factory=threading.RLock)
    mappings: dict[int, MappingColumns] = field(default_factory=dict)
    findings: list[Any] = field(default_factory=list)
    report: Any = None
    checks_note: str | None = None

    def __repr__(self) -> str:
        return f"Session({self.dump_path!r}, roots={len(self.roots)}, marks={len(self.marks)})"

    @property
    def dump_path(self) -> str:
        return str(self.args.dump)

    @property
    def marks_writable(self) -> bool:
        return self.marks_error is None

    def walk(self, i: int) -> MappingColumns:
        """Every mapping of root ``i`` as columns (cached by the space); call from a worker."""
        with self.lock:
            cols: MappingColumns = self.spaces[i].columns()
        self.mappings[i] = cols
        return cols

    def check(self) -> list[Any]:
        """Run ``pmoview.checks`` (when installed) or turn the walk's anomalies into findings."""
        findings: list[Any] = []
        run_checks: Callable[..., Any] | None
        try:
            from pmoview.checks import run_checks
        except ImportError:
            run_checks = None
        if run_checks is not None:
            try:
                with self.lock:
                    report = _call_checks(run_checks, self)
                self.report = report
                findings = list(getattr(report, "findings", []) or [])
            except Exception as exc:  # noqa: BLE001 - shown to the user, the anomalies still are
                self.checks_note = f"checks failed: {type(exc).__name__}: {exc}"
        else:
            self.checks_note = "pmoview.checks is not installed: findings are the walker's anomalies"
        if self.report is None:
            for space in self.spaces:
                for a in space.anomalies:
                    findings.append(
                        SimpleFinding(
                            a.kind,
                            "warning" if a.kind not in ("shared-table",) else "info",
                            a.va_start,
                            a.va_end,
                            a.table_pa,
                            None,
                            a.detail,
                            (tuple(e.key() for e in a.path),) if a.path else (),
                        )
                    )
        self.findings = findings
        return findings


def _call_checks(run_checks: Callable[..., Any], s: Session) -> Any:
    """``run_checks(spaces, mem, profile, kernel=, spec=, marks=)``: "ok" marks suppress findings."""
    return run_checks(
        s.spaces, s.mem, s.args.profile, kernel=s.kernel, spec=s.args.spec, marks=s.marks if s.marks_writable else None
    )


def open_session(
    args: argparse.Namespace, progress: Progress | None = None, cancelled: Callable[[], bool] = lambda: False
) -> Session | None:
    """Open everything the command line names. Returns None when cancelled. Raises DumpFormatError
    for unusable input and ValueError when no root is found."""
    from pmoview.cli.common import open_inputs
    from pmoview.roots import find_roots, options_from_args
    from pmoview.space import AddressSpace, WalkLimits

    say = progress or (lambda text, frac: None)
    say(f"opening {args.dump}", 0.1)
    opened = open_inputs(args)
    if cancelled():
        return None
    say("finding page-table roots", 0.5)
    roots = find_roots(opened.mem, opened.kernel, options_from_args(args))
    if not roots:
        raise ValueError(
            "no page-table root found (CPU state, VMCOREINFO, kernel symbol or scan); give --cr3 or --ttbr1"
        )
    limits = WalkLimits(max_tables=args.max_tables) if args.max_tables else WalkLimits()
    spaces = [AddressSpace(opened.mem, r, limits=limits) for r in roots]
    if cancelled():
        return None
    say("loading marks", 0.8)
    ident = dump_identity(args.dump, opened.mem.format)
    marks_path = args.marks or sidecar_path(args.dump)
    error = warning = None
    try:
        marks = load_marks(marks_path, ident)
        warning = identity_mismatch(marks.dump, ident)
    except MarksError as exc:
        error = str(exc)
        marks = MarkSet(marks_path, ident, [])
    return Session(args, opened.mem, opened.kernel, roots, spaces, marks, error, warning, ident)

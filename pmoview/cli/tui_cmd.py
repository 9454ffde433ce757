"""``pmoview tui DUMP`` (and plain ``pmoview DUMP``): the command line of the interactive inspector.

The CLI never imports the TUI: the ``pmoview`` command (``pmoview.main``) hands ``cli.main`` the function
that runs it, so ``pmoview.cli`` and ``pmoview.tui`` stay independent and headless commands never
load Textual."""

from __future__ import annotations

import argparse
from dataclasses import replace
from typing import Protocol

from pmoview.cli.options import PROFILES, add_dump_options, add_root_options, input_options
from pmoview.inputs import InputOptions


class TuiRunner(Protocol):
    """Runs the TUI until it quits; returns the exit status."""

    def __call__(
        self,
        inputs: InputOptions,
        *,
        profile: str | None,
        spec: str | None,
        marks: str | None,
        diff: InputOptions | None = None,
    ) -> int: ...


class NoTuiError(Exception):
    """``cli.main`` was called without a TUI runner (a headless embedding) for the ``tui`` command."""


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("tui", help="the interactive inspector (the default: pmoview DUMP)")
    add_dump_options(p)
    add_root_options(p)
    p.add_argument(
        "--profile", metavar="P", choices=PROFILES, help=f"expected layout: {', '.join(PROFILES)} (default: guessed)"
    )
    p.add_argument("--spec", metavar="FILE", help="layout spec (TOML) for the checks")
    p.add_argument("--marks", metavar="FILE", help="marks sidecar (default: DUMP.pmoview-marks.json beside the dump)")
    p.add_argument("--diff", metavar="B", help="a second dump: the Diff view shows what it maps differently")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    runner: TuiRunner | None = args.tui_runner
    if runner is None:
        raise NoTuiError("the TUI is started by the pmoview command (pmoview.main), not by pmoview.cli.main")
    inputs = input_options(args)
    diff = None if args.diff is None else replace(inputs, dump=args.diff)
    if diff is None:  # a runner written before --diff existed keeps working
        return runner(inputs, profile=args.profile, spec=args.spec, marks=args.marks)
    return runner(inputs, profile=args.profile, spec=args.spec, marks=args.marks, diff=diff)

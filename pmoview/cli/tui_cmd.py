"""``pmoview tui DUMP`` (and plain ``pmoview DUMP``): the interactive inspector. Textual is imported
only when the command runs, so the headless commands never load it."""

from __future__ import annotations

import argparse

from pmoview.cli.options import add_dump_options, add_root_options

APP_OPTIONS = (
    "dump_format",
    "base",
    "kernel",
    "system_map",
    "profile",
    "spec",
    "marks",
    "arch",
    "cr3",
    "la57",
    "nxe",
    "maxphyaddr",
    "ttbr0",
    "ttbr1",
    "tcr",
    "mair",
    "cpu",
    "root_symbol",
    "max_tables",
)


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("tui", help="the interactive inspector (the default: `pmoview DUMP`)")
    add_dump_options(p)
    add_root_options(p)
    p.add_argument("--profile", metavar="P", help="expected layout: seed, linux-x86_64, linux-arm64 (default: guessed)")
    p.add_argument("--spec", metavar="FILE", help="layout spec (TOML) for the checks")
    p.add_argument("--marks", metavar="FILE", help="marks sidecar (default: DUMP.pmoview-marks.json beside the dump)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    # The dump, kernel and roots are opened before the screen starts: input that cannot be used is one
    # line on stderr and exit 2, as for every other command, not an empty screen with a toast.
    from pmoview.tui.session import open_session, options_namespace

    options = {k: getattr(args, k) for k in APP_OPTIONS if getattr(args, k, None) is not None}
    session = open_session(options_namespace(args.dump, **options))
    assert session is not None  # nothing cancels it here
    from pmoview.tui.app import make_app

    app = make_app(args.dump, session=session, **options)
    result = app.run()
    return int(result or 0)

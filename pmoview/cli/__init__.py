"""Command line: ``pmoview DUMP`` opens the TUI; ``info``, ``translate``, ``mappings``, ``check``, ``explain``,
``cpus``, ``diff``, ``log`` are headless.

The headless commands never import Textual. Unusable input exits 2 with one line on stderr. The TUI is
run by the function ``pmoview.main`` passes in (``tui_runner``): the CLI never imports the TUI.
"""

from __future__ import annotations

import argparse
import difflib
import importlib
import os
import sys
from collections.abc import Callable, Sequence

from parsers.errors import DumpFormatError
from pmoview.arch.mode import UnsupportedPaging
from pmoview.cli import common, options
from pmoview.cli.tui_cmd import NoTuiError, TuiRunner
from pmoview.live.target import close_live_targets, live_notes

# command -> the module that registers it
COMMAND_MODULES = {
    "info": "info_cmd",
    "translate": "translate_cmd",
    "mappings": "translate_cmd",
    "check": "check_cmd",
    "explain": "explain_cmd",
    "cpus": "cpus_cmd",
    "diff": "diff_cmd",
    "snapshot": "snapshot_cmd",
    "log": "log_cmd",
    "tui": "tui_cmd",
}
COMMANDS = tuple(COMMAND_MODULES)


class UsageError(Exception):
    """A command-line value that cannot be used (exit 2)."""


DESCRIPTION = """\
pmoview shows what the page tables in a kernel memory dump really say, and checks the
direct map (PMO) and the kernel image mapping against the layout the kernel meant.

  pmoview DUMP                     the terminal UI (the same as: pmoview tui DUMP)
  pmoview COMMAND DUMP ...         headless: info, translate, mappings, check, explain, snapshot
  pmoview COMMAND --help           one command's options
"""

EPILOG = """\
examples:
  pmoview sample_dumps/seed-no-extension/dump.kdump.xz --kernel sample_dumps/seed-no-extension/kernel.elf
  pmoview info vmcore
  pmoview translate vmcore ffffffff81000000 0xffff888000100000
  pmoview mappings vmcore --supervisor --writable --exec
  pmoview check dump.kdump --kernel kernel.elf --format junit -o report.xml

exit status: 0 done (check: no error finding), 1 check found an error, 2 unusable input
(one line on stderr), 3 internal error (PMOVIEW_DEBUG=1 shows the traceback).
"""


def _build_parser(command: str | None = None) -> argparse.ArgumentParser:
    from pmoview import __version__

    parser = argparse.ArgumentParser(
        prog="pmoview",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"pmoview {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    # Only the module of the command asked for is imported: starting `translate` must not pay for `check`,
    # `cpus` or `diff` (docs: fast start). Without a known command, every one is registered for --help.
    wanted = COMMAND_MODULES.get(command or "")
    modules = (wanted,) if wanted else tuple(dict.fromkeys(COMMAND_MODULES.values()))
    for name in modules:
        importlib.import_module(f"pmoview.cli.{name}").register(sub)
    return parser


def _mistyped_command(word: str) -> str | None:
    """``pmoview infoo dump`` must not open the TUI on a file named ``infoo``: a first word that is no
    file and looks like a command is reported as the unknown command it is."""
    if os.path.exists(word):
        return None
    close = difflib.get_close_matches(word, COMMANDS, n=1, cutoff=0.6)
    if close:
        return f"unknown command {word!r} (did you mean {close[0]!r}?); commands: {', '.join(COMMANDS)}"
    return None


def main(argv: Sequence[str] | None = None, tui_runner: TuiRunner | None = None) -> int:
    """Run one command; the exit status. ``tui_runner`` runs ``pmoview tui`` (see ``pmoview.main``)."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    # ``pmoview DUMP ...`` is the TUI: the common case needs no subcommand.
    if args_list and args_list[0] not in COMMANDS and not args_list[0].startswith("-"):
        mistyped = _mistyped_command(args_list[0])
        if mistyped:
            print(f"pmoview: {mistyped}", file=sys.stderr)
            return 2
        args_list.insert(0, "tui")
    parser = _build_parser(args_list[0] if args_list else None)
    args = parser.parse_args(args_list)
    args.tui_runner = tui_runner
    if not args.command:
        parser.print_help()
        return 2
    run: Callable[[argparse.Namespace], int] = args.run
    try:
        code = run(args)
        for line in live_notes():
            common.note(line)
        common.flush_notes()
        return code
    except DumpFormatError as exc:
        common.PENDING_NOTES.clear()
        print(f"pmoview: {exc.one_line()}", file=sys.stderr)
        return 2
    except (UsageError, options.OptionError, NoTuiError) as exc:
        common.PENDING_NOTES.clear()
        print(f"pmoview: {exc}", file=sys.stderr)
        return 2
    except UnsupportedPaging as exc:  # a paging mode or parameter the walker has no rows for
        common.PENDING_NOTES.clear()
        print(f"pmoview: {getattr(args, 'dump', '')}: unsupported paging: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:  # never a traceback for a user; PMOVIEW_DEBUG=1 shows it
        if os.environ.get("PMOVIEW_DEBUG"):
            raise
        print(
            f"pmoview: internal error: {type(exc).__name__}: {exc} (set PMOVIEW_DEBUG=1 for a traceback)",
            file=sys.stderr,
        )
        return 3
    finally:
        close_live_targets()  # the guest's connection back as it was (PhyMemMode), now, not at exit


if __name__ == "__main__":
    sys.exit(main())

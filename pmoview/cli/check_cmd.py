"""``pmoview check DUMP``: judge the page tables against a profile; exit 0 clean, 1 on an error finding,
2 on unusable input. Output as text (a review), JSON, SARIF 2.1.0 or JUnit XML.

``--format`` is the *report* format (as the checks issue names it); the dump format is ``--dump-format``,
as for every command.
"""

from __future__ import annotations

import argparse
import sys

from parsers.errors import DumpFormatError
from pmoview.cli.common import note, open_for_command, warn_damage
from pmoview.cli.options import PROFILES, add_dump_options, add_root_options, parse_int, parse_va_range
from pmoview.marks import MarksError, MarkSet, load_marks

REPORT_FORMATS = ("text", "json", "sarif", "junit")
DESCRIPTION = """\
Judge the page tables against a profile: exit 0 clean, 1 on an error finding, 2 on unusable input.
Output as text (a review), JSON, SARIF 2.1.0 or JUnit XML. --format is the report format; the dump
format is --dump-format, as for every command.

examples:
  pmoview check dump.kdump --kernel kernel.elf
  pmoview check vmcore --all-roots --format json -o findings.json
  pmoview check dump.kdump --kernel kernel.elf --cpu-features nx --format junit > report.xml
"""


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "check",
        help="check the page tables against a profile (PMO, kernel image, W^X, ...)",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_dump_options(p)
    add_root_options(p)
    g = p.add_argument_group("checks")
    g.add_argument(
        "--format", dest="report_format", default="text", choices=REPORT_FORMATS, help="report format (default text)"
    )
    g.add_argument("-o", "--output", metavar="FILE", help="write the report here instead of stdout")
    g.add_argument(
        "--profile",
        metavar="P",
        choices=PROFILES,
        help=f"expected layout: {', '.join(PROFILES)} (default: picked from the dump)",
    )
    g.add_argument("--spec", metavar="FILE", help="TOML layout spec extending or overriding the profile")
    g.add_argument(
        "--marks",
        metavar="FILE",
        help="marks sidecar from the TUI: ok marks suppress findings, wrong/missing marks become user-mark findings",
    )
    g.add_argument(
        "--cpu-features",
        metavar="LIST",
        help="the CPU's features, comma-separated (pdpe1gb,nx,la57,...); "
        "'none' for none. Decides whether 1 GiB pages are valid",
    )
    g.add_argument("--allow-1g", action="store_true", help="accept 1 GiB pages without --cpu-features")
    g.add_argument(
        "--ram",
        action="append",
        type=parse_va_range,
        metavar="START-END",
        help="RAM range the PMO must cover (repeatable; overrides the Multiboot2 map)",
    )
    g.add_argument("--mb2-info", type=parse_int, metavar="ADDR", help="PA of the Multiboot2 boot information")
    g.add_argument("--no-ram-scan", action="store_true", help="do not scan low memory for Multiboot2 boot information")
    g.add_argument("--all-roots", action="store_true", help="check every root found (default: the best one)")
    p.set_defaults(run=run)


def _features(text: str | None) -> frozenset[str] | None:
    if text is None:
        return None
    if text.strip().lower() in ("", "none"):
        return frozenset()
    return frozenset(f.strip().lower() for f in text.split(",") if f.strip())


def run(args: argparse.Namespace) -> int:
    from pmoview.checks import CheckOptions, run_checks
    from pmoview.checks.report import render

    opened = open_for_command(args)
    roots = opened.roots
    for problem in opened.left_out:
        note(f"root left out: {problem}")
    chosen = roots if args.all_roots else roots[:1]
    if not args.all_roots and len(roots) > 1:
        note(
            f"checking the {chosen[0].mode} root at {chosen[0].table:#x} from {chosen[0].source} "
            f"({len(roots) - 1} other candidate(s): --all-roots checks them too)"
        )
    spaces = [opened.space(r) for r in chosen]
    marks = None
    if args.marks:
        marks = _load_marks(args.marks)
    options = CheckOptions(
        cpu_features=_features(args.cpu_features),
        allow_1g=args.allow_1g,
        ram=args.ram,
        mb2_info=args.mb2_info,
        scan_ram=not args.no_ram_scan,
        marks=marks,
    )
    report = run_checks(spaces, opened.mem, args.profile, kernel=opened.kernel, options=options, spec=args.spec)
    warn_damage(opened.mem)
    text = render(report, args.report_format)
    if args.output:
        try:
            with open(args.output, "w", encoding="utf-8") as fh:
                fh.write(text)
        except OSError as exc:
            raise DumpFormatError(args.output, None, "a writable report file", exc.strerror or str(exc)) from None
    else:
        sys.stdout.write(text)
    return report.exit_code


def _load_marks(path: str) -> MarkSet:
    try:
        return load_marks(path)
    except MarksError as exc:
        raise DumpFormatError(path, None, "a pmoview marks sidecar (version 1)", exc.problem) from None

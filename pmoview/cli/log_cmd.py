"""``pmoview log DUMP [--json]``: the kernel log from the dump's printk ring buffer, and the oops or
panic it records (fault address, access, CPU)."""

from __future__ import annotations

import argparse
import json

from parsers.errors import DumpFormatError
from pmoview.cli.common import note
from pmoview.cli.options import add_dump_options, add_root_options, input_options
from pmoview.inputs import open_inputs


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("log", help="the kernel log (printk ring buffer, via VMCOREINFO) and the oops/panic in it")
    add_dump_options(p)
    add_root_options(p)
    p.add_argument("--json", action="store_true", help="records and the oops as JSON")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from pmoview.kernel_log import find_oops, read_kernel_log  # only for this command

    opened = open_inputs(input_options(args))
    root = next((r for r in opened.roots if r.kind == "kernel"), None)
    if root is None:
        raise DumpFormatError(opened.path, None, "a kernel page-table root to read the kernel log through", "none")
    log = read_kernel_log(opened.mem, root)
    oops = find_oops(log)
    if log.missing:
        note(f"{log.missing} log record(s) are not in the dump (filtered out or never written)")
    if args.json:
        out = {
            "layout": log.layout,
            "root": root.to_json(),
            "records": [r.to_json() for r in log.records],
            "missing": log.missing,
            "oops": oops.to_json() if oops else None,
        }
        print(json.dumps(out, indent=2))
        return 0
    print(log.text)
    if oops:
        print()
        print("oops/panic:")
        for key, value in oops.to_json().items():
            if value is not None:
                print(f"  {key}: {value}")
    return 0

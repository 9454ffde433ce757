"""``pmoview snapshot qmp:PATH|qmp://HOST:PORT OUT [--format elf|kdump-zlib]``: keep a live guest as a
dump file (QEMU's ``dump-guest-memory``) that every other command reads, and that can be shared."""

from __future__ import annotations

import argparse
import os

from pmoview.cli.common import note


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "snapshot",
        help="write a live QEMU guest's memory to a dump file (QMP dump-guest-memory)",
        description="Keep a live QEMU guest as a dump file (QEMU's dump-guest-memory over QMP) that every\n"
        "other command reads and that can be shared.\n\nexample:\n  pmoview snapshot qmp:/tmp/qmp.sock guest.kdump",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("target", metavar="TARGET", help="qmp:PATH (QMP UNIX socket) or qmp://HOST:PORT")
    p.add_argument("out", metavar="OUT", help="dump file to write (replaced atomically)")
    p.add_argument(
        "--format",
        dest="snapshot_format",
        default="elf",
        choices=("elf", "kdump-zlib"),
        help="elf (QEMU ELF core, the default) or kdump-zlib (compressed, much smaller)",
    )
    p.add_argument("--stop", action="store_true", help="stop a running guest to dump it (default: refuse)")
    p.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for QEMU to write the dump")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from pmoview.live.qmp import snapshot

    stopped = snapshot(args.target, args.out, args.snapshot_format, stop=args.stop, timeout=args.timeout)
    if stopped:
        note(f"{args.target}: the guest was running; pmoview stopped it (--stop) and leaves it stopped")
    print(f"{args.out}: {args.snapshot_format} dump, {os.path.getsize(args.out):,} bytes")
    return 0

"""Full walk of a live Linux guest's page tables over QEMU's gdbstub, printed as JSON.

    PYTHONPATH=. python benchmarks/bench_live.py --boot            # boots the 2 GiB 4-level guest itself
    PYTHONPATH=. python benchmarks/bench_live.py --target gdb://127.0.0.1:PORT   # a guest already paused

``--boot`` needs the Debian kernel and initramfs that ``sample_dumps/linux/make_linux_samples.sh`` builds
under ``$PMOVIEW_LINUX_BUILD`` (default ``/work/linux-build``) and runs the guest of
``linux-x86_64-4l-nokaslr`` (``-cpu max,-la57 -m 2G -smp 2``, ``nokaslr``), niced, until its ready line,
then stops it through QMP. Timed: opening the target (connect, target description, registers, RAM map),
the first full walk of CPU 0's CR3 tree (every page-table page read over the socket), the same walk
again (pages cached), and the kernel half alone from a fresh connection. pwndbg's ``kernel-vmmap``
publishes about 0.09 s for a full x86_64 scan through ``Qqemu.PhyMemMode``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from pmoview.live.target import open_live  # noqa: E402
from pmoview.roots import find_roots  # noqa: E402
from pmoview.space import AddressSpace  # noqa: E402

KERNEL_HALF = 0xFFFF_8000_0000_0000


def timed(fn: Any) -> tuple[Any, float, float]:
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - t0, time.process_time() - c0


def measure(target: str) -> dict[str, Any]:
    mem, open_wall, _ = timed(lambda: open_live(target))
    try:
        root = find_roots(mem)[0]
        client = mem.client  # type: ignore[attr-defined]
        trips0, asked0, bytes0 = client.round_trips, client.requests, client.bytes_received
        space = AddressSpace(mem, root)
        leaves, first_wall, first_cpu = timed(lambda: sum(len(c) for c in space.chunks()))
        first = {
            "wall_s": round(first_wall, 4),
            "cpu_s": round(first_cpu, 4),
            "round_trips": client.round_trips - trips0,
            "m_packets": client.requests - asked0,
            "bytes_received": client.bytes_received - bytes0,
            "tables_visited": space.stats.tables_visited,
            "distinct_pages_read": len(mem._pages),  # type: ignore[attr-defined]
            "leaves": leaves,
        }
        maps, second_wall, second_cpu = timed(lambda: AddressSpace(mem, root).walk())
    finally:
        mem.close()
    mem2 = open_live(target)
    try:
        space = AddressSpace(mem2, find_roots(mem2)[0])
        kleaves, kwall, kcpu = timed(lambda: sum(len(c) for c in space.chunks(KERNEL_HALF)))
    finally:
        mem2.close()
    return {
        "case": f"live {target}, {root.mode} root {root.table:#x} ({root.source})",
        "load_average": round(os.getloadavg()[0], 1),
        "open_wall_s": round(open_wall, 4),
        "first_full_walk_over_socket": first,
        "second_walk_cached_with_mappings": {
            "wall_s": round(second_wall, 4),
            "cpu_s": round(second_cpu, 4),
            "mappings": len(maps),
        },
        "kernel_half_fresh_connection": {"wall_s": round(kwall, 4), "cpu_s": round(kcpu, 4), "leaves": kleaves},
        "pwndbg_kernel_vmmap_published_s": 0.09,
    }


def boot_and_measure(build: Path) -> dict[str, Any]:
    from qemu_guest import Guest

    abi = os.environ.get("ABI", "6.1.0-56")
    kernel = build / "amd64-root" / "boot" / f"vmlinuz-{abi}-amd64"
    initrd = build / "initramfs-amd64.cpio.gz"
    if not (kernel.exists() and initrd.exists()):
        return {"skipped": f"needs {kernel} and {initrd} (sample_dumps/linux/make_linux_samples.sh, BUILD={build})"}
    qemu = [
        "qemu-system-x86_64", "-accel", "tcg", "-cpu", "max,-la57", "-m", "2G", "-smp", "2",
        "-kernel", str(kernel), "-initrd", str(initrd), "-append", "console=ttyS0 nokaslr init_on_free=1",
        "-device", "vmcoreinfo", "-nic", "none",
    ]  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="pmoview-bench-live-") as work:
        t0 = time.monotonic()
        guest = Guest(qemu, Path(work), r"PMOVIEW-READY", boot_timeout=300)
        try:
            assert guest.qmp is not None
            guest.qmp.execute("stop")
            out = {"boot_s": round(time.monotonic() - t0, 1), **measure(guest.gdb)}
        finally:
            guest.kill()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--target", help="gdb://HOST:PORT of a paused guest")
    g.add_argument("--boot", action="store_true", help="boot the 2 GiB Debian guest and measure it")
    args = ap.parse_args()
    build = Path(os.environ.get("PMOVIEW_LINUX_BUILD", "/work/linux-build"))
    result = measure(args.target) if args.target else boot_and_measure(build)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

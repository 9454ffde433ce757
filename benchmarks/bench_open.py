"""Opening big dumps costs O(headers), not O(size). Prints numbers; asserts nothing.

    python benchmarks/bench_open.py

Builds (in a temp dir, sparse where the filesystem allows) a 64 GiB raw image and a kdump file
describing 64 GiB of RAM (16 M pages, bitmap 2 MiB, a few thousand pages dumped), then times
open, ranges(), and first/second page reads, with the peak RSS.
"""

from __future__ import annotations

import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent.parent), str(Path(__file__).resolve().parent.parent / "tests")]

import dumpsynth as synth  # noqa: E402

from pmoview.memory import open_dump  # noqa: E402

GiB = 1 << 30


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(label: str, fn):  # type: ignore[no-untyped-def]
    t = time.perf_counter()
    out = fn()
    print(f"  {label:<28} {1000 * (time.perf_counter() - t):9.2f} ms   peak RSS {rss_mib():7.1f} MiB")
    return out


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "64g.raw"
        with open(raw, "wb") as fh:
            fh.truncate(64 * GiB)
        print("raw 64 GiB (sparse file)")
        mem = timed("open", lambda: open_dump(str(raw), fmt="raw"))
        timed("ranges()", mem.ranges)
        timed("read_page(60 GiB)", lambda: mem.read_page(60 * GiB))
        mem.close()

        pages = {pfn: bytes([pfn & 0xFF]) * 4096 for pfn in range(0, 16 << 18, 4099)}
        kd = Path(tmp) / "64g.kdump"
        kd.write_bytes(synth.kdump(pages, max_mapnr=16 << 18))
        print(f"kdump describing 64 GiB ({len(pages)} pages dumped, file {kd.stat().st_size / 2**20:.1f} MiB)")
        mem = timed("open", lambda: open_dump(str(kd)))
        timed("first read (builds index)", lambda: mem.read_page(4099 * 4096))
        timed("second read", lambda: mem.read_page(4099 * 8192))
        timed("ranges()", mem.ranges)
        mem.close()


if __name__ == "__main__":
    main()

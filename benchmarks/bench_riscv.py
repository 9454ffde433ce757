"""RISC-V walk and root-scan benchmarks on the real samples (numbers go in reports, not in tests).

    PYTHONPATH=. python benchmarks/bench_riscv.py

For each RISC-V sample and each hart with paging on: the full walk from the hart's satp (second run,
after the dump is open and decompressed: wall, tables visited, leaves, mappings), and the validated
root scan (``find_roots`` without satp or symbols), which reads low memory once and translates each
hart's pc and sp under every candidate table and mode.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT)]

from pmoview.memory import open_dump  # noqa: E402
from pmoview.roots import RootOptions, find_roots  # noqa: E402
from pmoview.roots_riscv import root_from_satp  # noqa: E402
from pmoview.space import AddressSpace  # noqa: E402

SAMPLES = ("rvseed-sv39", "rvseed-sv48", "rvseed-sv57", "linux-riscv64")


def main() -> int:
    rows = []
    for name in SAMPLES:
        d = ROOT / "sample_dumps" / name
        if not (d / "truth.json").exists():
            continue
        truth = json.loads((d / "truth.json").read_text())
        mem = open_dump(str(d / next(iter(truth["dumps"].values()))))
        for h in truth["harts"]:
            if not h["mode"]:
                continue
            root = root_from_satp(int(h["satp"], 16), "truth")
            AddressSpace(mem, root).walk()  # warm: blocks decompressed, pages cached by the OS
            space = AddressSpace(mem, root)
            t0 = time.perf_counter()
            maps = space.walk()
            wall = time.perf_counter() - t0
            rows.append(
                {
                    "sample": name,
                    "hart": h["index"],
                    "mode": h["mode"],
                    "walk_ms": round(wall * 1000, 2),
                    "tables": space.stats.tables_visited,
                    "leaves": space.stats.leaves,
                    "mappings": len(maps),
                }
            )
        t0 = time.perf_counter()
        roots = find_roots(mem, None, RootOptions())
        rows.append({"sample": name, "scan_ms": round((time.perf_counter() - t0) * 1000, 1), "roots": len(roots)})
        mem.close()
    for r in rows:
        print(json.dumps(r))
    print(json.dumps({"peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Walk benchmarks: wall time, tables visited, leaves, mappings, peak RSS.

    PYTHONPATH=. python benchmarks/bench_walk.py               # both cases, each in a fresh process
    PYTHONPATH=. python benchmarks/bench_walk.py synthetic --gib 64
    PYTHONPATH=. python benchmarks/bench_walk.py real [--sample sample_dumps/NAME]
    PYTHONPATH=. python benchmarks/bench_walk.py synthetic-arm --gib 64

(a) synthetic: an x86_64 4-level tree mapping ``--gib`` GiB with 4 KiB pages, page tables synthesised
    on the fly by ``tests/synth.py::SynthDirectMap`` (64 GiB: 16 M leaves in 32 K PT pages).
(c) synthetic-arm: an AArch64 TTBR1 tree, 16 KiB granule, 52-bit VA with FEAT_LPA2 descriptors, mapping
    ``--gib`` GiB (at most 64) with 16 KiB pages (``tests/synth.py::SynthArmLinearMap``; 64 GiB: 4 M
    leaves in 2048 level 3 tables of 2048 entries).
(b) real: the largest x86_64 Linux sample under sample_dumps/ with a kdump (truth.json ram_bytes),
    walked from CPU 0's CR3; times the first walk (blocks decompressed) and a second one.
Peak RSS is the process's ``ru_maxrss``, so each case runs in its own process.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]  # tests/synth.py builds the trees

from pmoview.arch import Root, WalkLimits  # noqa: E402 - needs the path above
from pmoview.space import AddressSpace  # noqa: E402


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed_walk(space: AddressSpace) -> dict[str, Any]:
    t0, c0 = time.perf_counter(), time.process_time()
    maps = space.walk()
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    st = space.stats
    return {
        "wall_s": round(wall, 4),
        "cpu_s": round(cpu, 4),
        "tables_visited": st.tables_visited,
        "entries_decoded": st.entries_decoded,
        "pages_read": st.pages_read,
        "leaves": st.leaves,
        "mappings": len(maps),
        "anomalies": len(space.anomalies),
    }


def synthetic(gib: int, batch: int) -> dict[str, Any]:
    from synth import SynthDirectMap

    mem = SynthDirectMap(gib)
    rss0 = peak_rss_mib()
    out = timed_walk(AddressSpace(mem, mem.root, WalkLimits(max_batch_tables=batch)))
    t0 = time.perf_counter()
    n = sum(1 for _ in AddressSpace(mem, mem.root).leaves(mem.base_va, mem.base_va + (64 << 20)))
    out["leaves_per_s_python_objects"] = round(n / (time.perf_counter() - t0))
    out.update(
        case=f"synthetic {gib} GiB, 4 KiB pages",
        load_average=round(os.getloadavg()[0], 1),
        peak_rss_mib=round(peak_rss_mib()),
        rss_before_walk_mib=round(rss0),
    )
    return out


def synthetic_arm(gib: int, batch: int) -> dict[str, Any]:
    from synth import SynthArmLinearMap

    mem = SynthArmLinearMap(min(gib, 64))
    rss0 = peak_rss_mib()
    out = timed_walk(AddressSpace(mem, mem.root, WalkLimits(max_batch_tables=batch)))
    out.update(
        case=f"synthetic-arm {min(gib, 64)} GiB, 16 KiB pages, 52-bit VA (LPA2)",
        load_average=round(os.getloadavg()[0], 1),
        peak_rss_mib=round(peak_rss_mib()),
        rss_before_walk_mib=round(rss0),
    )
    return out


def largest_sample() -> Path | None:
    best: tuple[tuple[int, int], Path] | None = None
    for truth_path in (ROOT / "sample_dumps").glob("*/truth.json"):
        truth = json.loads(truth_path.read_text())
        kdump = truth.get("dumps", {}).get("kdump")
        if truth.get("arch") != "x86_64" or not kdump or not (truth_path.parent / kdump).exists():
            continue
        key = (int(truth.get("kind") == "linux"), int(truth.get("ram_bytes", 0)))
        if best is None or key > best[0]:
            best = (key, truth_path.parent)
    return best[1] if best else None


def real(sample: Path | None) -> dict[str, Any]:
    from pmoview.memory import open_dump

    sample = sample or largest_sample()
    if sample is None:
        return {"case": "real", "skipped": "no x86_64 sample with a kdump under sample_dumps/"}
    truth = json.loads((sample / "truth.json").read_text())
    mem = open_dump(str(sample / truth["dumps"]["kdump"]))
    regs = mem.cpus[0].regs
    la57 = bool(regs.get("cr4", 0) & (1 << 12))
    root = Root(
        "x86_64", "x86_64-5level" if la57 else "x86_64-4level", regs["cr3"] & 0x000F_FFFF_FFFF_F000, "CPU 0 CR3", cpu=0
    )
    mem.ranges()  # the kdump bitmap index: a property of opening, not of walking
    first = timed_walk(AddressSpace(mem, root))
    second = timed_walk(AddressSpace(mem, root))
    t0 = time.process_time()
    n = sum(len(c) for c in AddressSpace(mem, root).chunks())
    leaves_only = time.process_time() - t0
    space = AddressSpace(mem, root)
    space.translate(0xFFFF_FFFF_8100_0000)
    t0 = time.process_time()
    for i in range(1000):
        space.translate(0xFFFF_FFFF_8100_0000 + i * 4096)
    per_translate = (time.process_time() - t0) / 1000
    return {
        "case": f"real {sample.name} ({truth.get('ram_bytes', 0) >> 20} MiB, {root.mode})",
        "load_average": round(os.getloadavg()[0], 1),
        "first_walk": first,
        "second_walk": second,
        "leaf_chunks_only_cpu_s": round(leaves_only, 4),
        "leaves": n,
        "translate_warm_cpu_us": round(per_translate * 1e6, 1),
        "peak_rss_mib": round(peak_rss_mib()),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("case", nargs="?", choices=("synthetic", "real", "synthetic-arm"))
    ap.add_argument("--gib", type=int, default=64)
    ap.add_argument("--batch", type=int, default=WalkLimits().max_batch_tables)
    ap.add_argument("--sample", type=Path)
    args = ap.parse_args()
    if args.case is None:  # each case in a fresh process, so peak RSS is its own
        for case in ("synthetic", "real", "synthetic-arm"):
            cmd = [sys.executable, __file__, case, "--gib", str(args.gib), "--batch", str(args.batch)]
            if args.sample:
                cmd += ["--sample", str(args.sample)]
            subprocess.run(cmd, check=True)
        return 0
    cases = {
        "synthetic": lambda: synthetic(args.gib, args.batch),
        "synthetic-arm": lambda: synthetic_arm(args.gib, args.batch),
        "real": lambda: real(args.sample),
    }
    result = cases[args.case]()
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

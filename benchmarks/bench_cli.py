"""Whole-process timings of pmoview commands beside the reference walk, in the same run.

    PYTHONPATH=. python benchmarks/bench_cli.py                       # the real 2 GiB guest
    PYTHONPATH=. python benchmarks/bench_cli.py --dump /tmp/dm-256g.elf --commands check-json mappings-json
    PYTHONPATH=. python benchmarks/bench_cli.py --synthetic 4 --alternate   # writes /tmp/pmoview-bench-*.elf

Each command runs ``--repeat`` times as its own process (``python -m pmoview ...``, output to
/dev/null); the reference walk (``benchmarks/reference_walk.py``) runs interleaved with them so both
see the same machine load. Reported per command: best and median wall time, best user+sys CPU time,
peak RSS (``ru_maxrss`` of the child), the ratio of the best wall time to the reference's best, and the
median over rounds of each run's wall time over the reference run of its round (paired).
The machine is shared: compare ratios and CPU times, not single wall times.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REAL = ROOT / "sample_dumps" / "linux-x86_64-4l-nokaslr" / "dump.kdump"

COMMANDS = {
    "info": ["info", "{dump}"],
    "translate": ["translate", "{dump}", "{va}"],
    "mappings-json": ["mappings", "--json", "{dump}"],
    "mappings-text": ["mappings", "{dump}"],
    "check-json": ["check", "--format", "json", "{dump}"],
}


def run_once(argv: list[str]) -> tuple[float, float, float, int]:
    """Wall seconds, CPU seconds, peak RSS MiB and exit code of one child process."""
    # Both children start numpy the same way: pmoview sets OPENBLAS_NUM_THREADS=1 before importing it (a
    # multi-threaded BLAS start costs ~0.09 s and neither uses BLAS), and both may use cached bytecode.
    env = dict(os.environ, PYTHONPATH=str(ROOT), OPENBLAS_NUM_THREADS="1")
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    t0 = time.perf_counter()
    with open(os.devnull, "w") as null:
        proc = subprocess.Popen(argv, stdout=null, stderr=null, env=env)
        _, status, ru = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    return wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss / 1024, os.waitstatus_to_exitcode(status)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dump", default=str(REAL))
    ap.add_argument("--va", default="0xffffffff81000000")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--commands", nargs="+", default=list(COMMANDS), choices=list(COMMANDS))
    ap.add_argument("--extra", nargs="*", default=[], help="options added to every pmoview command")
    ap.add_argument("--synthetic", type=int, metavar="GIB", help="write and use a synthetic direct map of GIB GiB")
    ap.add_argument("--alternate", action="store_true", help="with --synthetic: every other page read-only")
    args = ap.parse_args()
    dump = args.dump
    if args.synthetic:
        dump = f"/tmp/pmoview-bench-{args.synthetic}g{'-alt' if args.alternate else ''}.elf"
        if not os.path.exists(dump):
            make = [sys.executable, str(ROOT / "benchmarks" / "make_synthetic.py"), dump, "--gib", str(args.synthetic)]
            subprocess.run(make + (["--alternate"] if args.alternate else []), check=True, stdout=subprocess.DEVNULL)
    ref_argv = [sys.executable, str(ROOT / "benchmarks" / "reference_walk.py"), dump]
    samples: dict[str, list[tuple[float, float, float, int]]] = {"reference": []}
    for _ in range(args.repeat):
        samples["reference"].append(run_once(ref_argv))
        for name in args.commands:
            argv = [a.format(dump=dump, va=args.va) for a in COMMANDS[name]] + args.extra
            samples.setdefault(name, []).append(run_once([sys.executable, "-m", "pmoview", *argv]))
    ref_best = min(s[0] for s in samples["reference"])
    out = {"dump": dump, "repeat": args.repeat, "load_average": os.getloadavg()[0], "results": {}}
    for name, runs in samples.items():
        walls = [r[0] for r in runs]
        out["results"][name] = {  # type: ignore[index]
            "wall_best_s": round(min(walls), 3),
            "wall_median_s": round(statistics.median(walls), 3),
            "cpu_best_s": round(min(r[1] for r in runs), 3),
            "peak_rss_mib": round(max(r[2] for r in runs), 1),
            "vs_reference": round(min(walls) / ref_best, 2),
            # each run over the reference run of the same round, the median of those: steadier than the
            # ratio of two bests when the machine's speed drifts between rounds
            "vs_reference_paired_median": round(
                statistics.median(r[0] / ref[0] for r, ref in zip(runs, samples["reference"], strict=True)), 2
            ),
            "exit_codes": sorted({r[3] for r in runs}),
        }
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

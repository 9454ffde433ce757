"""Time explain, cpus and diff on the real samples and print JSON (CPU and wall seconds, counts, peak RSS).

    PYTHONPATH=. python benchmarks/bench_explain_diff.py [--sample sample_dumps/linux-x86_64-4l-nokaslr]
    PYTHONPATH=. python benchmarks/bench_explain_diff.py --pair /tmp/alt-4g.elf /tmp/dm-4g.elf

explain: one VA per access on a warm address space (the walk of one path). cpus: every CPU's record
(root, PC translated and decoded, fault explained). diff: the two CPUs' roots (or the first roots of two
dumps with ``--pair``): the two walks to columns, then the comparison alone (``diff_columns``, its
``Mapping`` objects for the differences included).
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT)]

from pmoview.access import control_for, explain  # noqa: E402
from pmoview.cpus import cpu_views  # noqa: E402
from pmoview.diff import SpaceDiff, diff_columns  # noqa: E402
from pmoview.memory import open_dump  # noqa: E402
from pmoview.roots import find_roots  # noqa: E402
from pmoview.space import AddressSpace  # noqa: E402


def timed(fn):  # type: ignore[no-untyped-def]
    w, c = time.perf_counter(), time.process_time()
    out = fn()
    return out, round(time.perf_counter() - w, 4), round(time.process_time() - c, 4)


def diff_figures(sa: AddressSpace, sb: AddressSpace) -> dict[str, object]:
    (ca, cb), wall_w, cpu_w = timed(lambda: (sa.columns(), sb.columns()))
    res: SpaceDiff
    res, wall_d, cpu_d = timed(lambda: diff_columns(ca, cb))
    return {
        "mappings": [len(ca), len(cb)],
        "removed_added_changed": [len(res.removed), len(res.added), len(res.changed)],
        "walks_wall_s": wall_w,
        "walks_cpu_s": cpu_w,
        "compare_wall_s": wall_d,
        "compare_cpu_s": cpu_d,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sample", default=str(ROOT / "sample_dumps" / "linux-x86_64-4l-nokaslr"))
    ap.add_argument("--pair", nargs=2, metavar=("A", "B"), help="diff only: the first roots of two dumps")
    a = ap.parse_args()
    if a.pair:
        ma, mb = open_dump(a.pair[0]), open_dump(a.pair[1])
        sa, sb = AddressSpace(ma, find_roots(ma)[0]), AddressSpace(mb, find_roots(mb)[0])
        pair: dict[str, object] = {"pair": a.pair, "diff": diff_figures(sa, sb)}
        pair["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
        print(json.dumps(pair, indent=2))
        return 0
    d = Path(a.sample)
    truth = json.loads((d / "truth.json").read_text())
    mem = open_dump(str(d / truth["dumps"]["kdump"]))
    roots = find_roots(mem)
    out: dict[str, object] = {"sample": d.name}
    cpu_roots = [r for r in roots if r.cpu is not None]
    space = AddressSpace(mem, cpu_roots[0] if cpu_roots else roots[0])
    ctl = control_for(space.root, mem.cpus[0] if mem.cpus else None)
    va = mem.cpus[0].regs.get("rip", 0) if mem.cpus else 0
    explain(space, va, "read", "kernel", ctl)  # warm the path's tables
    n = 1000
    _, wall, cpu = timed(
        lambda: [explain(space, va, acc, "kernel", ctl) for _ in range(n) for acc in ("read", "write", "exec")]
    )
    out["explain_us_per_call"] = round(cpu / (3 * n) * 1e6, 1)
    views, wall, cpu = timed(lambda: cpu_views(mem, roots))
    out["cpus"] = {"cpus": len(views), "wall_s": wall, "cpu_s": cpu}
    if len(cpu_roots) >= 2:
        out["diff"] = diff_figures(AddressSpace(mem, cpu_roots[0]), AddressSpace(mem, cpu_roots[1]))
    out["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

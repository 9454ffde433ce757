"""The long fuzz campaign: thousands of damaged real dumps and sabotaged page-table trees through the
model and through ``pmoview info / translate / mappings`` (and ``check`` once it exists).

    PYTHONPATH=. python tests/fuzz/campaign.py --minutes 10 --workers 2
    PYTHONPATH=. python tests/fuzz/campaign.py --trees-only --minutes 5
    PYTHONPATH=. python tests/fuzz/campaign.py --seeds seed-correct/flat,linux-arm64/flat --inputs 500

Each worker makes private copies of the real seeds (tests/fuzz/realseeds.py), then loops: pick a
seed and a damage (hostile field values, bit flips in a structure, truncation at a structure
boundary or anywhere, a flattened stream cut and re-terminated), run everything under a time limit
and an address-space limit (``--as-limit-mib``: a runaway allocation becomes a MemoryError, i.e. a
finding). A failing input is saved in tests/fuzz/regressions/ (raw bytes when small, else a JSON
patch spec against the named sample that tests/test_fuzz_regressions.py replays). The summary:
inputs tried per kind, failures, wall time, slowest input, and peak RSS (resource.getrusage).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing as mp
import os
import random
import resource
import sys
import tempfile
import time
import traceback
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent), str(HERE.parent.parent)]

import realseeds as rs  # noqa: E402 - needs the path above
from fuzz_target import Hang, exercise_cli, exercise_model, time_limit  # noqa: E402

REGRESSIONS = HERE / "regressions"
SMALL = 1 << 20  # failing inputs up to this size are saved as bytes


def damage(seed: rs.Seed, rnd: random.Random, tmp: Path) -> tuple[str, list[rs.Patch], Path | None, dict]:
    """One damaged input: (kind, patches to apply to the seed copy, or a separate file, spec)."""
    lay = seed.layout
    kind = rnd.choice(
        ["fields", "fields", "flips", "flips", "cut", "cut-anywhere"] + (["reterminate"] if seed.flat else [])
    )
    if kind == "fields":
        patches = []
        for _ in range(rnd.randint(1, 3)):
            f = rnd.choice(lay.fields)
            v = rnd.choice(rs.hostile_values(f, lay.size) + [rnd.getrandbits(8 * f.width)])
            patches.append(rs.field_patch(f, v))
        return kind, patches, None, {}
    if kind == "flips":
        name, a, b = rnd.choice(lay.regions)
        patches = []
        with open(seed.path, "rb") as fh:
            for _ in range(rnd.randint(1, 8)):
                at = rnd.randrange(a, max(a + 1, b))
                fh.seek(at)
                old = fh.read(1) or b"\0"
                patches.append(rs.Patch(at, bytes([old[0] ^ (1 << rnd.randrange(8))]), f"{name} flip at {at:#x}"))
        return kind, patches, None, {}
    if kind == "cut":
        cut = rnd.choice(lay.boundaries)
    elif kind == "cut-anywhere":
        cut = rnd.randrange(1, lay.size)
    else:
        assert seed.flat is not None
        n = rnd.randrange(len(seed.flat.records) + 1)
        return kind, [], rs.flat_head_terminated(seed.path, seed.flat, n, tmp / "input"), {"records": n}
    return kind, [], rs.write_head(seed.path, cut, tmp / "input"), {"cut": cut}


def run_one(path: Path, max_tables: int, per_input: float, cli: bool) -> None:
    with time_limit(per_input, str(path)):
        exercise_model(str(path), max_tables=max_tables)
        if cli:
            exercise_cli(str(path), max_tables)


def save_failure(seed: rs.Seed, kind: str, patches: list[rs.Patch], alt: Path | None, spec: dict, error: str) -> str:
    REGRESSIONS.mkdir(exist_ok=True)
    if alt is not None and alt.stat().st_size <= SMALL:
        data = alt.read_bytes()
        name = f"real-{seed.name.replace('/', '-')}-{kind}-{hashlib.sha256(data).hexdigest()[:12]}"
        (REGRESSIONS / name).write_bytes(data)
        return name
    sample, file, seed_kind = rs.SEED_SPECS[seed.name]
    doc = {
        "seed": seed.name,
        "sample": sample,
        "file": file,
        "kind": seed_kind,
        "damage": kind,
        **spec,
        "patches": [{"offset": p.offset, "hex": p.data.hex(), "why": p.why} for p in patches],
        "error": error,
    }
    text = json.dumps(doc, indent=1, sort_keys=True)
    name = f"real-{seed.name.replace('/', '-')}-{kind}-{hashlib.sha256(text.encode()).hexdigest()[:12]}.json"
    (REGRESSIONS / name).write_text(text)
    return name


def worker(args: argparse.Namespace, index: int, out: mp.Queue[dict]) -> None:
    if args.as_limit_mib:
        lim = args.as_limit_mib << 20
        resource.setrlimit(resource.RLIMIT_AS, (lim, lim))
    rnd = random.Random(args.seed * 1000 + index)
    tmp = Path(tempfile.mkdtemp(prefix=f"pmoview-campaign-{index}-"))
    counts: Counter[str] = Counter()
    failures: list[str] = []
    slowest = (0.0, "")
    deadline = time.monotonic() + args.minutes * 60
    budget = args.inputs // args.workers if args.inputs else None
    seeds: list[rs.Seed] = []
    if not args.trees_only:
        for name in args.seeds.split(","):
            s = rs.make_seed(name, tmp)
            if s is not None:
                seeds.append(s)
    tried = 0

    def keep_going() -> bool:
        return time.monotonic() < deadline and (budget is None or tried < budget)

    weights = [0.3 if s.name.startswith("linux") else 1.0 for s in seeds]
    trees_every = 4 if seeds and not args.dumps_only else (1 if not seeds else 0)
    while keep_going():
        tried += 1
        if trees_every and tried % trees_every == 0:
            t0 = time.monotonic()
            err = run_tree(rnd, tmp, args)
            dt = time.monotonic() - t0
            counts["tree"] += 1
            if err:
                failures.append(err)
            slowest = max(slowest, (dt, "tree"))
            continue
        seed = rnd.choices(seeds, weights)[0]
        kind, patches, alt, spec = damage(seed, rnd, tmp)
        counts[f"{seed.name}:{kind}"] += 1
        t0 = time.monotonic()
        try:
            if alt is not None:
                run_one(alt, args.max_tables, args.per_input, not args.model_only)
            else:
                with rs.patched(seed.path, patches):
                    run_one(seed.path, args.max_tables, args.per_input, not args.model_only)
        except (Exception, Hang) as exc:  # noqa: BLE001 -- every escape is a finding
            error = f"{type(exc).__name__}: {str(exc)[:300]}"
            tb = traceback.format_exc(limit=-3)
            name = save_failure(seed, kind, patches, alt, spec, error)
            failures.append(f"{seed.name} {kind} -> {error} [{name}]\n{tb}")
        dt = time.monotonic() - t0
        slowest = max(slowest, (dt, f"{seed.name} {kind} {spec or [p.why for p in patches]}"))
        if alt is not None and alt.exists():
            alt.unlink()
    out.put(
        {
            "index": index,
            "counts": dict(counts),
            "failures": failures,
            "slowest": slowest,
            "maxrss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
        }
    )


def run_tree(rnd: random.Random, tmp: Path, args: argparse.Namespace) -> str | None:
    """One sabotaged tree from test_robust_trees' strategy, drawn with this worker's RNG."""
    import test_robust_trees as trees
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    found: list[str] = []

    @settings(
        max_examples=1,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        phases=[__import__("hypothesis").Phase.generate],
    )
    @given(b=trees.trees(), max_tables=st.sampled_from([1, 7, 500, args.max_tables]), salt=st.just(rnd.random()))
    def one(b: trees.Built, max_tables: int, salt: float) -> None:
        try:
            with time_limit(args.per_input, "tree"):
                trees.check_space(b, max_tables)
                if not args.model_only:
                    trees.cli_on_tree(b, tmp / "tree.kdump", max_tables)
        except (Exception, Hang) as exc:  # noqa: BLE001
            found.append(f"tree {'; '.join(b.ops)[:400]} -> {type(exc).__name__}: {str(exc)[:300]}")

    one()
    return found[0] if found else None


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", type=float, default=10)
    p.add_argument("--inputs", type=int, default=0, help="stop after this many inputs in total (0: time only)")
    p.add_argument("--workers", type=int, default=max(1, min(2, os.cpu_count() or 1)))
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--seeds", default=",".join(rs.SEED_SPECS))
    p.add_argument("--max-tables", type=int, default=20_000)
    p.add_argument("--per-input", type=float, default=60, help="seconds before an input counts as a hang")
    p.add_argument(
        "--as-limit-mib",
        type=int,
        default=12288,
        help="address-space limit per worker (RLIMIT_AS; the 5 GiB ELF sample is mapped whole; 0: none)",
    )
    p.add_argument("--model-only", action="store_true")
    p.add_argument("--trees-only", action="store_true")
    p.add_argument("--dumps-only", action="store_true")
    args = p.parse_args()
    start = time.monotonic()
    q: mp.Queue[dict] = mp.Queue()
    procs = [mp.Process(target=worker, args=(args, i, q)) for i in range(args.workers)]
    for pr in procs:
        pr.start()
    results = [q.get() for _ in procs]
    for pr in procs:
        pr.join()
    wall = time.monotonic() - start
    counts: Counter[str] = Counter()
    for r in results:
        counts.update(r["counts"])
    failures = [f for r in results for f in r["failures"]]
    total = sum(counts.values())
    print(f"inputs: {total} in {wall:.0f} s wall ({args.workers} workers), {total / wall:.1f}/s")
    for k, v in sorted(counts.items()):
        print(f"  {v:6d}  {k}")
    print(f"peak RSS per worker: {', '.join(str(r['maxrss_mib']) + ' MiB' for r in results)}")
    slow = max(r["slowest"] for r in results)
    print(f"slowest input: {slow[0]:.2f} s ({str(slow[1])[:200]})")
    print(f"failures: {len(failures)}")
    for f in failures[:50]:
        print("  " + f.replace("\n", "\n    "))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()

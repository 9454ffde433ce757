"""Coverage-guided fuzzing of *real* sample dumps with atheris (run by hand, not in CI).

    pip install atheris
    PYTHONPATH=. python tests/fuzz/fuzz_real.py -atheris_runs=20000 -rss_limit_mb=4096 -timeout=60

The fuzzer's bytes do not become the dump: they choose a real seed (tests/fuzz/realseeds.py), then a
list of damages to apply to its working copy (a header field set to a hostile or arbitrary value,
bytes written into a structure, a truncation at a structure boundary), and the damaged real dump
goes through the model and the CLI (fuzz_target.exercise_model / exercise_cli). So the inputs stay a
few bytes long while the dumps are tens of MiB. An escaping exception or a CLI exit 3 is a finding:
atheris writes the choice bytes to crash-*; replay them with ``--replay crash-...`` to get the
damaged file, and keep it (or its JSON spec from campaign.py) in tests/fuzz/regressions/.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent), str(HERE.parent.parent)]

import atheris  # noqa: E402 - after the path, as the imports below it

with atheris.instrument_imports():
    import realseeds as rs
    from fuzz_target import exercise_cli, exercise_model

SEEDS = (
    "seed-correct/flat",
    "seed-correct/plain",
    "seed-correct/elf",
    "seed-no-pml4-256/flat",
    "linux-x86_64-4l-nokaslr/flat",
    "linux-arm64/flat",
)
WORK = Path(tempfile.mkdtemp(prefix="pmoview-fuzz-real-"))
_seeds: dict[str, rs.Seed | None] = {}


def seed(name: str) -> rs.Seed | None:
    if name not in _seeds:
        _seeds[name] = rs.make_seed(name, WORK)
    return _seeds[name]


def build(data: bytes) -> tuple[rs.Seed, list[rs.Patch], Path | None] | None:
    fdp = atheris.FuzzedDataProvider(data)
    s = seed(SEEDS[fdp.ConsumeIntInRange(0, len(SEEDS) - 1)])
    if s is None:
        return None
    lay = s.layout
    if fdp.ConsumeIntInRange(0, 7) == 0:  # truncation
        cut = lay.boundaries[fdp.ConsumeIntInRange(0, len(lay.boundaries) - 1)]
        return s, [], rs.write_head(s.path, cut, WORK / "cut")
    patches = []
    for _ in range(fdp.ConsumeIntInRange(1, 4)):
        if fdp.ConsumeBool():
            f = lay.fields[fdp.ConsumeIntInRange(0, len(lay.fields) - 1)]
            hostile = rs.hostile_values(f, lay.size)
            value = (
                hostile[fdp.ConsumeIntInRange(0, len(hostile) - 1)]
                if fdp.ConsumeBool()
                else fdp.ConsumeInt(8 * f.width)
            )
            patches.append(rs.field_patch(f, value))
        else:
            name, a, b = lay.regions[fdp.ConsumeIntInRange(0, len(lay.regions) - 1)]
            at = fdp.ConsumeIntInRange(a, max(a, b - 1))
            patches.append(rs.Patch(at, fdp.ConsumeBytes(fdp.ConsumeIntInRange(1, 16)) or b"\xff", name))
    return s, patches, None


def one(data: bytes) -> None:
    built = build(data)
    if built is None:
        return
    s, patches, alt = built
    if alt is not None:
        exercise_model(str(alt))
        exercise_cli(str(alt))
        return
    with rs.patched(s.path, patches) as path:
        exercise_model(str(path))
        exercise_cli(str(path))


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--replay":
        built = build(Path(sys.argv[2]).read_bytes())
        if built is not None:
            s, patches, alt = built
            print(f"seed {s.name}: {[p.why or (p.offset, p.data.hex()) for p in patches]} {alt or ''}")
            one(Path(sys.argv[2]).read_bytes())
        return
    atheris.Setup(sys.argv, one)
    atheris.Fuzz()


if __name__ == "__main__":
    main()

"""Replays every input a fuzzer ever found (tests/fuzz/regressions/): each must end cleanly, through
the dump backends, the model (roots, walk, translate) and the CLI (info, translate, mappings, and
check once it exists: exit 0/1/2, never 3).

A regression is either the raw bytes of a dump, or ``*.json``: a patch spec against a real sample
(``{"sample", "file", "kind", "patches": [{"offset", "hex"}], "cut"?, "records"?}``), written by
tests/fuzz/campaign.py when the damaged dump is too large to keep; it is skipped if the sample is gone.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "fuzz"))
import realseeds as rs
from fuzz_target import exercise_bytes, exercise_cli, exercise_model, time_limit

REGRESSIONS = sorted((Path(__file__).parent / "fuzz" / "regressions").glob("*"))


def materialise(case: Path, tmp_path: Path) -> Path:
    if case.suffix != ".json":
        out = tmp_path / "dump"
        out.write_bytes(case.read_bytes())
        return out
    spec = json.loads(case.read_text())
    seed = rs.make_seed(spec["seed"], tmp_path)
    if seed is None:
        pytest.skip(f"sample {spec['sample']} not present")
    if "cut" in spec:
        return rs.write_head(seed.path, spec["cut"], tmp_path / "dump")
    if "records" in spec:
        assert seed.flat is not None
        return rs.flat_head_terminated(seed.path, seed.flat, spec["records"], tmp_path / "dump")
    with open(seed.path, "r+b") as fh:
        for p in spec["patches"]:
            fh.seek(p["offset"])
            fh.write(bytes.fromhex(p["hex"]))
    return seed.path


@pytest.mark.parametrize("case", REGRESSIONS, ids=[p.name for p in REGRESSIONS])
def test_regression_input_ends_cleanly(case: Path, tmp_path: Path) -> None:
    path = materialise(case, tmp_path)
    with time_limit(120, case.name):
        if case.suffix != ".json":
            exercise_bytes(path.read_bytes(), str(tmp_path / "backend"))
        exercise_model(str(path))
        exercise_cli(str(path))

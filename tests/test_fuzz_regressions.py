"""Replays every input a fuzzer ever found (tests/fuzz/regressions/): each must end cleanly."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "fuzz"))
from fuzz_target import exercise_bytes  # noqa: E402

REGRESSIONS = sorted((Path(__file__).parent / "fuzz" / "regressions").glob("*"))


@pytest.mark.parametrize("case", REGRESSIONS, ids=[p.name for p in REGRESSIONS])
def test_regression_input_ends_cleanly(case: Path, tmp_path: Path) -> None:
    exercise_bytes(case.read_bytes(), str(tmp_path / "dump"))

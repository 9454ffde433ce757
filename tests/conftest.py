"""Shared fixtures: the committed real samples, decompressed on demand into a cache."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_dumps"


def sample_dirs() -> list[Path]:
    return sorted(p.parent for p in SAMPLES.glob("*/truth.json"))


def load_truth(d: Path) -> dict[str, Any]:
    return json.loads((d / "truth.json").read_text())


@pytest.fixture(scope="session")
def sample_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("samples")


def unpacked(cache: Path, sample: Path, name: str) -> Path:
    """The dump file for ``sample/name``. ``open_dump`` itself decompresses ``.xz`` samples into its cache."""
    return sample / name

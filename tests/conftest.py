"""Shared fixtures: the committed real samples, decompressed on demand into a cache."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_dumps"

# No hypothesis deadline: a per-example time limit is a timed test, and this machine is shared.
settings.register_profile("pmoview", deadline=None)
settings.load_profile("pmoview")


def sample_dirs() -> list[Path]:
    return sorted(p.parent for p in SAMPLES.glob("*/truth.json"))


def load_truth(d: Path) -> dict[str, Any]:
    return json.loads((d / "truth.json").read_text())


@pytest.fixture(scope="session", autouse=True)
def _temporary_pmoview_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Every test, and every pmoview process a test starts, decompresses samples into a temporary cache
    (one per session: each sample is decompressed once per run), never into the user's
    ``~/.cache/pmoview``. Tests of the cache itself point ``PMOVIEW_CACHE`` elsewhere with monkeypatch."""
    cache = tmp_path_factory.mktemp("pmoview-cache")
    saved = {k: os.environ.get(k) for k in ("PMOVIEW_CACHE", "PMOVIEW_CACHE_MAX")}
    os.environ["PMOVIEW_CACHE"] = str(cache)
    os.environ.pop("PMOVIEW_CACHE_MAX", None)  # the suite's samples must all fit: the default bound
    yield cache
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value

"""Shared fixtures: the committed real samples, decompressed on demand into a cache."""
from __future__ import annotations

import json
import lzma
import os
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_dumps"


def sample_dirs() -> list[Path]:
    return sorted(p.parent for p in SAMPLES.glob("*/truth.json"))


def load_truth(d: Path) -> dict[str, Any]:
    return json.loads((d / "truth.json").read_text())


def _unxz_sparse(src: Path, dst: Path) -> None:
    """Decompress keeping all-zero 1 MiB chunks as holes: the ELF dumps are mostly zeros."""
    tmp = dst.with_suffix(".part")
    zero = bytes(1 << 20)
    with lzma.open(src) as fin, open(tmp, "wb") as fout:
        while chunk := fin.read(1 << 20):
            if chunk == zero[:len(chunk)]:
                fout.seek(len(chunk), os.SEEK_CUR)
            else:
                fout.write(chunk)
        fout.truncate()
    tmp.rename(dst)


@pytest.fixture(scope="session")
def sample_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("samples")


def unpacked(cache: Path, sample: Path, name: str) -> Path:
    """Path to a usable dump file for ``sample/name``; ``.xz`` files are decompressed once per session."""
    path = sample / name
    if path.suffix != ".xz":
        return path
    dst = cache / f"{sample.name}-{path.stem}"
    if not dst.exists():
        _unxz_sparse(path, dst)
    return dst

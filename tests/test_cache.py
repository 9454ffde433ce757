"""The user's cache of decompressed dumps stays bounded (``PMOVIEW_CACHE_MAX``, least recently used
copies leave first), and the tests never touch the user's own cache."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT, SAMPLES

from pmoview.memory import open_dump
from pmoview.memory.cache import cache_dir, cache_max

XZ_SAMPLES = ("seed-correct", "seed-hole", "seed-wrong-frame")


def _xz(name: str) -> Path:
    path = SAMPLES / name / "dump.kdump.xz"
    if not path.exists():
        pytest.skip(f"sample_dumps/{name} is not here")
    return path


def _open(name: str) -> Path:
    """Open sample ``name`` (decompressing it into the cache); the cached copy's path."""
    mem = open_dump(str(_xz(name)))
    try:
        return Path(mem.info.details["decompressed_copy"])  # mem.path names the user's file
    finally:
        mem.close()


def _disk(path: Path) -> int:
    return path.stat().st_blocks * 512


def test_the_suite_runs_with_a_temporary_cache() -> None:
    home_cache = Path(os.path.expanduser("~/.cache/pmoview")).resolve()
    assert cache_dir().resolve() != home_cache
    assert not cache_dir().resolve().is_relative_to(Path.home().resolve())


def test_least_recently_used_copy_leaves_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PMOVIEW_CACHE", str(tmp_path / "measure"))
    sizes = {name: _disk(_open(name)) for name in XZ_SAMPLES}
    a, b, c = XZ_SAMPLES
    monkeypatch.setenv("PMOVIEW_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("PMOVIEW_CACHE_MAX", str(sizes[a] + sizes[c]))
    first_a = _open(a)
    first_b = _open(b)
    time.sleep(0.01)  # mtime order: a is used again after b
    assert _open(a) == first_a
    time.sleep(0.01)
    copy_c = _open(c)
    assert first_a.exists() and copy_c.exists()
    assert not first_b.exists(), "b, the least recently used, should have been evicted"
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == sorted([first_a.name, copy_c.name])


def test_a_zero_bound_keeps_only_the_copy_in_use(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PMOVIEW_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("PMOVIEW_CACHE_MAX", "0")
    _open(XZ_SAMPLES[0])
    last = _open(XZ_SAMPLES[1])
    assert [p.name for p in (tmp_path / "cache").iterdir()] == [last.name]
    mem = open_dump(str(_xz(XZ_SAMPLES[1])))  # the copy in use survives its own eviction pass
    try:
        assert mem.read_page(0x1000) is not None or mem.ranges()
    finally:
        mem.close()


@pytest.mark.parametrize(("text", "value"), [("", 4 << 30), ("123", 123), ("2G", 2 << 30), ("512MiB", 512 << 20)])
def test_cache_max_reads_sizes(monkeypatch: pytest.MonkeyPatch, text: str, value: int) -> None:
    monkeypatch.setenv("PMOVIEW_CACHE_MAX", text)
    assert cache_max() == value


def test_unusable_cache_max_is_one_line_and_exit_2(tmp_path: Path) -> None:
    env = {**os.environ, "PMOVIEW_CACHE": str(tmp_path / "cache"), "PMOVIEW_CACHE_MAX": "lots"}
    done = subprocess.run(
        [sys.executable, "-m", "pmoview", "info", str(_xz("seed-correct"))],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "pmoview: PMOVIEW_CACHE_MAX: expected a size in bytes, or with a K, M, G or T suffix (e.g. 4G), found 'lots'"
    ]

"""End to end with a real QEMU (slow, needs qemu-system-x86_64, grub-mkrescue and xorriso): rebuild one seed
variant from source in a scratch copy, boot it, dump it through QMP, and check the fresh dump finds the
variant's defect. Run with ``pytest -m slow tests/test_regenerate_samples.py``."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pmoview.cli import main

ROOT = Path(__file__).resolve().parent.parent
TOOLS = ("qemu-system-x86_64", "grub-mkrescue", "xorriso", "gcc", "nm")


@pytest.mark.slow
@pytest.mark.skipif(any(shutil.which(t) is None for t in TOOLS), reason="needs QEMU, GRUB and a toolchain")
def test_fresh_seed_hole_dump_shows_its_defect(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scratch = tmp_path / "sample_dumps"
    shutil.copytree(ROOT / "sample_dumps" / "seed", scratch / "seed", ignore=shutil.ignore_patterns("build"))
    done = subprocess.run(
        [sys.executable, str(scratch / "seed" / "make_seed_samples.py"), "--only", "seed-hole"],
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    fresh = scratch / "seed-hole"
    truth = json.loads((fresh / "truth.json").read_text())
    dump = fresh / truth["dumps"]["kdump"]
    code = main(["check", str(dump), "--kernel", str(fresh / "kernel.elf"), "--format", "json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 1
    assert {f["kind"] for f in report["findings"] if f["severity"] == "error"} == set(truth["expected_findings"])

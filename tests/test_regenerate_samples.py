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


RISCV_TOOLS = ("qemu-system-riscv64", "riscv64-linux-gnu-gcc", "riscv64-linux-gnu-nm", "make", "xz")


@pytest.mark.slow
@pytest.mark.skipif(any(shutil.which(t) is None for t in RISCV_TOOLS), reason="needs qemu-system-riscv64 and gcc")
def test_fresh_rvseed_sv48_dump_matches_its_info_mem_and_planted_faults(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scratch = tmp_path / "sample_dumps"
    for d in ("riscv", "seed"):  # capture_riscv.py uses seed/capture.py's QMP client
        shutil.copytree(ROOT / "sample_dumps" / d, scratch / d, ignore=shutil.ignore_patterns("build", "__pycache__"))
    done = subprocess.run(
        [sys.executable, str(scratch / "riscv" / "make_riscv_samples.py"), "--only", "rvseed-sv48"],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    fresh = scratch / "rvseed-sv48"
    truth = json.loads((fresh / "truth.json").read_text())
    assert all(p["fault"] for p in truth["probes"] if p["name"] in {q["name"] for q in truth["planted"]})
    satp = truth["harts"][0]["satp"]
    code = main(["check", str(fresh / "dump.elf.xz"), "--satp", satp, "--format", "json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 1 and "reserved-bits" in {f["kind"] for f in report["findings"]}
    main(["mappings", str(fresh / "dump.elf.xz"), "--satp", satp, "--json"])
    ours = {int(m["va_start"], 16) for m in json.loads(capsys.readouterr().out)}
    qemu = [line.split() for line in (fresh / "info-mem-cpu0.txt").read_text().splitlines()[2:] if line.strip()]
    planted = [(int(p["start"], 16), int(p["end"], 16)) for p in truth["planted"]]
    for va_text, _pa, _size, _attr in qemu:
        va = int(va_text, 16)
        if not any(s <= va < e for s, e in planted):
            assert va in ours, hex(va)  # every run QEMU's walk starts outside the planted ranges starts one of ours

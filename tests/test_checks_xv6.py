"""The xv6-riscv profile on real xv6 guests: the stock kernel is clean, a student's broken one is not.

xv6-riscv-broken is xv6 built with two page-table-lab mistakes (truth.json "patches"): a page mapped
below every kernel stack where the guard page belongs, and kernel text mapped writable.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pmoview.checks import run_checks
from pmoview.kernel import KernelImage
from pmoview.memory import open_dump
from pmoview.roots import RootOptions, find_roots
from pmoview.space import AddressSpace

SAMPLES = Path(__file__).resolve().parent.parent / "sample_dumps"


def report(name: str) -> Any:
    d = SAMPLES / name
    if not (d / "truth.json").exists():
        pytest.skip(f"no {name} sample")
    mem = open_dump(str(d / "dump.elf.xz"))
    kernel = KernelImage.open(str(d / "kernel.elf"))
    root = find_roots(mem, kernel, RootOptions())[0]
    return run_checks(AddressSpace(mem, root), mem, kernel=kernel), json.loads((d / "truth.json").read_text())


def test_stock_xv6_has_no_findings_under_the_xv6_profile() -> None:
    rep, _ = report("xv6-riscv")
    assert rep.profile.name == "xv6-riscv"
    assert [f.kind for f in rep.findings if f.severity in ("error", "warning")] == []
    assert {r.name for r in rep.profile.regions} == {"direct-map", "kernel-text", "trampoline"}


def test_broken_xv6_guard_pages_and_writable_text_are_found() -> None:
    rep, truth = report("xv6-riscv-broken")
    kinds = {f.kind for f in rep.findings if f.severity == "error"}
    assert set(truth["expected_findings"]) <= kinds
    guards = [f for f in rep.findings if f.kind == "stack-guard"]
    assert len(guards) == 64  # NPROC stacks, each with its guard page mapped
    trampoline = 0x3F_FFFF_F000
    assert all(trampoline - (i + 1) * 0x2000 - 0x1000 in {f.va_start for f in guards} for i in range(64))
    wx = [f for f in rep.findings if f.kind == "wx"]
    assert wx and wx[0].va_start == 0x8000_0000

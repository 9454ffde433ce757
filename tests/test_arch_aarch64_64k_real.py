"""A bare-metal kernel's 64 KiB-granule tables under QEMU 7.2 ``-cpu max``: 52-bit VAs (FEAT_LVA) in TTBR1,
47-bit in TTBR0, 52-bit PAs with FEAT_LPA descriptors (4 TiB level 1 blocks, PAs above 2**48), small top
tables (8 KiB and 256 bytes, not page aligned), TTBR0 with ASID and CnP.

truth.json ``translations``: what the kernel itself mapped (it prints each mapping), checked while the
guest was stopped against QEMU's gva2gpa and the gdbstub's virtual-vs-physical reads. The dump holds no
TTBR/TCR: ``root_options`` are the register values a user passes as --ttbr0/--ttbr1/--tcr.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from pmoview.cli import main
from pmoview.memory import PhysicalMemory, open_dump
from pmoview.roots import RootOptions, find_roots
from pmoview.space import AddressSpace

SAMPLE = Path(__file__).resolve().parent.parent / "sample_dumps" / "aarch64-64k-lpa"


@pytest.fixture(scope="module")
def guest() -> tuple[PhysicalMemory, dict[str, Any]]:
    if not (SAMPLE / "truth.json").exists():
        pytest.skip("no aarch64-64k sample")
    truth = json.loads((SAMPLE / "truth.json").read_text())
    return open_dump(str(SAMPLE / truth["dumps"]["kdump"])), truth


def spaces(mem: PhysicalMemory, truth: dict[str, Any]) -> dict[str, AddressSpace]:
    ro = truth["root_options"]
    opt = RootOptions(ttbr0=int(ro["ttbr0"], 16), ttbr1=int(ro["ttbr1"], 16), tcr=int(ro["tcr"], 16))
    return {str(r.half): AddressSpace(mem, r) for r in find_roots(mem, None, opt)}


def test_sample_was_verified(guest: tuple[PhysicalMemory, dict[str, Any]]) -> None:
    _, truth = guest
    verdicts = [r["verdict"] for r in truth["translations"]]
    assert "disagree" not in verdicts and verdicts.count("mapped") >= 60 and verdicts.count("unmapped") == 4
    assert any(int(r["kernel_pa"], 16) >= 1 << 48 for r in truth["translations"] if r["verdict"] == "mapped")


def test_roots_from_the_registers(guest: tuple[PhysicalMemory, dict[str, Any]]) -> None:
    mem, truth = guest
    s = spaces(mem, truth)
    t1, t0 = s["ttbr1"].root.to_json(), s["ttbr0"].root.to_json()
    assert (t1["mode"], t1["va_bits"], t1["start_level"], t1["top_table_entries"], t1["pa_bits"]) == (
        "aarch64-64k",
        52,
        1,
        1024,
        52,
    )
    assert (t0["va_bits"], t0["start_level"], t0["top_table_entries"]) == (47, 1, 32)
    ttbr0 = int(truth["root_options"]["ttbr0"], 16)
    assert s["ttbr0"].root.table == ttbr0 & 0xFFFF_FFFF_FF00 and s["ttbr0"].root.table % 65536 == 0x4100
    assert s["ttbr1"].root.table % 65536 == 0x2000


def test_every_translation_the_kernel_made(guest: tuple[PhysicalMemory, dict[str, Any]]) -> None:
    mem, truth = guest
    s = spaces(mem, truth)
    for r in truth["translations"]:
        t = s[r["half"]].translate(int(r["va"], 16))
        if r["verdict"] == "mapped":
            assert t.pa == int(r["gva2gpa"], 16) == int(r["kernel_pa"], 16), r
            size = {"l1-block": 1 << 42, "l1-block-lpa": 1 << 42}.get(r["what"])
            if size or r["what"].startswith("l2-block"):
                assert t.page_size == (size or 1 << 29), r
            else:
                assert t.page_size == 1 << 16, r
        else:
            assert t.pa is None, r
    for half in ("ttbr0", "ttbr1"):
        assert not {a.kind for a in s[half].anomalies} & {"reserved-bits", "cycle", "table-outside-memory"}


def test_walk_lists_the_lpa_leaves(guest: tuple[PhysicalMemory, dict[str, Any]]) -> None:
    mem, truth = guest
    leaves = {lf.va: lf for lf in spaces(mem, truth)["ttbr1"].leaves()}
    assert leaves[0xFFF0_0400_0000_0000].pa == 1 << 48 and leaves[0xFFF0_0400_0000_0000].size == 1 << 42
    assert not leaves[0xFFF0_0400_0000_0000].backed  # no memory above 2**48
    assert any(lf.pa == 0xA_0000_1234_0000 for lf in leaves.values())


def test_cli_translate_with_registers(
    guest: tuple[PhysicalMemory, dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    _, truth = guest
    ro = truth["root_options"]
    dump = str(SAMPLE / truth["dumps"]["kdump"])
    row = next(r for r in truth["translations"] if r["what"] == "l3-page-user-lpa")
    assert main(["translate", dump, row["va"], "--ttbr0", ro["ttbr0"], "--tcr", ro["tcr"], "--json"]) == 0
    assert int(json.loads(capsys.readouterr().out)[0]["pa"], 16) == int(row["kernel_pa"], 16)


def test_check_without_vmcoreinfo_uses_no_x86_design(
    guest: tuple[PhysicalMemory, dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    """No VMCOREINFO on arm: no built-in layout applies (the seed design is x86's); structure and W+X run."""
    _, truth = guest
    ro = truth["root_options"]
    dump = str(SAMPLE / truth["dumps"]["kdump"])
    assert main(["check", dump, "--ttbr1", ro["ttbr1"], "--tcr", ro["tcr"], "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["profile"] == "aarch64-generic" and not report["findings"]
    spec = str(SAMPLE / truth["spec"])
    assert main(["check", dump, "--ttbr1", ro["ttbr1"], "--tcr", ro["tcr"], "--spec", spec, "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["profile"] == "bare64k" and not report["findings"]


@pytest.mark.skipif(
    shutil.which("qemu-system-aarch64") is None or shutil.which("aarch64-linux-gnu-gcc") is None,
    reason="needs qemu-system-arm and gcc-aarch64-linux-gnu",
)
def test_live_gdbstub_gives_tcr_and_both_halves(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The same kernel, built and booted now, read live: roots from the gdbstub's TTBR0/TTBR1/TCR_EL1, and
    every mapping the kernel printed translates (each VA through the half bit 55 selects)."""
    from qemu_guest import Guest

    src = SAMPLE.parent / "bare64k"
    elf = tmp_path / "kernel.elf"
    subprocess.run(
        ["aarch64-linux-gnu-gcc", "-O2", "-ffreestanding", "-nostdlib", "-mgeneral-regs-only", "-fno-pic",
         "-static", "-T", str(src / "linker.ld"), "-Wl,--build-id=none", "-o", str(elf),
         str(src / "boot.S"), str(src / "kernel.c")],
        check=True, timeout=120,
    )  # fmt: skip
    qemu = ["qemu-system-aarch64", "-M", "virt", "-accel", "tcg", "-cpu", "max", "-m", "256M", "-kernel", str(elf)]
    guest = Guest(qemu, tmp_path, r"PMOVIEW-READY", boot_timeout=120)
    try:
        serial = guest.serial.read_text(errors="replace")
        maps = re.findall(r"^PMOVIEW-MAP (0x[0-9a-f]+) (0x[0-9a-f]+) (0x[0-9a-f]+)", serial, re.M)
        unmapped = re.findall(r"^PMOVIEW-UNMAPPED (0x[0-9a-f]+)", serial, re.M)
        vas = [va for va, _, _ in maps] + unmapped
        assert main(["translate", guest.gdb, *vas, "--stop", "--json"]) == 0
        out, err = capsys.readouterr()
        assert main(["info", guest.gdb, "--json"]) == 0
        roots = json.loads(capsys.readouterr().out)["roots"]
    finally:
        guest.kill()
    assert [(r["half"], r["mode"], r["va_bits"], r["tcr"] is not None) for r in roots] == [
        ("ttbr1", "aarch64-64k", 52, True),
        ("ttbr0", "aarch64-64k", 47, True),
    ]
    got = json.loads(out)
    for (va, pa, _), t in zip(maps, got, strict=False):
        assert int(t["va"], 16) == int(va, 16) and int(t["pa"], 16) == int(pa, 16), (va, pa, t)
    assert [t["pa"] for t in got[len(maps) :]] == [None] * len(unmapped)
    assert "VAs in the ttbr0 half" in err

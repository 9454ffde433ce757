"""A bare-metal kernel's 64 KiB-granule tables under QEMU 7.2 ``-cpu max``: 52-bit VAs (FEAT_LVA) in TTBR1,
47-bit in TTBR0, 52-bit PAs with FEAT_LPA descriptors (4 TiB level 1 blocks, PAs above 2**48), small top
tables (8 KiB and 256 bytes, not page aligned), TTBR0 with ASID and CnP.

truth.json ``translations``: what the kernel itself mapped (it prints each mapping), checked while the
guest was stopped against QEMU's gva2gpa and the gdbstub's virtual-vs-physical reads. The dump holds no
TTBR/TCR: ``root_options`` are the register values a user passes as --ttbr0/--ttbr1/--tcr.
"""

from __future__ import annotations

import json
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

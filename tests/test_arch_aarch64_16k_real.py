"""Debian's 6.12 arm64-16k kernel under QEMU 7.2 ``-cpu max``: 16 KiB granule, 52-bit VAs and PAs with
FEAT_LPA2 (TCR_EL1.DS = 1), KASLR, two CPUs stopped with user processes in TTBR0.

truth.json ``translations`` holds kernel and user VAs translated three ways while the guest was stopped
(QEMU's gva2gpa per CPU, the gdbstub's virtual read against the physical read at that PA, and the
kernel's own arithmetic: kimage_voffset, /proc/kcore, /proc/PID/pagemap); ``cpus`` the TTBR0/TTBR1/TCR
each CPU had. pmoview sees only the (cut) kdump and, for the user half, a TTBR0 value.
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

SAMPLE = Path(__file__).resolve().parent.parent / "sample_dumps" / "linux-arm64-16k-52bit"
BAD_ANOMALIES = {"reserved-bits", "cycle", "recursive-map", "limit", "table-outside-memory"}


@pytest.fixture(scope="module")
def guest() -> tuple[PhysicalMemory, dict[str, Any]]:
    if not (SAMPLE / "truth.json").exists():
        pytest.skip("no arm64-16k sample")
    truth = json.loads((SAMPLE / "truth.json").read_text())
    return open_dump(str(SAMPLE / truth["dumps"]["kdump"])), truth


def rows(truth: dict[str, Any], half: str, cpu: int | None = None) -> list[dict[str, Any]]:
    return [r for r in truth["translations"] if r["half"] == half and (cpu is None or r["cpu"] == cpu)]


def test_truth_was_verified_three_ways(guest: tuple[PhysicalMemory, dict[str, Any]]) -> None:
    """Guard on the sample itself: enough VAs, every one agreed, and the guest really ran 16K/52-bit/LPA2."""
    _, truth = guest
    verdicts = [r["verdict"] for r in truth["translations"]]
    assert "disagree" not in verdicts and verdicts.count("mapped") >= 40 and verdicts.count("unmapped") >= 20
    assert all(r.get("kernel_agrees") is not False for r in truth["translations"])
    assert sum(1 for r in truth["translations"] if r.get("kernel_agrees")) >= 30
    assert truth["paging"] == "aarch64-16k" and truth["vmcoreinfo_expect"]["NUMBER(TCR_EL1_T1SZ)"] in ("0xc", "12")
    tcr = int(truth["cpus"][0]["tcr_el1"], 16)
    assert tcr >> 59 & 1 and (tcr >> 32) & 7 == 0b110  # DS = 1, IPS = 52 bits


def test_kernel_root_is_the_16k_52bit_swapper_pg_dir(guest: tuple[PhysicalMemory, dict[str, Any]]) -> None:
    mem, truth = guest
    roots = find_roots(mem)
    assert len(roots) == 1
    root = roots[0].to_json()
    ttbr1 = int(truth["cpus"][0]["ttbr1_el1"], 16)
    assert (root["mode"], root["va_bits"], root["granule"], root["start_level"], root["top_table_entries"]) == (
        "aarch64-16k",
        52,
        16384,
        0,
        32,
    )
    assert int(root["table"], 16) == ttbr1 & 0x0000_FFFF_FFFF_FFFE  # what the CPUs' TTBR1_EL1 held


def test_every_verified_kernel_va(guest: tuple[PhysicalMemory, dict[str, Any]]) -> None:
    mem, truth = guest
    space = AddressSpace(mem, find_roots(mem)[0])
    checked = 0
    for r in rows(truth, "ttbr1"):
        t = space.translate(int(r["va"], 16))
        if r["verdict"] == "mapped":
            assert t.pa == int(r["gva2gpa"], 16), r
        else:
            assert t.pa is None, r
        checked += 1
    assert checked >= 20


@pytest.mark.parametrize("with_tcr", [False, True], ids=["geometry-from-vmcoreinfo", "geometry-from-tcr"])
def test_every_verified_user_va_through_each_cpus_ttbr0(
    guest: tuple[PhysicalMemory, dict[str, Any]], with_tcr: bool
) -> None:
    """TTBR0 values are 256-byte aligned slab objects with CnP set: the root must not be rounded to a page."""
    mem, truth = guest
    for cpu in truth["cpus"]:
        ttbr0, tcr = int(cpu["ttbr0_el1"], 16), int(cpu["tcr_el1"], 16)
        opt = RootOptions(ttbr0=ttbr0, tcr=tcr if with_tcr else None)
        root = next(r for r in find_roots(mem, None, opt) if r.half == "ttbr0")
        assert root.table == ttbr0 & ~0xFF and root.table % 16384  # not page aligned
        space = AddressSpace(mem, root)
        mine = rows(truth, "ttbr0", cpu["index"])
        assert len(mine) >= 20
        for r in mine:
            t = space.translate(int(r["va"], 16))
            if r["verdict"] == "mapped":
                assert t.pa == int(r["gva2gpa"], 16), r
                assert t.page_size == 16384 and t.flags is not None and t.flags.user
            else:
                assert t.pa is None, r
        assert not {a.kind for a in space.anomalies} & BAD_ANOMALIES


def test_kernel_walk_is_clean_and_costs_few_tables(guest: tuple[PhysicalMemory, dict[str, Any]]) -> None:
    mem, _ = guest
    space = AddressSpace(mem, find_roots(mem)[0])
    maps = space.walk()
    assert maps and not {a.kind for a in space.anomalies} & BAD_ANOMALIES
    assert space.stats.tables_visited < 200


def test_cli_info_translate_check(
    guest: tuple[PhysicalMemory, dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    _, truth = guest
    dump = str(SAMPLE / truth["dumps"]["kdump"])
    assert main(["info", dump, "--json"]) == 0
    roots = json.loads(capsys.readouterr().out)["roots"]
    assert [(r["mode"], r["va_bits"], r["granule"]) for r in roots] == [("aarch64-16k", 52, 16384)]
    user = next(r for r in rows(truth, "ttbr0", 1) if r["verdict"] == "mapped" and r.get("kernel_agrees"))
    assert main(["translate", dump, user["va"], "--ttbr0", truth["cpus"][1]["ttbr0_el1"], "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert int(out[0]["pa"], 16) == int(user["gva2gpa"], 16)
    assert main(["check", dump, "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert not [f for f in report["findings"] if f["severity"] == "error"]


def test_unknown_granule_is_one_line_exit_2(
    guest: tuple[PhysicalMemory, dict[str, Any]], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A --tcr with a reserved TG1 is unusable input, not an internal error."""
    _, truth = guest
    dump = str(SAMPLE / truth["dumps"]["kdump"])
    assert main(["translate", dump, "0xfff0000000000000", "--ttbr1", "0x41f3c000", "--tcr", "0x100000"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "TG1 = 0b00" in err[0] and dump in err[0]


def test_tagged_pointers_translate_with_tbi_from_the_tcr(guest: tuple[PhysicalMemory, dict[str, Any]]) -> None:
    """This kernel sets TCR_EL1.TBI0 and TBI1: the MMU ignores a VA's top byte (MTE / HWASan tags)."""
    mem, truth = guest
    cpu = truth["cpus"][0]
    ttbr0, tcr = int(cpu["ttbr0_el1"], 16), int(cpu["tcr_el1"], 16)
    user = next(r for r in rows(truth, "ttbr0", 0) if r["verdict"] == "mapped")
    kernel = next(r for r in rows(truth, "ttbr1") if r["verdict"] == "mapped")
    with_tcr = {r.half: AddressSpace(mem, r) for r in find_roots(mem, None, RootOptions(ttbr0=ttbr0, tcr=tcr))}
    without = {r.half: AddressSpace(mem, r) for r in find_roots(mem, None, RootOptions(ttbr0=ttbr0))}
    tagged_user = int(user["va"], 16) | 0x0A << 56
    tagged_kernel = int(kernel["va"], 16) & ~(0xFF << 56) | 0xF3 << 56  # bit 55 stays 1: still TTBR1
    assert with_tcr["ttbr0"].translate(tagged_user).pa == int(user["gva2gpa"], 16)
    assert with_tcr["ttbr1"].translate(tagged_kernel).pa == int(kernel["gva2gpa"], 16)
    assert without["ttbr0"].translate(tagged_user).pa is None  # no TCR known: a tag is a non-canonical VA

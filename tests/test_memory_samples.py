"""Every dump format on the real QEMU samples: ranges, per-CPU control registers, VMCOREINFO."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import load_truth, sample_dirs

from pmoview import vmcoreinfo
from pmoview.memory import open_dump

SAMPLES = sample_dirs()
if not SAMPLES:
    pytest.skip("no samples in sample_dumps/", allow_module_level=True)


def _dump_files(truth: dict[str, Any]) -> list[str]:
    files = []
    for kind, value in truth.get("dumps", {}).items():
        if kind in ("raw", "lime"):  # no CPU state or notes in these formats: tested below
            continue
        files.append(value if isinstance(value, str) else value["file"])
    return files


CASES = [(d, f) for d in SAMPLES for f in _dump_files(load_truth(d)) if (d / f).exists()]


@pytest.mark.parametrize("sample,name", CASES, ids=[f"{d.name}/{f}" for d, f in CASES])
def test_cpu_control_registers_match_qemu(sample: Path, name: str) -> None:
    truth = load_truth(sample)
    mem = open_dump(str(sample / name))
    assert mem.arch == truth["arch"]
    if truth["arch"] != "x86_64":
        return  # QEMU's arm dumps carry no system registers
    assert len(mem.cpus) == len(truth["cpus"])
    for cpu, expect in zip(mem.cpus, truth["cpus"], strict=False):
        for reg in ("cr0", "cr3", "cr4"):
            if reg in expect:  # a capture kernel's NT_PRSTATUS has no control registers
                assert cpu.regs[reg] == int(expect[reg], 16), (cpu.index, reg)


@pytest.mark.parametrize("sample,name", CASES, ids=[f"{d.name}/{f}" for d, f in CASES])
def test_described_ranges_hold_all_usable_ram(sample: Path, name: str) -> None:
    truth = load_truth(sample)
    mem = open_dump(str(sample / name))
    ranges = mem.valid_ranges()
    if "cut" not in truth:
        assert ranges == mem.ranges()  # a full dump holds every page it describes
    if truth.get("cuts", {}).get(name, {}).get("pt_load_runs"):
        return  # an ELF cut cannot describe the pages it dropped
    # a capture kernel's /proc/vmcore leaves out the crashkernel reservation (and a few pages kexec keeps)
    gaps = [(int(g["start"], 16), int(g["end"], 16)) for g in truth.get("ram_not_in_dump", [])]
    for entry in truth["ram_map"]:
        if entry["type"] != 1:
            continue
        start, end = int(entry["start"], 16), int(entry["end"], 16)
        # QEMU leaves the legacy VGA hole 0xa0000-0xc0000 out of its RAM blocks
        covered = sum(max(0, min(end, r.end) - max(start, r.start)) for r in ranges)
        covered += sum(max(0, min(end, b) - max(start, a)) for a, b in gaps)
        assert covered == end - start, (hex(start), hex(end))


@pytest.mark.parametrize("sample,name", CASES, ids=[f"{d.name}/{f}" for d, f in CASES])
def test_vmcoreinfo_present_when_the_guest_exported_it(sample: Path, name: str) -> None:
    truth = load_truth(sample)
    mem = open_dump(str(sample / name))
    if not truth.get("vmcoreinfo"):
        assert not mem.vmcoreinfo
        return
    assert mem.vmcoreinfo and mem.vmcoreinfo["OSRELEASE"].startswith("6.")
    for key, value in truth.get("vmcoreinfo_expect", {}).items():
        assert mem.vmcoreinfo.get(key) == value, key
    if truth["arch"] == "aarch64":
        assert vmcoreinfo.number(mem.vmcoreinfo, "kimage_voffset") is not None
        assert vmcoreinfo.symbol(mem.vmcoreinfo, "swapper_pg_dir") is not None


def _formats_of(sample: Path) -> dict[str, Path]:
    truth = load_truth(sample)
    return {
        k: sample / (v if isinstance(v, str) else v["file"])
        for k, v in truth.get("dumps", {}).items()
        if k != "lime"  # LiME is an earlier moment of the boot
        and (sample / (v if isinstance(v, str) else v["file"])).exists()
    }


MULTI = [d for d in SAMPLES if len(_formats_of(d)) > 1]


@pytest.mark.parametrize("sample", MULTI, ids=[d.name for d in MULTI])
def test_every_format_of_one_guest_holds_the_same_bytes(sample: Path) -> None:
    truth = load_truth(sample)
    files = _formats_of(sample)
    mems = {}
    for kind, path in files.items():
        local = sample / path.name
        if kind == "raw":
            mems[kind] = open_dump(str(local), base=int(truth["dumps"]["raw"]["base"], 16))
        else:
            mems[kind] = open_dump(str(local))
    reference = mems.get("kdump") or next(iter(mems.values()))
    first_cr3 = truth["cpus"][0].get("cr3") if truth["cpus"] else None  # none in a capture kernel's vmcore
    cr3 = int(first_cr3, 16) & ~0xFFF if truth["arch"] == "x86_64" and first_cr3 else None
    probes = [0x1000, 0x100000, 0x9F000] + ([cr3] if cr3 else [])
    for pa in probes:
        expect = reference.read_page(pa)
        for kind, mem in mems.items():
            if kind == "raw" and not any(pa in r for r in mem.ranges()):
                continue
            assert mem.read_page(pa) == expect, (kind, hex(pa))


LIME = [d for d in SAMPLES if "lime" in load_truth(d).get("dumps", {})]


@pytest.mark.parametrize("sample", LIME, ids=[d.name for d in LIME])
def test_real_lime_dump_holds_the_kernel_page_tables_of_its_boot(sample: Path) -> None:
    """LiME ran in the guest earlier in the same boot: its kernel-half top-level entries are the kdump's."""
    truth = load_truth(sample)
    lime = open_dump(str(sample / truth["dumps"]["lime"]))
    assert lime.format == "lime"
    full = [(int(r["start"], 16), int(r["end"], 16)) for r in truth["lime_ranges"]]
    for r in lime.ranges():
        assert any(s <= r.start and r.end <= e + 0x1000 for s, e in full), r
    kdump = open_dump(str(sample / truth["dumps"]["kdump"]))
    root = int(truth["lime_cut"]["root"], 16)
    lime_top, kdump_top = lime.read_page(root), kdump.read_page(root)
    assert lime_top is not None and kdump_top is not None
    assert lime_top[256 * 8 :] == kdump_top[256 * 8 :]

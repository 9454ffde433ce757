"""pmoview.checks on the real samples: each defect variant yields its truth.json ``expected_findings``
and no other error; the correct builds and real Linux guests yield no error at all."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import SAMPLES, load_truth, sample_dirs

from pmoview.checks import CheckOptions, run_checks
from pmoview.checks.report import Report, render

DUMP_NAMES = ("dump.kdump", "dump.kdump.xz")


def _dump(d: Path) -> Path | None:
    return next((d / n for n in DUMP_NAMES if (d / n).exists()), None)


def _samples() -> list[Any]:
    out = [pytest.param(d, id=d.name) for d in sample_dirs() if _dump(d) is not None]
    return out or [pytest.param(None, id="no-samples")]


_cache: dict[str, Report] = {}


def run_sample(d: Path, with_kernel: bool = True, features: bool = True) -> Report:
    key = f"{d}:{with_kernel}:{features}"
    if key in _cache:
        return _cache[key]
    from pmoview.kernel import KernelImage
    from pmoview.memory import open_dump
    from pmoview.roots import RootOptions, find_roots
    from pmoview.space import AddressSpace

    truth = load_truth(d)
    dump = _dump(d)
    assert dump is not None
    mem = open_dump(str(dump))
    kernel = KernelImage.open(str(d / "kernel.elf")) if with_kernel and (d / "kernel.elf").exists() else None
    # A dump with no registers and no VMCOREINFO (a bare-metal arm guest) names its roots in truth.json,
    # as a user would on the command line; its design comes as a layout spec.
    ro = truth.get("root_options", {})
    opts = RootOptions(**{k: int(ro[k], 16) for k in ("ttbr0", "ttbr1", "tcr") if k in ro})
    roots = [r for r in find_roots(mem, kernel, opts) if not ro or r.half == "ttbr1"]
    assert roots, f"{d.name}: no page-table root"
    feats = frozenset(truth["cpu_features"]) if features and "cpu_features" in truth else None
    spec = str(d / truth["spec"]) if "spec" in truth else None
    report = run_checks(
        AddressSpace(mem, roots[0]), mem, kernel=kernel, options=CheckOptions(cpu_features=feats), spec=spec
    )
    _cache[key] = report
    return report


@pytest.mark.parametrize("d", _samples())
def test_sample_yields_its_expected_findings(d: Path | None) -> None:
    if d is None:
        pytest.skip("no sample dumps present yet")
    truth = load_truth(d)
    report = run_sample(d)
    expected = set(truth.get("expected_findings") or [])
    found = report.kinds("error") | report.kinds("warning")
    assert expected <= found, f"{d.name}: missing {sorted(expected - found)}"
    unexpected = report.kinds("error") - expected
    assert not unexpected, f"{d.name}: unexpected errors {sorted(unexpected)}:\n" + render(report, "text")
    assert report.exit_code == (1 if report.kinds("error") else 0)


@pytest.mark.parametrize("d", _samples())
def test_sample_profile_and_ram_source(d: Path | None) -> None:
    if d is None:
        pytest.skip("no sample dumps present yet")
    truth = load_truth(d)
    report = run_sample(d)
    if truth.get("kind") == "seed":
        assert report.profile.name == "seed"
        assert report.ram_source == "multiboot2"  # through mb2_mmap_copy in kernel.elf
        got = [{"start": hex(r.start), "end": hex(r.end), "type": r.type} for r in report.ram.ranges]
        assert got == truth["ram_map"]
    elif truth["arch"] == "riscv64":
        assert report.profile.name == ("xv6-riscv" if truth.get("kind") == "xv6" else "linux-riscv64")
    elif truth.get("kind") == "bare-metal":
        assert report.profile.name != "seed"  # its own layout spec, not the x86 seed design
    else:
        assert report.profile.name == ("linux-arm64" if truth["arch"] == "aarch64" else "linux-x86_64")


def _seed(name: str) -> Path:
    d = SAMPLES / name
    if not (d / "truth.json").exists() or _dump(d) is None:
        pytest.skip(f"{name} not present")
    return d


def test_seed_without_kernel_finds_the_multiboot2_map_by_scanning() -> None:
    d = _seed("seed-hole")
    report = run_sample(d, with_kernel=False)
    assert report.ram_source == "multiboot2" and "scanning" in report.ram.detail
    assert "pmo-missing" in report.kinds("error")


def test_literal_virt_to_phys_is_explained() -> None:
    d = _seed("seed-literal-virt-to-phys")
    report = run_sample(d)
    toms = [f for f in report.findings if f.kind == "table-outside-memory"]
    assert len(toms) == 4
    text = " ".join(f.message for f in toms)
    assert (
        "PML4[256] → PDPT entry 1 points at 0x7fff8010f000, which is kernel VA 0xffffffff8010f000 minus "
        "PHYS_OFFSET: virt_to_phys checked the PMO range before the kernel-image range; the table is at "
        "PA 0x10f000"
    ) in text


def test_hole_is_reported_at_the_cleared_entry() -> None:
    d = _seed("seed-hole")
    [f] = [f for f in run_sample(d).findings if f.kind == "pmo-missing"]
    assert (f.pa_start, f.pa_end) == (0x4800_0000, 0x4820_0000)
    assert f.paths[0][-1].index == 64 and f.paths[0][-1].entry == 0


def test_wrong_frame_names_both_frames() -> None:
    d = _seed("seed-wrong-frame")
    [f] = [f for f in run_sample(d).findings if f.kind == "pmo-wrong-target"]
    assert (f.va_start, f.pa_start) == (0xFFFF_8000_0C80_0000, 0xCA0_0000)
    assert "0xc800000" in f.message


def test_1g_pages_without_features_is_a_warning_not_an_error() -> None:
    d = _seed("seed-1g-nopdpe1gb")
    report = run_sample(d, features=False)
    assert "pmo-page-size" in report.kinds("warning") and "pmo-page-size" not in report.kinds("error")


def test_sample_json_report_is_valid(tmp_path: Path) -> None:
    dirs = [d for d in sample_dirs() if _dump(d) is not None]
    if not dirs:
        pytest.skip("no samples")
    data = json.loads(render(run_sample(dirs[0]), "json"))
    for f in data["findings"]:
        for k in ("va_start", "va_end", "pa_start", "pa_end"):
            assert f[k] is None or (f[k].startswith("0x") and f[k] == f[k].lower())
        assert all(set(e) == {"level", "index", "entry"} for p in f["paths"] for e in p)

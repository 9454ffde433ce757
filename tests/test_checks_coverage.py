"""PMO coverage from the checks (``check --format json`` ``coverage``, the text report) against the
truth of the real seed samples: the Multiboot2 RAM map QEMU gave and the defect each build carries."""

from __future__ import annotations

import json
from typing import Any

import pytest
from conftest import SAMPLES, load_truth

from pmoview.cli import main

SEED_PMO = 0xFFFF_8000_0000_0000


def _check(name: str, capsys: pytest.CaptureFixture[str], fmt: str = "json") -> str:
    d = SAMPLES / name
    dump = next((d / n for n in ("dump.kdump", "dump.kdump.xz") if (d / n).exists()), None)
    if dump is None:
        pytest.skip(f"sample_dumps/{name} is not here")
    main(["check", str(dump), "--kernel", str(d / "kernel.elf"), "--format", fmt])
    return capsys.readouterr().out


def _coverage(name: str, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    sections = json.loads(_check(name, capsys))["coverage"]
    assert len(sections) == 1, "one root checked, one PMO region in the seed profile"
    return dict(sections[0])


def _ranges(items: list[dict[str, str]]) -> list[tuple[int, int]]:
    return [(int(r["pa_start"], 16), int(r["pa_end"], 16)) for r in items]


def _truth_ram(name: str) -> list[tuple[int, int]]:
    return [(int(r["start"], 16), int(r["end"], 16)) for r in load_truth(SAMPLES / name)["ram_map"] if r["type"] == 1]


def test_correct_build_covers_all_its_ram(capsys: pytest.CaptureFixture[str]) -> None:
    c = _coverage("seed-correct", capsys)
    assert c["ram_source"] == "multiboot2"
    assert c["va_of_pa0"] == hex(SEED_PMO)
    assert _ranges(c["covered"]) == _truth_ram("seed-correct")
    assert c["missing"] == [] and c["wrong"] == []
    assert c["bytes"]["covered"] == c["bytes"]["ram"] == sum(b - a for a, b in _truth_ram("seed-correct"))


def test_hole_is_the_one_missing_range_at_its_pmo_va(capsys: pytest.CaptureFixture[str]) -> None:
    c = _coverage("seed-hole", capsys)
    assert _ranges(c["missing"]) == [(0x4800_0000, 0x4820_0000)]  # truth: the cleared 2 MiB entry
    assert c["missing"][0]["va_start"] == hex(SEED_PMO + 0x4800_0000)
    assert c["wrong"] == []
    ram = _truth_ram("seed-hole")
    assert c["bytes"]["ram"] == sum(b - a for a, b in ram)
    assert c["bytes"]["covered"] == c["bytes"]["ram"] - 0x20_0000


def test_wrong_frame_is_wrong_not_missing_and_names_the_frame(capsys: pytest.CaptureFixture[str]) -> None:
    c = _coverage("seed-wrong-frame", capsys)
    assert _ranges(c["wrong"]) == [(0xC80_0000, 0xCA0_0000)]  # truth: VA ...0c800000 maps PA 0xca00000
    assert c["wrong"][0]["maps_pa"] == "0xca00000"
    assert c["missing"] == []


def test_no_pml4_256_leaves_all_ram_missing(capsys: pytest.CaptureFixture[str]) -> None:
    c = _coverage("seed-no-pml4-256", capsys)
    assert c["covered"] == [] and c["wrong"] == []
    assert _ranges(c["missing"]) == _truth_ram("seed-no-pml4-256")


def test_text_report_prints_the_coverage_and_each_uncovered_range(capsys: pytest.CaptureFixture[str]) -> None:
    text = _check("seed-hole", capsys, "text")
    section = text.split("PMO COVERAGE\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert section[0].startswith("pmo (root 0x")
    assert "missing 2 MiB" in section[0] and "wrong 0 bytes" in section[0]
    assert section[1:] == ["  missing PA 0x48000000-0x48200000 (2 MiB) at VA 0xffff800048000000"]


def test_dump_ranges_fallback_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    """Without the kernel and with the RAM scan off, the RAM is the dump's ranges: the section says so."""
    d = SAMPLES / "seed-correct"
    dump = d / "dump.kdump.xz"
    if not dump.exists():
        pytest.skip("sample_dumps/seed-correct is not here")
    main(["check", str(dump), "--no-ram-scan", "--format", "json"])
    c = json.loads(capsys.readouterr().out)["coverage"][0]
    assert c["ram_source"] == "dump"

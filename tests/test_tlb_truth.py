"""Real guests against QEMU's own walk: every leaf HMP ``info tlb`` printed must come out of the walker.

``info tlb`` (QEMU target/i386/monitor.c, ``print_pte``) prints one line per present leaf:
``VA: PA XGPDACTUW`` -- the leaf entry's own bits (not combined with the tables above): X = XD (bit 63),
G, P = PS (never shown for a 4 KiB page: QEMU clears bit 7, the PAT bit, there), D, A, C = PCD,
T = PWT, U = U/S, W = R/W; the PA is the page base (``pte & mask``). It does not check reserved bits.
"""

from __future__ import annotations

import json
import lzma
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pmoview.arch import Root
from pmoview.memory import open_dump
from pmoview.space import AddressSpace

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_dumps"
LINE = re.compile(r"^([0-9a-f]{16}): ([0-9a-f]{16}) ([-X][-G][-P][-D][-A][-C][-T][-U][-W])$")
LETTERS = ((63, "X"), (8, "G"), (7, "P"), (6, "D"), (5, "A"), (4, "C"), (3, "T"), (2, "U"), (1, "W"))
PAGE = 4096


def _cases() -> list[Any]:
    out = []
    for truth in sorted(SAMPLES.glob("*/truth.json")):
        d = truth.parent
        for tlb in sorted(d.glob("info-tlb-cpu*.txt*")):
            cpu = int(tlb.name.removeprefix("info-tlb-cpu").split(".")[0])
            out.append(pytest.param(d, cpu, id=f"{d.name}-cpu{cpu}"))
    return out or [pytest.param(None, 0, id="no-samples")]


def read_capture(path: Path) -> str:
    """A monitor capture; the big Linux ones are stored as ``.txt.xz``."""
    xz = path.with_name(path.name + ".xz")
    if not path.exists() and xz.exists():
        return lzma.open(xz, "rt").read()
    return path.read_text()


def parse_info_tlb(path: Path) -> dict[int, tuple[int, str]]:
    out: dict[int, tuple[int, str]] = {}
    for line in read_capture(path).splitlines():
        m = LINE.match(line.strip())
        if m:
            out[int(m[1], 16)] = (int(m[2], 16), m[3])
    return out


def letters(entry: int, size: int) -> str:
    if size == PAGE:
        entry &= ~(1 << 7)  # QEMU prints a PTE with its PAT bit cleared
    return "".join(ch if entry >> b & 1 else "-" for b, ch in LETTERS)


def _space(d: Path, cpu: int) -> tuple[AddressSpace, dict[str, Any]]:
    truth = json.loads((d / "truth.json").read_text())
    if truth.get("arch") != "x86_64":
        pytest.skip("info tlb exists for x86 guests only")
    dumps = truth.get("dumps", {})
    name = dumps.get("kdump")
    if not name or not (d / name).exists():
        pytest.skip(f"{d.name}: no kdump")
    mem = open_dump(str(d / name))
    regs = {c.index: c.regs for c in mem.cpus}
    cpu_truth = {c["index"]: c for c in truth.get("cpus", [])}.get(cpu, {})
    cr3 = regs.get(cpu, {}).get("cr3")
    if cr3 is None:
        cr3 = int(cpu_truth["cr3"], 16)
    cr4 = regs.get(cpu, {}).get("cr4", int(cpu_truth.get("cr4", "0"), 16))
    efer = cpu_truth.get("efer")
    la57 = bool(cr4 & (1 << 12)) or truth.get("paging") == "5-level"
    root = Root(
        "x86_64",
        "x86_64-5level" if la57 else "x86_64-4level",
        cr3 & 0x000F_FFFF_FFFF_F000,
        f"CPU {cpu} CR3",
        nxe=None if efer is None else bool(int(efer, 16) & 0x800),
        cpu=cpu,
    )
    return AddressSpace(mem, root), truth


@pytest.mark.parametrize(("sample", "cpu"), _cases())
def test_every_info_tlb_leaf_is_reproduced(sample: Path | None, cpu: int) -> None:
    if sample is None:
        pytest.skip("no sample_dumps/*/truth.json yet")
    space, _ = _space(sample, cpu)
    tlb = parse_info_tlb(sample / f"info-tlb-cpu{cpu}.txt")
    if not tlb:
        pytest.skip("empty info tlb")
    ours: dict[int, tuple[int, int, str]] = {}
    for ch in space.chunks():
        raw = ch.batch.raw[ch.flat]
        for va, pa, e in zip(ch.va.tolist(), ch.pa.tolist(), raw.tolist(), strict=False):
            ours[va] = (pa, ch.size, letters(e, ch.size))
    missing = [va for va in tlb if va not in ours]
    extra = [va for va in ours if va not in tlb]
    assert not missing, f"{len(missing)} info-tlb leaves not found, first {missing[:3]}"
    assert not extra, f"{len(extra)} leaves info tlb does not list, first {[hex(v) for v in extra[:3]]}"
    wrong = [(hex(va), tlb[va], ours[va]) for va in tlb if (ours[va][0], ours[va][2]) != tlb[va]]
    assert not wrong, f"{len(wrong)} leaves differ, first {wrong[:3]}"
    sizes = {ours[va][1] for va in tlb if "P" in tlb[va][1]}
    assert sizes <= {2 << 20, 1 << 30}


@pytest.mark.parametrize(("sample", "cpu"), _cases())
def test_translate_agrees_with_info_tlb(sample: Path | None, cpu: int) -> None:
    if sample is None:
        pytest.skip("no sample_dumps/*/truth.json yet")
    space, _ = _space(sample, cpu)
    tlb = parse_info_tlb(sample / f"info-tlb-cpu{cpu}.txt")
    if not tlb:
        pytest.skip("empty info tlb")
    rng = np.random.default_rng(1234)
    vas = sorted(tlb)
    for i in rng.choice(len(vas), size=min(500, len(vas)), replace=False).tolist():
        va = vas[i]
        pa, flags = tlb[va]
        r = space.translate(va + 0x10)
        assert r.pa == pa + 0x10, hex(va)
        assert r.flags is not None and r.page_size is not None
        assert (r.page_size > PAGE) == ("P" in flags)
        # info tlb shows the leaf's bits; the effective ones are the leaf's combined with every table's.
        w = all(e.entry & 2 for e in r.path)
        u = all(e.entry & 4 for e in r.path)
        x = any(e.entry >> 63 for e in r.path)
        assert (r.flags.writable, r.flags.user, r.flags.nx) == (w, u, x and space.mode.acc_or_mask != 0)
        assert ("W" in flags) >= r.flags.writable and ("U" in flags) >= r.flags.user
        assert ("X" in flags) <= r.flags.nx or not space.mode.acc_or_mask


@pytest.mark.parametrize(("sample", "cpu"), _cases())
def test_real_walk_finds_no_structural_anomalies(sample: Path | None, cpu: int) -> None:
    if sample is None:
        pytest.skip("no sample_dumps/*/truth.json yet")
    space, truth = _space(sample, cpu)
    space.walk()
    kinds = {a.kind for a in space.anomalies}
    if truth.get("kind") == "linux":
        assert not kinds & {"reserved-bits", "recursive-map", "cycle", "limit"}, space.anomalies[:3]

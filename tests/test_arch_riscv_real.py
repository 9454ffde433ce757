"""Real RISC-V guests against QEMU's own walk (``info mem`` per hart) and the MMU's own faults.

Samples (sample_dumps/riscv/make_riscv_samples.py): rvseed-sv39/sv48/sv57, a kernel of ours with
4 KiB, 2 MiB, 1 GiB (and 512 GiB) leaves and planted reserved encodings, each probed in S-mode
(serial.log says which loads faulted); linux-riscv64, Debian 13's kernel in Sv57.
QEMU's ``info mem`` merges leaves whose low 8 PTE bits are equal and whose VA and PA run on; pmoview's
leaves are merged the same way here and the two lists must be equal, outside the planted ranges
(``info mem`` lists planted leaves without validating them; the MMU faults on them).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pmoview.arch.records import Leaf
from pmoview.memory import PhysicalMemory, open_dump
from pmoview.roots import RootOptions, find_roots
from pmoview.roots_riscv import root_from_satp
from pmoview.space import AddressSpace

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_dumps"
NAMES = ("rvseed-sv39", "rvseed-sv48", "rvseed-sv57", "linux-riscv64")
ATTR = "rwxugad"
Run = tuple[int, int, int, str]  # va, pa, size, attr as info mem prints them


def truth(name: str) -> dict[str, Any]:
    path = SAMPLES / name / "truth.json"
    if not path.exists():
        pytest.skip(f"no {name} sample")
    t: dict[str, Any] = json.loads(path.read_text())
    return t


_mem: dict[str, PhysicalMemory] = {}


def dump_path(name: str) -> Path:
    dumps = truth(name)["dumps"]
    return SAMPLES / name / str(dumps.get("elf") or dumps["kdump"])


def memory(name: str) -> PhysicalMemory:
    if name not in _mem:
        _mem[name] = open_dump(str(dump_path(name)))
    return _mem[name]


def info_mem(path: Path) -> list[Run]:
    runs = []
    for line in path.read_text().splitlines():
        m = re.fullmatch(r"([0-9a-f]{16}) ([0-9a-f]{16}) ([0-9a-f]{16}) ([-rwxugad]{7})", line.strip())
        if m:
            runs.append((int(m[1], 16), int(m[2], 16), int(m[3], 16), m[4]))
    return runs


def attr_text(entry: int) -> str:
    return "".join(c if entry >> b & 1 else "-" for c, b in zip(ATTR, (1, 2, 3, 4, 5, 6, 7), strict=True))


def qemu_merge(leaves: list[Leaf]) -> list[Run]:
    """Leaves merged as QEMU 7.2's walk_pte (target/riscv/monitor.c) merges them: equal low PTE byte,
    PA contiguous, and VA contiguous *as seen from the same table*: ``last_start`` is a local of each
    recursive call, so the first leaf of every table starts a new run even when VA and PA run on."""
    out: list[list[Any]] = []
    last_in_table: dict[int, int] = {}
    for leaf in leaves:
        attr = attr_text(leaf.path[-1].entry)
        table = leaf.path[-1].table_pa
        last = out[-1] if out else None
        prev = last_in_table.get(table)
        last_size = last[4] if last else 0
        if (
            last
            and last[3] == attr
            and last[1] + last[2] == leaf.pa
            and prev is not None
            and prev + last_size == leaf.va
        ):
            last[2] += leaf.size
            last[4] = leaf.size
        else:
            out.append([leaf.va, leaf.pa, leaf.size, attr, leaf.size])
        last_in_table[table] = leaf.va
    return [(a, b, c, d) for a, b, c, d, _ in out]


def planted(t: dict[str, Any]) -> list[tuple[int, int]]:
    return [(int(p["start"], 16), int(p["end"], 16)) for p in t.get("planted", [])]


def outside(runs: list[Run], ranges: list[tuple[int, int]]) -> list[Run]:
    return [r for r in runs if not any(s < r[0] + r[2] and r[0] < e for s, e in ranges)]


def harts_with_paging(name: str) -> list[tuple[str, int]]:
    path = SAMPLES / name / "truth.json"
    if not path.exists():
        return []
    return [(name, h["index"]) for h in json.loads(path.read_text())["harts"] if h["mode"]]


CASES = [c for n in NAMES for c in harts_with_paging(n)]


@pytest.mark.parametrize("name,hart", CASES, ids=[f"{n}-hart{h}" for n, h in CASES])
def test_mappings_equal_qemu_info_mem_for_every_hart(name: str, hart: int) -> None:
    t = truth(name)
    h = t["harts"][hart]
    space = AddressSpace(memory(name), root_from_satp(int(h["satp"], 16), "truth satp"))
    assert space.mode.name == f"riscv64-{h['mode']}"
    expected = outside(info_mem(SAMPLES / name / h["info_mem"]), planted(t))
    ours = outside(qemu_merge(list(space.leaves())), planted(t))
    assert ours == expected
    sizes = {leaf.size for leaf in space.leaves()}
    if name.startswith("rvseed"):
        assert {4096, 2 << 20, 1 << 30} <= sizes
        if h["mode"] != "sv39":
            assert 512 << 30 in sizes


@pytest.mark.parametrize("name,hart", CASES, ids=[f"{n}-hart{h}" for n, h in CASES])
def test_translate_agrees_with_info_mem_at_both_ends_of_every_run(name: str, hart: int) -> None:
    t = truth(name)
    h = t["harts"][hart]
    space = AddressSpace(memory(name), root_from_satp(int(h["satp"], 16), "truth satp"))
    for va, pa, size, attr in outside(info_mem(SAMPLES / name / h["info_mem"]), planted(t)):
        for off in (0, size - 1):
            tr = space.translate(va + off)
            assert tr.pa == pa + off, (hex(va + off), tr.reason)
            assert tr.flags is not None
            assert tr.flags.writable == ("w" in attr) and tr.flags.user == ("u" in attr)
            assert (not (tr.flags.nx and tr.flags.user_nx)) == ("x" in attr)


@pytest.mark.parametrize("name", [n for n in NAMES if n.startswith("rvseed")])
def test_every_load_the_mmu_faulted_on_is_a_reserved_encoding_or_a_permission(name: str) -> None:
    t = truth(name)
    h = t["harts"][0]
    space = AddressSpace(memory(name), root_from_satp(int(h["satp"], 16), "truth satp"))
    planted_names = {p["name"] for p in t["planted"]}
    for probe in t["probes"]:
        tr = space.translate(int(probe["va"], 16))
        if probe["name"] in planted_names:
            assert probe["fault"] and tr.pa is None, probe
            assert tr.reason and ("reserved" in tr.reason or "no next level" in tr.reason), (probe, tr.reason)
        elif not probe["fault"]:
            assert tr.pa is not None and tr.flags is not None and tr.flags.readable, probe
        else:  # a permission fault: a user page read by S-mode with SUM=0, or an X-only page with MXR=0
            assert tr.flags is not None, probe
            s_access, _ = tr.flags.access(sum_=h["sum"])
            assert s_access[0] == "-", (probe, s_access)


@pytest.mark.parametrize("name", [n for n in NAMES if n.startswith("rvseed")])
def test_planted_encodings_are_reserved_bits_findings(name: str) -> None:
    t = truth(name)
    satp = t["harts"][0]["satp"]
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pmoview",
            "check",
            str(dump_path(name)),
            "--satp",
            satp,
            "--format",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode in (0, 1), proc.stderr
    findings = json.loads(proc.stdout)["findings"]
    reserved = [f for f in findings if f["kind"] == "reserved-bits"]
    for start, end in planted(t):
        assert any(int(f["va_start"], 16) <= start and end <= int(f["va_end"], 16) for f in reserved), hex(start)


@pytest.mark.parametrize("name", NAMES)
def test_the_validated_scan_finds_every_harts_root(name: str) -> None:
    t = truth(name)
    roots = find_roots(memory(name), None, RootOptions())
    found = {(r.table, r.mode) for r in roots}
    for h in t["harts"]:
        if h["mode"]:
            assert (int(h["root"], 16), f"riscv64-{h['mode']}") in found
    assert all("maps executable" in r.source for r in roots)


@pytest.mark.parametrize("name", [n for n in NAMES if n.startswith("rvseed")])
def test_explain_agrees_with_every_s_mode_load_the_guest_made(name: str) -> None:
    from pmoview.access import control_for, explain
    from pmoview.access.control import with_overrides

    t = truth(name)
    h = t["harts"][0]
    space = AddressSpace(memory(name), root_from_satp(int(h["satp"], 16), "truth satp"))
    state = with_overrides(control_for(space.root), {"sum": int(h["sum"]), "mxr": int(h["mxr"])})
    for probe in t["probes"]:
        e = explain(space, int(probe["va"], 16), "read", "kernel", state)
        assert e.allowed == (not probe["fault"]), (probe, e.message)
    assert explain(space, 0x405000, "read", "kernel", state).reason == "not-readable"
    assert explain(space, 0x402000, "read", "kernel", state).reason == "sum"
    assert explain(space, 0x400000, "exec", "kernel", state).reason == "user-exec"


def test_svpbmt_turns_the_planted_pbmt_leaf_into_a_non_cacheable_page() -> None:
    t = truth("rvseed-sv48")
    va = next(int(p["start"], 16) for p in t["planted"] if p["name"] == "pbmt-without-svpbmt")
    satp = int(t["harts"][0]["satp"], 16)
    plain = find_roots(memory("rvseed-sv48"), None, RootOptions(satp=satp))[0]
    assert AddressSpace(memory("rvseed-sv48"), plain).translate(va).pa is None
    with_ext = find_roots(memory("rvseed-sv48"), None, RootOptions(satp=satp, svpbmt=True))[0]
    tr = AddressSpace(memory("rvseed-sv48"), with_ext).translate(va)
    assert tr.pa is not None and tr.flags is not None and tr.flags.cache == "NC"

"""Random page-table trees, built with the Construct layouts (tests/synth.py) and then sabotaged, end in
a result: never an exception, a hang or unbounded work, in the model and through the CLI.

Sabotage: entries pointing back at the root (self map) or at any table of any level (cycles, tables
shared at several levels), past the end of memory, with reserved bits, or raw random words; leaves
whose frames are absent; non-canonical probe VAs. Checked: ``translate`` answers every VA with a PA
or a reason, the walk visits at most ``WalkLimits.max_tables`` tables and says so with a ``limit``
anomaly when it stops, mappings come out sorted and disjoint, lazy views never raise. Trees are also
written as kdump files (tests/dumpsynth.py) and run through ``pmoview translate / mappings / info``.

CI runs a fixed, derandomized budget. The long run (thousands of trees):

    PYTHONPATH=. python -m pytest tests/test_robust_trees.py -m slow
    PYTHONPATH=. python tests/fuzz/campaign.py --trees-only --minutes 5
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import dumpsynth
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from synth import PAGE, Arm64Tree, GiB, MiB, X86Tree, arm_table, x86_table

from pmoview.arch.records import WalkLimits
from pmoview.memory import AbsentMemoryError
from pmoview.space import AddressSpace

sys.path.insert(0, str(Path(__file__).parent / "fuzz"))
from fuzz_target import check_cli_result, run_cli, time_limit

ANOMALY_KINDS = {"table-outside-memory", "reserved-bits", "recursive-map", "shared-table", "cycle", "limit"}
X86_SIZES = (PAGE, 2 * MiB, GiB)
ARM_SIZES = (PAGE, 2 * MiB, GiB)


@dataclass
class Built:
    tree: X86Tree | Arm64Tree
    vas: list[int]
    tables: list[int]
    ops: list[str]

    @property
    def arch(self) -> str:
        return "x86_64" if isinstance(self.tree, X86Tree) else "aarch64"


def _canonical_x86(va: int, levels: int) -> int:
    bits = 48 if levels == 4 else 57
    va &= (1 << bits) - 1
    return va | (((1 << 64) - (1 << bits)) if va >> (bits - 1) & 1 else 0)


@st.composite
def trees(draw: st.DrawFn) -> Built:
    kind = draw(st.sampled_from(["x86-4", "x86-5", "arm-48", "arm-39"]))
    ops: list[str] = [kind]
    if kind.startswith("x86"):
        tree: X86Tree | Arm64Tree = X86Tree(levels=int(kind[-1]))
        sizes = X86_SIZES
    else:
        tree = Arm64Tree(va_bits=int(kind[-2:]))
        sizes = ARM_SIZES if tree.va_bits == 48 else (PAGE, 2 * MiB, GiB)
    vas: list[int] = []
    for _ in range(draw(st.integers(1, 12))):
        size = draw(st.sampled_from(sizes))
        if isinstance(tree, X86Tree):
            va = _canonical_x86(draw(st.integers(0, (1 << 64) - 1)), tree.levels) & ~(size - 1)
        else:
            low = draw(st.integers(0, (1 << tree.va_bits) - 1)) & ~(size - 1)
            va = low + ((1 << 64) - (1 << tree.va_bits))  # the ttbr1 half
        pa = draw(st.sampled_from([0, 0x20_0000, 0x4000_0000, (1 << 46), draw(st.integers(0, (1 << 48) - 1))]))
        pa &= ~(size - 1)
        try:
            tree.map(va, pa, size)
        except (ValueError, KeyError, AbsentMemoryError):  # the path runs through a leaf: skip
            continue
        vas.append(va)
        ops.append(f"map {va:#x}->{pa:#x} {size:#x}")
    tables = sorted(p for p in tree.mem.pages)  # every page so far is a table
    top = max(tables) + PAGE
    for _ in range(draw(st.integers(0, 10))):
        if not vas:
            break
        va = draw(st.sampled_from(vas))
        what = draw(st.sampled_from(["root", "table", "past", "reserved", "raw", "clear", "self-level"]))
        if isinstance(tree, X86Tree):
            level = draw(st.integers(1, tree.levels))
            target = {
                "root": tree.root,
                "table": draw(st.sampled_from(tables)),
                "past": draw(st.sampled_from([top, 1 << 40, (1 << 52) - PAGE])),
                "reserved": draw(st.sampled_from(tables)),
                "self-level": draw(st.sampled_from(tables)),
                "raw": 0,
                "clear": 0,
            }[what]
            value = x86_table(target) if what not in ("raw", "clear") else 0
            if what == "reserved":
                value |= draw(st.sampled_from([1 << 7, 1 << 51, 0x7FF << 52, 1 << 63]))
            if what == "raw":
                value = draw(st.integers(0, (1 << 64) - 1))
        else:
            level = draw(st.integers(tree.start, 3))
            target = {
                "root": tree.root,
                "table": draw(st.sampled_from(tables)),
                "past": draw(st.sampled_from([top, 1 << 40, (1 << 48) - PAGE])),
                "reserved": draw(st.sampled_from(tables)),
                "self-level": draw(st.sampled_from(tables)),
                "raw": 0,
                "clear": 0,
            }[what]
            value = arm_table(target) if what not in ("raw", "clear") else 0
            if what == "reserved":
                value |= draw(st.sampled_from([1 << 50, 1 << 48, 0xF << 12 | 1 << 47, 1 << 63]))
            if what == "raw":
                value = draw(st.integers(0, (1 << 64) - 1))
        try:
            tree.set_entry(va, level, value)
        except (KeyError, ValueError, AbsentMemoryError):
            continue
        ops.append(f"{what}: level {level} entry of {va:#x} = {value:#x}")
    probe = draw(st.lists(st.integers(0, (1 << 64) - 1), max_size=4))
    return Built(tree, vas + probe, tables, ops)


def check_space(b: Built, max_tables: int) -> AddressSpace:
    root = b.tree.root_obj()
    space = AddressSpace(b.tree.mem, root, WalkLimits(max_tables=max_tables))
    for va in b.vas:
        t = space.translate(va)
        assert (t.pa is None) == (t.reason is not None), (va, t)
        assert len(t.path) <= len(space.mode.levels)
    maps = space.walk()
    assert space.stats.tables_visited <= max_tables
    kinds = {a.kind for a in space.anomalies}
    assert kinds <= ANOMALY_KINDS, kinds
    hit_limit = "limit" in kinds
    prev_end = 0
    for m in maps:
        assert m.va_start >= prev_end and m.va_end > m.va_start, (m, prev_end)
        assert m.va_end - m.va_start == m.count * m.page_size
        prev_end = m.va_end
    if not hit_limit and maps:
        m = maps[len(maps) // 2]
        assert space.translate(m.va_start).path  # the MMU reaches it too
        assert m.va_start in space.reverse(m.pa_start)  # reverse(pa) lists every VA mapping it
    if maps:
        lo, hi = maps[0].va_start, maps[-1].va_end
        assert len(space.mappings(lo, min(hi, lo + GiB))) >= 1
    view = space.root_table()
    for i in view.present()[:8]:
        child = space.children(view, i)
        for j in child.present()[:4] if child is not None else []:
            space.children(child, j)
    return space


@settings(
    max_examples=300,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(b=trees(), max_tables=st.sampled_from([1, 3, 50, 5000]))
def test_random_sabotaged_tree_ends_in_a_result(b: Built, max_tables: int) -> None:
    with time_limit(30, "; ".join(b.ops)[:300]):
        check_space(b, max_tables)


def _fan_out(tree: X86Tree) -> None:
    """Every entry of every level points at the one table below: 512**3 PT visits if nothing stopped it."""
    t1, t2, t3 = tree.new_table(), tree.new_table(), tree.new_table()
    tree.mem.write(tree.root, np.full(512, x86_table(t1), dtype="<u8").tobytes())
    tree.mem.write(t1, np.full(512, x86_table(t2), dtype="<u8").tobytes())
    tree.mem.write(t2, np.full(512, x86_table(t3), dtype="<u8").tobytes())
    tree.mem.write(t3, (np.arange(512, dtype=np.uint64) * np.uint64(PAGE) | np.uint64(1)).astype("<u8").tobytes())


def test_fan_out_dag_is_stopped_by_max_tables_with_a_message() -> None:
    t = X86Tree()
    _fan_out(t)
    space = AddressSpace(t.mem, t.root_obj(), WalkLimits(max_tables=3000))
    with time_limit(30, "fan-out DAG"):
        maps = space.walk()
    assert space.stats.tables_visited == 3000
    limit = [a for a in space.anomalies if a.kind == "limit"]
    assert len(limit) == 1 and "3,000 tables" in limit[0].detail and "raise the limit" in limit[0].detail
    assert maps and space.translate(0xFFFF_FFFF_FFFF_F000).pa is not None  # translate is never capped


def test_every_table_pointing_at_the_root_terminates() -> None:
    """A PML4 whose 512 entries are all self maps: the MMU's view exists, the enumeration is empty."""
    t = X86Tree()
    t.mem.write(t.root, np.full(512, x86_table(t.root), dtype="<u8").tobytes())
    space = AddressSpace(t.mem, t.root_obj())
    assert space.walk() == [] and {a.kind for a in space.anomalies} == {"recursive-map"}
    tr = space.translate(0xFFFF_FFFF_FFFF_F000)
    assert tr.pa == t.root and tr.reason is None  # the MMU follows entry 511 four times, back to the root


# -- through the CLI: trees written as kdump files -----------------------------------------------------------
def write_dump(b: Built, path: Path) -> list[str]:
    """The tree's pages as a kdump with a CPU note naming the root; returns the root options to pass."""
    # Pages below 4 GiB only: a leaf mapped over a larger one can make synth write "table" bytes at
    # the large leaf's frame (PA up to 2**52), and the kdump bitmap would be as large as that PA.
    pages = {pa // PAGE: data for pa, data in b.tree.mem.pages.items() if pa < 1 << 32}
    if isinstance(b.tree, X86Tree):
        la57 = 1 << 12 if b.tree.levels == 5 else 0
        notes = dumpsynth.prstatus_note() + dumpsynth.qemu_note(cr3=b.tree.root, cr4=0x20 | la57)
        path.write_bytes(dumpsynth.kdump(pages, notes=notes))
        return []
    path.write_bytes(dumpsynth.kdump(pages, machine="aarch64"))
    # T1SZ, TG1 (the tree's granule: 0b10 4K, 0b01 16K, 0b11 64K) and IPS 48 bits
    tg1 = {12: 0b10, 14: 0b01, 16: 0b11}[b.tree.g]
    tcr = (64 - b.tree.va_bits) << 16 | tg1 << 30 | 0b101 << 32
    return ["--arch", "aarch64", "--ttbr1", hex(b.tree.root), "--tcr", hex(tcr)]


def cli_on_tree(b: Built, path: Path, max_tables: int) -> list[int]:
    opts = write_dump(b, path)
    vas = [hex(v) for v in b.vas[:8]] or ["0x0"]
    codes = []
    for argv in (
        ["info", str(path), *opts],
        ["translate", str(path), *vas, *opts],
        ["mappings", str(path), "--max-tables", str(max_tables), *opts],
        ["mappings", str(path), "--json", "--max-tables", str(max_tables), *opts],
    ):
        code, out, err = run_cli(argv)
        check_cli_result(argv, code, out, err)
        codes.append(code)
    return codes


@settings(
    max_examples=40,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large],
)
@given(b=trees())
def test_random_tree_through_the_cli(b: Built, tmp_path: Path) -> None:
    with time_limit(60, "; ".join(b.ops)[:300]):
        codes = cli_on_tree(b, tmp_path / "tree.kdump", 5000)
    assert codes[0] == 0  # a well-formed file with a damaged tree is not unusable input


@pytest.mark.slow
@settings(
    max_examples=3000,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(b=trees(), max_tables=st.sampled_from([1, 7, 500, 20_000]))
def test_slow_many_sabotaged_trees(b: Built, max_tables: int) -> None:
    with time_limit(60, "; ".join(b.ops)[:300]):
        check_space(b, max_tables)

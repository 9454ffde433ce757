"""Hostile trees stay within the documented budget by default (docs/limits.md, "Budget"): the work is
counted (tables visited, revisits, mappings written, finding records), never timed.

- a 21 KiB kdump whose every PML4, PDPT and PD entry points at the one table below asks for 512**3 PT
  visits: the default ``WalkLimits.max_revisits`` stops it, and every command says so;
- a PMO where every page maps a frame at its own wrong offset gives a cause per page: causes per kind
  and finding records per report are capped, and the report says what it left out.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import dumpsynth
import numpy as np
import pytest
from synth import PAGE, X86Tree, x86_table

from pmoview.arch.records import WalkLimits
from pmoview.checks import run_checks
from pmoview.checks.findings import MAX_FINDINGS
from pmoview.space import AddressSpace

sys.path.insert(0, str(Path(__file__).resolve().parent / "fuzz"))
from fuzz_target import run_cli  # noqa: E402

SEED_PMO = 0xFFFF_8000_0000_0000


def fan_out() -> X86Tree:
    t = X86Tree()
    t1, t2, t3 = t.new_table(), t.new_table(), t.new_table()
    t.mem.write(t.root, np.full(512, x86_table(t1), dtype="<u8").tobytes())
    t.mem.write(t1, np.full(512, x86_table(t2), dtype="<u8").tobytes())
    t.mem.write(t2, np.full(512, x86_table(t3), dtype="<u8").tobytes())
    t.mem.write(t3, (np.arange(512, dtype=np.uint64) * np.uint64(PAGE) | np.uint64(1)).astype("<u8").tobytes())
    return t


@pytest.fixture(scope="module")
def fan_out_dump(tmp_path_factory: pytest.TempPathFactory) -> Path:
    t = fan_out()
    path = tmp_path_factory.mktemp("hostile") / "fan-out.kdump"
    notes = dumpsynth.prstatus_note() + dumpsynth.qemu_note(cr3=t.root, cr4=0x20)
    path.write_bytes(dumpsynth.kdump({pa // PAGE: d for pa, d in t.mem.pages.items()}, notes=notes))
    assert path.stat().st_size < 32 * 1024
    return path


def test_revisits_are_capped_by_default() -> None:
    t = fan_out()
    space = AddressSpace(t.mem, t.root_obj())
    cols = space.columns()
    cap = WalkLimits().max_revisits
    assert space.stats.tables_visited <= 4 + cap
    assert len(cols) <= 3 * space.stats.tables_visited  # 3 runs per PT visit (frames absent/present/absent)
    (limit,) = [a for a in space.anomalies if a.kind == "limit"]
    assert "max_revisits" in limit.detail and "raise the limit" in limit.detail


def space_visits() -> int:
    t = fan_out()
    space = AddressSpace(t.mem, t.root_obj(), WalkLimits(max_revisits=1000))
    space.columns()
    return space.stats.tables_visited


def test_a_raised_revisit_cap_walks_further() -> None:
    t = fan_out()
    small = AddressSpace(t.mem, t.root_obj(), WalkLimits(max_revisits=100))
    small.columns()
    assert small.stats.tables_visited <= 4 + 100 < space_visits()


def test_every_command_on_the_fan_out_dump_says_the_cap_cut_it(fan_out_dump: Path) -> None:
    code, out, err = run_cli(["mappings", "--json", str(fan_out_dump)])
    assert code == 0 and "--max-revisits raises it" in err
    written = out.count("\n") - 2
    # each PT visit gives 3 runs here (frames absent, present, absent): records follow the capped visits
    assert 0 < written <= 3 * (4 + WalkLimits().max_revisits)
    code, out, err = run_cli(["check", "--format", "json", str(fan_out_dump)])
    report = json.loads(out)
    assert len(report["findings"]) <= MAX_FINDINGS
    assert any(f["kind"] == "walk-limit" and "max_revisits" in f["message"] for f in report["findings"])


def test_a_cause_per_page_is_capped_and_said() -> None:
    t = X86Tree()
    for i in range(1500):  # page i maps frame 2i: each has its own wrong offset
        t.map(SEED_PMO + i * PAGE, 0x10_0000 + 2 * i * PAGE, rw=1, xd=1)
    space = AddressSpace(t.mem, t.root_obj())
    rep = run_checks(space, t.mem, "seed", ram=[(0, 64 << 20)])
    assert len(rep.findings) <= MAX_FINDINGS
    (cut,) = [f for f in rep.findings if f.kind == "report-limit"]
    assert "are not listed" in cut.message
    assert sum(f.count for f in rep.findings if f.kind in ("pmo-wrong-target", "report-limit")) >= 1500

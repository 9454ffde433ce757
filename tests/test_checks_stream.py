"""``check`` streams the tree: its memory follows one batch of mappings, not the leaf count.

- On a tree of unmergeable leaves (every other page read-only), the checks never build the whole
  tree's columns or ``Mapping`` list, and no batch they hold is much larger than ``BATCH_ROWS``;
  the memory they allocate (numpy arrays included, counted by ``tracemalloc``) does not grow with
  the leaf count.
- Batches cut runs of alike mappings, never conclusions: the report is the same whatever the batch
  size, on trees whose runs, wrong frames, holes and exemptions cross batch boundaries (and past the
  number of places the collector keeps whole), and on the real samples.
"""

from __future__ import annotations

import sys
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import SAMPLES
from synth import PAGE, MiB, X86Tree

from pmoview.arch.columns import MappingColumns
from pmoview.checks import CheckOptions, context, run_checks
from pmoview.checks.findings import EXACT_PLACES
from pmoview.checks.report import render
from pmoview.memory import open_dump
from pmoview.space import AddressSpace

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
from make_synthetic import write  # noqa: E402

SEED_PMO = 0xFFFF_8000_0000_0000


def _open(path: Path) -> tuple[Any, AddressSpace]:
    from pmoview.roots import find_roots

    mem = open_dump(str(path))
    return mem, AddressSpace(mem, find_roots(mem, None)[0])


@pytest.fixture(scope="module")
def alternating(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[int, Path]]:
    """Seed-design PMOs of 1 and 4 GiB, every other 4 KiB page read-only (262 144 and 1 048 576 leaves,
    none merge)."""
    d = tmp_path_factory.mktemp("stream")
    out = {}
    for gib in (1, 4):
        out[gib] = d / f"alt-{gib}g.elf"
        write(str(out[gib]), gib, alternate=True, base_va=SEED_PMO)
    yield out


def test_check_holds_no_whole_tree_and_no_batch_beyond_the_batch_size(
    alternating: dict[int, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    def whole_tree(self: AddressSpace, *a: object, **k: object) -> None:
        raise AssertionError("a check asked for the whole tree at once")

    for name in ("columns", "walk", "mappings"):
        monkeypatch.setattr(AddressSpace, name, whole_tree)
    largest = [0]
    batches = AddressSpace.mapping_batches

    def counted(self: AddressSpace, *a: Any, **k: Any) -> Iterator[MappingColumns]:
        for b in batches(self, *a, **k):
            largest[0] = max(largest[0], len(b))
            yield b

    monkeypatch.setattr(AddressSpace, "mapping_batches", counted)
    mem, space = _open(alternating[1])
    report = run_checks(space, mem)
    (flags,) = [f for f in report.findings if f.kind == "pmo-flags"]
    assert flags.count == 131_072  # every read-only page judged, none held
    # a batch is BATCH_ROWS mappings and at most one walk chunk more (512 tables of 512 entries)
    assert 0 < largest[0] <= context.BATCH_ROWS + 512 * 64
    assert largest[0] < 262_144


def _peak_while_checking(path: Path) -> int:
    mem, space = _open(path)
    space.scan()  # the walk's own caches (tables decoded) are not the checks'
    tracemalloc.start()
    try:
        run_checks(space, mem)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_check_memory_does_not_follow_the_leaf_count(alternating: dict[int, Path]) -> None:
    """Four times the leaves, about the same peak: whole-tree columns would add 38 bytes and the PMO
    window's work arrays ~100 bytes per mapping (1 048 576 mappings: ~100 MB more than 262 144)."""
    small, big = _peak_while_checking(alternating[1]), _peak_while_checking(alternating[4])
    assert big < small * 1.5 + 4 * MiB, (small, big)


# -- the report does not depend on where batches cut ------------------------------------------------
def _report_json(space_of: Any, rows: int | None, monkeypatch: pytest.MonkeyPatch, **kw: Any) -> str:
    """The JSON report with every batch the checks get cut into batches of ``rows`` mappings (None:
    the whole of each range in one batch)."""
    monkeypatch.setattr(context, "BATCH_ROWS", 1 << 40)
    whole = AddressSpace.mapping_batches

    def cut(self: AddressSpace, *a: Any, **k: Any) -> Iterator[MappingColumns]:
        for b in whole(self, *a, **k):
            for i in range(0, len(b), rows or len(b)):
                yield b.take(slice(i, i + (rows or len(b))))

    monkeypatch.setattr(AddressSpace, "mapping_batches", cut)
    mem, space = space_of()
    return render(run_checks(space, mem, **kw), "json")


def crossing_tree() -> X86Tree:
    """A seed PMO of 14 MiB in 4 KiB pages whose global bit alternates (so no two neighbours merge into
    one mapping) with runs of alike mappings across every 2 MiB: read-only pages alternating (more
    places than the collector keeps whole) and in fours around each 2 MiB boundary, a hole, wrong frames
    (mapped twice, and lost) and an executable range; then one 2 MiB page."""
    t = X86Tree(table_base=0x100_0000)
    for pa in range(0, 12 * MiB, PAGE):
        page = pa // PAGE
        g = page % 2
        ro = page % 512 in (510, 511, 0, 1) or page % 2 == 1
        if 0x1F_E000 <= pa < 0x20_3000:
            continue  # a hole
        if 0x3F_D000 <= pa < 0x40_4000:
            t.map(SEED_PMO + pa, pa + 0x10_0000, rw=1, xd=1, g=g)  # wrong frames
        elif 0x5F_0000 <= pa < 0x61_0000:
            t.map(SEED_PMO + pa, pa, rw=1, xd=0, g=g)  # executable
        else:
            t.map(SEED_PMO + pa, pa, rw=0 if ro else 1, xd=1, g=g)
    t.map(SEED_PMO + 12 * MiB, 12 * MiB, 2 * MiB, rw=1, xd=1)
    return t


CROSSING_OPTIONS = {"profile": "seed", "options": CheckOptions(cpu_features=frozenset({"nx"}), ram=[(0, 14 * MiB)])}


def test_crossing_tree_has_runs_past_the_kept_places() -> None:
    t = crossing_tree()
    report = run_checks(AddressSpace(t.mem, t.root_obj(nxe=True)), t.mem, **CROSSING_OPTIONS)  # type: ignore[arg-type]
    kinds = {f.kind for f in report.findings}
    assert {"pmo-flags", "pmo-wrong-target", "pmo-missing"} <= kinds
    (ro,) = [f for f in report.findings if f.kind == "pmo-flags" and "read-only" in f.message]
    assert ro.count > EXACT_PLACES


@pytest.mark.parametrize("rows", [1, 2, 3, 511, 512, 513, 1000])
def test_report_is_the_same_whatever_the_batch_size_on_crossing_runs(
    rows: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    t = crossing_tree()

    def space_of() -> tuple[Any, AddressSpace]:
        return t.mem, AddressSpace(t.mem, t.root_obj(nxe=True))

    whole = _report_json(space_of, None, monkeypatch, **CROSSING_OPTIONS)
    assert _report_json(space_of, rows, monkeypatch, **CROSSING_OPTIONS) == whole


SAMPLE_DUMPS = [
    "seed-wrong-frame/dump.kdump.xz",
    "seed-hole/dump.kdump.xz",
    "seed-1g-pages/dump.kdump.xz",
    "seed-user-pmo/dump.kdump.xz",
    "linux-x86_64-4l-nokaslr/dump.kdump",
    "linux-arm64/dump.kdump",
]


@pytest.mark.parametrize("name", SAMPLE_DUMPS)
def test_report_is_the_same_whatever_the_batch_size_on_samples(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    path = SAMPLES / name
    if not path.exists():
        pytest.skip(f"{name} is not present")
    whole = _report_json(lambda: _open(path), None, monkeypatch)
    assert _report_json(lambda: _open(path), 7, monkeypatch) == whole


def test_a_cause_per_page_keeps_no_judged_count_per_page(monkeypatch: pytest.MonkeyPatch) -> None:
    """A wrong offset per page is a run key per page: a batch's carry forgets the keys that stayed
    under the judging limit past ``MAX_KEYS`` (each is judged anew if it comes back), the report
    is the same."""
    from pmoview.checks import runs

    t = X86Tree()
    for i in range(1500):  # page i maps frame 2i: each has its own wrong offset
        t.map(SEED_PMO + i * PAGE, 0x10_0000 + 2 * i * PAGE, rw=1, xd=1)

    def space_of() -> tuple[Any, AddressSpace]:
        return t.mem, AddressSpace(t.mem, t.root_obj())

    kw = {"profile": "seed", "options": CheckOptions(ram=[(0, 64 * MiB)])}
    whole = _report_json(space_of, None, monkeypatch, **kw)
    monkeypatch.setattr(runs, "MAX_KEYS", 16)
    kept = [0]
    carried = runs.RunCarry.runs

    def spy(self: runs.RunCarry, *a: Any) -> Any:
        kept[0] = max(kept[0], len(self.judged))
        return carried(self, *a)

    monkeypatch.setattr(runs.RunCarry, "runs", spy)
    assert _report_json(space_of, 100, monkeypatch, **kw) == whole
    assert 0 < kept[0] <= 16  # each batch ends within the limit

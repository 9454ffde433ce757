"""``diff``: the sweep on synthetic mapping lists (every kind, clipping, merging, ranges), and two CPUs'
roots of real Linux dumps against the difference of QEMU's own ``info tlb`` for those CPUs."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from diff_reference import reference_diff
from synth import PAGE, GiB, MiB, X86Tree
from test_tlb_truth import parse_info_tlb

from pmoview.cli import main
from pmoview.diff import diff_mappings, diff_spaces
from pmoview.memory import open_dump
from pmoview.roots import find_roots
from pmoview.space import AddressSpace, Flags, Mapping

SAMPLES = Path(__file__).resolve().parent.parent / "sample_dumps"
K = 0xFFFF_8880_0000_0000


def spaces() -> tuple[AddressSpace, AddressSpace]:
    a, b = X86Tree(), X86Tree()
    for t in (a, b):
        t.map(K, 0x100_0000, 2 * MiB, rw=1, xd=1)  # equal on both sides
    a.map(K + 4 * MiB, 0x200_0000, PAGE, rw=1)  # only in A
    b.map(K + 8 * MiB, 0x300_0000, PAGE, rw=1)  # only in B
    for i in range(4):  # four 4K pages: in B the middle two are read-only
        a.map(K + 16 * MiB + i * PAGE, 0x400_0000 + i * PAGE, PAGE, rw=1)
        b.map(K + 16 * MiB + i * PAGE, 0x400_0000 + i * PAGE, PAGE, rw=0 if i in (1, 2) else 1)
    a.map(K + 32 * MiB, 0x500_0000, 2 * MiB, rw=1)  # page size changes: 2M in A, 4K pages in B
    for i in range(512):
        b.map(K + 32 * MiB + i * PAGE, 0x500_0000 + i * PAGE, PAGE, rw=1)
    a.map(K + 40 * MiB, 0x600_0000, PAGE)  # target changes
    b.map(K + 40 * MiB, 0x600_1000, PAGE)
    return AddressSpace(a.mem, a.root_obj()), AddressSpace(b.mem, b.root_obj())


def test_every_kind_with_clipping_and_merging() -> None:
    a, b = spaces()
    d = diff_spaces(a, b)
    assert [(m.va_start - K, m.va_end - K) for m in d.removed] == [(4 * MiB, 4 * MiB + PAGE)]
    assert [(m.va_start - K, m.pa_start) for m in d.added] == [(8 * MiB, 0x300_0000)]
    got = [(c.va_start - K, c.va_end - K, c.a.page_size, c.b.page_size) for c in d.changed]
    assert got == [
        (16 * MiB + PAGE, 16 * MiB + 3 * PAGE, PAGE, PAGE),  # the two read-only pages, one entry
        (32 * MiB, 34 * MiB, 2 * MiB, PAGE),  # 2M against 512 4K pages
        (40 * MiB, 40 * MiB + PAGE, PAGE, PAGE),
    ]
    ro = d.changed[0]
    assert ro.a.flags.writable and not ro.b.flags.writable and ro.a.pa_start == 0x400_1000 and ro.a.count == 2
    assert not d.equal and diff_spaces(a, a).equal


def test_range_restricts_and_clips() -> None:
    a, b = spaces()
    d = diff_spaces(a, b, K + 16 * MiB + 2 * PAGE, K + 33 * MiB)
    assert not d.removed and not d.added
    assert [(c.va_start - K, c.va_end - K) for c in d.changed] == [
        (16 * MiB + 2 * PAGE, 16 * MiB + 3 * PAGE),
        (32 * MiB, 33 * MiB),
    ]
    assert d.changed[1].a.pa_start == 0x500_0000 and d.changed[1].a.va_end - d.changed[1].a.va_start == MiB


def test_empty_sides() -> None:
    a, _ = spaces()
    d = diff_mappings(a.mappings(), [])
    assert not d.added and not d.changed and sum(m.size for m in d.removed) == sum(m.size for m in a.mappings())
    assert diff_mappings([], []).equal and len(diff_mappings([], a.mappings()).added) == len(d.removed)


def random_pair(pages: int, seed: int) -> tuple[AddressSpace, AddressSpace]:
    """Two trees over the same ``pages`` 4K slots (and a few 2M ones), each slot on each side absent,
    writable, read-only, executable or aimed elsewhere, runs of both alike in between; and the top page
    of the address space, writable in A only (its end, 2**64, is 0 in a uint64 column)."""
    rng = random.Random(seed)
    a, b = X86Tree(), X86Tree()
    a.map((1 << 64) - PAGE, 0x7000_0000, PAGE, rw=1, xd=1)
    b.map((1 << 64) - PAGE, 0x7000_0000, PAGE, rw=0, xd=1)
    absent, writable = None, {"rw": 1, "xd": 1}
    variants = [absent, writable, {"rw": 0, "xd": 1}, {"rw": 0}, {"rw": 1, "xd": 1, "elsewhere": 1}]
    j = 0
    while j < pages:
        # a run both sides map identically (the rows the lockstep pass drops), or one slot chosen per side
        alike = rng.randrange(1, 40) if rng.random() < 0.3 else 0
        for slot in range(j, min(pages, j + max(alike, 1))):
            va, pa = K + slot * PAGE, 0x1000_0000 + slot * PAGE
            for tree in (a, b):
                v = writable if alike else rng.choice(variants)
                if v is not None:
                    fields = dict(v)
                    target = pa + 0x8000_0000 if fields.pop("elsewhere", 0) else pa
                    tree.map(va, target, PAGE, **fields)
        j += max(alike, 1)
    for k in range(4):  # 2M pages in A where B has 4K pages: every other one read-only, or all alike
        va, pa = K + GiB + k * 2 * MiB, 0x4000_0000 + k * 2 * MiB
        a.map(va, pa, 2 * MiB, rw=1, xd=1)
        for p in range(0, 2 * MiB, PAGE):
            b.map(va + p, pa + p, PAGE, rw=0 if k % 2 == 0 and (p // PAGE) % 2 else 1, xd=1)
            if k == 1 and p < MiB:  # B's first 1M is in the dump, the rest not: two rows of B that continue
                b.mem.write(pa + p, bytes(PAGE))
    return AddressSpace(a.mem, a.root_obj()), AddressSpace(b.mem, b.root_obj())


@pytest.mark.parametrize(
    "va_range",
    [
        (None, None),
        (K + 100 * PAGE + 123, K + 3000 * PAGE),  # cuts pieces mid-page
        (K + GiB + MiB, K + GiB + 7 * MiB),  # cuts the 2M pages
        (K + 4000 * PAGE, 1 << 64),  # to the top of the address space
    ],
)
def test_columnar_diff_matches_the_object_sweep_on_many_differing_leaves(
    va_range: tuple[int | None, int | None],
) -> None:
    a, b = random_pair(6000, seed=15)
    lo, hi = va_range
    want = reference_diff(a.mappings(lo, hi), b.mappings(lo, hi), lo, hi)
    assert len(want.removed) > 50 or lo is not None
    assert len(want.changed) > 100 or lo is not None
    assert diff_spaces(a, b, lo, hi) == want
    assert diff_spaces(b, a, lo, hi) == reference_diff(b.mappings(lo, hi), a.mappings(lo, hi), lo, hi)


def random_rows(rng: random.Random, flags: list[Flags], n: int) -> list[Mapping]:
    """VA-ordered rows, many of which continue the one before (contiguous VA and PA, equal flags) with
    another backing: a walk merges such leaves, other sources of mappings need not."""
    rows: list[Mapping] = []
    va, pa = K, 0x1000_0000
    for _ in range(n):
        va += rng.choice([0, 0, 0, PAGE, 3 * PAGE])  # mostly adjacent
        pa = pa if rng.random() < 0.7 else pa + rng.choice([PAGE, -PAGE, 5 * PAGE])  # mostly contiguous
        pages = rng.randrange(1, 6)
        rows.append(Mapping(va, va + pages * PAGE, pa, PAGE, rng.choice(flags), pages, rng.random() < 0.5, 1))
        va, pa = va + pages * PAGE, pa + pages * PAGE
    return rows


def test_diff_mappings_matches_the_object_sweep_on_rows_that_continue() -> None:
    """Lists whose neighbours continue each other (the joins of counts and backing are exercised)."""
    rng = random.Random(15)
    a, _ = spaces()
    flags = list({m.flags: None for m in a.mappings()})
    for _ in range(20):
        xa, xb = random_rows(rng, flags, 300), random_rows(rng, flags, 300)
        assert diff_mappings(xa, xb) == reference_diff(xa, xb)
        lo, hi = K + rng.randrange(0, 200) * PAGE + 5, K + rng.randrange(300, 900) * PAGE
        assert diff_mappings(xa, xb, lo, hi) == reference_diff(xa, xb, lo, hi)


LINUX_X86 = [p.name for p in sorted(SAMPLES.glob("linux-x86_64-*")) if list(p.glob("info-tlb-cpu1.txt*"))]


@pytest.mark.parametrize("name", LINUX_X86)
def test_two_cpus_roots_agree_with_info_tlb_difference(name: str) -> None:
    """Every leaf QEMU lists for one CPU and not the other is removed/added; every leaf listed for both
    with another PA or other bits is changed; and nothing else is reported."""
    d = SAMPLES / name
    mem = open_dump(str(d / json.loads((d / "truth.json").read_text())["dumps"]["kdump"]))
    # each CPU's own CR3 (a PTI guest also has each CR3's kernel twin, with the same cpu)
    roots = {r.cpu: r for r in find_roots(mem) if r.cpu is not None and f"CPU {r.cpu} CR3" in r.source.split("; ")}
    a, b = AddressSpace(mem, roots[0]), AddressSpace(mem, roots[1])
    tlb0, tlb1 = parse_info_tlb(d / "info-tlb-cpu0.txt"), parse_info_tlb(d / "info-tlb-cpu1.txt")
    only0 = set(tlb0) - set(tlb1)
    only1 = set(tlb1) - set(tlb0)
    changed = {va for va in set(tlb0) & set(tlb1) if tlb0[va] != tlb1[va]}
    assert only0 or only1 or changed  # two different user PGDs: the test compares something

    result = diff_spaces(a, b)

    def leaf_vas(space: AddressSpace, ranges: list[tuple[int, int]]) -> set[int]:
        return {leaf.va for lo, hi in ranges for leaf in space.leaves(lo, hi)}

    assert leaf_vas(a, [(m.va_start, m.va_end) for m in result.removed]) == only0
    assert leaf_vas(b, [(m.va_start, m.va_end) for m in result.added]) == only1
    assert leaf_vas(a, [(c.va_start, c.va_end) for c in result.changed]) == changed
    assert leaf_vas(b, [(c.va_start, c.va_end) for c in result.changed]) == changed


def test_cli_diff_two_roots_json_text_and_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    dump = str(SAMPLES / "linux-x86_64-4l-nokaslr" / "dump.kdump")
    truth = json.loads((SAMPLES / "linux-x86_64-4l-nokaslr" / "truth.json").read_text())
    cr3 = [c["cr3"] for c in truth["cpus"]]
    assert main(["diff", dump, "--root-a", cr3[0], "--root-b", cr3[1], "--json"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"a", "b", "added", "removed", "changed"}
    assert out["a"]["root"]["table"] == cr3[0] and out["b"]["dump"] == dump
    assert out["removed"] and set(out["removed"][0]) >= {"va_start", "va_end", "pa_start", "page_size", "flags"}
    assert set(out["changed"][0]) == {"va_start", "va_end", "a", "b"}
    assert main(["diff", dump, "--root-a", cr3[0], "--root-b", cr3[1]]) == 1
    text = capsys.readouterr().out.splitlines()
    assert text[0].startswith("--- ") and text[1].startswith("+++ ") and text[2].startswith("@@ ")
    assert sum(line.startswith("-0x") for line in text) == len(out["removed"]) + len(out["changed"])
    assert main(["diff", dump, dump, "--root-a", cr3[0], "--root-b", cr3[0]]) == 0
    assert capsys.readouterr().out == ""
    assert main(["diff", dump, "--root-a", cr3[0], "--root-b", "0x7fff0000000"]) == 2
    assert "no page at 0x7fff0000000" in capsys.readouterr().err


def old_mapping_json(m: Mapping) -> dict[str, object]:
    from pmoview.cli.mappings_output import flags_json

    return {
        "va_start": hex(m.va_start),
        "va_end": hex(m.va_end),
        "pa_start": hex(m.pa_start),
        "page_size": m.page_size,
        "flags": flags_json(m.flags),
    }


@pytest.mark.parametrize("pages", [0, 3000])
def test_streamed_writers_print_what_json_dumps_and_the_sorted_hunks_printed(pages: int) -> None:
    """``diff --json`` as ``json.dumps(..., indent=2)`` of the whole document, the text as the hunks
    sorted by VA (removed, added, changed at one VA), on many entries of every kind, and on none."""
    import io

    from pmoview.cli.diff_cmd import write_json, write_lines
    from pmoview.cli.mappings_output import TEXT_ROW
    from pmoview.sizes import size_short

    a, b = random_pair(pages, seed=3) if pages else spaces()
    d = diff_spaces(a, b) if pages else diff_spaces(a, a)
    side_a: dict[str, object] = {"dump": "a.kdump", "root": {"table": "0x1000", "cpu": 0, "notes": ["x", "y"]}}
    side_b: dict[str, object] = {"dump": "b.kdump", "root": {}}
    out = io.StringIO()
    write_json(d, side_a, side_b, out)
    want = {
        "a": side_a,
        "b": side_b,
        "added": [old_mapping_json(m) for m in d.added],
        "removed": [old_mapping_json(m) for m in d.removed],
        "changed": [
            {
                "va_start": hex(c.va_start),
                "va_end": hex(c.va_end),
                "a": old_mapping_json(c.a),
                "b": old_mapping_json(c.b),
            }
            for c in d.changed
        ],
    }
    assert out.getvalue() == json.dumps(want, indent=2) + "\n"

    def line(m: Mapping) -> str:
        size = size_short(m.va_end - m.va_start)
        return TEXT_ROW % (m.va_start, m.va_end, size, m.pa_start, size_short(m.page_size), m.flags.text())

    hunks = [(m.va_start, [f"@@ {m.va_start:#x}-{m.va_end:#x} removed @@", "-" + line(m)]) for m in d.removed]
    hunks += [(m.va_start, [f"@@ {m.va_start:#x}-{m.va_end:#x} added @@", "+" + line(m)]) for m in d.added]
    hunks += [
        (c.va_start, [f"@@ {c.va_start:#x}-{c.va_end:#x} changed @@", "-" + line(c.a), "+" + line(c.b)])
        for c in d.changed
    ]
    text = io.StringIO()
    write_lines(d, text)
    assert text.getvalue() == "".join(x + "\n" for _, lines in sorted(hunks, key=lambda h: h[0]) for x in lines)
    assert pages == 0 or len(d.changed) > 100

"""AddressSpace enumeration: leaves in VA order, merged mappings, ranges, reverse lookups."""

from __future__ import annotations

from synth import DIRECT_MAP, PAGE, GiB, MiB, X86Tree, x86_leaf

from pmoview.space import AddressSpace

KERNEL = 0xFFFF_FFFF_8000_0000


def test_runs_merge_across_page_tables_and_break_where_the_mmu_differs() -> None:
    t = X86Tree()
    base = DIRECT_MAP + 2 * MiB - 4 * PAGE  # straddles two PTs
    for i in range(8):
        t.map(base + i * PAGE, 0x5000_0000 + i * PAGE, rw=1, xd=1)
    t.map(base + 8 * PAGE, 0x5000_0000 + 9 * PAGE, rw=1, xd=1)  # PA gap
    t.map(base + 9 * PAGE, 0x5000_0000 + 10 * PAGE, rw=0, xd=1)  # flags differ
    s = AddressSpace(t.mem, t.root_obj())
    ms = s.mappings()
    assert [(m.va_start - base, m.va_end - base, m.count) for m in ms] == [
        (0, 8 * PAGE, 8),
        (8 * PAGE, 9 * PAGE, 1),
        (9 * PAGE, 10 * PAGE, 1),
    ]
    assert ms[0].flags.writable and not ms[2].flags.writable
    assert ms[0].page_size == PAGE and ms[0].level == 1


def test_equal_effective_flags_merge_even_when_raw_bits_differ() -> None:
    t = X86Tree()
    t.map(KERNEL, 0x7000, rw=1)
    t.map(KERNEL + PAGE, 0x8000, rw=0)
    t.set_entry(KERNEL, 3, t.entry(KERNEL, 3) & ~0x2)  # PDPTE read-only: both leaves are read-only
    ms = AddressSpace(t.mem, t.root_obj()).mappings()
    assert len(ms) == 1 and ms[0].count == 2 and not ms[0].flags.writable


def test_page_sizes_do_not_merge() -> None:
    t = X86Tree()
    t.map(KERNEL, 0x20_0000, 2 * MiB)
    for i in range(512):
        t.map(KERNEL + 2 * MiB + i * PAGE, 0x40_0000 + i * PAGE)
    ms = AddressSpace(t.mem, t.root_obj()).mappings()
    assert [(m.page_size, m.count) for m in ms] == [(2 * MiB, 1), (PAGE, 512)]


def test_leaves_come_in_va_order_across_levels_and_halves() -> None:
    t = X86Tree()
    vas = [KERNEL + 4 * MiB, DIRECT_MAP, 0x40_0000, KERNEL, 0x7FFF_FFFF_F000, KERNEL + 2 * MiB + PAGE]
    sizes = [2 * MiB, GiB, PAGE, 2 * MiB, PAGE, PAGE]
    for va, size in zip(vas, sizes, strict=False):
        t.map(va, 0, size)
    leaves = list(AddressSpace(t.mem, t.root_obj()).leaves())
    assert [lf.va for lf in leaves] == sorted(vas)
    assert all(lf.path[-1].level == {PAGE: 1, 2 * MiB: 2, GiB: 3}[lf.size] for lf in leaves)


def test_ranges_select_leaves_that_meet_them() -> None:
    t = X86Tree()
    for i in range(16):
        t.map(KERNEL + i * PAGE, i * PAGE)
    t.map(DIRECT_MAP, 0, GiB)
    s = AddressSpace(t.mem, t.root_obj())
    assert [lf.va for lf in s.leaves(KERNEL + 3 * PAGE + 5, KERNEL + 6 * PAGE)] == [
        KERNEL + 3 * PAGE,
        KERNEL + 4 * PAGE,
        KERNEL + 5 * PAGE,
    ]
    assert [lf.va for lf in s.leaves(DIRECT_MAP + 5, DIRECT_MAP + 6)] == [DIRECT_MAP]
    assert [lf.va for lf in s.leaves(0x8000_0000_0000, 0xFFFF_8000_0000_0000)] == []  # the non-canonical hole
    assert [m.va_start for m in s.mappings(va_start=KERNEL)] == [KERNEL]


def test_reverse_finds_every_alias() -> None:
    t = X86Tree()
    t.map(DIRECT_MAP, 0, GiB)
    t.map(KERNEL, 0x100_0000, 2 * MiB)
    t.map(0x40_0000, 0x100_3000)
    s = AddressSpace(t.mem, t.root_obj())
    assert s.reverse(0x100_3010) == [0x40_0010, DIRECT_MAP + 0x100_3010, KERNEL + 0x3010]
    assert s.reverse(0x4000_0000) == []


def test_mapping_flags_text_is_ptdump_like() -> None:
    t = X86Tree()
    t.map(KERNEL, 0x20_0000, 2 * MiB, rw=1, g=1, xd=1)
    m = AddressSpace(t.mem, t.root_obj()).mappings()[0]
    assert m.flags.text(m.page_size) == "RW             PSE GLB NX WB"


def test_leaf_helper_round_trip_with_the_walker() -> None:
    t = X86Tree()
    t.set_entry(KERNEL, 1, x86_leaf(0x1234_5000, PAGE, rw=1, us=1))
    r = AddressSpace(t.mem, t.root_obj()).translate(KERNEL + 0x678)
    assert r.pa == 0x1234_5678 and r.path[-1].entry == 0x1234_5007

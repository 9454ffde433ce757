"""x86_64 walks on Construct-built trees: what the MMU does, entry by entry."""

from __future__ import annotations

from synth import DIRECT_MAP, PAGE, GiB, MiB, X86Tree, x86_leaf, x86_table

from pmoview.arch import Root, WalkLimits
from pmoview.space import AddressSpace

KERNEL = 0xFFFF_FFFF_8000_0000
USER = 0x0000_0000_0040_0000


def kinds(space: AddressSpace) -> set[str]:
    return {a.kind for a in space.anomalies}


def test_pages_of_each_size_translate_with_their_offset() -> None:
    t = X86Tree()
    t.map(DIRECT_MAP, 0x4000_0000, GiB, rw=1, xd=1, g=1)
    t.map(KERNEL, 0x20_0000, 2 * MiB, g=1)
    t.map(USER, 0x7000, PAGE, us=1, rw=1)
    s = AddressSpace(t.mem, t.root_obj(nxe=True))
    a = s.translate(DIRECT_MAP + 0x1234_5678)
    assert (a.pa, a.page_size) == (0x4000_0000 + 0x1234_5678, GiB)
    assert a.flags and a.flags.writable and a.flags.nx and a.flags.global_ and not a.flags.user
    assert [e.level for e in a.path] == [4, 3]
    b = s.translate(KERNEL + 0x1_2345)
    assert (b.pa, b.page_size) == (0x20_0000 + 0x1_2345, 2 * MiB)
    assert b.flags and not b.flags.writable and not b.flags.nx
    c = s.translate(USER + 0xABC)
    assert (c.pa, c.page_size) == (0x7ABC, PAGE) and c.flags and c.flags.user and c.flags.writable
    assert [(e.level, e.index) for e in c.path] == [(4, 0), (3, 0), (2, 2), (1, 0)]


def test_not_present_stops_at_the_level_that_says_so() -> None:
    t = X86Tree()
    t.map(USER, 0x7000, us=1)
    s = AddressSpace(t.mem, t.root_obj())
    r = s.translate(USER + 0x1000)
    assert r.pa is None and r.reason == "not present" and r.stop_level == 1
    r = s.translate(0x7F00_0000_0000)
    assert r.pa is None and r.stop_level == 4 and len(r.path) == 1


def test_permissions_combine_over_levels() -> None:
    t = X86Tree()
    # Leaf says RW, U/S and executable; the PDPTE above says read-only, supervisor, XD.
    t.map(USER, 0x7000, rw=1, us=1)
    t.set_entry(USER, 3, x86_table(t.table_of(USER, 2), rw=0, us=0, xd=1))
    s = AddressSpace(t.mem, t.root_obj(nxe=True))
    f = s.translate(USER).flags
    assert f is not None and not f.writable and not f.user and f.nx and f.user_nx


def test_xd_in_a_table_entry_makes_the_leaves_nx_only_when_nxe() -> None:
    t = X86Tree()
    t.map(USER, 0x7000, us=1)
    t.set_entry(USER, 4, x86_table(t.table_of(USER, 3), xd=1))
    on = AddressSpace(t.mem, t.root_obj(nxe=True)).translate(USER)
    assert on.flags and on.flags.nx
    off = AddressSpace(t.mem, t.root_obj(nxe=False)).translate(USER)
    assert off.pa is None and off.reason and off.reason.startswith("reserved bits set") and off.stop_level == 4


def test_nxe_off_makes_bit_63_reserved_in_a_leaf() -> None:
    t = X86Tree()
    t.map(USER, 0x7000, xd=1)
    t.map(USER + PAGE, 0x8000)
    s = AddressSpace(t.mem, t.root_obj(nxe=False))
    assert s.translate(USER).reason.startswith("reserved bits set")  # type: ignore[union-attr]
    ok = s.translate(USER + PAGE)
    assert ok.pa == 0x8000 and ok.flags and not ok.flags.nx
    assert [lf.va for lf in s.leaves()] == [USER + PAGE]
    assert "reserved-bits" in kinds(s)


def test_unknown_nxe_reads_bit_63_as_xd_and_says_so() -> None:
    t = X86Tree()
    t.map(USER, 0x7000, xd=1)
    s = AddressSpace(t.mem, t.root_obj())
    assert s.translate(USER).flags.nx  # type: ignore[union-attr]
    assert any("NXE" in a for a in s.assumptions)


def test_address_bits_above_maxphyaddr_are_reserved() -> None:
    t = X86Tree()
    t.map(USER, 1 << 40, us=1)
    assert AddressSpace(t.mem, t.root_obj(maxphyaddr=52)).translate(USER).pa == 1 << 40
    r = AddressSpace(t.mem, t.root_obj(maxphyaddr=39)).translate(USER)
    assert r.pa is None and r.reason.startswith("reserved bits set") and r.stop_level == 1  # type: ignore[union-attr]


def test_table_pointer_above_maxphyaddr_is_reserved_not_outside_memory() -> None:
    t = X86Tree()
    t.map(USER, 0x7000)
    t.set_entry(USER, 3, x86_table(1 << 45))
    s = AddressSpace(t.mem, t.root_obj(maxphyaddr=40))
    assert s.translate(USER).reason.startswith("reserved bits set")  # type: ignore[union-attr]
    assert list(s.leaves()) == [] and kinds(s) == {"reserved-bits"}


def test_2m_page_reserved_bits_20_13_fault_and_bit_12_is_pat() -> None:
    t = X86Tree()
    t.map(KERNEL, 0x20_0000, 2 * MiB, pat=1)
    t.map(KERNEL + 2 * MiB, 0x40_0000, 2 * MiB, rsvd_20_13=1)
    s = AddressSpace(t.mem, t.root_obj())
    a = s.translate(KERNEL + 5)
    assert a.pa == 0x20_0005 and a.flags and a.flags.attr_index == 4
    b = s.translate(KERNEL + 2 * MiB)
    assert b.pa is None and b.reason.startswith("reserved bits set") and b.stop_level == 2  # type: ignore[union-attr]


def test_1g_page_reserved_bits_29_13_fault() -> None:
    t = X86Tree()
    t.map(DIRECT_MAP, 0x4000_0000, GiB, rsvd_29_13=1 << 5)
    assert AddressSpace(t.mem, t.root_obj()).translate(DIRECT_MAP).reason.startswith("reserved")  # type: ignore[union-attr]


def test_ps_in_a_pml4e_is_reserved() -> None:
    t = X86Tree()
    t.write(t.root, 1, x86_table(0x5000, ps=1))
    s = AddressSpace(t.mem, t.root_obj())
    r = s.translate(1 << 39)
    assert r.pa is None and r.reason and "PS=1" in r.reason and r.stop_level == 4


def test_1g_page_without_pdpe1gb_is_reserved() -> None:
    t = X86Tree()
    t.map(DIRECT_MAP, 0, GiB)
    assert AddressSpace(t.mem, t.root_obj()).translate(DIRECT_MAP).pa == 0
    r = AddressSpace(t.mem, t.root_obj(page_1g=False)).translate(DIRECT_MAP)
    assert r.pa is None and r.reason and "PS=1" in r.reason


def test_non_canonical_va_is_refused() -> None:
    t = X86Tree()
    s = AddressSpace(t.mem, t.root_obj())
    for va in (0x0000_8000_0000_0000, 0xFFFF_7FFF_FFFF_F000, 0x00FF_0000_0000_0000):
        r = s.translate(va)
        assert r.pa is None and r.reason == "non-canonical VA" and r.path == []


def test_la57_uses_five_levels_and_57_bit_canonical_addresses() -> None:
    t = X86Tree(levels=5)
    va = 0xFF11_0000_0000_0000  # Linux's 5-level direct map
    t.map(va, 0x20_0000, 2 * MiB, rw=1)
    t.map(0x00AB_CDEF_0000_0000, 0x9000, us=1)
    s = AddressSpace(t.mem, t.root_obj())
    r = s.translate(va + 0x42)
    assert r.pa == 0x20_0042 and [e.level for e in r.path] == [5, 4, 3, 2]
    assert r.path[0].index == (va >> 48) & 511
    assert s.translate(0x00AB_CDEF_0000_0010).pa == 0x9010
    assert s.translate(0x0100_0000_0000_0000).reason == "non-canonical VA"
    assert [m.va_start for m in s.mappings()] == [0x00AB_CDEF_0000_0000, va]
    # The same VA is non-canonical in 4-level paging.
    assert AddressSpace(t.mem, Root("x86_64", "x86_64-4level", t.root)).translate(va).reason == "non-canonical VA"


def test_recursive_pml4_entry_translates_like_the_mmu_and_is_not_enumerated_twice() -> None:
    t = X86Tree()
    t.map(USER, 0x7000, us=1)
    t.write(t.root, 510, x86_table(t.root, us=0))
    s = AddressSpace(t.mem, t.root_obj())
    # Through PML4[510] four times the MMU lands on the PML4 page itself.
    self_map = 0xFFFF_0000_0000_0000 | 510 << 39 | 510 << 30 | 510 << 21 | 510 << 12
    r = s.translate(self_map + 8)
    assert r.pa == t.root + 8 and r.page_size == PAGE
    assert [lf.va for lf in s.leaves()] == [USER]
    rec = [a for a in s.anomalies if a.kind == "recursive-map"]
    assert len(rec) == 1 and [(e.level, e.index) for e in rec[0].path] == [(4, 510)]
    assert rec[0].va_start == 0xFFFF_0000_0000_0000 | 510 << 39 and rec[0].va_end - rec[0].va_start == 1 << 39


def test_pointer_to_an_ancestor_is_a_cycle_and_the_walk_ends() -> None:
    t = X86Tree()
    t.map(USER, 0x7000)
    pdpt = t.table_of(USER, 3)
    t.write(t.table_of(USER, 2), 7, x86_table(pdpt))  # PDE -> the PDPT above it
    s = AddressSpace(t.mem, t.root_obj())
    assert [lf.va for lf in s.leaves()] == [USER]
    assert "cycle" in kinds(s)


def test_shared_table_is_walked_from_each_entry_and_reported() -> None:
    t = X86Tree()
    t.map(USER, 0x7000, us=1)
    pdpt = t.table_of(USER, 3)
    t.write(t.root, 1, x86_table(pdpt))  # PML4[1] shares PML4[0]'s PDPT
    s = AddressSpace(t.mem, t.root_obj())
    assert [lf.va for lf in s.leaves()] == [USER, (1 << 39) + USER]
    shared = [a for a in s.anomalies if a.kind == "shared-table"]
    assert len(shared) == 1 and shared[0].table_pa == pdpt


def test_table_pointing_to_itself_below_the_root_is_a_cycle() -> None:
    t = X86Tree()
    t.map(USER, 0x7000)
    pd = t.table_of(USER, 2)
    t.write(pd, 9, x86_table(pd))  # PDE[9] -> its own PD
    s = AddressSpace(t.mem, t.root_obj())
    assert [lf.va for lf in s.leaves()] == [USER]
    assert "cycle" in kinds(s)
    # The MMU follows it: PD[9] used as a PT, whose entry 2 is the PDE pointing to the PT: a 4 KiB "page".
    r = s.translate(9 << 21 | 2 << 12)
    assert r.pa == t.table_of(USER, 1) and r.page_size == PAGE


def test_table_used_at_two_levels_is_shared_and_walked_as_each() -> None:
    t = X86Tree()
    t.map(USER, 0x7000, us=1)  # PML4[0] -> PDPT -> PD -> PT
    pd = t.table_of(USER, 2)
    t.set_entry(1 << 39, 4, x86_table(pd))  # PML4[1] -> the same page, read as a PDPT
    s = AddressSpace(t.mem, t.root_obj())
    leaves = list(s.leaves())
    # Read as a PDPT, PDE[2] (-> PT) is a PDPTE pointing to a "PD" whose entry 0 is a PTE with PS=0,
    # i.e. a table pointer to PA 0x7000, which the dump lacks.
    assert [lf.va for lf in leaves] == [USER]
    shared = [a for a in s.anomalies if a.kind == "shared-table"]
    assert len(shared) == 1 and shared[0].table_pa == pd and "also as a level 3 table" in shared[0].detail
    assert "table-outside-memory" in kinds(s)


def test_table_outside_the_dump_is_an_anomaly_and_ends_the_branch() -> None:
    t = X86Tree()
    t.map(USER, 0x7000)
    t.set_entry(KERNEL, 2, x86_table(0x7_0000_0000))  # a PD entry pointing past the dump
    s = AddressSpace(t.mem, t.root_obj())
    r = s.translate(KERNEL)
    assert r.pa is None and r.reason == "table at 0x700000000 not in dump" and r.stop_level == 1
    assert [lf.va for lf in s.leaves()] == [USER]
    out = [a for a in s.anomalies if a.kind == "table-outside-memory"]
    assert len(out) == 1 and out[0].table_pa == 0x7_0000_0000 and out[0].va_start == KERNEL
    assert out[0].va_end == KERNEL + 2 * MiB


def test_root_outside_the_dump() -> None:
    t = X86Tree()
    s = AddressSpace(t.mem, Root("x86_64", "x86_64-4level", 0x9_0000_0000))
    assert s.translate(USER).reason == "table at 0x900000000 not in dump"
    assert s.mappings() == [] and kinds(s) == {"table-outside-memory"}


def test_leaves_with_frames_outside_the_dump_are_kept_unbacked() -> None:
    t = X86Tree()
    t.map(KERNEL, 0xFEE0_0000, PAGE, pcd=1, pwt=1)  # the local APIC: MMIO, never in a dump
    t.map(KERNEL + PAGE, t.root, PAGE)  # a page the dump holds
    s = AddressSpace(t.mem, t.root_obj())
    leaves = list(s.leaves())
    assert [(lf.pa, lf.backed) for lf in leaves] == [(0xFEE0_0000, False), (t.root, True)]
    assert leaves[0].flags.cache == "UC"
    assert s.translate(KERNEL).backed is False


def test_walk_limit_stops_with_a_message() -> None:
    t = X86Tree()
    for i in range(8):
        t.map(USER + i * 2 * MiB, 0x7000)
    s = AddressSpace(t.mem, t.root_obj(), WalkLimits(max_tables=5))
    leaves = list(s.leaves())
    assert len(leaves) == 2  # root, PDPT, PD, then two PTs
    lim = [a for a in s.anomalies if a.kind == "limit"]
    assert len(lim) == 1 and "max_tables" in lim[0].detail
    assert len(list(s.leaves())) == 2  # the limit is per walk, not per space


def test_pkey_global_and_pat_index_are_decoded() -> None:
    t = X86Tree()
    t.map(KERNEL, 0x7000, PAGE, pk=5, g=1, pat=1, pcd=1)
    f = AddressSpace(t.mem, t.root_obj()).translate(KERNEL).flags
    assert f is not None and f.pkey == 5 and f.global_ and f.attr_index == 6 and f.cache == "UC-"
    f2 = AddressSpace(t.mem, t.root_obj(pat=0x0007010600070106)).translate(KERNEL).flags
    assert f2 is not None and f2.cache == "UC-"


def test_x86_leaf_helper_builds_what_the_manual_says() -> None:
    assert x86_leaf(0x20_0000, 2 * MiB, rw=1) == 0x20_0000 | 0x80 | 0x3
    assert x86_leaf(0x4000_0000, GiB, xd=1) == 1 << 63 | 0x4000_0000 | 0x81
    assert x86_table(0x5000) == 0x5007

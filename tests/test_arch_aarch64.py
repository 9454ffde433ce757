"""AArch64 walks on Construct-built trees: TTBR halves, start levels, blocks, hierarchical permissions."""

from __future__ import annotations

import pytest
from synth import PAGE, Arm64Tree, GiB, MiB, arm_leaf, arm_table

from pmoview.arch import Root
from pmoview.arch.aarch64 import GRANULES, LINUX_MAIR, aarch64_mode, mair_names, start_level
from pmoview.arch.mode import UnsupportedPaging
from pmoview.space import AddressSpace

LINEAR = 0xFFFF_0000_0000_0000  # Linux arm64 48-bit linear map start (PAGE_OFFSET)
KIMAGE = 0xFFFF_8000_0800_0000


def test_start_level_follows_va_bits() -> None:
    g = GRANULES["aarch64-4k"]
    assert start_level(g, 48) == 0 and start_level(g, 39) == 1 and start_level(g, 42) == 0
    assert start_level(GRANULES["aarch64-64k"], 48) == 1 and start_level(GRANULES["aarch64-16k"], 47) == 1
    assert start_level(GRANULES["aarch64-64k"], 42) == 2
    assert [r.level for r in aarch64_mode("aarch64-4k", 39).levels] == [1, 2, 3]
    with pytest.raises(ValueError):
        aarch64_mode("aarch64-4k", 48, want_start=1)


def test_ttbr1_48_bit_blocks_and_pages() -> None:
    t = Arm64Tree()
    t.map(LINEAR, 0x4000_0000, GiB, AP=0, PXN=1, UXN=1)  # level 1 block
    t.map(KIMAGE, 0x4020_0000, 2 * MiB, AP=2, UXN=1)  # level 2 block, read-only kernel text
    t.map(KIMAGE + 2 * MiB, 0x4040_0000, PAGE, AP=1, PXN=1)  # level 3 page, EL0 read-write
    s = AddressSpace(t.mem, t.root_obj(mair=LINUX_MAIR))
    a = s.translate(LINEAR + 0x123_4567)
    assert (a.pa, a.page_size) == (0x4123_4567, GiB) and [e.level for e in a.path] == [0, 1]
    assert a.path[0].index == 0 and a.flags and a.flags.writable and a.flags.nx and not a.flags.user
    b = s.translate(KIMAGE + 0x10)
    assert (b.pa, b.page_size) == (0x4020_0010, 2 * MiB)
    assert b.flags and not b.flags.writable and not b.flags.nx and b.flags.user_nx and b.flags.cache == "Normal-WB"
    c = s.translate(KIMAGE + 2 * MiB + 8)
    assert (c.pa, c.page_size) == (0x4040_0008, PAGE) and [e.level for e in c.path] == [0, 1, 2, 3]
    assert c.flags and c.flags.user and c.flags.writable and c.flags.shareability == "inner" and c.flags.accessed
    assert [m.va_start for m in s.mappings()] == [LINEAR, KIMAGE, KIMAGE + 2 * MiB]


def test_ttbr1_index_is_va_minus_the_half_base() -> None:
    t = Arm64Tree(va_bits=39)
    va = 0xFFFF_FF80_0000_0000  # 2**64 - 2**39: first VA of the 39-bit TTBR1 half
    t.map(va + 3 * GiB, 0x8000_0000, GiB)
    s = AddressSpace(t.mem, t.root_obj())
    r = s.translate(va + 3 * GiB + 5)
    assert r.pa == 0x8000_0005 and [(e.level, e.index) for e in r.path] == [(1, 3)]
    assert s.translate(0xFFFF_FF7F_FFFF_F000).reason.startswith("non-canonical VA")  # type: ignore[union-attr]
    assert s.translate(0x1000).reason.startswith("non-canonical VA")  # type: ignore[union-attr]


def test_ttbr0_half_starts_at_zero() -> None:
    t = Arm64Tree(half="ttbr0")
    t.map(0x40_0000, 0x9000, AP=1)
    s = AddressSpace(t.mem, t.root_obj())
    assert s.translate(0x40_0123).pa == 0x9123
    assert s.translate(LINEAR).reason.startswith("non-canonical VA")  # type: ignore[union-attr]


def test_table_level_aptable_uxntable_pxntable_combine() -> None:
    t = Arm64Tree()
    fields = {"APTable": 0b11, "UXNTable": 1, "PXNTable": 1}  # no write, no EL0, no execution below
    t.map(KIMAGE, 0x4000_0000, 2 * MiB, AP=1, table_fields=fields)  # leaf says EL0 RW, executable
    t.map(LINEAR, 0x8000_0000, 2 * MiB, AP=1)  # same leaf, permissive tables
    s = AddressSpace(t.mem, t.root_obj())
    f = s.translate(KIMAGE).flags
    assert f is not None and not f.writable and not f.user and f.nx and f.user_nx
    g = s.translate(LINEAR).flags
    assert g is not None and g.writable and g.user and not g.user_nx
    assert g.nx  # writable at EL0 means never executable at EL1
    h = AddressSpace(t.mem, t.root_obj(hpd=True)).translate(KIMAGE).flags  # TCR.HPD1: table bits ignored
    assert h is not None and h.writable and h.user


def test_aptable_bit_0_only_removes_el0_access() -> None:
    t = Arm64Tree()
    t.map(KIMAGE, 0x4000_0000, PAGE, AP=1, table_fields={"APTable": 0b01})
    f = AddressSpace(t.mem, t.root_obj()).translate(KIMAGE).flags
    assert f is not None and f.writable and not f.user


def test_block_at_level_0_and_type_01_at_level_3_fault() -> None:
    t = Arm64Tree()
    t.write(t.root, 5, 0x1 | 0x400)  # bits[1:0] = 0b01 (a block) at level 0, AF set
    t.map(KIMAGE, 0x4000_0000, PAGE)
    t.set_entry(KIMAGE + PAGE, 3, arm_leaf(0x4000_1000, 12, type=0))
    s = AddressSpace(t.mem, t.root_obj())
    r = s.translate(LINEAR + (5 << 39))
    assert r.pa is None and r.stop_level == 0 and r.reason and "level 0" in r.reason
    r = s.translate(KIMAGE + PAGE)
    assert r.pa is None and r.stop_level == 3 and r.reason and "0b01" in r.reason
    assert [lf.va for lf in s.leaves()] == [KIMAGE]
    assert {a.kind for a in s.anomalies} == {"reserved-bits"}


def test_output_address_beyond_pa_size_is_an_address_size_fault() -> None:
    t = Arm64Tree()
    t.map(KIMAGE, 1 << 44, 2 * MiB)
    assert AddressSpace(t.mem, t.root_obj()).translate(KIMAGE).pa == 1 << 44
    r = AddressSpace(t.mem, t.root_obj(maxphyaddr=40)).translate(KIMAGE)
    assert r.pa is None and r.reason and r.reason.startswith("reserved bits set")


def test_res0_bits_are_reported_but_do_not_fault() -> None:
    t = Arm64Tree()
    t.map(KIMAGE, 0x4000_0000, 2 * MiB, res0_mid=1)
    s = AddressSpace(t.mem, t.root_obj())
    assert s.translate(KIMAGE).pa == 0x4000_0000
    list(s.leaves())
    assert [a.kind for a in s.anomalies] == ["reserved-bits"] and "RES0" in s.anomalies[0].detail


def test_mair_resolves_attrindx() -> None:
    assert mair_names(LINUX_MAIR)[:5] == ("Normal-WB", "Normal-WB", "Normal-NC", "Device-nGnRnE", "Device-nGnRE")
    assert mair_names(None)[4] == "AttrIndx4"
    t = Arm64Tree()
    t.map(KIMAGE, 0x0900_0000, PAGE, AttrIndx=4, PXN=1, UXN=1)  # a UART
    s = AddressSpace(t.mem, t.root_obj(mair=LINUX_MAIR))
    leaf = next(s.leaves())
    assert leaf.flags.cache == "Device-nGnRE" and leaf.backed is False


def test_global_contiguous_and_dirty_bits() -> None:
    t = Arm64Tree()
    t.map(KIMAGE, 0x4000_0000, PAGE, nG=1, Contiguous=1, DBM=1, AP=0)
    f = AddressSpace(t.mem, t.root_obj()).translate(KIMAGE).flags
    assert f is not None and not f.global_ and f.contiguous and f.dirty


def test_64k_granule_is_one_more_row() -> None:
    t = Arm64Tree(mode="aarch64-64k", va_bits=48)
    assert t.start == 1
    t.map(KIMAGE, 0x4001_0000, 64 * 1024, AP=0)
    t.map(LINEAR, 0x6000_0000, 512 * MiB)
    s = AddressSpace(t.mem, t.root_obj())
    r = s.translate(KIMAGE + 0x1234)
    assert (r.pa, r.page_size) == (0x4001_1234, 64 * 1024) and [e.level for e in r.path] == [1, 2, 3]
    r = s.translate(LINEAR + 0x100_0000)
    assert (r.pa, r.page_size) == (0x6100_0000, 512 * MiB)
    assert [m.page_size for m in s.mappings()] == [512 * MiB, 64 * 1024]


def test_16k_granule_with_47_bit_va() -> None:
    t = Arm64Tree(mode="aarch64-16k", va_bits=47)
    va = (1 << 64) - (1 << 47) + 0x1234_0000
    t.map(va & ~0x3FFF, 0x8000_4000, 16 * 1024)
    r = AddressSpace(t.mem, t.root_obj()).translate(va + 5)
    assert r.pa == 0x8000_4005 and [e.level for e in r.path] == [1, 2, 3]


def test_recursive_descriptor_on_aarch64() -> None:
    t = Arm64Tree()
    t.map(KIMAGE, 0x4000_0000, PAGE)
    t.write(t.root, 7, arm_table(t.root))
    s = AddressSpace(t.mem, t.root_obj())
    assert [lf.va for lf in s.leaves()] == [KIMAGE]
    assert "recursive-map" in {a.kind for a in s.anomalies}


def test_root_rejects_52_bit_va_without_lpa2() -> None:
    t = Arm64Tree()
    with pytest.raises(UnsupportedPaging, match=r"VA_BITS 52 .*TCR_EL1.DS = 1"):
        AddressSpace(t.mem, Root("aarch64", "aarch64-4k", t.root, va_bits=52, ds=False))


def test_root_rejects_va_bits_no_granule_has() -> None:
    t = Arm64Tree()
    with pytest.raises(UnsupportedPaging, match="VA_BITS 53"):
        AddressSpace(t.mem, Root("aarch64", "aarch64-4k", t.root, va_bits=53))

"""AArch64 geometry for every granule and VA size, 52-bit output addresses (FEAT_LPA2, FEAT_LPA), TCR_EL1
decoding and TTBR base addresses, on Construct-built trees. The real 16K/52-bit guest is in
test_arch_aarch64_16k_real.py."""

from __future__ import annotations

import pytest
from synth import Arm64Tree, arm_table

from parsers.aarch64_sysreg import tcr_el1
from pmoview.arch import Root, paging_mode
from pmoview.arch.aarch64 import GRANULES, aarch64_mode, decode_tcr, ttbr_table_address
from pmoview.arch.layout import build_entry
from pmoview.arch.mode import UnsupportedPaging
from pmoview.space import AddressSpace

# (granule, VA bits) -> (start level, entries in the top table): the Arm ARM's tables of initial lookup
# levels, written out by hand rather than computed the way aarch64.py computes them.
GEOMETRY = {
    ("aarch64-4k", 52): (-1, 16),
    ("aarch64-4k", 48): (0, 512),
    ("aarch64-4k", 42): (0, 8),
    ("aarch64-4k", 40): (0, 2),
    ("aarch64-4k", 39): (1, 512),
    ("aarch64-4k", 36): (1, 64),
    ("aarch64-4k", 30): (2, 512),
    ("aarch64-4k", 25): (2, 16),
    ("aarch64-16k", 52): (0, 32),
    ("aarch64-16k", 48): (0, 2),
    ("aarch64-16k", 47): (1, 2048),
    ("aarch64-16k", 40): (1, 16),
    ("aarch64-16k", 36): (2, 2048),
    ("aarch64-16k", 25): (3, 2048),
    ("aarch64-64k", 52): (1, 1024),
    ("aarch64-64k", 48): (1, 64),
    ("aarch64-64k", 42): (2, 8192),
    ("aarch64-64k", 36): (2, 128),
    ("aarch64-64k", 29): (3, 8192),
}


@pytest.mark.parametrize(("mode", "va_bits"), sorted(GEOMETRY))
def test_start_level_and_top_table_follow_the_arm_arm(mode: str, va_bits: int) -> None:
    rows = aarch64_mode(mode, va_bits, maxphyaddr=52).levels
    assert (rows[0].level, rows[0].entries) == GEOMETRY[(mode, va_bits)]
    assert [r.level for r in rows] == list(range(rows[0].level, 4))
    assert all(r.entries == 1 << (GRANULES[mode].shift - 3) for r in rows[1:])


@pytest.mark.parametrize("mode", sorted(GRANULES))
def test_every_va_size_walks_to_its_first_and_last_page(mode: str) -> None:
    g = GRANULES[mode].shift
    for va_bits in range(max(25, g + 1), 53):
        for half in ("ttbr0", "ttbr1"):
            t = Arm64Tree(mode, va_bits, half, oa="lpa" if g == 16 else None)
            lo = 0 if half == "ttbr0" else (1 << 64) - (1 << va_bits)
            hi = lo + (1 << va_bits) - (1 << g)
            t.map(lo, 0x8000_0000)
            t.map(hi, 0x9000_0000)
            s = AddressSpace(t.mem, t.root_obj())
            assert s.translate(lo + 8).pa == 0x8000_0008, (mode, va_bits, half)
            assert s.translate(hi + 8).pa == 0x9000_0008, (mode, va_bits, half)
            assert s.translate(lo + (1 << g)).pa is None
            assert [lf.va for lf in s.leaves()] == [lo, hi]
            assert not s.anomalies


def test_lpa2_16k_tables_and_pages_above_2_to_the_50() -> None:
    """TCR_EL1.DS = 1: a table and a page whose PAs need bits 50 and 51 (kept in descriptor bits 9:8)."""
    t = Arm64Tree("aarch64-16k", 52, "ttbr1", table_base=0xD_0000_4000_0000)
    va = 0xFFF0_0000_0000_0000 + 0x1234_5678_4000
    t.map(va, 0xE_1234_0000_0000 | 0x4000)
    s = AddressSpace(t.mem, t.root_obj())
    r = s.translate(va + 0x10)
    assert r.pa == 0xE_1234_0000_4010
    assert [e.level for e in r.path] == [0, 1, 2, 3]
    assert [e.table_pa >> 48 for e in r.path] == [0xD, 0xD, 0xD, 0xD]
    assert not s.anomalies


def test_lpa2_4k_level_minus_1() -> None:
    t = Arm64Tree("aarch64-4k", 52, "ttbr0", table_base=0xC_0000_0000_0000)
    va = 0x000F_FFFF_FFFF_F000
    t.map(va, 0xF_0000_0000_1000)
    r = AddressSpace(t.mem, t.root_obj()).translate(va)
    assert r.pa == 0xF_0000_0000_1000 and [e.level for e in r.path] == [-1, 0, 1, 2, 3]


def test_lpa_64k_pa_bits_48_to_51_in_bits_15_to_12() -> None:
    t = Arm64Tree("aarch64-64k", 48, "ttbr1", oa="lpa", table_base=0x7_0000_4000_0000)
    va = (1 << 64) - (1 << 48) + 0x10_0000
    t.map(va, 0xA_0000_1234_0000)
    s = AddressSpace(t.mem, t.root_obj())
    assert s.translate(va + 4).pa == 0xA_0000_1234_0004 and not s.anomalies
    # The same tree with a 48-bit PA size (IPS): bits 15:12 are RES0, ignored (as QEMU does) and reported.
    s48 = AddressSpace(t.mem, t.root_obj(maxphyaddr=48))
    r = s48.translate(va)
    assert r.pa is None and r.reason == "table at 0x40010000 not in dump"
    assert not list(s48.leaves())
    assert any("RES0 bits set" in a.detail for a in s48.anomalies)


def test_lpa2_address_bits_above_the_pa_size_fault() -> None:
    t = Arm64Tree("aarch64-16k", 52, "ttbr1")
    va = 0xFFF0_0000_0000_0000
    t.map(va, 0xC_0000_0000_0000)
    ok = AddressSpace(t.mem, t.root_obj())
    assert ok.translate(va).pa == 0xC_0000_0000_0000
    small = AddressSpace(t.mem, t.root_obj(maxphyaddr=48))
    r = small.translate(va)
    assert r.pa is None and r.reason is not None and "reserved bits" in r.reason


def test_lpa2_blocks_exist_one_level_higher() -> None:
    """16 KiB with DS = 1: a level 1 block maps 64 GiB; without DS level 1 has no blocks."""
    t = Arm64Tree("aarch64-16k", 52, "ttbr1")
    va = 0xFFF0_0000_0000_0000
    t.map(va, 0x10_0000_0000, size=1 << 36)
    s = AddressSpace(t.mem, t.root_obj())
    r = s.translate(va + 0x1_2345_6789)
    assert r.pa == 0x11_2345_6789 and r.page_size == 1 << 36
    t47 = Arm64Tree("aarch64-16k", 47, "ttbr1")
    t47.map((1 << 64) - (1 << 47), 0x10_0000_0000, size=1 << 36)
    assert AddressSpace(t47.mem, t47.root_obj()).translate((1 << 64) - (1 << 47)).pa is None


def test_small_top_table_is_read_at_its_own_address() -> None:
    """A 256-byte 16K/52-bit user pgd inside a page that holds other data (Linux's pgd slab)."""
    t = Arm64Tree("aarch64-16k", 52, "ttbr0", table_base=0x4000_0100, table_bytes=256)
    t.map(0x40_0000, 0x5000_0000)
    junk = arm_table(0x7777_0000, 14, "lpa2").to_bytes(8, "little") * 32  # other slab objects
    t.mem.write(0x4000_0000, junk)
    t.mem.write(0x4000_0200, junk)
    assert t.root == 0x4000_0100
    s = AddressSpace(t.mem, t.root_obj())
    assert s.translate(0x40_0000).pa == 0x5000_0000
    assert [lf.va for lf in s.leaves()] == [0x40_0000]


def test_ttbr_table_address_masks_asid_and_cnp_and_keeps_small_alignment() -> None:
    mode = paging_mode(Root("aarch64", "aarch64-16k", 0, va_bits=52, half="ttbr0"))
    assert mode.top_table_bytes == 256
    assert ttbr_table_address(0x0054_0000_5637_5601, mode) == 0x5637_5600
    # BADDR[51:48] in TTBR bits 5:2 with a 52-bit PA size
    assert ttbr_table_address(0x0001_0000_0012_3400 | (0xA << 2) | 1, mode) == 0xA_0000_0012_3400
    m48 = paging_mode(Root("aarch64", "aarch64-4k", 0, va_bits=48, half="ttbr0", maxphyaddr=48))
    assert ttbr_table_address(0xFFFF_0000_4123_4FFF, m48) == 0x4123_4000
    m42 = paging_mode(Root("aarch64", "aarch64-4k", 0, va_bits=42, half="ttbr0", maxphyaddr=48))
    assert ttbr_table_address(0x4123_4FC1, m42) == 0x4123_4FC0  # an 8-entry, 64-byte level 0 table


def test_tcr_of_the_real_16k_guest() -> None:
    """TCR_EL1 as Linux 6.12 arm64-16k set it on QEMU -cpu max (read from the gdbstub)."""
    t = decode_tcr(0x095001F6754CB50C)
    assert (t.ttbr1.mode, t.ttbr1.va_bits, t.ttbr0.mode, t.ttbr0.va_bits) == ("aarch64-16k", 52, "aarch64-16k", 52)
    assert t.ds and t.pa_bits == 52 and t.ha and t.hd and not t.ttbr0.epd
    assert t.ttbr0.tbi and t.ttbr1.tbi  # Linux sets TBI1 too on this CPU (pointer auth / MTE)


def test_tcr_fields_round_trip_through_construct() -> None:
    value = build_entry(tcr_el1, T0SZ=25, TG0=0b01, T1SZ=16, TG1=0b11, IPS=0b101, HPD1=1, TBI1=1)
    t = decode_tcr(value)
    assert (t.ttbr0.mode, t.ttbr0.va_bits) == ("aarch64-64k", 39)
    assert (t.ttbr1.mode, t.ttbr1.va_bits, t.ttbr1.hpd, t.ttbr1.tbi) == ("aarch64-64k", 48, True, True)
    assert t.pa_bits == 48 and not t.ds


@pytest.mark.parametrize(
    ("value", "match"),
    [(0x0010_0000, "TG1 = 0b00"), (0xC000_8000 | (0b111 << 32), "IPS"), (0x8000_C000, "TG0 = 0b11")],
)
def test_reserved_tcr_encodings_are_unsupported_not_crashes(value: int, match: str) -> None:
    with pytest.raises(UnsupportedPaging, match=match):
        decode_tcr(value)


def test_va_bits_beyond_48_without_ds_is_unsupported() -> None:
    with pytest.raises(UnsupportedPaging, match="TCR_EL1.DS = 1"):
        aarch64_mode("aarch64-16k", 52, ds=False)


def test_inspector_shows_the_52_bit_descriptor_fields() -> None:
    from pmoview.tui.rows import aarch64_format, entry_bits

    t = Arm64Tree("aarch64-16k", 52, "ttbr1")
    va = 0xFFF0_0000_0000_0000
    t.map(va, 0xE_0000_4000_4000)
    mode = AddressSpace(t.mem, t.root_obj()).mode
    assert aarch64_format(mode) == (14, "lpa2")
    leaf = t.entry(va, 3)
    name, fields = entry_bits("aarch64", 3, "leaf", 1 << 14, leaf, *aarch64_format(mode))
    by_name = {f.name: f for f in fields}
    assert name == "page descriptor, FEAT_LPA2" and "SH" not in by_name
    assert by_name["OA_hi"].meaning == "address bits 51:50 = 0xc000000000000"
    assert aarch64_format(aarch64_mode("aarch64-64k", 48, maxphyaddr=52)) == (16, "lpa")
    assert aarch64_format(aarch64_mode("aarch64-4k", 48)) == (12, "48")

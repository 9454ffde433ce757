"""The entry layouts: Construct round trips (STYLE rule 4) and the hot path's masks against them (rule 5)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from parsers.aarch64_desc import block_descriptor, page_descriptor, table_descriptor
from parsers.x86_64_entry import pde_2m, pdpte_1g, pte_4k, table_entry
from pmoview.arch.aarch64 import aarch64_mode
from pmoview.arch.decode import decode
from pmoview.arch.layout import build_entry, field_layout, get_field, parse_entry
from pmoview.arch.mode import FAULT, LEAF, NONE, TABLE
from pmoview.arch.x86_64 import x86_mode

STRUCTS = {
    "x86 table": table_entry,
    "x86 1G": pdpte_1g,
    "x86 2M": pde_2m,
    "x86 4K": pte_4k,
    "arm table 4K": table_descriptor(12),
    "arm page 4K": page_descriptor(12),
    "arm block 1G": block_descriptor(30),
    "arm block 2M": block_descriptor(21),
    "arm table 64K": table_descriptor(16),
    "arm page 64K": page_descriptor(16),
    "arm block 512M": block_descriptor(29),
    "arm page 16K": page_descriptor(14),
    "arm block 32M": block_descriptor(25),
}
u64 = st.integers(min_value=0, max_value=(1 << 64) - 1)
SAMPLES = Path(__file__).resolve().parent.parent / "sample_dumps"


@pytest.mark.parametrize("name", STRUCTS)
def test_round_trip_on_a_synthetic_vector(name: str) -> None:
    struct = STRUCTS[name]
    value = 0x8000_0000_1234_5067 ^ (0x5A5A << 48)
    data = value.to_bytes(8, "little")
    obj = struct.parse(data)
    assert struct.build(obj) == data
    assert struct.sizeof() == 8
    assert build_entry(struct, **parse_entry(struct, value)) == value


def test_x86_pte_fields_are_where_the_sdm_puts_them() -> None:
    lay = field_layout(pte_4k)
    assert lay["p"] == (0, 1) and lay["rw"] == (1, 1) and lay["us"] == (2, 1) and lay["pwt"] == (3, 1)
    assert lay["pcd"] == (4, 1) and lay["a"] == (5, 1) and lay["d"] == (6, 1) and lay["pat"] == (7, 1)
    assert lay["g"] == (8, 1) and lay["address"] == (12, 40) and lay["pk"] == (59, 4) and lay["xd"] == (63, 1)
    assert field_layout(pde_2m)["pat"] == (12, 1) and field_layout(pde_2m)["rsvd_20_13"] == (13, 8)
    assert field_layout(pdpte_1g)["rsvd_29_13"] == (13, 17) and field_layout(pdpte_1g)["address"] == (30, 22)


def test_arm_descriptor_fields_are_where_the_arm_arm_puts_them() -> None:
    lay = field_layout(page_descriptor(12))
    assert lay["AttrIndx"] == (2, 3) and lay["NS"] == (5, 1) and lay["AP"] == (6, 2) and lay["SH"] == (8, 2)
    assert lay["AF"] == (10, 1) and lay["nG"] == (11, 1) and lay["OA"] == (12, 36)
    assert lay["DBM"] == (51, 1) and lay["Contiguous"] == (52, 1) and lay["PXN"] == (53, 1) and lay["UXN"] == (54, 1)
    t = field_layout(table_descriptor(12))
    assert t["PXNTable"] == (59, 1) and t["UXNTable"] == (60, 1) and t["APTable"] == (61, 2) and t["NSTable"] == (63, 1)
    assert field_layout(block_descriptor(21))["OA"] == (21, 27) and field_layout(block_descriptor(21))["nT"] == (16, 1)


@settings(max_examples=300, deadline=None)
@given(value=u64)
def test_derived_masks_agree_with_construct_parse(value: int) -> None:
    for struct in STRUCTS.values():
        parsed = parse_entry(struct, value)
        lay = field_layout(struct)
        assert {n: get_field(lay, value, n) for n in lay} == parsed


def _x86_expect(value: int, level: int, maxphy: int, nxe: bool) -> tuple[int, int]:
    """Kind and address of one x86 entry, from the Construct parse alone."""
    t = parse_entry(table_entry, value)
    if not t["p"]:
        return NONE, 0
    rsvd_nx = (value >> 63) and not nxe
    if level == 1 or (level in (2, 3) and t["ps"]):
        struct = {1: pte_4k, 2: pde_2m, 3: pdpte_1g}[level]
        f = parse_entry(struct, value)
        shift = {1: 12, 2: 21, 3: 30}[level]
        pa = f["address"] << shift
        bad = pa >> maxphy or rsvd_nx or f.get("rsvd_20_13", 0) or f.get("rsvd_29_13", 0)
        return (FAULT, 0) if bad else (LEAF, pa)
    if t["ps"]:  # PML4E / PML5E with PS
        return FAULT, 0
    pa = t["address"] << 12
    return (FAULT, 0) if pa >> maxphy or rsvd_nx else (TABLE, pa)


@settings(max_examples=200, deadline=None)
@given(values=st.lists(u64, min_size=1, max_size=64), maxphy=st.sampled_from([36, 39, 46, 52]), nxe=st.booleans())
def test_numpy_decode_matches_construct_for_x86(values: list[int], maxphy: int, nxe: bool) -> None:
    mode = x86_mode("x86_64-5level", maxphy, nxe)
    raw = np.array(values, dtype=np.uint64)
    for row in mode.levels:
        dec = decode(raw, row)
        for i, v in enumerate(values):
            kind, pa = _x86_expect(v, row.level, maxphy, nxe)
            assert int(dec.kind[i]) == kind, (row.name, hex(v))
            if kind in (LEAF, TABLE):
                assert int(dec.addr[i]) == pa


def _arm_expect(value: int, level: int, oa_bits: int) -> tuple[int, int]:
    t = parse_entry(table_descriptor(12), value)
    if not t["valid"]:
        return NONE, 0
    if level < 3 and t["type"]:
        pa = t["next_level"] << 12
        return (FAULT, 0) if pa >> oa_bits else (TABLE, pa)
    if level == 3 and not t["type"] or level == 0:
        return FAULT, 0
    shift = {1: 30, 2: 21, 3: 12}[level]
    struct = page_descriptor(12) if level == 3 else block_descriptor(shift)
    pa = parse_entry(struct, value)["OA"] << shift
    return (FAULT, 0) if pa >> oa_bits else (LEAF, pa)


@settings(max_examples=200, deadline=None)
@given(values=st.lists(u64, min_size=1, max_size=64), oa_bits=st.sampled_from([40, 44, 48]))
def test_numpy_decode_matches_construct_for_aarch64(values: list[int], oa_bits: int) -> None:
    mode = aarch64_mode("aarch64-4k", 48, "ttbr1", oa_bits)
    raw = np.array(values, dtype=np.uint64)
    for row in mode.levels:
        dec = decode(raw, row)
        for i, v in enumerate(values):
            kind, pa = _arm_expect(v, row.level, oa_bits)
            assert int(dec.kind[i]) == kind, (row.name, hex(v))
            if kind in (LEAF, TABLE):
                assert int(dec.addr[i]) == pa


def _real_entries(name: str) -> list[tuple[int, int, bool]]:
    """(level, entry, is_leaf) for the entries on the paths to a few kernel VAs of a real guest."""
    from pmoview.arch import Root
    from pmoview.memory import open_dump
    from pmoview.space import AddressSpace

    found = sorted((SAMPLES / name).glob("dump.kdump*"))
    if not found:
        pytest.skip(f"no {name} sample")
    path = found[0]
    mem = open_dump(str(path))
    if name.endswith("arm64"):
        vi = mem.vmcoreinfo or {}
        kv = int(vi["NUMBER(kimage_voffset)"], 16)
        root = Root("aarch64", "aarch64-4k", int(vi["SYMBOL(swapper_pg_dir)"], 16) - kv, "test", va_bits=48)
        vas = [int(vi["SYMBOL(_stext)"], 16), 0xFFFF_0000_0000_0000, 0xFFFF_0000_0040_0000]
    else:
        root = Root("x86_64", "x86_64-4level", mem.cpus[0].regs["cr3"] & 0x000F_FFFF_FFFF_F000, "test")
        vas = [0xFFFF_FFFF_8100_0000, 0xFFFF_8880_0000_1000, 0xFFFF_8880_4000_0000]
    space = AddressSpace(mem, root)
    out = []
    for va in vas:
        t = space.translate(va)
        assert t.pa is not None
        out += [(e.level, e.entry, i == len(t.path) - 1) for i, e in enumerate(t.path)]
    return out


def test_round_trip_on_real_x86_entries() -> None:
    for level, entry, leaf in _real_entries("linux-x86_64-4l-nokaslr"):
        struct = ({1: pte_4k, 2: pde_2m, 3: pdpte_1g}[level]) if leaf else table_entry
        data = entry.to_bytes(8, "little")
        assert struct.build(struct.parse(data)) == data
        assert build_entry(struct, **parse_entry(struct, entry)) == entry


def test_round_trip_on_real_arm64_descriptors() -> None:
    for level, entry, leaf in _real_entries("linux-arm64"):
        struct = (
            (page_descriptor(12) if level == 3 else block_descriptor(39 - 9 * level)) if leaf else table_descriptor(12)
        )
        data = entry.to_bytes(8, "little")
        assert struct.build(struct.parse(data)) == data
        assert build_entry(struct, **parse_entry(struct, entry)) == entry

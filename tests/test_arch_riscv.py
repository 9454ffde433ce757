"""RISC-V rows against the privileged spec's own algorithm, written here field by field on the
Construct layouts (``parsers.riscv_pte``), for any 64-bit entry at any level of Sv39/Sv48/Sv57."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from parsers.riscv_pte import pte, satp64, table_pte
from pmoview.arch.decode import decode, fault_reason
from pmoview.arch.flags import flags_of
from pmoview.arch.layout import build_entry, field_layout, parse_entry
from pmoview.arch.mode import FAULT, LEAF, NONE, TABLE
from pmoview.arch.riscv import decode_satp, riscv_mode

u64 = st.integers(min_value=0, max_value=(1 << 64) - 1)
# Entries near the interesting encodings: low byte, a few high bits and superpage PPN bits at random.
interesting = st.builds(
    lambda low, high, ppn: low | (high << 54) | (ppn << 10),
    st.integers(0, 255),
    st.sampled_from([0, 1, 1 << 7, 1 << 8, 1 << 9, 0x7F]),
    st.integers(0, (1 << 44) - 1),
)


def spec_kind(entry: int, level: int, svpbmt: bool = False) -> int:
    """Privileged spec 4.3.2 steps 2-6, for one entry at ``level``: the reference, not the rows."""
    f = parse_entry(pte(0), entry)
    if not f["v"]:
        return NONE
    if not f["r"] and f["w"]:
        return FAULT
    if f["rsvd_60_54"] or f["n"] or (f["pbmt"] and not svpbmt) or (svpbmt and f["pbmt"] == 3):
        return FAULT
    if not (f["r"] or f["w"] or f["x"]):
        if level == 0 or f["d"] or f["a"] or f["u"] or f["pbmt"]:
            return FAULT
        return TABLE
    if level and f["ppn"] & ((1 << (9 * level)) - 1):
        return FAULT  # misaligned superpage
    return LEAF


@pytest.mark.parametrize("mode", ["riscv64-sv39", "riscv64-sv48", "riscv64-sv57"])
@pytest.mark.parametrize("svpbmt", [False, True])
@settings(max_examples=80, deadline=None)
@given(entries=st.lists(st.one_of(u64, interesting), min_size=1, max_size=64))
def test_rows_decode_every_entry_as_the_spec_walks_it(mode: str, svpbmt: bool, entries: list[int]) -> None:
    m = riscv_mode(mode, svpbmt=svpbmt)
    raw = np.array(entries, dtype=np.uint64)
    for row in m.levels:
        dec = decode(raw, row)
        for e, kind, addr in zip(entries, dec.kind.tolist(), dec.addr.tolist(), strict=True):
            assert kind == spec_kind(e, row.level, svpbmt), (hex(e), row.level)
            if kind in (LEAF, TABLE):
                assert addr == parse_entry(table_pte, e)["ppn"] << 12
            if kind == FAULT:
                assert fault_reason(row, e)


def test_pte_fields_are_where_the_spec_puts_them() -> None:
    lay = field_layout(pte(0))
    assert [lay[n] for n in ("v", "r", "w", "x", "u", "g", "a", "d")] == [(i, 1) for i in range(8)]
    assert lay["rsw"] == (8, 2) and lay["ppn"] == (10, 44) and lay["rsvd_60_54"] == (54, 7)
    assert lay["pbmt"] == (61, 2) and lay["n"] == (63, 1)
    assert field_layout(pte(1))["ppn_low"] == (10, 9) and field_layout(pte(2))["ppn"] == (28, 26)
    e = build_entry(pte(0), v=1, r=1, ppn=0x80001)
    assert e == (0x80001 << 10) | 3


def test_satp_mode_asid_and_root() -> None:
    value = int.from_bytes(satp64.build({"mode": 9, "asid": 0x1234, "ppn": 0x8000F}), "little")
    assert decode_satp(value) == ("riscv64-sv48", 0x1234, 0x8000F000)
    assert decode_satp(0x8000000000087F41) == ("riscv64-sv39", 0, 0x87F41000)
    assert decode_satp(0)[0] is None


def test_canonical_vas_per_mode() -> None:
    for mode, bits in (("riscv64-sv39", 39), ("riscv64-sv48", 48), ("riscv64-sv57", 57)):
        m = riscv_mode(mode)
        assert m.offset_of((1 << (bits - 1)) - 1) == (1 << (bits - 1)) - 1
        assert m.offset_of(1 << (bits - 1)) is None  # bit VA_BITS-1 set, upper bits clear
        assert m.offset_of((1 << 64) - (1 << (bits - 1))) == 1 << (bits - 1)


def test_effective_permissions_supervisor_never_executes_user_pages_and_mxr_reads_x_only() -> None:
    m = riscv_mode("riscv64-sv39")
    row = m.levels[-1]
    urx = flags_of(m, row, build_entry(pte(0), v=1, r=1, x=1, u=1), 0)
    assert urx.nx and not urx.user_nx and urx.access(sum_=False) == ("---", "r-x")
    assert urx.access(sum_=True) == ("r--", "r-x")
    xonly = flags_of(m, row, build_entry(pte(0), v=1, x=1), 0)
    assert not xonly.readable and xonly.access() == ("--x", "---")
    mxr = riscv_mode("riscv64-sv39", mxr=True)
    assert flags_of(mxr, mxr.levels[-1], build_entry(pte(0), v=1, x=1), 0).readable
    g_above = flags_of(m, row, build_entry(pte(0), v=1, r=1), 1 << 5)
    assert g_above.global_  # G in a non-leaf entry makes every mapping below it global
    assert g_above.text() == ". . G . . . R V"

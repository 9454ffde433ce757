"""Decode many entries at once with numpy masks taken from a ``LevelRow`` (no Construct on this path)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from pmoview.arch.mode import FAULT, LEAF, NONE, TABLE, LevelRow

U64 = npt.NDArray[np.uint64]
U8 = npt.NDArray[np.uint8]
Bool = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class Decoded:
    """Per entry: ``kind`` (NONE, TABLE, LEAF, FAULT), ``addr`` (next table or output address; only
    meaningful for TABLE and LEAF) and ``res0`` (valid entries with RES0 bits set that do not fault)."""

    raw: U64
    kind: U8
    addr: U64
    res0: Bool | None


def _u(v: int) -> np.uint64:
    return np.uint64(v)


def decode(raw: U64, row: LevelRow) -> Decoded:
    valid = (raw & _u(row.valid_mask)) != 0
    if row.leaf_mask == 0:
        leafsel = valid
        tablesel = None
    elif row.leaf_any:
        leafsel = valid & ((raw & _u(row.leaf_mask)) != 0)
        tablesel = valid & ~leafsel
    else:
        leafsel = valid & ((raw & _u(row.leaf_mask)) == _u(row.leaf_value))
        tablesel = valid & ~leafsel
    fault: Bool | None = None
    if not row.leaf_ok:
        fault = leafsel
    elif row.leaf_fault_mask:
        fault = leafsel & ((raw & _u(row.leaf_fault_mask)) != 0)
    if row.leaf_ok:
        for pmask, pvalue, _why in row.leaf_fault_patterns:
            hit = leafsel & ((raw & _u(pmask)) == _u(pvalue))
            fault = hit if fault is None else fault | hit
    if tablesel is not None:
        tfault = (
            tablesel
            if not row.table_ok
            else (tablesel & ((raw & _u(row.table_fault_mask)) != 0) if row.table_fault_mask else None)
        )
        if tfault is not None:
            fault = tfault if fault is None else fault | tfault
    kind = leafsel.astype(np.uint8) * np.uint8(LEAF)
    if tablesel is not None:
        kind |= tablesel.astype(np.uint8)  # TABLE == 1
    if fault is not None and fault.any():
        kind[fault] = FAULT
    else:
        fault = None
    if tablesel is None:
        addr = raw & _u(row.leaf_addr_mask)
    else:
        addr = np.where(leafsel, raw & _u(row.leaf_addr_mask), raw & _u(row.table_addr_mask))
    if row.addr_shift:
        addr = addr << _u(row.addr_shift)
    src, width, dst = row.addr_hi
    if width:  # a 52-bit format keeps the top address bits elsewhere in the entry
        addr = addr | (((raw >> _u(src)) & _u((1 << width) - 1)) << _u(dst))
    res0 = None
    if row.leaf_res0_mask or row.table_res0_mask:
        bits = np.where(leafsel, raw & _u(row.leaf_res0_mask), raw & _u(row.table_res0_mask))
        r = (bits != 0) & ((kind == LEAF) | (kind == TABLE))
        res0 = r if r.any() else None
    return Decoded(raw, kind, addr, res0)


def fault_reason(row: LevelRow, entry: int) -> str:
    """Why the MMU faults on this valid entry (a FAULT in ``decode``)."""
    is_leaf = row.is_leaf(entry)
    if is_leaf and not row.leaf_ok or not is_leaf and not row.table_ok:
        return row.fault_text
    bits = entry & (row.leaf_fault_mask if is_leaf else row.table_fault_mask)
    if is_leaf and not bits:
        for pmask, pvalue, why in row.leaf_fault_patterns:
            if entry & pmask == pvalue:
                return f"reserved encoding ({why} in {row.name} entry {entry:#018x})"
    what = row.leaf_fault_text if is_leaf else row.table_fault_text
    return f"reserved bits set ({bits:#x} in {row.name} entry {entry:#018x}{': ' + what if what else ''})"


def kind_name(kind: int) -> str:
    return {NONE: "not present", TABLE: "table", LEAF: "leaf", FAULT: "fault"}[kind]

"""AArch64 VMSAv8-64 stage 1 translation table descriptors (64-bit, little-endian).

Source: Arm ARM (DDI 0487), D8.3 "Translation table descriptor formats" (D5.3 in older issues):
table descriptor (bits[1:0] = 0b11 above the last level), block descriptor (0b01), page descriptor
(0b11 at the last level), and the stage 1 attribute fields: upper attributes 63:50 (UXN/XN, PXN,
Contiguous, DBM, GP, software use), lower attributes 11:2 (nG, AF, SH, AP[2:1], NS, AttrIndx), and
the hierarchical table attributes NSTable, APTable, UXNTable (XNTable), PXNTable.

Layouts depend on the translation granule, so they come from factories taking the output-address
lsb (granule shift for tables and pages, the block size shift for blocks). Fields are listed from
bit 63 down to bit 0, named as in the Arm ARM (``AP`` is AP[2:1], ``OA`` the output address bits
47:lsb). This is the 48-bit output address format: FEAT_LPA (64 KiB granule, OA[51:48] in 15:12)
and FEAT_LPA2 (52-bit with 4/16 KiB, OA[51:50] in 9:8) are other variants still to be added.
"""

from __future__ import annotations

from typing import Any

from construct import BitsInteger, BitStruct, ByteSwapped, Construct, Flag

ENTRY_SIZE = 8
OA_TOP = 48  # output address bits 47:lsb in the 48-bit OA format


def _upper_attributes() -> list[Construct[Any, Any]]:
    # Bits 63:48 of a block or page descriptor.
    return [
        "ign_63" / Flag,
        "PBHA" / BitsInteger(4),
        "sw" / BitsInteger(4),
        "UXN" / Flag,
        "PXN" / Flag,
        "Contiguous" / Flag,
        "DBM" / Flag,
        "GP" / Flag,
        "res0_49_48" / BitsInteger(2),
    ]


def _lower_attributes() -> list[Construct[Any, Any]]:
    # Bits 11:0; ``type`` is bit 1 (0 = block, 1 = page or table) and ``valid`` bit 0.
    return [
        "nG" / Flag,
        "AF" / Flag,
        "SH" / BitsInteger(2),
        "AP" / BitsInteger(2),
        "NS" / Flag,
        "AttrIndx" / BitsInteger(3),
        "type" / Flag,
        "valid" / Flag,
    ]


def table_descriptor(granule_shift: int = 12) -> Construct[Any, Any]:
    """Table descriptor: next-level table address bits 47:granule_shift."""
    fields: list[Construct[Any, Any]] = [
        "NSTable" / Flag,
        "APTable" / BitsInteger(2),
        "UXNTable" / Flag,
        "PXNTable" / Flag,
        "ign_58_52" / BitsInteger(7),
        "res0_51_48" / BitsInteger(4),
        "next_level" / BitsInteger(OA_TOP - granule_shift),
    ]
    if granule_shift > 12:
        fields.append("res0_low" / BitsInteger(granule_shift - 12))
    fields += ["ign_11_2" / BitsInteger(10), "type" / Flag, "valid" / Flag]
    return ByteSwapped(BitStruct(*fields))


def page_descriptor(granule_shift: int = 12) -> Construct[Any, Any]:
    """Page descriptor at the last level: OA bits 47:granule_shift."""
    fields: list[Construct[Any, Any]] = [*_upper_attributes(), "OA" / BitsInteger(OA_TOP - granule_shift)]
    if granule_shift > 12:
        fields.append("res0_low" / BitsInteger(granule_shift - 12))
    fields += _lower_attributes()
    return ByteSwapped(BitStruct(*fields))


def block_descriptor(block_shift: int) -> Construct[Any, Any]:
    """Block descriptor mapping ``1 << block_shift`` bytes: OA bits 47:block_shift, nT at bit 16."""
    if block_shift <= 17:
        raise ValueError(f"no block descriptor maps 2**{block_shift} bytes")
    fields: list[Construct[Any, Any]] = [
        *_upper_attributes(),
        "OA" / BitsInteger(OA_TOP - block_shift),
        "res0_mid" / BitsInteger(block_shift - 17),
        "nT" / Flag,
        "res0_15_12" / BitsInteger(4),
        *_lower_attributes(),
    ]
    return ByteSwapped(BitStruct(*fields))


# The 4 KiB granule, the one Linux and QEMU use by default.
table_4k = table_descriptor(12)
page_4k = page_descriptor(12)
block_1g = block_descriptor(30)  # level 1
block_2m = block_descriptor(21)  # level 2

"""AArch64 VMSAv8-64 stage 1 translation table descriptors (64-bit, little-endian).

Source: Arm ARM (DDI 0487), D8.3 "Translation table descriptor formats" (D5.3 in older issues):
table descriptor (bits[1:0] = 0b11 above the last level), block descriptor (0b01), page descriptor
(0b11 at the last level), and the stage 1 attribute fields: upper attributes 63:50 (UXN/XN, PXN,
Contiguous, DBM, GP, software use), lower attributes 11:2 (nG, AF, SH, AP[2:1], NS, AttrIndx), and
the hierarchical table attributes NSTable, APTable, UXNTable (XNTable), PXNTable.

Layouts depend on the translation granule, so they come from factories taking the output-address
lsb (granule shift for tables and pages, the block size shift for blocks) and the output address
format. Fields are listed from bit 63 down to bit 0, named as in the Arm ARM (``AP`` is AP[2:1],
``OA`` / ``next_level`` the output address bits in place, ``OA_hi`` / ``next_level_hi`` its top bits
where a 52-bit format moves them). Three formats (``OAFormat``):

- ``"48"``: OA bits 47:lsb; bits 51:48 (tables) and 49:48 (blocks, pages) are RES0.
- ``"lpa2"``: FEAT_LPA2 with TCR_ELx.DS = 1 (4 and 16 KiB granules): OA bits 49:lsb in place and
  OA[51:50] in bits 9:8, where the 48-bit format has SH (shareability then comes from TCR_ELx.SHn).
- ``"lpa"``: FEAT_LPA with the 64 KiB granule and a 52-bit PA size: OA[51:48] in bits 15:12.
"""

from __future__ import annotations

from typing import Any, Literal

from construct import BitsInteger, BitStruct, ByteSwapped, Construct, Flag

ENTRY_SIZE = 8
OA_TOP = 48  # output address bits 47:lsb in the 48-bit OA format
OA_TOP_LPA2 = 50  # bits 49:lsb in place with FEAT_LPA2 (DS = 1)

OAFormat = Literal["48", "lpa2", "lpa"]
OA_FORMATS: tuple[OAFormat, ...] = ("48", "lpa2", "lpa")

# Where each 52-bit format keeps the OA's top bits: (descriptor lsb, width, PA lsb).
OA_HIGH_BITS: dict[str, tuple[int, int, int]] = {"48": (0, 0, 0), "lpa2": (8, 2, 50), "lpa": (12, 4, 48)}


def _check(oa: str, granule_shift: int) -> None:
    if oa not in OA_FORMATS:
        raise ValueError(f"unknown output address format {oa!r}; known: {OA_FORMATS}")
    if oa == "lpa2" and granule_shift == 16 or oa == "lpa" and granule_shift != 16:
        raise ValueError(f"output address format {oa!r} does not exist with a {1 << granule_shift >> 10} KiB granule")


def _upper_attributes(oa: str = "48") -> list[Construct[Any, Any]]:
    # Bits 63:48 of a block or page descriptor (63:50 with LPA2, where 49:48 are OA bits).
    return [
        "ign_63" / Flag,
        "PBHA" / BitsInteger(4),
        "sw" / BitsInteger(4),
        "UXN" / Flag,
        "PXN" / Flag,
        "Contiguous" / Flag,
        "DBM" / Flag,
        "GP" / Flag,
        *([] if oa == "lpa2" else ["res0_49_48" / BitsInteger(2)]),
    ]


def _lower_attributes(oa: str = "48") -> list[Construct[Any, Any]]:
    # Bits 11:0; ``type`` is bit 1 (0 = block, 1 = page or table) and ``valid`` bit 0.
    return [
        "nG" / Flag,
        "AF" / Flag,
        ("OA_hi" if oa == "lpa2" else "SH") / BitsInteger(2),
        "AP" / BitsInteger(2),
        "NS" / Flag,
        "AttrIndx" / BitsInteger(3),
        "type" / Flag,
        "valid" / Flag,
    ]


def table_descriptor(granule_shift: int = 12, oa: OAFormat = "48") -> Construct[Any, Any]:
    """Table descriptor: next-level table address bits 47:granule_shift (49: with LPA2)."""
    _check(oa, granule_shift)
    top = OA_TOP_LPA2 if oa == "lpa2" else OA_TOP
    fields: list[Construct[Any, Any]] = [
        "NSTable" / Flag,
        "APTable" / BitsInteger(2),
        "UXNTable" / Flag,
        "PXNTable" / Flag,
        "ign_58_52" / BitsInteger(7),
        ("res0_51_50" / BitsInteger(2)) if oa == "lpa2" else ("res0_51_48" / BitsInteger(4)),
        "next_level" / BitsInteger(top - granule_shift),
    ]
    if oa == "lpa":
        fields.append("next_level_hi" / BitsInteger(4))  # bits 15:12 = address bits 51:48
    elif granule_shift > 12:
        fields.append("res0_low" / BitsInteger(granule_shift - 12))
    if oa == "lpa2":
        fields += ["ign_11_10" / BitsInteger(2), "next_level_hi" / BitsInteger(2), "ign_7_2" / BitsInteger(6)]
    else:
        fields.append("ign_11_2" / BitsInteger(10))
    fields += ["type" / Flag, "valid" / Flag]
    return ByteSwapped(BitStruct(*fields))


def page_descriptor(granule_shift: int = 12, oa: OAFormat = "48") -> Construct[Any, Any]:
    """Page descriptor at the last level: OA bits 47:granule_shift (49: with LPA2)."""
    _check(oa, granule_shift)
    top = OA_TOP_LPA2 if oa == "lpa2" else OA_TOP
    fields: list[Construct[Any, Any]] = [*_upper_attributes(oa), "OA" / BitsInteger(top - granule_shift)]
    if oa == "lpa":
        fields.append("OA_hi" / BitsInteger(4))
    elif granule_shift > 12:
        fields.append("res0_low" / BitsInteger(granule_shift - 12))
    fields += _lower_attributes(oa)
    return ByteSwapped(BitStruct(*fields))


def block_descriptor(block_shift: int, oa: OAFormat = "48") -> Construct[Any, Any]:
    """Block descriptor mapping ``1 << block_shift`` bytes: OA bits 47:block_shift (49: with LPA2), nT at
    bit 16."""
    if block_shift <= 17:
        raise ValueError(f"no block descriptor maps 2**{block_shift} bytes")
    if oa not in OA_FORMATS:
        raise ValueError(f"unknown output address format {oa!r}; known: {OA_FORMATS}")
    top = OA_TOP_LPA2 if oa == "lpa2" else OA_TOP
    fields: list[Construct[Any, Any]] = [
        *_upper_attributes(oa),
        "OA" / BitsInteger(top - block_shift),
        "res0_mid" / BitsInteger(block_shift - 17),
        "nT" / Flag,
        ("OA_hi" / BitsInteger(4)) if oa == "lpa" else ("res0_15_12" / BitsInteger(4)),
        *_lower_attributes(oa),
    ]
    return ByteSwapped(BitStruct(*fields))


# The 4 KiB granule, the one Linux and QEMU use by default.
table_4k = table_descriptor(12)
page_4k = page_descriptor(12)
block_1g = block_descriptor(30)  # level 1
block_2m = block_descriptor(21)  # level 2

"""AArch64 system registers that select how stage 1 EL1&0 translation works (64-bit values).

Source: Arm ARM (DDI 0487), D19 "AArch64 System Register Descriptions": TCR_EL1 (with FEAT_LPA2's DS,
FEAT_HPDS's HPDn, FEAT_HAFDBS's HA/HD) and TTBRn_EL1. Fields are listed from bit 63 down to bit 0,
named as in the Arm ARM; ``HWU`` is HWU162..HWU059 as one 8-bit field (bits 50:43).
"""

from __future__ import annotations

from typing import Any

from construct import BitsInteger, BitStruct, ByteSwapped, Construct, Flag

tcr_el1: Construct[Any, Any] = ByteSwapped(
    BitStruct(
        "res0_63_62" / BitsInteger(2),
        "MTX1" / Flag,
        "MTX0" / Flag,
        "DS" / Flag,
        "TCMA1" / Flag,
        "TCMA0" / Flag,
        "E0PD1" / Flag,
        "E0PD0" / Flag,
        "NFD1" / Flag,
        "NFD0" / Flag,
        "TBID1" / Flag,
        "TBID0" / Flag,
        "HWU" / BitsInteger(8),
        "HPD1" / Flag,
        "HPD0" / Flag,
        "HD" / Flag,
        "HA" / Flag,
        "TBI1" / Flag,
        "TBI0" / Flag,
        "AS" / Flag,
        "res0_35" / Flag,
        "IPS" / BitsInteger(3),
        "TG1" / BitsInteger(2),
        "SH1" / BitsInteger(2),
        "ORGN1" / BitsInteger(2),
        "IRGN1" / BitsInteger(2),
        "EPD1" / Flag,
        "A1" / Flag,
        "T1SZ" / BitsInteger(6),
        "TG0" / BitsInteger(2),
        "SH0" / BitsInteger(2),
        "ORGN0" / BitsInteger(2),
        "IRGN0" / BitsInteger(2),
        "EPD0" / Flag,
        "res0_6" / Flag,
        "T0SZ" / BitsInteger(6),
    )
)

# TTBRn_EL1: ASID (or nothing, with TCR_EL1.A1 pointing at the other TTBR), the table address, CnP.
# With a 52-bit output address (FEAT_LPA / FEAT_LPA2 and IPS = 0b110) bits 5:2 hold BADDR[51:48].
ttbr_el1: Construct[Any, Any] = ByteSwapped(
    BitStruct(
        "ASID" / BitsInteger(16),
        "BADDR" / BitsInteger(47),
        "CnP" / Flag,
    )
)

# Encodings (Arm ARM): TG0 and TG1 name the granules differently.
TG0_GRANULE = {0b00: 4096, 0b01: 65536, 0b10: 16384}
TG1_GRANULE = {0b01: 16384, 0b10: 4096, 0b11: 65536}
IPS_BITS = {0b000: 32, 0b001: 36, 0b010: 40, 0b011: 42, 0b100: 44, 0b101: 48, 0b110: 52}

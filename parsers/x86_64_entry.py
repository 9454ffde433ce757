"""x86_64 paging-structure entries (IA-32e 4-level and 5-level paging), one 64-bit little-endian word each.

Source: Intel SDM Vol. 3A, section 4.5 "4-Level Paging and 5-Level Paging", tables 4-15 to 4-20
(PML5E, PML4E, PDPTE mapping a 1-GByte page, PDPTE referencing a page directory, PDE mapping a
2-MByte page, PDE referencing a page table, PTE mapping a 4-KByte page), and AMD APM Vol. 2 5.3.

Each layout is declared once as ``ByteSwapped(BitStruct(...))`` with fields listed from bit 63 down
to bit 0, named as in the manual (lower case; R/W is ``rw``, U/S is ``us``). The walker derives its
masks from these declarations (``pmoview.arch.layout.field_layout``) and the tests build synthetic
page tables with them. ``address`` is the whole 51:12 (or 51:21, 51:30) field: bits at or above
MAXPHYADDR are reserved, which depends on the CPU and is applied by the walker, not here.
"""

from __future__ import annotations

from typing import Any

from construct import BitsInteger, BitStruct, ByteSwapped, Construct, Flag

ENTRY_SIZE = 8
ENTRIES_PER_TABLE = 512


def _high_bits_leaf() -> list[Construct[Any, Any]]:
    # Bits 63:52 of an entry that maps a page: XD, the protection key (CR4.PKE/PKS), ignored 58:52.
    return ["xd" / Flag, "pk" / BitsInteger(4), "ign_58_52" / BitsInteger(7)]


def _low_bits(bit7: str, bit8: str) -> list[Construct[Any, Any]]:
    # Bits 11:0. Bit 7 is PS in PDPTE/PDE, PAT in a PTE; bit 8 is G in an entry that maps a page.
    return [
        "ign_11_9" / BitsInteger(3),
        bit8 / Flag,
        bit7 / Flag,
        "d" / Flag,
        "a" / Flag,
        "pcd" / Flag,
        "pwt" / Flag,
        "us" / Flag,
        "rw" / Flag,
        "p" / Flag,
    ]


# PML5E, PML4E, and a PDPTE or PDE that references the next table (PS = 0). In a PML5E/PML4E bit 7
# is reserved (must be 0); in a PDPTE/PDE it is PS and 0 selects a table. Bit 6 (D) is ignored here.
table_entry = ByteSwapped(
    BitStruct(
        "xd" / Flag,
        "ign_62_52" / BitsInteger(11),
        "address" / BitsInteger(40),  # 51:12, physical address of the next table
        "ign_11_9" / BitsInteger(3),
        "ign_8" / Flag,
        "ps" / Flag,
        "ign_6" / Flag,
        "a" / Flag,
        "pcd" / Flag,
        "pwt" / Flag,
        "us" / Flag,
        "rw" / Flag,
        "p" / Flag,
    )
)

# PDPTE with PS = 1: a 1-GByte page. Bits 29:13 are reserved, bit 12 is PAT.
pdpte_1g = ByteSwapped(
    BitStruct(
        *_high_bits_leaf(),
        "address" / BitsInteger(22),  # 51:30
        "rsvd_29_13" / BitsInteger(17),
        "pat" / Flag,
        *_low_bits(bit7="ps", bit8="g"),
    )
)

# PDE with PS = 1: a 2-MByte page. Bits 20:13 are reserved, bit 12 is PAT.
pde_2m = ByteSwapped(
    BitStruct(
        *_high_bits_leaf(),
        "address" / BitsInteger(31),  # 51:21
        "rsvd_20_13" / BitsInteger(8),
        "pat" / Flag,
        *_low_bits(bit7="ps", bit8="g"),
    )
)

# PTE: a 4-KByte page. Bit 7 is PAT (there is no PS bit at this level).
pte_4k = ByteSwapped(
    BitStruct(
        *_high_bits_leaf(),
        "address" / BitsInteger(40),  # 51:12
        *_low_bits(bit7="pat", bit8="g"),
    )
)

# The format by (is a leaf, leaf size in bytes); a table pointer has one layout at every level.
LEAF_FORMATS = {1 << 30: pdpte_1g, 1 << 21: pde_2m, 1 << 12: pte_4k}

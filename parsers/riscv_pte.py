"""RISC-V page-table entries for Sv39, Sv48 and Sv57 (RV64), one 64-bit little-endian word each.

Source: The RISC-V Instruction Set Manual, Volume II: Privileged Architecture (20211203), 4.4.1
"Addressing and Memory Protection" (Sv39 PTE, Figure 4.21), 4.5 (Sv48), 4.6 (Sv57); the Svpbmt
(PBMT, bits 62:61) and Svnapot (N, bit 63) chapters. The three modes share one PTE format: bits
53:10 hold the 44-bit physical page number (PPN), so the physical address of a page is PPN << 12 --
the address field is *shifted* into the address, unlike x86 and Arm where it sits in place.

An entry is a leaf when any of R, W, X is set; otherwise (with V set) it points to the next table.
A leaf at level ``i > 0`` maps a superpage: its PPN's low ``9 * i`` bits must be zero or the MMU
raises a page fault ("misaligned superpage"), so the leaf layouts name those bits ``ppn_low``.

Fields are listed from bit 63 down to bit 0, named as in the manual (lower case). ``satp`` is the
supervisor address translation and protection register (RV64: MODE 63:60, ASID 59:44, PPN 43:0).
"""

from __future__ import annotations

from typing import Any

from construct import BitsInteger, BitStruct, ByteSwapped, Construct, Flag

ENTRY_SIZE = 8
PPN_LSB = 10  # PPN starts at bit 10 of an entry ...
PAGE_SHIFT = 12  # ... and at bit 12 of the physical address
PPN_BITS = 44

# satp.MODE values (RV64).
SATP_MODES = {0: "Bare", 8: "Sv39", 9: "Sv48", 10: "Sv57", 11: "Sv64"}
# PBMT encodings (Svpbmt): 3 is reserved.
PBMT_NAMES = ("PMA", "NC", "IO", "PBMT3")


def _high_bits() -> list[Construct[Any, Any]]:
    # Bits 63:54: N (Svnapot), PBMT (Svpbmt), then bits reserved for future standard use.
    return ["n" / Flag, "pbmt" / BitsInteger(2), "rsvd_60_54" / BitsInteger(7)]


def _low_bits() -> list[Construct[Any, Any]]:
    # Bits 9:0: RSW (for supervisor software), then D A G U X W R V.
    return [
        "rsw" / BitsInteger(2),
        "d" / Flag,
        "a" / Flag,
        "g" / Flag,
        "u" / Flag,
        "x" / Flag,
        "w" / Flag,
        "r" / Flag,
        "v" / Flag,
    ]


def pte(level: int = 0) -> Construct[Any, Any]:
    """A leaf at ``level`` (0: 4 KiB page, 1: 2 MiB megapage, 2: 1 GiB gigapage, 3: 512 GiB, 4: 256 TiB):
    ``ppn`` is the part of the PPN that names the page, ``ppn_low`` the ``9 * level`` bits that must be 0."""
    if not 0 <= level <= 4:
        raise ValueError(f"no RISC-V leaf at level {level}")
    low = 9 * level
    fields: list[Construct[Any, Any]] = [*_high_bits(), "ppn" / BitsInteger(PPN_BITS - low)]
    if low:
        fields.append("ppn_low" / BitsInteger(low))
    fields += _low_bits()
    return ByteSwapped(BitStruct(*fields))


# A non-leaf PTE has the same fields; R = W = X = 0, and D, A, U, N, PBMT are reserved in it.
table_pte = pte(0)
pte_4k = pte(0)
pte_2m = pte(1)
pte_1g = pte(2)

satp64 = ByteSwapped(BitStruct("mode" / BitsInteger(4), "asid" / BitsInteger(16), "ppn" / BitsInteger(PPN_BITS)))

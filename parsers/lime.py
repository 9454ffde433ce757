"""LiME range headers.

Source: LiME ``src/lime.h`` (``lime_mem_range_header``) and its docs/README "LiME format":
each range is a 32-byte header followed by ``e_addr - s_addr + 1`` bytes (``e_addr`` inclusive).
"""

from __future__ import annotations

from construct import Const, Int32ul, Int64ul, Padding, Struct

LIME_MAGIC = 0x4C694D45  # "EMiL" on disk
LIME_VERSION = 1

lime_range_header = Struct(
    "magic" / Const(LIME_MAGIC, Int32ul),
    "version" / Int32ul,
    "s_addr" / Int64ul,
    "e_addr" / Int64ul,
    Padding(8),  # reserved
)
LIME_HEADER_SIZE = lime_range_header.sizeof()

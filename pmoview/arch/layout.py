"""Bit positions derived from the Construct[Any, Any] entry layouts in ``parsers``: the single description.

The hot path never parses an entry with Construct; it uses masks, and the masks come from here
(``field_layout``), so a change in ``parsers/x86_64_entry.py`` changes the walker too. A property test
checks the derivation against Construct's own parse.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from construct import Construct

ENTRY_BITS = 64


def _bitstruct_fields(struct: Construct[Any, Any]) -> list[tuple[str | None, int]]:
    # ByteSwapped(BitStruct(...)) is Transformed(Transformed(Struct)); each subcon's sizeof is in bits.
    inner: Any = struct
    while not hasattr(inner, "subcons"):
        inner = inner.subcon
    return [(getattr(sc, "name", None), int(sc.sizeof())) for sc in inner.subcons]


def field_layout(struct: Construct[Any, Any]) -> dict[str, tuple[int, int]]:
    """``name -> (lsb, width)`` for a 64-bit ``ByteSwapped(BitStruct(...))`` declared MSB first."""
    fields = _bitstruct_fields(struct)
    total = sum(width for _, width in fields)
    if total != ENTRY_BITS:
        raise ValueError(f"entry layout covers {total} bits, expected {ENTRY_BITS}")
    out: dict[str, tuple[int, int]] = {}
    top = ENTRY_BITS
    for name, width in fields:
        top -= width
        if name:
            out[name] = (top, width)
    return out


def mask(layout: Mapping[str, tuple[int, int]], *names: str) -> int:
    """The OR of the named fields' masks."""
    m = 0
    for name in names:
        lsb, width = layout[name]
        m |= ((1 << width) - 1) << lsb
    return m


def bit(layout: Mapping[str, tuple[int, int]], name: str) -> int:
    """Bit number of a one-bit field."""
    lsb, width = layout[name]
    if width != 1:
        raise ValueError(f"{name} is {width} bits wide")
    return lsb


def get_field(layout: Mapping[str, tuple[int, int]], value: int, name: str) -> int:
    lsb, width = layout[name]
    return (value >> lsb) & ((1 << width) - 1)


def build_entry(struct: Construct[Any, Any], **fields: int) -> int:
    """Build one entry with Construct; fields not given are 0. Returns the 64-bit value."""
    names = field_layout(struct)
    unknown = set(fields) - set(names)
    if unknown:
        raise KeyError(f"no field(s) {sorted(unknown)} in this entry layout")
    values: dict[str, Any] = {}
    for name, (_, width) in names.items():
        v = int(fields.get(name, 0))
        values[name] = bool(v) if width == 1 else v
    return int.from_bytes(struct.build(values), "little")


def parse_entry(struct: Construct[Any, Any], value: int) -> dict[str, int]:
    """Parse one 64-bit entry with Construct[Any, Any] into plain ints (no Container leaves this function)."""
    parsed = struct.parse(value.to_bytes(8, "little"))
    return {name: int(parsed[name]) for name in field_layout(struct)}

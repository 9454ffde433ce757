"""Sizes as people read them; the one implementation behind every report, listing and screen.

``size_text`` for prose (``2 MiB``, ``1.5 GiB``, ``512 bytes``), ``size_short`` for columns in ptdump's
style (``2M``, ``1.5G``, ``512B``). Whole numbers print without a fraction, others with one digit.
"""

from __future__ import annotations

UNITS = (("P", 50), ("T", 40), ("G", 30), ("M", 20), ("K", 10))


def _scaled(n: int) -> tuple[str, str] | None:
    """``n`` in the largest unit it reaches: (number text, unit letter), or None below 1 KiB."""
    for unit, shift in UNITS:
        if n >= 1 << shift:
            v = n / (1 << shift)
            return (f"{v:.0f}" if v == int(v) else f"{v:.1f}"), unit
    return None


def size_text(n: int) -> str:
    """``4 KiB``, ``2 MiB``, ``1.5 GiB``, ``512 bytes``."""
    scaled = _scaled(n)
    return f"{n} bytes" if scaled is None else f"{scaled[0]} {scaled[1]}iB"


def size_short(n: int) -> str:
    """``4K``, ``2M``, ``1.5G``, ``512B``."""
    scaled = _scaled(n)
    return f"{n}B" if scaled is None else f"{scaled[0]}{scaled[1]}"

"""Effective flags of a leaf: combined over every level as the MMU combines them."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from pmoview.arch.mode import FlagRule, LevelRow, PagingMode, Term

SHAREABILITY = ("non-shareable", "reserved", "outer", "inner")  # AArch64 SH[1:0]


@dataclass(frozen=True, slots=True)
class Flags:
    """``writable``/``user`` are what the supervisor (EL1) and user (EL0) may do after every level's bits
    are combined; ``nx`` forbids kernel execution, ``user_nx`` user execution (x86: the same bit).
    ``raw`` is the leaf entry's attribute bits (address and software bits removed); it is evidence,
    not identity, so it takes no part in equality."""

    arch: str
    present: bool = True
    writable: bool = False
    user: bool = False
    nx: bool = False
    user_nx: bool = False
    global_: bool = False
    accessed: bool = False
    dirty: bool = False
    cache: str | None = None
    attr_index: int = 0
    pkey: int = 0
    contiguous: bool = False
    shareability: str | None = None
    readable: bool = True  # False only where an architecture has unreadable pages (RISC-V X-only)
    raw: int = field(default=0, compare=False)

    def text(self, page_size: int | None = None) -> str:
        """ptdump-like columns: ``RW``/``ro``, ``USR``, ``GLB``, ``NX``/``x``, page-size marker, cache."""
        if self.arch == "riscv64":
            return self._riscv_text()
        cols = ["RW" if self.writable else "ro", "USR" if self.user else "   "]
        if self.arch == "x86_64":
            cols += [
                "PWT" if self.attr_index & 1 else "   ",
                "PCD" if self.attr_index & 2 else "   ",
                "PSE" if page_size and page_size > 4096 else "   ",
            ]
        else:
            cols += [
                "UXN" if self.user_nx else "   ",
                "CON" if self.contiguous else "   ",
                "AF" if self.accessed else "  ",
            ]
        cols += ["GLB" if self.global_ else "   ", "NX" if self.nx else "x ", self.cache or ""]
        return " ".join(cols).rstrip()

    def _riscv_text(self) -> str:
        """Linux's RISC-V ptdump letters (D A G U X W R V, ``.`` when clear); a PBMT other than PMA last."""
        executable = not (self.nx and self.user_nx)
        bits = (
            ("D", self.dirty),
            ("A", self.accessed),
            ("G", self.global_),
            ("U", self.user),
            ("X", executable),
            ("W", self.writable),
            ("R", self.readable),
            ("V", True),
        )
        text = " ".join(c if on else "." for c, on in bits)
        return f"{text} {self.cache}" if self.cache and self.cache != "PMA" else text

    def access(self, sum_: bool | None = None) -> tuple[str, str]:
        """RISC-V: (supervisor, user) access as ``rwx`` strings. ``sum_`` is sstatus.SUM (None: unknown,
        taken as 0, the safe default Linux and xv6 run with)."""
        executable = not (self.nx and self.user_nx)
        rwx = ("r" if self.readable else "-") + ("w" if self.writable else "-") + ("x" if executable else "-")
        if self.user:
            return (rwx[:2] + "-" if sum_ else "---"), rwx
        return rwx, "---"


def _term(t: Term, leaf: int, acc: int) -> int:
    v = ((leaf if t.src == "leaf" else acc) >> t.lsb) & ((1 << t.width) - 1)
    return v ^ ((1 << t.width) - 1) if t.invert else v


def _rule(r: FlagRule, leaf: int, acc: int) -> int:
    if r.op == "all":
        return int(all(_term(t, leaf, acc) for t in r.terms)) if r.terms else 0
    if r.op == "any":
        return int(any(_term(t, leaf, acc) for t in r.terms))
    return _term(r.terms[0], leaf, acc)


def flags_of(mode: PagingMode, row: LevelRow, leaf: int, acc: int) -> Flags:
    """Evaluate the mode's rules for one leaf entry and the accumulated table bits."""
    values = {r.name: _rule(r, leaf, acc) for r in mode.rules}
    if mode.el0_writable_implies_pxn and values.get("user") and values.get("writable"):
        values["nx"] = 1
    attr = 0
    for i, b in enumerate(row.attr_bits):
        attr |= ((leaf >> b) & 1) << i
    sh = values.pop("shareability", None)
    return Flags(
        arch=mode.arch,
        present=True,
        writable=bool(values.get("writable", 0)),
        user=bool(values.get("user", 0)),
        nx=bool(values.get("nx", 0)),
        user_nx=bool(values.get("user_nx", 0)),
        global_=bool(values.get("global_", 0)),
        accessed=bool(values.get("accessed", 0)),
        dirty=bool(values.get("dirty", 0)),
        cache=mode.cache_names[attr] if attr < len(mode.cache_names) else None,
        attr_index=attr,
        pkey=int(values.get("pkey", 0)),
        contiguous=bool(values.get("contiguous", 0)),
        shareability=SHAREABILITY[sh] if sh is not None else None,
        readable=bool(values.get("readable", 1)),
        raw=leaf & row.leaf_key_mask,
    )


class FlagTable:
    """Distinct ``Flags`` of one address space, numbered in the order first seen."""

    def __init__(self) -> None:
        self.items: list[Flags] = []
        self._ids: dict[Flags, int] = {}

    def id_of(self, flags: Flags) -> int:
        i = self._ids.get(flags)
        if i is None:
            i = self._ids[flags] = len(self.items)
            self.items.append(flags)
        return i

    def __len__(self) -> int:
        return len(self.items)

    def attr(self, name: str) -> npt.NDArray[np.bool_]:
        """``getattr(flags, name)`` for every id, as a lookup array: ``table.attr("writable")[flag_id]``."""
        return np.array([bool(getattr(f, name)) for f in self.items], dtype=bool)


class FlagsCache:
    """Flags per distinct (level, key bits, acc): a walk of millions of leaves has a handful."""

    def __init__(self, mode: PagingMode) -> None:
        self.mode = mode
        self._cache: dict[tuple[int, int, int], Flags] = {}
        self.table = FlagTable()  # ids for columns: stable for the space's lifetime

    def get(self, row: LevelRow, leaf: int, acc: int) -> Flags:
        k = (row.level, leaf & row.leaf_key_mask, acc)
        f = self._cache.get(k)
        if f is None:
            f = flags_of(self.mode, row, leaf, acc)
            if len(self._cache) < 1 << 16:
                self._cache[k] = f
        return f

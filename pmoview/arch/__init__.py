"""Paging modes as data rows and the one walker that reads them.

Modules: ``root`` (Root, paging_mode), ``mode`` (LevelRow, PagingMode, FlagRule: the row types),
``x86_64``, ``aarch64`` and ``riscv`` (the rows), ``layout`` (masks derived from the Construct layouts in
``parsers``), ``decode`` (numpy decode of many entries), ``walker`` (the walk), ``merge`` (leaves ->
mappings), ``flags`` (effective Flags), ``records`` (EntryRef, Leaf, Mapping, Anomaly, limits).

Adding an architecture, a paging mode or a granule: the checklist is ``docs/architectures.md``
(kept to what RISC-V really needed: entry layouts, rows, Root and mode names, dump notes, roots, live
registers, access rules, display, checks, samples, tests).
Nothing in ``decode``, ``walker``, ``merge`` or ``pmoview.space`` changes.
"""

from __future__ import annotations

from pmoview.arch.flags import Flags
from pmoview.arch.mode import FlagRule, LevelRow, PagingMode, Term
from pmoview.arch.records import Anomaly, EntryRef, Leaf, Mapping, Translation, WalkLimits, WalkStats
from pmoview.arch.root import Root, paging_mode

MODES = (
    "x86_64-4level",
    "x86_64-5level",
    "aarch64-4k",
    "aarch64-16k",
    "aarch64-64k",
    "riscv64-sv39",
    "riscv64-sv48",
    "riscv64-sv57",
)

__all__ = [
    "MODES",
    "Anomaly",
    "EntryRef",
    "FlagRule",
    "Flags",
    "Leaf",
    "LevelRow",
    "Mapping",
    "PagingMode",
    "Root",
    "Term",
    "Translation",
    "WalkLimits",
    "WalkStats",
    "paging_mode",
]

"""Paging modes as data rows and the one walker that reads them.

Modules: ``root`` (Root, paging_mode), ``mode`` (LevelRow, PagingMode, FlagRule: the row types),
``x86_64`` and ``aarch64`` (the rows), ``layout`` (masks derived from the Construct layouts in
``parsers``), ``decode`` (numpy decode of many entries), ``walker`` (the walk), ``merge`` (leaves ->
mappings), ``flags`` (effective Flags), ``records`` (EntryRef, Leaf, Mapping, Anomaly, limits).

Checklist -- adding an architecture, a paging mode or a granule:
1. ``parsers/<arch>_*.py``: declare each entry layout once, ``ByteSwapped(BitStruct(...))`` with the
   manual's field names, MSB first; a factory if it depends on the granule or address size.
2. ``pmoview/arch/<arch>.py``: a function returning a ``PagingMode``: one ``LevelRow`` per level
   (valid/leaf tests, address, fault and RES0 masks from ``layout.field_layout``), the ``acc`` masks
   (how table entries restrict what is below) and the ``FlagRule``s (how effective flags are made).
   A new AArch64 granule is one more ``GRANULES`` row; a new x86 depth one more ``LEVELS`` row.
3. ``pmoview/arch/root.py::paging_mode``: map ``Root.mode`` (and its parameters) to that function.
4. ``pmoview/roots.py``: find roots for it (registers in the dump, VMCOREINFO, symbols).
5. ``pmoview/arch/flags.py::Flags.text`` if ptdump prints it differently.
6. ``tests/synth.py``: a tree builder using the new Construct layouts; ``tests/test_arch_*.py``: the
   mask-vs-Construct property test, and translate/leaves/mappings on built trees.
7. ``docs/model-api.md``: the new mode name.
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

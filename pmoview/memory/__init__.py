"""Physical memory from dump files: one interface, one backend per format, probes in order."""

from __future__ import annotations

from collections.abc import Callable

from parsers.errors import DumpFormatError
from pmoview.memory.base import PAGE_SIZE, AbsentMemoryError, CpuState, DumpInfo, PhysicalMemory, Range
from pmoview.memory.container import UnpackProgress, compression_of, decompressed_path
from pmoview.memory.elfcore import is_elf, open_elf
from pmoview.memory.fileview import MappedFile
from pmoview.memory.kdump import is_kdump, open_kdump
from pmoview.memory.lime import is_lime, open_lime
from pmoview.memory.raw import open_raw
from pmoview.memory.sparse import SparseMemory

__all__ = [
    "FORMATS",
    "PAGE_SIZE",
    "AbsentMemoryError",
    "CpuState",
    "DumpFormatError",
    "DumpInfo",
    "PhysicalMemory",
    "Range",
    "SparseMemory",
    "open_dump",
]

# Ordered probes: (name, recognises the first bytes, opener). Raw has no header and is never guessed.
PROBES: list[tuple[str, Callable[[bytes], bool], Callable[[MappedFile], PhysicalMemory]]] = [
    ("kdump", is_kdump, open_kdump),
    ("elf", is_elf, open_elf),
    ("lime", is_lime, open_lime),
]
FORMATS = ("auto", "raw", "kdump", "elf", "lime")


def open_dump(
    path: str, fmt: str = "auto", base: int | None = None, progress: UnpackProgress | None = None
) -> PhysicalMemory:
    """Open ``path`` read-only. ``fmt='raw'`` (or a ``base``) reads a flat image starting at PA ``base``.
    A compressed file (xz, gzip, zstd) is decompressed once into the cache (``progress`` hears how far)
    and that copy is opened; errors about the copy name ``path``, the file the user gave.
    Live QEMU targets (``gdb://``, ``qmp:``) are opened by ``pmoview.inputs`` through ``pmoview.live``."""
    file = MappedFile(path)
    kind = compression_of(file.map[:8])
    if kind is not None:
        file.close()
        copy = decompressed_path(path, kind, progress)
        try:
            mem = open_dump(copy, fmt, base)
        except DumpFormatError as exc:
            raise DumpFormatError(f"{path} (decompressed)", exc.offset, exc.expected, exc.found) from None
        mem.info.details["compressed"] = kind
        mem.info.details["source"] = path
        mem.info.details["decompressed_copy"] = copy
        mem.path = path  # messages name the file the user gave, not the cache copy
        return mem
    if fmt == "raw" or (fmt == "auto" and base is not None):
        file.close()
        return open_raw(path, base or 0)
    try:
        head = file.map[:64]
        for name, recognises, opener in PROBES:
            if (fmt == "auto" or fmt == name) and recognises(head):
                return opener(file)
        wanted = "a kdump, flattened kdump, ELF or LiME header" if fmt == "auto" else f"a {fmt} header"
        raise DumpFormatError(path, 0, f"{wanted} (use --dump-format raw for a flat image)", repr(bytes(head[:8])))
    except BaseException:
        file.close()
        raise

"""ELF cores (QEMU ``dump-guest-memory``, Linux /proc/vmcore copies) and kernel ELF images.

pyelftools reads the headers; PT_LOAD segments are placed by ``p_paddr``; PT_NOTE records are
decoded by ``parsers.elf_notes``. A kernel ELF (ET_EXEC/ET_DYN) is opened the same way, so page
tables initialised in its data can be walked without a dump (``.bss`` reads as zeros).
"""

from __future__ import annotations

from typing import IO, cast

from parsers.elf_notes import iter_notes
from parsers.errors import DumpFormatError
from pmoview.memory.base import DumpInfo
from pmoview.memory.fileview import MappedFile
from pmoview.memory.notes import apply_notes
from pmoview.memory.segmented import Segment, SegmentedMemory

EM_ARCH = {"EM_X86_64": "x86_64", "EM_AARCH64": "aarch64", "EM_RISCV": "riscv64"}
MAX_NOTE_BYTES = 64 << 20  # notes are CPU states and VMCOREINFO: kilobytes, never this


def is_elf(head: bytes) -> bool:
    return head[:4] == b"\x7fELF"


def open_elf(file: MappedFile) -> SegmentedMemory:
    # pyelftools costs ~50 ms to import: only when an ELF is read.
    from elftools.common.exceptions import ELFError, ELFParseError
    from elftools.elf.elffile import ELFFile

    path = file.path
    try:
        # pyelftools needs only read/seek/tell, which the mmap has: no copy of the file.
        elf = ELFFile(cast(IO[bytes], file.map))
        if elf.elfclass != 64 or not elf.little_endian:
            raise DumpFormatError(path, 4, "a 64-bit little-endian ELF", f"ELFCLASS{elf.elfclass}")
        e_type = elf["e_type"]
        arch = EM_ARCH.get(elf["e_machine"])
        if arch is None:
            raise DumpFormatError(path, 18, "e_machine EM_X86_64, EM_AARCH64 or EM_RISCV", str(elf["e_machine"]))
        phoff, phentsize, phnum = elf["e_phoff"], elf["e_phentsize"], elf["e_phnum"]
        if phnum and (phentsize < 56 or phoff + phnum * phentsize > file.size):
            raise DumpFormatError(
                path,
                phoff,
                f"{phnum} program headers of {phentsize} bytes inside the file",
                f"file ends at {file.size:#x}",
            )
        segments: list[Segment] = []
        note_blobs: list[tuple[int, int]] = []
        for i in range(phnum):
            ph = elf.get_segment(i).header
            if ph.p_type == "PT_LOAD":
                if ph.p_filesz > ph.p_memsz:
                    raise DumpFormatError(
                        path,
                        phoff + i * phentsize,
                        "PT_LOAD with p_filesz <= p_memsz",
                        f"{ph.p_filesz:#x} > {ph.p_memsz:#x}",
                    )
                segments.append(Segment(ph.p_paddr, ph.p_filesz, ph.p_offset))
                if ph.p_memsz > ph.p_filesz:
                    segments.append(Segment(ph.p_paddr + ph.p_filesz, ph.p_memsz - ph.p_filesz, -1))
            elif ph.p_type == "PT_NOTE":
                note_blobs.append((ph.p_offset, ph.p_filesz))
    except (ELFError, ELFParseError) as exc:
        raise DumpFormatError(path, 0, "a valid ELF header and program headers", str(exc)[:160]) from None
    fmt = "elf" if e_type == "ET_CORE" else "elf-kernel"
    info = DumpInfo(arch=arch, details={"elf_type": e_type, "pt_load": len(segments)})
    for offset, size in note_blobs:
        if size > MAX_NOTE_BYTES:
            raise DumpFormatError(path, offset, f"a PT_NOTE segment under {MAX_NOTE_BYTES} bytes", f"{size:#x} bytes")
        blob = file.read(offset, size, "the PT_NOTE segment")
        apply_notes(info, iter_notes(blob, offset, path), path)
    return SegmentedMemory(file, fmt, segments, info)

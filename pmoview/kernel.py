"""Kernel ELF images (pyelftools): symbols, PT_LOAD segments with VA, PA and R/W/X, and the image
as physical memory so page tables initialised in its data can be walked without a dump."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from parsers.errors import DumpFormatError
from pmoview.memory import PhysicalMemory, open_dump

PF_X, PF_W, PF_R = 1, 2, 4
MAX_SYMBOLS = 5_000_000


@dataclass(frozen=True)
class KernelSegment:
    """One loadable segment of the kernel ELF: where it is linked (VA), loaded (PA), its size and flags."""

    va: int
    pa: int
    memsz: int
    filesz: int
    flags: str  # "R-X", "RW-", ...

    @property
    def readable(self) -> bool:
        return self.flags[0] == "R"

    @property
    def writable(self) -> bool:
        return self.flags[1] == "W"

    @property
    def executable(self) -> bool:
        return self.flags[2] == "X"


@dataclass
class KernelImage:
    """The kernel ELF (or System.map) the user gave: its segments and symbols."""

    path: str
    arch: str
    entry: int
    segments: list[KernelSegment]
    symbols: dict[str, int] = field(default_factory=dict)
    sizes: dict[str, int] = field(default_factory=dict)  # st_size of ELF symbols (a pointer is 8, a table 4096)

    @classmethod
    def open(cls, path: str, system_map: str | None = None) -> KernelImage:
        # pyelftools costs ~50 ms to import: only when a kernel ELF is given.
        from elftools.common.exceptions import ELFError, ELFParseError
        from elftools.elf.elffile import ELFFile
        from elftools.elf.sections import SymbolTableSection

        try:
            with open(path, "rb") as fh:
                elf = ELFFile(fh)
                machine = {"EM_X86_64": "x86_64", "EM_AARCH64": "aarch64", "EM_RISCV": "riscv64"}.get(elf["e_machine"])
                if machine is None or elf.elfclass != 64:
                    raise DumpFormatError(
                        path, 18, "a 64-bit x86_64, AArch64 or RISC-V kernel ELF", str(elf["e_machine"])
                    )
                segments = []
                for seg in elf.iter_segments():
                    h = seg.header
                    if h.p_type != "PT_LOAD":
                        continue
                    flags = (
                        ("R" if h.p_flags & PF_R else "-")
                        + ("W" if h.p_flags & PF_W else "-")
                        + ("X" if h.p_flags & PF_X else "-")
                    )
                    segments.append(KernelSegment(h.p_vaddr, h.p_paddr, h.p_memsz, h.p_filesz, flags))
                symbols: dict[str, int] = {}
                sizes: dict[str, int] = {}
                for sec in elf.iter_sections():
                    if isinstance(sec, SymbolTableSection):
                        if sec.num_symbols() > MAX_SYMBOLS:
                            raise DumpFormatError(
                                path, sec["sh_offset"], f"at most {MAX_SYMBOLS} symbols", str(sec.num_symbols())
                            )
                        for sym in sec.iter_symbols():
                            if sym.name and sym["st_shndx"] != "SHN_UNDEF":
                                symbols.setdefault(sym.name, sym["st_value"])
                                sizes.setdefault(sym.name, sym["st_size"])
                entry = elf["e_entry"]
        except OSError as exc:
            raise DumpFormatError(path, None, "a readable kernel ELF", exc.strerror or str(exc)) from None
        except (ELFError, ELFParseError) as exc:
            raise DumpFormatError(path, 0, "a valid kernel ELF", str(exc)[:160]) from None
        image = cls(path, machine, entry, segments, symbols, sizes)
        if system_map:
            image.symbols.update(load_system_map(system_map))
        return image

    def symbol(self, name: str) -> int | None:
        return self.symbols.get(name)

    def va_to_pa(self, va: int) -> int | None:
        """Where the ELF says a VA is loaded (its PT_LOAD's p_paddr), before any relocation."""
        for seg in self.segments:
            if seg.va <= va < seg.va + seg.memsz:
                return seg.pa + va - seg.va
        return None

    def memory(self) -> PhysicalMemory:
        return open_dump(self.path, fmt="elf")


_SYSMAP_LINE = re.compile(r"^([0-9a-fA-F]+)\s+\S\s+(\S+)")


def load_system_map(path: str) -> dict[str, int]:
    """``System.map`` / ``/proc/kallsyms`` text: ``address type name`` per line."""
    out: dict[str, int] = {}
    try:
        with open(path, encoding="ascii", errors="replace") as fh:
            for lineno, line in enumerate(fh, 1):
                m = _SYSMAP_LINE.match(line)
                if m:
                    out.setdefault(m.group(2), int(m.group(1), 16))
                elif line.strip():
                    raise DumpFormatError(path, None, f"'address type name' on line {lineno}", line.strip()[:60])
    except OSError as exc:
        raise DumpFormatError(path, None, "a readable System.map", exc.strerror or str(exc)) from None
    return out

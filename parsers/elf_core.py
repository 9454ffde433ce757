"""ELF64 file and program headers, declared for building synthetic cores in tests. pyelftools
parses real files; this is the same layout from the System V gABI (``elf.h``), little-endian."""

from __future__ import annotations

from construct import Const, Int8ul, Int16ul, Int32ul, Int64ul, Padding, Struct

ET_EXEC = 2
ET_CORE = 4
EM_X86_64 = 62
EM_AARCH64 = 183
EM_RISCV = 243
PT_LOAD = 1
PT_NOTE = 4
PF_X, PF_W, PF_R = 1, 2, 4

elf64_ehdr = Struct(
    "ei_magic" / Const(b"\x7fELF"),
    "ei_class" / Const(2, Int8ul),  # ELFCLASS64
    "ei_data" / Const(1, Int8ul),  # ELFDATA2LSB
    "ei_version" / Const(1, Int8ul),
    Padding(9),
    "e_type" / Int16ul,
    "e_machine" / Int16ul,
    "e_version" / Int32ul,
    "e_entry" / Int64ul,
    "e_phoff" / Int64ul,
    "e_shoff" / Int64ul,
    "e_flags" / Int32ul,
    "e_ehsize" / Int16ul,
    "e_phentsize" / Int16ul,
    "e_phnum" / Int16ul,
    "e_shentsize" / Int16ul,
    "e_shnum" / Int16ul,
    "e_shstrndx" / Int16ul,
)
elf64_phdr = Struct(
    "p_type" / Int32ul,
    "p_flags" / Int32ul,
    "p_offset" / Int64ul,
    "p_vaddr" / Int64ul,
    "p_paddr" / Int64ul,
    "p_filesz" / Int64ul,
    "p_memsz" / Int64ul,
    "p_align" / Int64ul,
)

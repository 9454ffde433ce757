"""Every Construct struct in ``parsers`` against bytes cut from a real sample in ``sample_dumps/``.

For each struct: the bytes (a file header, a note, a boot-information tag, a page-table entry the
real guest used) are cut from a committed sample; parsing them gives values that an independent
source states (QEMU's ``info registers`` / ``info tlb``, the truth file written when the sample was
made, the file's own size); and building the parsed value gives the same bytes back. A struct added to
``parsers`` without a vector here fails ``test_every_struct_has_a_real_vector``.
"""

from __future__ import annotations

import importlib
import lzma
import pkgutil
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import construct
import numpy as np
import pytest
from conftest import SAMPLES, load_truth

import parsers
from parsers import aarch64_desc, aarch64_sysreg, elf_core, elf_notes, kdump, lime, multiboot2, riscv_pte, x86_64_entry
from pmoview.arch import Root
from pmoview.checks.ram import scan_boot_info
from pmoview.memory import PhysicalMemory, open_dump
from pmoview.memory.kdump import KdumpMemory
from pmoview.roots import find_roots
from pmoview.space import AddressSpace


@dataclass(frozen=True)
class Vector:
    data: bytes
    where: str  # sample and place the bytes were cut from
    check: Callable[[Any], None]  # asserts the parsed values against an independent source


def _sample(name: str, file: str) -> Path:
    path = SAMPLES / name / file
    if not path.exists():
        pytest.skip(f"sample_dumps/{name}/{file} is not here")
    return path


def _head(name: str, file: str, n: int) -> bytes:
    """The first ``n`` bytes of a sample file (decompressed when it is ``.xz``)."""
    path = _sample(name, file)
    if path.suffix == ".xz":
        with lzma.open(path) as fh:
            return fh.read(n)
    with open(path, "rb") as fh:
        return fh.read(n)


@cache
def _mem(name: str, file: str) -> PhysicalMemory:
    return open_dump(str(_sample(name, file)))


def _regs(name: str, cpu: int = 0) -> dict[str, int]:
    """QEMU's ``info registers`` of one CPU: ``NAME=hex`` (x86, arm) or ``name  hex`` (riscv) pairs."""
    text = (SAMPLES / name / "info-registers.txt").read_text()
    block = re.split(r"(?m)^CPU#\d+\s*$", text)[1 + cpu]
    pairs = re.findall(r"\b([A-Za-z][A-Za-z0-9_]*)\s*=\s*([0-9a-fA-F]+)\b", block)
    pairs += re.findall(r"(?m)^\s*([a-z][a-z0-9_]*)\s+([0-9a-fA-F]{16})\s*$", block)
    return {k.lower(): int(v, 16) for k, v in pairs}


def _tlb(name: str) -> dict[int, tuple[int, str]]:
    """QEMU's ``info tlb`` of CPU 0: VA -> (PA, flags)."""
    out = {}
    for line in (SAMPLES / name / "info-tlb-cpu0.txt").read_text().splitlines():
        m = re.match(r"([0-9a-f]{16}): ([0-9a-f]{16}) (\S+)", line)
        if m:
            out[int(m.group(1), 16)] = (int(m.group(2), 16), m.group(3))
    return out


def _entries(name: str, file: str, va: int, root: Root | None = None) -> list[int]:
    """The raw entries the MMU reads to translate ``va`` in the sample (root: its best candidate)."""
    mem = _mem(name, file)
    space = AddressSpace(mem, root or find_roots(mem)[0])
    return [e.entry for e in space.translate(va).path]


def _u64(v: int) -> bytes:
    return v.to_bytes(8, "little")


def _notes(name: str, file: str) -> list[elf_notes.Note]:
    """The note records of an ELF core sample's first PT_NOTE, or of a kdump's note area."""
    head = _head(name, file, 1 << 20)
    if head[:4] == b"\x7fELF":
        ehdr = elf_core.elf64_ehdr.parse(head[:64])
        for i in range(ehdr.e_phnum):
            ph = elf_core.elf64_phdr.parse(head[ehdr.e_phoff + i * 56 : ehdr.e_phoff + (i + 1) * 56])
            if ph.p_type == 4:
                return elf_notes.iter_notes(_head(name, file, ph.p_offset + ph.p_filesz)[ph.p_offset :])
        raise AssertionError("no PT_NOTE")
    mem = _mem(name, file)  # plain or flattened kdump: pmoview's reader finds the note area
    assert isinstance(mem, KdumpMemory)
    h = mem.header
    return elf_notes.iter_notes(mem.file.read(h.offset_note, h.size_note, "notes"))


def _note_record_bytes(name: str, file: str, index: int) -> bytes:
    note = _notes(name, file)[index]
    pad = lambda n: -n % 4  # noqa: E731 - one expression, used twice
    namez = note.name.encode() + b"\0"
    return (
        elf_notes.note_header.build({"n_namesz": len(namez), "n_descsz": len(note.desc), "n_type": note.type})
        + namez
        + bytes(pad(len(namez)))
        + note.desc
        + bytes(pad(len(note.desc)))
    )


# -- the vectors ------------------------------------------------------------------------------------
X86_LINUX = ("linux-x86_64-4l-nokaslr", "dump.kdump")
SEED = ("seed-correct", "dump.elf.xz")
SEED_TEXT_VA = 0xFFFF_FFFF_8010_1000  # seed kernel .text page 2 (QEMU: PA 0x101000)
SEED_PMO_VA = 0xFFFF_8000_0020_0000  # the seed PMO's second 2 MiB page


def v_disk_dump_header() -> Vector:
    truth = load_truth(SAMPLES / X86_LINUX[0])

    def check(p: Any) -> None:  # the header describes all the guest's RAM, in blocks of the truth's size
        assert p.signature == b"KDUMP   " and p.block_size == truth["kdump_block_size"]
        assert p.max_mapnr * p.block_size >= truth["ram_bytes"]

    return Vector(_head(*X86_LINUX, 464), f"{X86_LINUX[0]} kdump offset 0", check)


def v_kdump_sub_header() -> Vector:
    truth = load_truth(SAMPLES / X86_LINUX[0])
    bs = truth["kdump_block_size"]

    def check(p: Any) -> None:
        assert p.phys_base == int(str(truth["kdump_subheader_phys_base"]), 0)
        size = _sample(*X86_LINUX).stat().st_size
        assert p.offset_vmcoreinfo > 0 and p.offset_vmcoreinfo + p.size_vmcoreinfo <= size

    return Vector(_head(*X86_LINUX, bs + 104)[bs:], f"{X86_LINUX[0]} kdump offset {bs:#x}", check)


def v_page_desc() -> Vector:
    head = _head(*X86_LINUX, 1 << 16)
    h = kdump.disk_dump_header.parse(head[:464])
    at = (1 + h.sub_hdr_size + h.bitmap_blocks) * h.block_size
    data = _head(*X86_LINUX, at + 24)[at:]

    def check(p: Any) -> None:  # the first dumped page: its data follows the descriptor table
        assert at < p.offset < _sample(*X86_LINUX).stat().st_size and 0 < p.size <= h.block_size

    return Vector(data, f"{X86_LINUX[0]} first page descriptor at {at:#x}", check)


def v_flat_header() -> Vector:
    def check(p: Any) -> None:
        assert (p.type, p.version) == (1, 1)  # makedumpfile's TYPE_FLAT_HEADER, VERSION_FLAT_HEADER

    return Vector(_head("seed-correct", "dump.kdump.xz", 4096), "seed-correct flattened kdump offset 0", check)


def v_flat_record_header() -> Vector:
    def check(p: Any) -> None:  # the first record is the disk_dump_header, written at offset 0
        assert p.offset == 0 and p.buf_size > 0

    return Vector(_head("seed-correct", "dump.kdump.xz", 4112)[4096:], "seed-correct first flat record", check)


def v_lime_range_header() -> Vector:
    truth = load_truth(SAMPLES / "linux-x86_64-4l-kaslr")
    start, end = int(truth["lime_ranges"][0]["start"], 16), int(truth["lime_ranges"][0]["end"], 16)

    def check(p: Any) -> None:  # e_addr is inclusive; the committed file is cut inside LiME's own ranges
        assert p.version == 1 and p.s_addr == start and start < p.e_addr + 1 <= end

    return Vector(_head("linux-x86_64-4l-kaslr", "dump.lime.xz", 32), "linux-x86_64-4l-kaslr LiME offset 0", check)


def v_elf64_ehdr() -> Vector:
    def check(p: Any) -> None:
        assert (p.e_type, p.e_machine, p.e_phentsize) == (4, 62, 56)  # ET_CORE, EM_X86_64

    return Vector(_head(*SEED, 64), "seed-correct ELF core offset 0", check)


def v_elf64_phdr() -> Vector:
    head = _head(*SEED, 4096)
    phoff = elf_core.elf64_ehdr.parse(head[:64]).e_phoff

    def check(p: Any) -> None:  # QEMU writes the PT_NOTE first
        assert p.p_type == 4 and p.p_filesz > 0

    return Vector(head[phoff : phoff + 56], f"seed-correct program header at {phoff:#x}", check)


def v_note_header() -> Vector:
    data = _note_record_bytes(*SEED, 0)[:12]

    def check(p: Any) -> None:
        assert (p.n_namesz, p.n_type) == (5, elf_notes.NT_PRSTATUS)  # "CORE\0"

    return Vector(data, "seed-correct first note", check)


def v_note_record() -> Vector:
    def check(p: Any) -> None:
        assert p.name == "CORE" and p.n_type == elf_notes.NT_PRSTATUS and len(p.desc) == p.n_descsz

    return Vector(_note_record_bytes(*SEED, 0), "seed-correct first note", check)


def _prstatus(name: str, file: str, struct_regs: str, qemu_pc: str) -> Vector:
    note = next(n for n in _notes(name, file) if n.name == "CORE" and n.type == elf_notes.NT_PRSTATUS)
    want = _regs(name)[qemu_pc]

    def check(p: Any) -> None:
        assert getattr(p.pr_reg, struct_regs) == want  # QEMU's info registers of CPU 0

    return Vector(note.desc, f"{name} CPU 0 NT_PRSTATUS", check)


def v_prstatus_x86_64() -> Vector:
    return _prstatus(*X86_LINUX, "rip", "rip")


def v_prstatus_aarch64() -> Vector:
    return _prstatus("linux-arm64", "dump.kdump", "pc", "pc")


def v_prstatus_riscv64() -> Vector:
    return _prstatus("rvseed-sv39", "dump.elf.xz", "pc", "pc")


def v_qemu_cpu_state_x86_64() -> Vector:
    note = next(n for n in _notes(*X86_LINUX) if n.name == "QEMU")
    regs = _regs(X86_LINUX[0])
    size = elf_notes.qemu_cpu_state_x86_64.sizeof()

    def check(p: Any) -> None:
        assert (p.cr0, p.cr3, p.cr4, p.rip) == (regs["cr0"], regs["cr3"], regs["cr4"], regs["rip"])

    return Vector(note.desc[:size], f"{X86_LINUX[0]} CPU 0 QEMU note", check)


@cache
def _boot_info() -> tuple[PhysicalMemory, int]:
    mem = _mem("seed-correct", "dump.kdump.xz")
    ram, why = scan_boot_info(mem)
    assert ram is not None, why
    m = re.search(r"boot information at PA (0x[0-9a-f]+)", ram.detail)
    assert m, ram.detail
    return mem, int(m.group(1), 16)


def _mmap_tag_at() -> tuple[PhysicalMemory, int, int]:
    mem, pa = _boot_info()
    total = int.from_bytes(mem.read(pa, 4), "little")
    pos = pa + 8
    while pos < pa + total:
        ttype, size = int.from_bytes(mem.read(pos, 4), "little"), int.from_bytes(mem.read(pos + 4, 4), "little")
        if ttype == 6:
            return mem, pos, size
        pos += (size + 7) & ~7
    raise AssertionError("no memory map tag")


def _truth_ram_map() -> list[tuple[int, int, int]]:
    return [
        (int(r["start"], 16), int(r["end"], 16), r["type"]) for r in load_truth(SAMPLES / "seed-correct")["ram_map"]
    ]


def v_boot_info_header() -> Vector:
    mem, pa = _boot_info()

    def check(p: Any) -> None:
        assert p.reserved == 0 and 16 <= p.total_size <= 64 << 10 and p.total_size % 8 == 0

    return Vector(mem.read(pa, 8), f"seed-correct Multiboot2 boot information at PA {pa:#x}", check)


def v_tag_header() -> Vector:
    mem, pos, size = _mmap_tag_at()

    def check(p: Any) -> None:
        assert (p.type, p.size) == (6, size)

    return Vector(mem.read(pos, 8), f"seed-correct memory map tag at PA {pos:#x}", check)


def v_mmap_tag_header() -> Vector:
    mem, pos, size = _mmap_tag_at()

    def check(p: Any) -> None:
        assert (p.type, p.entry_size, p.entry_version) == (6, 24, 0)
        assert (p.size - 16) // 24 == len(_truth_ram_map())

    return Vector(mem.read(pos, 16), f"seed-correct memory map tag at PA {pos:#x}", check)


def v_mmap_entry() -> Vector:
    mem, pos, _ = _mmap_tag_at()

    def check(p: Any) -> None:
        start, end, kind = _truth_ram_map()[0]
        assert (p.base_addr, p.base_addr + p.length, p.type) == (start, end, kind)

    return Vector(mem.read(pos + 16, 24), f"seed-correct first memory map entry at PA {pos + 16:#x}", check)


def v_mmap_tag() -> Vector:
    mem, pos, size = _mmap_tag_at()

    def check(p: Any) -> None:
        got = [(e.base_addr, e.base_addr + e.length, e.type) for e in p.entries]
        assert got == _truth_ram_map()  # the map QEMU's firmware gave, as recorded with the sample

    return Vector(mem.read(pos, size), f"seed-correct memory map tag at PA {pos:#x}", check)


def v_table_entry() -> Vector:
    entries = _entries(*SEED, SEED_TEXT_VA)  # PML4[511] -> PDPT
    pdpt_entry = _entries(*SEED, SEED_TEXT_VA)[1]

    def check(p: Any) -> None:
        assert p.p and not p.ps and p.address << 12 == (entries[0] & 0x000F_FFFF_FFFF_F000)
        assert pdpt_entry  # the table it points to is in the dump and was walked

    return Vector(_u64(entries[0]), "seed-correct PML4[511] (CR3 from QEMU)", check)


def v_pdpte_1g() -> Vector:
    tlb = _tlb("seed-1g-pages")
    va = 0xFFFF_8000_4000_0000
    entries = _entries("seed-1g-pages", "dump.kdump.xz", va)
    pa, flags = tlb[va]

    def check(p: Any) -> None:  # QEMU's info tlb: VA -> PA and its flags (X: execute-disable)
        assert p.ps and p.p and p.address << 30 == pa and p.xd == ("X" in flags) and p.rw == ("W" in flags)

    return Vector(_u64(entries[1]), f"seed-1g-pages PDPTE for VA {va:#x}", check)


def v_pde_2m() -> Vector:
    pa, flags = _tlb("seed-correct")[SEED_PMO_VA]
    entries = _entries(*SEED, SEED_PMO_VA)

    def check(p: Any) -> None:
        assert p.ps and p.address << 21 == pa and p.xd == ("X" in flags) and p.rw == ("W" in flags)

    return Vector(_u64(entries[2]), f"seed-correct PDE for VA {SEED_PMO_VA:#x}", check)


def v_pte_4k() -> Vector:
    pa, flags = _tlb("seed-correct")[SEED_TEXT_VA]
    entries = _entries(*SEED, SEED_TEXT_VA)

    def check(p: Any) -> None:
        assert p.p and p.address << 12 == pa and p.xd == ("X" in flags) and p.rw == ("W" in flags)

    return Vector(_u64(entries[3]), f"seed-correct PTE for VA {SEED_TEXT_VA:#x}", check)


def _arm_kernel_text() -> tuple[list[int], int]:
    """linux-arm64 (4 KiB granule): the entries mapping _stext, and its PA by VMCOREINFO (kimage_voffset)."""
    mem = _mem("linux-arm64", "dump.kdump")
    info = mem.vmcoreinfo or {}
    va = int(info["SYMBOL(_stext)"], 16)
    pa = va - int(info["NUMBER(kimage_voffset)"], 16)
    return _entries("linux-arm64", "dump.kdump", va), pa


def v_table_4k() -> Vector:
    entries, _ = _arm_kernel_text()

    def check(p: Any) -> None:
        assert p.valid and p.type and p.NSTable is False

    return Vector(_u64(entries[0]), "linux-arm64 level-0 entry for _stext", check)


def v_page_4k() -> Vector:
    entries, pa = _arm_kernel_text()

    def check(p: Any) -> None:  # kernel text: read-only, executable at EL1
        assert p.valid and p.type and p.AF and pa == p.OA << 12 and not p.PXN

    return Vector(_u64(entries[-1]), "linux-arm64 page descriptor for _stext", check)


def _arm_block(size: int) -> Vector:
    mem = _mem("linux-arm64", "dump.kdump")
    space = AddressSpace(mem, find_roots(mem)[0])
    m = next((m for m in space.walk() if m.page_size == size), None)
    if m is None:
        pytest.skip(f"linux-arm64 maps nothing with {size >> 20} MiB blocks")
    entry = space.translate(m.va_start).path[-1].entry
    shift = size.bit_length() - 1

    def check(p: Any) -> None:
        assert p.valid and not p.type and p.AF and p.OA << shift == m.pa_start

    return Vector(_u64(entry), f"linux-arm64 block descriptor for VA {m.va_start:#x}", check)


def v_block_2m() -> Vector:
    return _arm_block(2 << 20)


def v_block_1g() -> Vector:
    return _arm_block(1 << 30)


def v_tcr_el1() -> Vector:
    cpu = load_truth(SAMPLES / "linux-arm64-16k-52bit")["cpus"][0]
    info = load_truth(SAMPLES / "linux-arm64-16k-52bit")["vmcoreinfo_expect"]

    def check(p: Any) -> None:  # VMCOREINFO says TCR_EL1_T1SZ; TG1 0b01 is the 16 KiB granule
        assert int(info["NUMBER(TCR_EL1_T1SZ)"], 16) == p.T1SZ and p.TG1 == 0b01 and p.DS

    return Vector(_u64(int(cpu["tcr_el1"], 16)), "linux-arm64-16k-52bit CPU 0 TCR_EL1 (QEMU)", check)


def v_ttbr_el1() -> Vector:
    cpu = load_truth(SAMPLES / "linux-arm64-16k-52bit")["cpus"][0]
    info = load_truth(SAMPLES / "linux-arm64-16k-52bit")["vmcoreinfo_expect"]
    swapper_pa = int(info["SYMBOL(swapper_pg_dir)"], 16) - int(info["NUMBER(kimage_voffset)"], 16)
    value = int(cpu["ttbr1_el1"], 16)

    def check(p: Any) -> None:  # BADDR holds bits 47:1; with 52-bit PAs, bits 51:48 sit in 5:2
        baddr = p.BADDR << 1
        assert (baddr & ((1 << 48) - 1) & ~0x3F) == swapper_pa & ((1 << 48) - 1) and value >> 48 == p.ASID

    return Vector(_u64(value), "linux-arm64-16k-52bit CPU 0 TTBR1_EL1 (QEMU)", check)


RV = ("rvseed-sv39", "dump.elf.xz")


def _rv_satp() -> int:
    return _regs(RV[0])["satp"]


def _rv_leaf(size: int) -> tuple[int, int, int]:
    """(entry, VA, PA) of a leaf of ``size`` bytes in rvseed-sv39, walked from QEMU's satp."""
    mem = _mem(*RV)
    satp = _rv_satp()
    root = next(r for r in find_roots(mem) if r.table == (satp & ((1 << 44) - 1)) << 12)
    space = AddressSpace(mem, root)
    m = next((m for m in space.walk() if m.page_size == size), None)
    if m is None:
        pytest.skip(f"rvseed-sv39 maps nothing with {size >> 10} KiB pages")
    return space.translate(m.va_start).path[-1].entry, m.va_start, m.pa_start


def v_satp64() -> Vector:
    def check(p: Any) -> None:
        assert p.mode == 8  # Sv39, as the sample's name and boot say

    return Vector(_u64(_rv_satp()), "rvseed-sv39 hart 0 satp (QEMU)", check)


def v_table_pte() -> Vector:
    mem = _mem(*RV)
    top = (_rv_satp() & ((1 << 44) - 1)) << 12
    table = np.frombuffer(mem.read(top, 4096), dtype="<u8")
    entry = int(next(e for e in table if e & 1 and not e & 0xE))  # V, and R=W=X=0: a pointer

    def check(p: Any) -> None:
        assert p.v and not (p.r or p.w or p.x) and mem.is_present(p.ppn << 12)

    return Vector(_u64(entry), f"rvseed-sv39 root table at {top:#x}", check)


def _rv_vector(size: int) -> Vector:
    entry, va, pa = _rv_leaf(size)
    shift = {4096: 0, 2 << 20: 9, 1 << 30: 18}[size]

    def check(p: Any) -> None:
        assert p.v and (p.r or p.x) and p.ppn << (12 + shift) == pa

    return Vector(_u64(entry), f"rvseed-sv39 leaf for VA {va:#x}", check)


def v_pte_4k_riscv() -> Vector:
    return _rv_vector(4096)


def v_pte_2m_riscv() -> Vector:
    return _rv_vector(2 << 20)


def v_pte_1g_riscv() -> Vector:
    return _rv_vector(1 << 30)


VECTORS: dict[str, tuple[Any, Callable[[], Vector]]] = {
    "kdump.disk_dump_header": (kdump.disk_dump_header, v_disk_dump_header),
    "kdump.kdump_sub_header": (kdump.kdump_sub_header, v_kdump_sub_header),
    "kdump.page_desc": (kdump.page_desc, v_page_desc),
    "kdump.flat_header": (kdump.flat_header, v_flat_header),
    "kdump.flat_record_header": (kdump.flat_record_header, v_flat_record_header),
    "lime.lime_range_header": (lime.lime_range_header, v_lime_range_header),
    "elf_core.elf64_ehdr": (elf_core.elf64_ehdr, v_elf64_ehdr),
    "elf_core.elf64_phdr": (elf_core.elf64_phdr, v_elf64_phdr),
    "elf_notes.note_header": (elf_notes.note_header, v_note_header),
    "elf_notes.note_record": (elf_notes.note_record, v_note_record),
    "elf_notes.prstatus_x86_64": (elf_notes.prstatus_x86_64, v_prstatus_x86_64),
    "elf_notes.prstatus_aarch64": (elf_notes.prstatus_aarch64, v_prstatus_aarch64),
    "elf_notes.prstatus_riscv64": (elf_notes.prstatus_riscv64, v_prstatus_riscv64),
    "elf_notes.qemu_cpu_state_x86_64": (elf_notes.qemu_cpu_state_x86_64, v_qemu_cpu_state_x86_64),
    "multiboot2.boot_info_header": (multiboot2.boot_info_header, v_boot_info_header),
    "multiboot2.tag_header": (multiboot2.tag_header, v_tag_header),
    "multiboot2.mmap_entry": (multiboot2.mmap_entry, v_mmap_entry),
    "multiboot2.mmap_tag_header": (multiboot2.mmap_tag_header, v_mmap_tag_header),
    "multiboot2.mmap_tag": (multiboot2.mmap_tag, v_mmap_tag),
    "x86_64_entry.table_entry": (x86_64_entry.table_entry, v_table_entry),
    "x86_64_entry.pdpte_1g": (x86_64_entry.pdpte_1g, v_pdpte_1g),
    "x86_64_entry.pde_2m": (x86_64_entry.pde_2m, v_pde_2m),
    "x86_64_entry.pte_4k": (x86_64_entry.pte_4k, v_pte_4k),
    "aarch64_desc.table_4k": (aarch64_desc.table_4k, v_table_4k),
    "aarch64_desc.page_4k": (aarch64_desc.page_4k, v_page_4k),
    "aarch64_desc.block_2m": (aarch64_desc.block_2m, v_block_2m),
    "aarch64_desc.block_1g": (aarch64_desc.block_1g, v_block_1g),
    "aarch64_sysreg.tcr_el1": (aarch64_sysreg.tcr_el1, v_tcr_el1),
    "aarch64_sysreg.ttbr_el1": (aarch64_sysreg.ttbr_el1, v_ttbr_el1),
    "riscv_pte.satp64": (riscv_pte.satp64, v_satp64),
    "riscv_pte.table_pte": (riscv_pte.table_pte, v_table_pte),
    "riscv_pte.pte_4k": (riscv_pte.pte_4k, v_pte_4k_riscv),
    "riscv_pte.pte_2m": (riscv_pte.pte_2m, v_pte_2m_riscv),
    "riscv_pte.pte_1g": (riscv_pte.pte_1g, v_pte_1g_riscv),
}


def _declared_structs() -> set[str]:
    """Every module-level Construct a ``parsers`` module declares (not the ones it imports)."""
    out = set()
    for info in pkgutil.iter_modules(parsers.__path__):
        mod = importlib.import_module(f"parsers.{info.name}")
        for name, value in vars(mod).items():
            public = not name.startswith("_")  # a private piece (a struct inside a struct) is covered by its user
            if public and isinstance(value, construct.Construct) and getattr(construct, name, None) is not value:
                out.add(f"{info.name}.{name}")
    return out


def test_every_struct_has_a_real_vector() -> None:
    assert _declared_structs() == set(VECTORS)


@pytest.mark.parametrize("name", sorted(VECTORS))
def test_real_vector_parses_as_its_source_says_and_builds_back(name: str) -> None:
    struct, make = VECTORS[name]
    vector = make()
    parsed = struct.parse(vector.data)
    vector.check(parsed)
    assert struct.build(parsed) == vector.data, f"{name} does not rebuild the bytes of {vector.where}"

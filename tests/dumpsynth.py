"""Synthetic dump files built with the same Construct definitions the parsers use."""

from __future__ import annotations

import zlib

from parsers.elf_core import EM_AARCH64, EM_RISCV, EM_X86_64, ET_CORE, PT_LOAD, PT_NOTE, elf64_ehdr, elf64_phdr
from parsers.elf_notes import (
    AARCH64_USER_REGS,
    NT_PRSTATUS,
    QEMU_CPU_STATE_MIN,
    QEMU_GPRS,
    QEMU_SEGMENTS,
    X86_64_USER_REGS,
    build_note,
    prstatus_aarch64,
    prstatus_x86_64,
    qemu_cpu_state_x86_64,
)
from parsers.kdump import (
    DUMP_DH_COMPRESSED_ZLIB,
    FLAT_SIGNATURE,
    build_utsname,
    disk_dump_header,
    flat_header,
    flat_record_header,
    kdump_sub_header,
    page_desc,
)
from parsers.lime import lime_range_header


def prstatus_note(arch: str = "x86_64", pid: int = 1, **regs: int) -> bytes:
    names = X86_64_USER_REGS if arch == "x86_64" else AARCH64_USER_REGS
    struct = prstatus_x86_64 if arch == "x86_64" else prstatus_aarch64
    desc = struct.build(
        dict(
            si_signo=0,
            si_code=0,
            si_errno=0,
            pr_cursig=0,
            pr_sigpend=0,
            pr_sighold=0,
            pr_pid=pid,
            pr_ppid=0,
            pr_pgrp=0,
            pr_sid=0,
            pr_reg={n: regs.get(n, 0) for n in names},
            pr_fpvalid=0,
        )
    )
    return build_note("CORE", NT_PRSTATUS, desc)


def qemu_note(cr0: int = 0x80050033, cr3: int = 0, cr4: int = 0x20, extra: bytes = b"\0" * 8, **regs: int) -> bytes:
    seg = dict(selector=0, limit=0, flags=0, pad=0, base=0)
    fields: dict[str, object] = {n: regs.get(n, 0) for n in QEMU_GPRS}
    fields.update({n: seg for n in QEMU_SEGMENTS})
    fields.update(cr0=cr0, cr1=0, cr2=0, cr3=cr3, cr4=cr4, version=1, size=QEMU_CPU_STATE_MIN + len(extra))
    return build_note("QEMU", 0, qemu_cpu_state_x86_64.build(fields) + extra)


def vmcoreinfo_note(text: str) -> bytes:
    return build_note("VMCOREINFO", 0, text.encode())


def elf_core(segments: list[tuple[int, bytes]], notes: bytes = b"", arch: str = "x86_64") -> bytes:
    """An ELF core with one PT_NOTE (if any notes) and one PT_LOAD per (pa, data)."""
    phdrs = ([(PT_NOTE, 0, notes)] if notes else []) + [(PT_LOAD, pa, data) for pa, data in segments]
    phoff = elf64_ehdr.sizeof()
    offset = phoff + len(phdrs) * elf64_phdr.sizeof()
    head = elf64_ehdr.build(
        dict(
            e_type=ET_CORE,
            e_machine={"x86_64": EM_X86_64, "riscv64": EM_RISCV}.get(arch, EM_AARCH64),
            e_version=1,
            e_entry=0,
            e_phoff=phoff,
            e_shoff=0,
            e_flags=0,
            e_ehsize=elf64_ehdr.sizeof(),
            e_phentsize=elf64_phdr.sizeof(),
            e_phnum=len(phdrs),
            e_shentsize=0,
            e_shnum=0,
            e_shstrndx=0,
        )
    )
    table, body = b"", b""
    for p_type, pa, data in phdrs:
        table += elf64_phdr.build(
            dict(
                p_type=p_type,
                p_flags=0,
                p_offset=offset + len(body),
                p_vaddr=0,
                p_paddr=pa,
                p_filesz=len(data),
                p_memsz=len(data),
                p_align=0,
            )
        )
        body += data
    return head + table + body


def kdump(
    pages: dict[int, bytes],
    block_size: int = 4096,
    notes: bytes = b"",
    vmcoreinfo: bytes = b"",
    max_mapnr: int | None = None,
    compress: bool = True,
    machine: str = "x86_64",
    version: int = 6,
    phys_base: int = 0,
    valid: set[int] | None = None,
    level: int = 1,
) -> bytes:
    """A plain diskdump file holding ``pages`` ({pfn: block bytes}) as makedumpfile lays it out.
    ``valid``: the pfns of bitmap 1 (pages that existed; default: the dumped ones)."""
    max_mapnr = max_mapnr if max_mapnr is not None else (max(pages) + 1 if pages else 1)
    bitmap_len = -(-((max_mapnr + 7) // 8) // block_size) * block_size
    bitmap_blocks = 2 * bitmap_len // block_size
    bitmap = bytearray(bitmap_len)
    for pfn in pages:
        bitmap[pfn // 8] |= 1 << (pfn % 8)
    bitmap1 = bytearray(bitmap) if valid is None else bytearray(bitmap_len)
    for pfn in valid or ():
        bitmap1[pfn // 8] |= 1 << (pfn % 8)
    sub_hdr_blocks = 1
    extra_off = (1 + sub_hdr_blocks) * block_size  # notes/vmcoreinfo live after the sub-header struct
    sub_hdr_blocks = 1 + -(-(len(notes) + len(vmcoreinfo)) // block_size)
    desc_off = (1 + sub_hdr_blocks + bitmap_blocks) * block_size
    data_off = desc_off + len(pages) * page_desc.sizeof()
    descs, data = b"", b""
    for pfn in sorted(pages):
        raw = pages[pfn]
        assert len(raw) == block_size
        body = zlib.compress(raw) if compress else raw
        flags = DUMP_DH_COMPRESSED_ZLIB if compress and len(body) < block_size else 0
        if not flags:
            body = raw
        descs += page_desc.build(dict(offset=data_off + len(data), size=len(body), flags=flags, page_flags=0))
        data += body
    header = disk_dump_header.build(
        dict(
            header_version=version,
            utsname=build_utsname("6.1.0-test", machine),
            timestamp_sec=0,
            timestamp_usec=0,
            status=DUMP_DH_COMPRESSED_ZLIB,
            block_size=block_size,
            sub_hdr_size=sub_hdr_blocks,
            bitmap_blocks=bitmap_blocks,
            max_mapnr=min(max_mapnr, 0xFFFFFFFF),
            total_ram_blocks=0,
            device_blocks=0,
            written_blocks=0,
            current_cpu=0,
            nr_cpus=1,
        )
    )
    sub = kdump_sub_header.build(
        dict(
            phys_base=phys_base,
            dump_level=level,
            split=0,
            start_pfn=0,
            end_pfn=max_mapnr,
            offset_vmcoreinfo=extra_off + len(notes) if vmcoreinfo else 0,
            size_vmcoreinfo=len(vmcoreinfo),
            offset_note=extra_off if notes else 0,
            size_note=len(notes),
            offset_eraseinfo=0,
            size_eraseinfo=0,
            start_pfn_64=0,
            end_pfn_64=max_mapnr,
            max_mapnr_64=max_mapnr,
        )
    )
    out = bytearray(desc_off)
    out[0 : len(header)] = header
    out[block_size : block_size + len(sub)] = sub
    out[extra_off : extra_off + len(notes)] = notes
    out[extra_off + len(notes) : extra_off + len(notes) + len(vmcoreinfo)] = vmcoreinfo
    bm = (1 + sub_hdr_blocks) * block_size
    out[bm : bm + bitmap_len] = bitmap1
    out[bm + bitmap_len : bm + 2 * bitmap_len] = bitmap
    return bytes(out) + descs + data


def flatten(plain: bytes, chunk: int = 4096) -> bytes:
    """makedumpfile's flattened stream of a plain file, written in ``chunk``-sized records."""
    out = [flat_header.build(dict(type=1, version=1))]
    for off in range(0, len(plain), chunk):
        piece = plain[off : off + chunk]
        out.append(flat_record_header.build(dict(offset=off, buf_size=len(piece))) + piece)
    out.append(flat_record_header.build(dict(offset=-1, buf_size=-1)))
    return b"".join(out)


def lime(ranges: list[tuple[int, bytes]]) -> bytes:
    return b"".join(lime_range_header.build(dict(version=1, s_addr=pa, e_addr=pa + len(d) - 1)) + d for pa, d in ranges)


assert FLAT_SIGNATURE

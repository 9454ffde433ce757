"""ELF note records and the notes a kernel dump carries.

Sources: the ELF gABI (note section layout), Linux ``include/uapi/linux/elfcore.h``
(``struct elf_prstatus``), ``arch/x86/include/asm/user_64.h`` (``user_regs_struct``),
``arch/arm64/include/uapi/asm/ptrace.h`` (``user_pt_regs``),
``arch/riscv/include/uapi/asm/ptrace.h`` (``user_regs_struct``), QEMU ``target/i386/arch_dump.c``
(``QEMUCPUState``, note name ``QEMU``) and ``kernel/crash_core.c`` (VMCOREINFO text).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from construct import Aligned, Bytes, Int32ul, Int64ul, PaddedString, Padding, Struct, this

from parsers.errors import DumpFormatError

NT_PRSTATUS = 1
NOTE_NAME_CORE = "CORE"
NOTE_NAME_QEMU = "QEMU"
NOTE_NAME_VMCOREINFO = "VMCOREINFO"

# One note record (little-endian, 4-byte aligned name and desc as on x86_64 and aarch64).
note_record = Struct(
    "n_namesz" / Int32ul,
    "n_descsz" / Int32ul,
    "n_type" / Int32ul,
    "name" / Aligned(4, PaddedString(this.n_namesz, "ascii")),
    "desc" / Aligned(4, Bytes(this.n_descsz)),
)
note_header = Struct("n_namesz" / Int32ul, "n_descsz" / Int32ul, "n_type" / Int32ul)

X86_64_USER_REGS = (
    "r15",
    "r14",
    "r13",
    "r12",
    "rbp",
    "rbx",
    "r11",
    "r10",
    "r9",
    "r8",
    "rax",
    "rcx",
    "rdx",
    "rsi",
    "rdi",
    "orig_rax",
    "rip",
    "cs",
    "eflags",
    "rsp",
    "ss",
    "fs_base",
    "gs_base",
    "ds",
    "es",
    "fs",
    "gs",
)
AARCH64_USER_REGS = tuple(f"x{i}" for i in range(31)) + ("sp", "pc", "pstate")
# RISC-V ``struct user_regs_struct`` (arch/riscv/include/uapi/asm/ptrace.h): pc, then x1..x31 by ABI name.
# QEMU's target/riscv/arch_dump.c writes only this note per hart: no CSR (satp, sstatus) is recorded.
RISCV64_USER_REGS = ("pc", "ra", "sp", "gp", "tp", "t0", "t1", "t2", "s0", "s1") + tuple(f"a{i}" for i in range(8))
RISCV64_USER_REGS += tuple(f"s{i}" for i in range(2, 12)) + ("t3", "t4", "t5", "t6")


def elf_prstatus(regs: tuple[str, ...]) -> Struct:
    """``struct elf_prstatus`` for a 64-bit Linux architecture with the given ``pr_reg`` layout."""
    return Struct(
        "si_signo" / Int32ul,
        "si_code" / Int32ul,
        "si_errno" / Int32ul,
        "pr_cursig" / Int32ul,  # short + 2 bytes of padding
        "pr_sigpend" / Int64ul,
        "pr_sighold" / Int64ul,
        "pr_pid" / Int32ul,
        "pr_ppid" / Int32ul,
        "pr_pgrp" / Int32ul,
        "pr_sid" / Int32ul,
        Padding(64),  # pr_utime, pr_stime, pr_cutime, pr_cstime: four struct timeval
        "pr_reg" / Struct(*[name / Int64ul for name in regs]),
        "pr_fpvalid" / Int32ul,
        Padding(4),
    )


prstatus_x86_64 = elf_prstatus(X86_64_USER_REGS)
prstatus_aarch64 = elf_prstatus(AARCH64_USER_REGS)
prstatus_riscv64 = elf_prstatus(RISCV64_USER_REGS)
PRSTATUS = {"x86_64": prstatus_x86_64, "aarch64": prstatus_aarch64, "riscv64": prstatus_riscv64}

_segment = Struct("selector" / Int32ul, "limit" / Int32ul, "flags" / Int32ul, "pad" / Int32ul, "base" / Int64ul)
QEMU_GPRS = (
    "rax",
    "rbx",
    "rcx",
    "rdx",
    "rsi",
    "rdi",
    "rsp",
    "rbp",
    "r8",
    "r9",
    "r10",
    "r11",
    "r12",
    "r13",
    "r14",
    "r15",
    "rip",
    "rflags",
)
QEMU_SEGMENTS = ("cs", "ds", "es", "fs", "gs", "ss", "ldt", "tr", "gdt", "idt")
# QEMUCPUState up to cr[5]; later QEMU versions append fields and grow ``size``.
qemu_cpu_state_x86_64 = Struct(
    "version" / Int32ul,
    "size" / Int32ul,
    *[name / Int64ul for name in QEMU_GPRS],
    *[name / _segment for name in QEMU_SEGMENTS],
    "cr0" / Int64ul,
    "cr1" / Int64ul,
    "cr2" / Int64ul,
    "cr3" / Int64ul,
    "cr4" / Int64ul,
)
QEMU_CPU_STATE_MIN = qemu_cpu_state_x86_64.sizeof()
QEMU_KERNEL_GS_BASE_OFFSET = QEMU_CPU_STATE_MIN


@dataclass(frozen=True)
class Note:
    """One ELF note: owner name, type and descriptor bytes."""

    name: str
    type: int
    desc: bytes
    offset: int  # file offset of the record, for error messages


@dataclass(frozen=True)
class CpuRegisters:
    """Registers decoded from one note; names are lowercase as the architecture manuals spell them."""

    source: str
    regs: Mapping[str, int]


def iter_notes(data: bytes | memoryview, base_offset: int = 0, path: str = "<bytes>") -> list[Note]:
    """Decode the note records in ``data`` (a PT_NOTE segment); sizes are checked against ``data``."""
    notes: list[Note] = []
    pos = 0
    end = len(data)
    while pos + 12 <= end:
        hdr = note_header.parse(bytes(data[pos : pos + 12]))
        if hdr.n_namesz == 0 and hdr.n_descsz == 0 and hdr.n_type == 0:
            break  # zero padding after the last note
        name_len = _align4(hdr.n_namesz)
        desc_len = _align4(hdr.n_descsz)
        if pos + 12 + name_len + hdr.n_descsz > end:
            raise DumpFormatError(
                path,
                base_offset + pos,
                "an ELF note within its PT_NOTE segment",
                f"namesz {hdr.n_namesz} descsz {hdr.n_descsz} past the segment end",
            )
        name = bytes(data[pos + 12 : pos + 12 + hdr.n_namesz]).split(b"\0", 1)[0].decode("ascii", "replace")
        desc_start = pos + 12 + name_len
        notes.append(Note(name, hdr.n_type, bytes(data[desc_start : desc_start + hdr.n_descsz]), base_offset + pos))
        pos = desc_start + desc_len
    return notes


def _align4(n: int) -> int:
    return (n + 3) & ~3


def decode_prstatus(note: Note, arch: str, path: str = "<bytes>") -> CpuRegisters:
    struct = PRSTATUS.get(arch, prstatus_aarch64)
    if len(note.desc) < struct.sizeof():
        raise DumpFormatError(
            path, note.offset, f"an NT_PRSTATUS note of {struct.sizeof()} bytes for {arch}", f"{len(note.desc)} bytes"
        )
    parsed = struct.parse(note.desc[: struct.sizeof()])
    regs = {k: v for k, v in parsed.pr_reg.items() if not k.startswith("_")}
    regs["pid"] = parsed.pr_pid
    return CpuRegisters("NT_PRSTATUS", MappingProxyType(regs))


def decode_qemu_cpu_state(note: Note, path: str = "<bytes>") -> CpuRegisters:
    """QEMU's per-CPU state note (x86). Parsed by its own ``size`` field: it grows between QEMU versions."""
    if len(note.desc) < QEMU_CPU_STATE_MIN:
        raise DumpFormatError(
            path,
            note.offset,
            f"a QEMU CPU-state note of at least {QEMU_CPU_STATE_MIN} bytes",
            f"{len(note.desc)} bytes",
        )
    parsed = qemu_cpu_state_x86_64.parse(note.desc[:QEMU_CPU_STATE_MIN])
    regs: dict[str, int] = {name: parsed[name] for name in QEMU_GPRS}
    for name in QEMU_SEGMENTS:
        regs[f"{name}_base"] = parsed[name].base
        if name not in ("gdt", "idt"):
            regs[name] = parsed[name].selector
        else:
            regs[f"{name}_limit"] = parsed[name].limit
    for i in range(5):
        regs[f"cr{i}"] = parsed[f"cr{i}"]
    declared = min(parsed.size, len(note.desc))
    if declared >= QEMU_KERNEL_GS_BASE_OFFSET + 8:
        regs["kernel_gs_base"] = Int64ul.parse(note.desc[QEMU_KERNEL_GS_BASE_OFFSET : QEMU_KERNEL_GS_BASE_OFFSET + 8])
    return CpuRegisters(f"QEMU CPU state v{parsed.version}", MappingProxyType(regs))


def decode_vmcoreinfo(text: bytes) -> dict[str, str]:
    """VMCOREINFO is ``KEY=VALUE`` lines; values are kept as text (encodings differ per key)."""
    out: dict[str, str] = {}
    for raw in text.split(b"\n"):
        line = raw.rstrip(b"\0\r").decode("ascii", "replace")
        if "=" in line:
            key, _, value = line.partition("=")
            out[key.strip()] = value.strip()
    return out


def build_note(name: str, n_type: int, desc: bytes) -> bytes:
    """Build one note record (used by tests to make synthetic dumps)."""
    raw_name = name.encode("ascii") + b"\0"
    return bytes(
        note_record.build(dict(n_namesz=len(raw_name), n_descsz=len(desc), n_type=n_type, name=name, desc=desc))
    )

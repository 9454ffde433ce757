"""Write a synthetic x86_64 ELF core whose page tables map ``--gib`` GiB of RAM at the Linux direct
map (0xffff888000000000) with 4 KiB pages, for whole-process benchmarks of large trees.

    PYTHONPATH=. python benchmarks/make_synthetic.py /tmp/dm-256g.elf --gib 256
    PYTHONPATH=. python benchmarks/make_synthetic.py /tmp/alt-4g.elf --gib 4 --alternate --base-va 0xffff800000000000

The file holds the tables only (``--gib`` x 2 MiB of PTs, streamed to disk: 1 TiB writes 2 GiB); the
RAM above them is a PT_LOAD with ``p_filesz`` 0 (implicit zeros), so every leaf is backed. A QEMU
CPU-state note names CR3. ``--alternate`` makes every other page read-only (a direct map that was
split page by page: no two leaves merge). Headers are built with the parsers' Construct structs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from dumpsynth import qemu_note  # noqa: E402

from parsers.elf_core import EM_X86_64, ET_CORE, PT_LOAD, PT_NOTE, elf64_ehdr, elf64_phdr  # noqa: E402

PAGE = 4096
DIRECT_MAP = 0xFFFF_8880_0000_0000
PML4 = 0x1000
PDPT0 = 0x2000  # one PDPT per 512 GiB
PD0 = 0x10_0000  # one PD per GiB (1 TiB: 4 MiB of PDs)
P_PRESENT, P_RW, P_ACCESSED, P_DIRTY, P_GLOBAL, P_NX = 1, 2, 0x20, 0x40, 0x100, 1 << 63
TABLE_FLAGS = P_PRESENT | P_RW | P_ACCESSED | P_DIRTY


def layout(gib: int) -> tuple[int, int]:
    """PA of the first PT and the end of the tables."""
    pt0 = PD0 + max(gib * PAGE, 0x40_0000)
    return pt0, pt0 + gib * 512 * PAGE


def write(path: str, gib: int, alternate: bool, base_va: int = DIRECT_MAP) -> dict[str, int]:
    if (base_va >> 30) & 511 or base_va & ((1 << 30) - 1):
        raise SystemExit("the base VA must be 512 GiB aligned")
    pt0, tables_end = layout(gib)
    ram = gib << 30
    if tables_end > ram:
        raise SystemExit(f"{gib} GiB is too small to hold its own tables")
    notes = qemu_note(cr3=PML4, cr4=0x20)
    phoff = elf64_ehdr.sizeof()
    data_off = phoff + 3 * elf64_phdr.sizeof()
    note_off = data_off
    load_off = (note_off + len(notes) + PAGE - 1) // PAGE * PAGE
    head = elf64_ehdr.build(
        dict(
            e_type=ET_CORE,
            e_machine=EM_X86_64,
            e_version=1,
            e_entry=0,
            e_phoff=phoff,
            e_shoff=0,
            e_flags=0,
            e_ehsize=elf64_ehdr.sizeof(),
            e_phentsize=elf64_phdr.sizeof(),
            e_phnum=3,
            e_shentsize=0,
            e_shnum=0,
            e_shstrndx=0,
        )
    )

    def phdr(p_type: int, off: int, pa: int, filesz: int, memsz: int) -> bytes:
        return bytes(
            elf64_phdr.build(
                dict(
                    p_type=p_type,
                    p_flags=0,
                    p_offset=off,
                    p_vaddr=0,
                    p_paddr=pa,
                    p_filesz=filesz,
                    p_memsz=memsz,
                    p_align=0,
                )
            )
        )

    leaf = P_PRESENT | P_RW | P_ACCESSED | P_DIRTY | P_GLOBAL | P_NX
    with open(path, "wb") as fh:
        fh.write(head)
        fh.write(phdr(PT_NOTE, note_off, 0, len(notes), len(notes)))
        fh.write(phdr(PT_LOAD, load_off, 0, tables_end, tables_end))
        fh.write(phdr(PT_LOAD, 0, tables_end, 0, ram - tables_end))
        fh.write(notes)
        fh.seek(load_off)
        low = np.zeros(PD0 // 8, dtype="<u8")  # PA 0 .. PD0: PML4 and PDPTs
        n_pdpt = (gib + 511) // 512
        top = PML4 // 8 + (base_va >> 39) % 512
        low[top : top + n_pdpt] = np.arange(n_pdpt, dtype=np.uint64) * np.uint64(PAGE) + np.uint64(PDPT0 | TABLE_FLAGS)
        first = PDPT0 // 8  # the map starts at PDPT index 0
        low[first : first + gib] = np.arange(gib, dtype=np.uint64) * np.uint64(PAGE) + np.uint64(PD0 | TABLE_FLAGS)
        fh.write(low.tobytes())
        pds = np.zeros((pt0 - PD0) // 8, dtype="<u8")
        pds[: gib * 512] = np.arange(gib * 512, dtype=np.uint64) * np.uint64(PAGE) + np.uint64(pt0 | TABLE_FLAGS)
        fh.write(pds.tobytes())
        flags = np.full(512, leaf, dtype=np.uint64)
        if alternate:
            flags[1::2] &= ~np.uint64(P_RW)
        step = 512  # PTs per write: 2 MiB of tables, 1 GiB of RAM
        for g in range(gib):
            frames = (np.arange(step * 512, dtype=np.uint64) + np.uint64(g * step * 512)) * np.uint64(PAGE)
            fh.write((frames.reshape(step, 512) | flags).tobytes())
    return {"gib": gib, "leaves": gib << 18, "page_tables": gib * 512 + gib + n_pdpt + 1, "file_bytes": tables_end}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("path")
    ap.add_argument("--gib", type=int, default=4, help="RAM mapped (GiB); 4 KiB pages: 262144 leaves per GiB")
    ap.add_argument("--alternate", action="store_true", help="every other page read-only (nothing merges)")
    ap.add_argument(
        "--base-va",
        type=lambda t: int(t, 0),
        default=DIRECT_MAP,
        help="VA of PA 0 (default: Linux's 0xffff888000000000; the seed design's PMO is 0xffff800000000000)",
    )
    args = ap.parse_args()
    print(write(args.path, args.gib, args.alternate, args.base_va))
    return 0


if __name__ == "__main__":
    sys.exit(main())

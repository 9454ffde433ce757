#!/usr/bin/env python3
"""Cut a real kdump down to its page tables, recording the cut (keeps the repo under its size budget).

    PYTHONPATH=. python sample_dumps/linux/cut_dump.py sample_dumps/<guest>/dump.kdump

Keeps: every page-table page reachable from every root candidate (each CPU's CR3 and VMCOREINFO's
init_top_pgt; on arm64 VMCOREINFO's swapper_pg_dir and each CPU's TTBR0_EL1/TTBR1_EL1 with its
TCR_EL1 as truth.json records them), and the first 1 MiB. Whole dump blocks are kept (QEMU writes
64 KiB blocks for arm64). Everything else is filtered out the way makedumpfile filters:
bitmap 1 still lists every page the guest had, bitmap 2 only the kept ones, so readers can tell
"excluded" from "never existed". Notes and VMCOREINFO are copied byte for byte. The result is a
plain (not flattened) diskdump written with the same Construct definitions pmoview parses; the
original is replaced and the cut is recorded in truth.json under "cut".
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import dumpsynth  # noqa: E402

from pmoview.arch import Root  # noqa: E402
from pmoview.memory import PhysicalMemory, Range, open_dump  # noqa: E402
from pmoview.memory.kdump import KdumpMemory  # noqa: E402
from pmoview.roots import RootOptions, find_roots  # noqa: E402
from pmoview.space import AddressSpace  # noqa: E402


class Recording(PhysicalMemory):
    def __init__(self, inner: PhysicalMemory) -> None:
        self.inner, self.path, self.format, self.file_size, self.info = inner, inner.path, inner.format, 0, inner.info
        self.seen: set[int] = set()

    def ranges(self) -> list[Range]:
        return self.inner.ranges()

    def read_page(self, pa: int) -> bytes | None:
        self.seen.add(pa)
        return self.inner.read_page(pa)

    def close(self) -> None:
        self.inner.close()


def truth_roots(mem: PhysicalMemory, truth: dict[str, object]) -> list[Root]:
    """Roots from the CPU registers truth.json recorded (arm64: TTBRn_EL1 with TCR_EL1)."""
    out: list[Root] = []
    cpus = truth.get("cpus")
    for cpu in cpus if isinstance(cpus, list) else []:
        ttbr0, ttbr1, tcr = (cpu.get(k) for k in ("ttbr0_el1", "ttbr1_el1", "tcr_el1"))
        if tcr and (ttbr0 or ttbr1):
            opt = RootOptions(
                arch="aarch64",
                ttbr0=int(ttbr0, 16) if ttbr0 else None,
                ttbr1=int(ttbr1, 16) if ttbr1 else None,
                tcr=int(tcr, 16),
            )
            out += find_roots(mem, None, opt)
    return out


def main(path: str) -> None:
    mem = open_dump(path)
    assert isinstance(mem, KdumpMemory), "a kdump"
    bs = mem.block_size
    truth_path = Path(path).parent / "truth.json"
    truth = json.loads(truth_path.read_text())
    rec = Recording(mem)
    for root in find_roots(mem) + truth_roots(mem, truth):
        AddressSpace(rec, root).walk()
    blocks = {pa // bs for pa in rec.seen} | {pa // bs for pa in range(0, 1 << 20, bs)}
    pages = {}
    for pfn in sorted(blocks):
        parts = [mem.read_page(pfn * bs + off) for off in range(0, bs, 4096)]
        if all(p is not None for p in parts):
            pages[pfn] = b"".join(p for p in parts if p is not None)
    valid = {pfn for r in mem.valid_ranges() for pfn in range(r.start // bs, r.end // bs)}
    h = mem.header
    notes = mem.file.read(h.offset_note, h.size_note, "notes") if h.size_note else b""
    vmci = mem.file.read(h.offset_vmcoreinfo, h.size_vmcoreinfo, "vmcoreinfo") if h.size_vmcoreinfo else b""
    before = mem.file_size, len(mem.ranges()), sum(r.size for r in mem.ranges()) // bs
    machine = "aarch64" if mem.arch == "aarch64" else "x86_64"
    data = dumpsynth.kdump(
        pages,
        block_size=bs,
        notes=notes,
        vmcoreinfo=vmci,
        max_mapnr=h.max_mapnr,
        phys_base=h.phys_base,
        valid=valid,
        level=31,
        machine=machine,
    )
    mem.close()
    out = Path(path)
    out.write_bytes(data)
    truth["cut"] = {
        "from": f"QEMU dump-guest-memory kdump-zlib (flattened), {before[0]} bytes, {before[2]} blocks dumped",
        "kept": "page-table pages reachable from every root candidate (and from each CPU's TTBRs in truth.json), "
        "and the first 1 MiB, as whole dump blocks",
        "block_size": bs,
        "pages_kept": len(pages),
        "format": "plain diskdump; bitmap 1 = every page the guest had, bitmap 2 = kept pages",
        "tool": "sample_dumps/linux/cut_dump.py",
    }
    truth_path.write_text(json.dumps(truth, indent=2) + "\n")
    print(f"{path}: kept {len(pages)} of {before[2]} blocks of {bs} bytes, {before[0]} -> {len(data)} bytes")


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        main(arg)

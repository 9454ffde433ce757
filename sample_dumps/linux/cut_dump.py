#!/usr/bin/env python3
"""Cut a real kdump down to its page tables, recording the cut (keeps the repo under its size budget).

    PYTHONPATH=. python sample_dumps/linux/cut_dump.py sample_dumps/<guest>/dump.kdump

Keeps: every page-table page reachable from every root candidate (each CPU's CR3 and VMCOREINFO's
init_top_pgt), and the first 1 MiB. Everything else is filtered out the way makedumpfile filters:
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

from pmoview.memory import PhysicalMemory, Range, open_dump  # noqa: E402
from pmoview.memory.kdump import KdumpMemory  # noqa: E402
from pmoview.roots import find_roots  # noqa: E402
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


def main(path: str) -> None:
    mem = open_dump(path)
    assert isinstance(mem, KdumpMemory) and mem.block_size == 4096, "x86 kdump with 4 KiB blocks only"
    rec = Recording(mem)
    for root in find_roots(mem):
        AddressSpace(rec, root).walk()
    keep = {pa for pa in rec.seen if mem.read_page(pa) is not None} | set(range(0, 1 << 20, 4096))
    pages = {pa // 4096: mem.read_page(pa) for pa in sorted(keep) if mem.read_page(pa) is not None}
    valid = {pfn for r in mem.valid_ranges() for pfn in range(r.start // 4096, r.end // 4096)}
    h = mem.header
    notes = mem.file.read(h.offset_note, h.size_note, "notes") if h.size_note else b""
    vmci = mem.file.read(h.offset_vmcoreinfo, h.size_vmcoreinfo, "vmcoreinfo") if h.size_vmcoreinfo else b""
    before = mem.file_size, len(mem.ranges()), sum(r.size for r in mem.ranges()) // 4096
    data = dumpsynth.kdump(
        pages, notes=notes, vmcoreinfo=vmci, max_mapnr=h.max_mapnr, phys_base=h.phys_base, valid=valid, level=31
    )
    mem.close()
    out = Path(path)
    out.write_bytes(data)
    truth_path = out.parent / "truth.json"
    truth = json.loads(truth_path.read_text())
    truth["cut"] = {
        "from": f"QEMU dump-guest-memory kdump-zlib (flattened), {before[0]} bytes, {before[2]} pages dumped",
        "kept": "page-table pages reachable from every root candidate, and the first 1 MiB",
        "pages_kept": len(pages),
        "format": "plain diskdump; bitmap 1 = every page the guest had, bitmap 2 = kept pages",
        "tool": "sample_dumps/linux/cut_dump.py",
    }
    truth_path.write_text(json.dumps(truth, indent=2) + "\n")
    print(f"{path}: kept {len(pages)} of {before[2]} pages, {before[0]} -> {len(data)} bytes")


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        main(arg)

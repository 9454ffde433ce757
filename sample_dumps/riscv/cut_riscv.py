#!/usr/bin/env python3
"""Cut a QEMU RISC-V ELF dump down to its page tables, recording the cut in truth.json.

    PYTHONPATH=. python sample_dumps/riscv/cut_riscv.py sample_dumps/<guest>/dump.elf.xz

Keeps every page-table page reachable from each hart's satp (truth.json ``harts``) and from every root
the validated scan finds, and the notes (rebuilt note by note: same names, types and contents). The
result is a plain diskdump (machine riscv64, xz-compressed) written with the Construct definitions
pmoview parses, filtered the way makedumpfile filters: bitmap 1 lists every page the guest had,
bitmap 2 the kept ones, so readers tell "excluded" from "never existed". The ELF is replaced by
dump.kdump.xz and truth.json's "dumps" says so.
"""

from __future__ import annotations

import json
import lzma
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import dumpsynth  # noqa: E402

from parsers.elf_notes import build_note  # noqa: E402
from pmoview.memory import PhysicalMemory, Range, open_dump  # noqa: E402
from pmoview.roots import RootOptions, find_roots  # noqa: E402
from pmoview.roots_riscv import root_from_satp  # noqa: E402
from pmoview.space import AddressSpace  # noqa: E402

PAGE = 4096


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
    out = Path(path)
    truth_path = out.parent / "truth.json"
    truth = json.loads(truth_path.read_text())
    mem = open_dump(path)
    roots = [root_from_satp(int(h["satp"], 16), f"hart {h['index']} satp") for h in truth["harts"] if h["mode"]]
    roots += find_roots(mem, None, RootOptions())
    rec = Recording(mem)
    for root in roots:
        AddressSpace(rec, root).walk()
    keep = sorted(pa for pa in rec.seen if mem.read_page(pa) is not None)
    pages: dict[int, bytes] = {}
    for pa in keep:
        page = mem.read_page(pa)
        assert page is not None
        pages[pa // PAGE] = page
    valid = {pfn for r in mem.ranges() for pfn in range(r.start // PAGE, -(-r.end // PAGE))}
    notes = b"".join(build_note(n.name, n.type, n.desc) for n in mem.info.notes)
    before = len(valid)
    mem.close()
    data = dumpsynth.kdump(pages, notes=notes, max_mapnr=max(valid) + 1, machine="riscv64", valid=valid, level=31)
    dest = out.parent / "dump.kdump.xz"
    dest.write_bytes(lzma.compress(data, preset=9))
    out.unlink()
    truth["dumps"] = {"kdump": dest.name}
    truth["cut"] = {
        "from": f"QEMU dump-guest-memory ELF, {before} pages",
        "kept": "page-table pages reachable from every hart's satp and every scanned root",
        "pages_kept": len(keep),
        "format": "plain diskdump (machine riscv64); bitmap 1 = every page the guest had, bitmap 2 = kept pages",
        "tool": "sample_dumps/riscv/cut_riscv.py",
    }
    truth_path.write_text(json.dumps(truth, indent=2) + "\n")
    print(f"{path}: kept {len(keep)} of {before} pages, {dest.stat().st_size} bytes")


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        main(arg)

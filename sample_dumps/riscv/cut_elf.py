#!/usr/bin/env python3
"""Cut a QEMU RISC-V ELF dump down to its page tables, recording the cut in truth.json.

    PYTHONPATH=. python sample_dumps/riscv/cut_elf.py sample_dumps/<guest>/dump.elf.xz

Keeps every page-table page reachable from each hart's satp (truth.json ``harts``) and from every root
the validated scan finds, and the notes (rebuilt note by note: same names, types and contents). The
result is an ELF core (EM_RISCV) with one PT_LOAD per run of kept pages; frames the tables map but
that were not kept read as absent ("not in dump"), never as zeros.
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
    runs: list[tuple[int, bytes]] = []
    for pa in keep:
        page = mem.read_page(pa)
        assert page is not None
        if runs and runs[-1][0] + len(runs[-1][1]) == pa:
            runs[-1] = (runs[-1][0], runs[-1][1] + page)
        else:
            runs.append((pa, page))
    notes = b"".join(build_note(n.name, n.type, n.desc) for n in mem.info.notes)
    before = sum(r.size for r in mem.ranges()) // PAGE
    mem.close()
    data = dumpsynth.elf_core(runs, notes=notes, arch="riscv64")
    out.write_bytes(lzma.compress(data, preset=9) if out.suffix == ".xz" else data)
    truth["cut"] = {
        "from": f"QEMU dump-guest-memory ELF, {before} pages",
        "kept": "page-table pages reachable from every hart's satp and every scanned root",
        "pages_kept": len(keep),
        "format": "ELF core (EM_RISCV), one PT_LOAD per run of kept pages, the notes rebuilt one by one",
        "tool": "sample_dumps/riscv/cut_elf.py",
    }
    truth_path.write_text(json.dumps(truth, indent=2) + "\n")
    print(f"{path}: kept {len(keep)} of {before} pages, {out.stat().st_size} bytes")


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        main(arg)

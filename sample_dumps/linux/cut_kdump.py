#!/usr/bin/env python3
"""Cut a real diskdump (makedumpfile or reassembled QEMU output) down to the pages pmoview reads,
keeping each kept page's compressed bytes exactly as the producer wrote them (zlib, LZO, snappy,
zstd: the codec under test stays real).

    PYTHONPATH=. python sample_dumps/linux/cut_kdump.py IN OUT [--log]

Kept: every page read while walking every root candidate's tables, while reading the kernel log
(--log) and the first 1 MiB. The header, sub-header, notes, VMCOREINFO and bitmap 1 (the pages the
machine had) are copied byte for byte; bitmap 2 lists the kept pages, as a filtering makedumpfile
does, and each kept descriptor points at its original data. Prints a JSON record for truth.json.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT)]

from parsers.kdump import PAGE_DESC_DTYPE, PAGE_DESC_SIZE  # noqa: E402
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
        self.seen.add(pa & ~0xFFF)
        return self.inner.read_page(pa)

    def close(self) -> None:
        pass  # the inner dump is closed by its owner


def pages_read(mem: KdumpMemory, with_log: bool) -> set[int]:
    rec = Recording(mem)
    for root in find_roots(mem):
        AddressSpace(rec, root).walk()
    if with_log:
        from pmoview.kernel_log import read_kernel_log

        read_kernel_log(rec)
    return rec.seen | set(range(0, 1 << 20, 4096))


def cut(src: str, dst: str, with_log: bool) -> dict[str, object]:
    mem = open_dump(src)
    if not isinstance(mem, KdumpMemory) or mem.format != "kdump" or mem.block_size != 4096:
        raise SystemExit(f"{src}: a plain (not flattened) diskdump with 4 KiB blocks is needed (makedumpfile -R)")
    keep = sorted(pa // 4096 for pa in pages_read(mem, with_log) if mem.read_page(pa) is not None)
    bitmap, rank = mem._index()  # noqa: SLF001 - the cut is a tool over the reader's own index
    raw = Path(src).read_bytes()
    out = bytearray(raw[: mem.desc_offset])
    bm2 = np.zeros(mem.bitmap_len, dtype=np.uint8)
    for pfn in keep:
        bm2[pfn // 8] |= 1 << (pfn % 8)
    b2 = mem.bitmap_offset + mem.bitmap_len
    out[b2 : b2 + mem.bitmap_len] = bm2.tobytes()
    descs = np.zeros(len(keep), dtype=PAGE_DESC_DTYPE)
    data = bytearray()
    data_start = mem.desc_offset + len(keep) * PAGE_DESC_SIZE
    for i, pfn in enumerate(keep):
        n = mem._desc_number(pfn)  # noqa: SLF001
        assert n is not None
        at = mem.desc_offset + n * PAGE_DESC_SIZE
        d = np.frombuffer(raw[at : at + PAGE_DESC_SIZE], dtype=PAGE_DESC_DTYPE)[0]
        off, size = int(d["offset"]), int(d["size"])
        descs[i] = (data_start + len(data), size, int(d["flags"]), int(d["page_flags"]))
        data += raw[off : off + size]
    out += descs.tobytes() + data
    Path(dst).write_bytes(out)
    flags = sorted({int(f) for f in descs["flags"]})
    dumped = int(rank[-1])
    mem.close()
    return {
        "from": f"{Path(src).name}, {len(raw)} bytes, {dumped} pages dumped",
        "kept": "pages read walking every root candidate"
        + (", reading the kernel log" if with_log else "")
        + ", and the first 1 MiB; compressed page data copied unchanged",
        "pages_kept": len(keep),
        "descriptor_flags": [hex(f) for f in flags],
        "bytes": len(out),
        "tool": "sample_dumps/linux/cut_kdump.py",
    }


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("src")
    ap.add_argument("dst")
    ap.add_argument("--log", action="store_true", help="also keep the pages the kernel log is read from")
    a = ap.parse_args()
    print(json.dumps(cut(a.src, a.dst, a.log)))

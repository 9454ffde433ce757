#!/usr/bin/env python3
"""Cut a real ELF vmcore (a /proc/vmcore copy, a QEMU ELF dump) down to the pages pmoview reads,
the way cut_kdump.py cuts a diskdump: every page read walking every root candidate and reading the
kernel log, plus the first 1 MiB. The ELF header and the PT_NOTE data (NT_PRSTATUS per CPU,
VMCOREINFO) are copied byte for byte; each run of kept pages becomes a PT_LOAD whose p_paddr and
p_vaddr are the original segment's at that offset. Prints a JSON record for truth.json.

    PYTHONPATH=. python sample_dumps/linux/cut_elf.py IN OUT
"""

from __future__ import annotations

import json
import struct
import sys
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[2]), str(Path(__file__).resolve().parent)]

from cut_kdump import pages_read  # noqa: E402

from pmoview.memory import open_dump  # noqa: E402

PT_LOAD, PT_NOTE = 1, 4
PHDR = struct.Struct("<IIQQQQQQ")


def cut(src: str, dst: str) -> dict[str, object]:
    raw = Path(src).read_bytes()
    (phoff,) = struct.unpack_from("<Q", raw, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", raw, 0x36)
    phdrs = [PHDR.unpack_from(raw, phoff + i * phentsize) for i in range(phnum)]
    mem = open_dump(src)
    keep = sorted(pa for pa in pages_read(mem, with_log=True) if mem.read_page(pa) is not None)
    mem.close()
    loads = [p for p in phdrs if p[0] == PT_LOAD]
    notes = [p for p in phdrs if p[0] == PT_NOTE]
    runs: list[list[int]] = []  # [pa, length, vaddr, file offset in src]
    for pa in keep:
        seg = next(p for p in loads if p[4] <= pa < p[4] + p[5])
        off, va = seg[2] + pa - seg[4], seg[3] + pa - seg[4]
        if runs and runs[-1][0] + runs[-1][1] == pa and runs[-1][3] + runs[-1][1] == off:
            runs[-1][1] += 4096
        else:
            runs.append([pa, 4096, va, off])
    n = len(notes) + len(runs)
    data_at = 64 + n * PHDR.size
    out_ph, body = [], bytearray()
    for p in notes:
        out_ph.append(PHDR.pack(p[0], p[1], data_at + len(body), p[3], p[4], p[5], p[6], p[7]))
        body += raw[p[2] : p[2] + p[5]]
    body += b"\0" * (-(data_at + len(body)) % 4096)
    for pa, length, va, off in runs:
        out_ph.append(PHDR.pack(PT_LOAD, 7, data_at + len(body), va, pa, length, length, 0))
        body += raw[off : off + length]
    eh = bytearray(raw[:64])
    struct.pack_into("<Q", eh, 0x20, 64)
    struct.pack_into("<Q", eh, 0x28, 0)
    struct.pack_into("<HHHH", eh, 0x36, PHDR.size, n, 0, 0)
    Path(dst).write_bytes(bytes(eh) + b"".join(out_ph) + bytes(body))
    return {
        "from": f"{Path(src).name}, {len(raw)} bytes, {len(loads)} PT_LOAD segments",
        "kept": "pages read walking every root candidate and reading the kernel log, and the first 1 MiB; "
        "notes copied unchanged",
        "pages_kept": len(keep),
        "pt_load_runs": len(runs),
        "bytes": data_at + len(body),
        "tool": "sample_dumps/linux/cut_elf.py",
    }


if __name__ == "__main__":
    print(json.dumps(cut(sys.argv[1], sys.argv[2])))

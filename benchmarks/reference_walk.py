"""The yardstick: a minimal x86_64 4/5-level walk in numpy, independent of pmoview's walker.

    PYTHONPATH=. python benchmarks/reference_walk.py DUMP [--cr3 PA] [--la57]

Reads tables through ``pmoview.memory`` (the dump readers are shared: the comparison is about the
walk and the output, not decompression), decodes a whole table batch at a time, counts leaves and
merged runs (contiguous VA and PA, equal flag bits, equal page size) and prints one JSON line. No
anomaly checks, no flags objects, no output: what pmoview's whole-process commands are measured against.
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np

ADDR = np.uint64(0x000F_FFFF_FFFF_F000)
KEY = np.uint64((1 << 63) | 0x19E)  # NX, G, PAT/PS, PCD, PWT, U/S, R/W (not A/D, not the frame)
ZERO = bytes(4096)


def walk(mem: object, cr3: int, levels: int) -> dict[str, int]:
    read = mem.read_page  # type: ignore[attr-defined]
    last = [0, 0, 0, 0]  # va_end, pa_end, key, size of the run in progress
    out = {"tables": 0, "leaves": 0, "runs": 0}

    def leaves(va: np.ndarray, pa: np.ndarray, key: np.ndarray, size: int) -> None:
        if va.size == 0:
            return
        s = np.uint64(size)
        brk = (va[1:] != va[:-1] + s) | (pa[1:] != pa[:-1] + s) | (key[1:] != key[:-1])
        joins = last[3] == size and last[0] == int(va[0]) and last[1] == int(pa[0]) and last[2] == int(key[0])
        out["runs"] += int(brk.sum()) + (0 if joins else 1)
        out["leaves"] += int(va.size)
        last[:] = [int(va[-1]) + size, int(pa[-1]) + size, int(key[-1]), size]

    def visit(level: int, tables: list[int], vas: np.ndarray) -> None:
        """``tables`` at ``level`` (4 KiB each), entry 0 of table i at VA ``vas[i]``: depth first."""
        out["tables"] += len(tables)
        e = np.frombuffer(b"".join(read(t) or ZERO for t in tables), dtype="<u8").reshape(len(tables), 512)
        shift = 12 + 9 * (level - 1)
        va = (vas[:, None] + np.arange(512, dtype=np.uint64) * np.uint64(1 << shift)).ravel()
        e = e.ravel()
        present = (e & np.uint64(1)) != 0
        leaf = present & (((e & np.uint64(0x80)) != 0) | (level == 1)) & (level <= 3)
        table = present & ~leaf & (level > 1)
        if not table.any():
            idx = np.flatnonzero(leaf)
            leaves(va[idx], e[idx] & ADDR & ~np.uint64((1 << shift) - 1), e[idx] & KEY, 1 << shift)
            return
        kinds = np.flatnonzero(leaf | table)
        # consecutive table entries go down as one batch (up to 512 tables); leaves stay in VA order
        groups = np.split(kinds, np.flatnonzero(np.diff(table[kinds].astype(np.int8)) != 0) + 1)
        for g in groups:
            if table[g[0]]:
                for lo in range(0, g.size, 512):
                    part = g[lo : lo + 512]
                    visit(level - 1, (e[part] & ADDR).tolist(), va[part])
            else:
                leaves(va[g], e[g] & ADDR & ~np.uint64((1 << shift) - 1), e[g] & KEY, 1 << shift)

    visit(levels, [cr3 & ~0xFFF], np.zeros(1, dtype=np.uint64))
    return out


def main() -> int:
    from pmoview.memory import open_dump

    t0 = time.perf_counter()
    mem = open_dump(sys.argv[1])
    cr3 = next((int(a, 0) for a in sys.argv[2:] if a.startswith("0x")), None)
    cr3 = mem.cpus[0].regs["cr3"] if cr3 is None else cr3
    levels = 5 if "--la57" in sys.argv or mem.cpus[0].regs.get("cr4", 0) & (1 << 12) else 4
    res = walk(mem, cr3, levels)
    res["seconds"] = round(time.perf_counter() - t0, 3)  # type: ignore[assignment]
    print(json.dumps(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Cut a real LiME dump to its kernel page tables and the first 1 MiB, recording the cut.

    PYTHONPATH=. python sample_dumps/linux/cut_lime.py FULL.lime[.xz] sample_dumps/<guest>/

LiME carries no CPU state: the root is VMCOREINFO's init_top_pgt of the same boot (the guest's kdump).
Kept pages are written as LiME ranges (one per run of kept pages) with the same Construct header the
reader parses; the bytes are LiME's own. The result is `dump.lime.xz`, recorded in truth.json.
"""

from __future__ import annotations

import json
import lzma
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(Path(__file__).resolve().parent)]

import dumpsynth  # noqa: E402
from cut_dump import Recording  # noqa: E402

from pmoview.memory import open_dump  # noqa: E402
from pmoview.roots import RootOptions, find_roots  # noqa: E402
from pmoview.space import AddressSpace  # noqa: E402


def main(full: str, guest: str) -> None:
    folder = Path(guest)
    kd = open_dump(str(next(folder.glob("dump.kdump*"))))
    roots = [r for r in find_roots(kd, options=RootOptions(scan=False)) if r.source.startswith("VMCOREINFO")]
    lime = open_dump(full)
    rec = Recording(lime)
    space = AddressSpace(rec, roots[0])
    space.walk()
    keep = sorted(
        {pa for pa in rec.seen if lime.read_page(pa) is not None}
        | {pa for pa in range(0, 1 << 20, 4096) if lime.read_page(pa) is not None}
    )
    runs: list[tuple[int, bytes]] = []
    for pa in keep:
        page = lime.read_page(pa)
        assert page is not None
        if runs and runs[-1][0] + len(runs[-1][1]) == pa:
            runs[-1] = (runs[-1][0], runs[-1][1] + page)
        else:
            runs.append((pa, page))
    (folder / "dump.lime.xz").write_bytes(lzma.compress(dumpsynth.lime(runs), preset=9))
    truth_path = folder / "truth.json"
    truth = json.loads(truth_path.read_text())
    truth["dumps"]["lime"] = "dump.lime.xz"
    truth.setdefault("dumps_not_committed", {}).pop("lime", None)
    truth["lime_cut"] = {
        "from": "LiME 1.9.1 (lime-forensics-dkms) format=lime, ranges "
        f"{[(hex(r.start), hex(r.end)) for r in lime.ranges()]}",
        "kept": "pages of the kernel page tables reachable from VMCOREINFO init_top_pgt, and the first 1 MiB",
        "root": hex(roots[0].table),
        "ranges_written": len(runs),
        "pages_kept": len(keep),
        "note": "LiME ran earlier in boot than the QEMU dumps: kernel page tables match, other memory differs",
        "tool": "sample_dumps/linux/cut_lime.py",
    }
    truth_path.write_text(json.dumps(truth, indent=2) + "\n")
    print(
        f"kept {len(keep)} pages in {len(runs)} ranges, root {roots[0].table:#x}, {space.stats.tables_visited} tables"
    )


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])

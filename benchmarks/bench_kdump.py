"""Kdump page decoding per codec and the kernel log, as JSON lines.

    PYTHONPATH=. python benchmarks/bench_kdump.py [DUMP ...]

Default: the committed real dumps of sample_dumps/linux-x86_64-pti-user (makedumpfile LZO and zlib,
QEMU zlib) and linux-x86_64-kdump-panic (capture kernel's makedumpfile LZO). Give the uncut dumps
(``$BUILD/kdump-work/*.kdump`` after make_kdump_samples.sh) for a full-size run. For each: pages
decoded per second over every page the dump holds (CPU time), and the time to read the kernel log.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pmoview.kernel_log import read_kernel_log  # noqa: E402
from pmoview.memory import open_dump  # noqa: E402

DEFAULT = [
    "sample_dumps/linux-x86_64-pti-user/dump.kdump.xz",
    "sample_dumps/linux-x86_64-pti-user/dump-makedumpfile-zlib.kdump.xz",
    "sample_dumps/linux-x86_64-pti-user/dump-qemu-zlib.kdump.xz",
    "sample_dumps/linux-x86_64-kdump-panic/vmcore.lzo.kdump.xz",
]


def bench(path: str) -> dict[str, object]:
    mem = open_dump(path)
    c0 = time.process_time()
    n = 0
    for r in mem.ranges():
        for pa in range(r.start, r.end, 4096):
            mem.read_page(pa)
            n += 1
    decode = time.process_time() - c0
    c0 = time.process_time()
    try:
        records = len(read_kernel_log(mem).records)
    except Exception as exc:  # a dump without a log still has a decode figure
        records = f"no log: {exc}"
    log_s = time.process_time() - c0
    mem.close()
    return {
        "dump": path,
        "pages": n,
        "decode_cpu_s": round(decode, 3),
        "pages_per_s": round(n / decode) if decode else None,
        "log_records": records,
        "log_cpu_s": round(log_s, 3),
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
    }


if __name__ == "__main__":
    for p in sys.argv[1:] or [str(ROOT / d) for d in DEFAULT]:
        print(json.dumps(bench(p)), flush=True)

"""The one function every fuzzer (atheris, hypothesis, regression replay) drives."""
from __future__ import annotations

from parsers.errors import DumpFormatError
from pmoview.memory import AbsentMemoryError, open_dump


def exercise_bytes(data: bytes, path: str) -> None:
    with open(path, "wb") as fh:
        fh.write(data)
    try:
        mem = open_dump(path)
    except DumpFormatError:
        return
    try:
        ranges = mem.ranges()
        _ = [c.regs for c in mem.cpus], mem.vmcoreinfo
        for r in ranges[:8]:
            for pa in (r.start, max(r.start, r.end - 4096)):
                try:
                    mem.read(pa & ~0xFFF, 4096)
                except AbsentMemoryError:
                    pass
    except DumpFormatError:
        pass
    finally:
        mem.close()

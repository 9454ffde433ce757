"""What every live backend shares: the RAM map, the page cache, batched reads and the snapshot stamp."""

from __future__ import annotations

import bisect
import threading
import time
from abc import abstractmethod
from collections.abc import Iterable
from datetime import UTC, datetime

from pmoview.live import hmp
from pmoview.live.errors import LiveError
from pmoview.memory.base import PAGE_SIZE, DumpInfo, PhysicalMemory, Range

OPEN: list[LiveMemory] = []  # live targets not closed yet (the CLI closes them when a command ends)


class LiveMemory(PhysicalMemory):
    """A stopped guest's physical memory. Pages are read ``batch_pages`` per round trip through
    ``_fetch`` and kept until ``refresh()``; reads outside the guest's RAM and ROM are absent."""

    batch_pages = 64

    def __init__(self, path: str, fmt: str) -> None:
        self.path = path
        self.format = fmt
        self.file_size = 0
        self.info = DumpInfo()
        self.snapshot_time = 0.0
        self._lock = threading.RLock()  # the TUI reads from worker threads; one request stream at a time
        self._pages: dict[int, bytes] = {}
        self._ranges: list[Range] = []
        self._starts: list[int] = []
        OPEN.append(self)

    def _forget(self) -> None:
        """Closed: drop the page cache and leave the open list."""
        self._pages.clear()
        if self in OPEN:
            OPEN.remove(self)

    def _set_ranges(self, mtree_flat: str) -> None:
        self._ranges = hmp.memory_ranges(mtree_flat)
        if not self._ranges:
            raise LiveError(self.path, "the monitor's `info mtree -f` lists no RAM in the system address space")
        self._starts = [r.start for r in self._ranges]

    def _stamp(self, run_state: str) -> None:
        """The moment the registers were read: what the TUI's status line shows."""
        self.snapshot_time = time.time()
        self.info.details["run_state"] = run_state
        self.info.details["snapshot_time"] = datetime.fromtimestamp(self.snapshot_time, UTC).isoformat(
            timespec="seconds"
        )

    def ranges(self) -> list[Range]:
        return list(self._ranges)

    def _present(self, pa: int) -> bool:
        i = bisect.bisect_right(self._starts, pa) - 1
        return i >= 0 and pa + PAGE_SIZE <= self._ranges[i].end

    def absent_reason(self, pa_start: int, pa_end: int | None = None) -> str:
        # a live guest has no dump: what it lacks is outside the RAM and ROM its monitor lists, or was
        # inside them and still could not be read
        end = pa_end if pa_end is not None else pa_start + 1
        i = bisect.bisect_right(self._starts, pa_start) - 1
        if i >= 0 and end <= self._ranges[i].end:
            return "not readable from the target"
        return "not RAM or ROM of the guest (info mtree)"

    def read_page(self, pa: int) -> bytes | None:
        page = self._pages.get(pa)
        if page is not None:
            return page
        if not self._present(pa):
            return None
        self.prefetch([pa])
        return self._pages.get(pa)

    def prefetch(self, pas: Iterable[int]) -> None:
        """Read every page of ``pas`` not cached yet, ``batch_pages`` per round trip."""
        todo = sorted({pa & ~(PAGE_SIZE - 1) for pa in pas} - self._pages.keys())
        todo = [pa for pa in todo if self._present(pa)]
        with self._lock:
            for i in range(0, len(todo), self.batch_pages):
                self._fetch(todo[i : i + self.batch_pages])

    @abstractmethod
    def _fetch(self, pages: list[int]) -> None:
        """Read ``pages`` (4 KiB-aligned, present) into ``self._pages`` in one round trip."""

    @abstractmethod
    def refresh(self) -> None:
        """Forget every cached page and read the registers again (the guest moved)."""

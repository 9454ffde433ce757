"""Physical memory held in a dict of pages: for tests and for trees built with Construct."""

from __future__ import annotations

from pmoview.memory.base import PAGE_SIZE, DumpInfo, PhysicalMemory, Range, merge_ranges


class SparseMemory(PhysicalMemory):
    def __init__(
        self, pages: dict[int, bytes] | None = None, info: DumpInfo | None = None, path: str = "<memory>"
    ) -> None:
        self.pages: dict[int, bytes] = {}
        self.path = path
        self.format = "memory"
        self.file_size = 0
        self.info = info or DumpInfo(arch="x86_64")
        for pa, data in (pages or {}).items():
            self.write(pa, data)

    def write(self, pa: int, data: bytes) -> None:
        pos = 0
        while pos < len(data):
            page_pa = (pa + pos) & ~(PAGE_SIZE - 1)
            page = bytearray(self.pages.get(page_pa, bytes(PAGE_SIZE)))
            off = pa + pos - page_pa
            take = min(PAGE_SIZE - off, len(data) - pos)
            page[off : off + take] = data[pos : pos + take]
            self.pages[page_pa] = bytes(page)
            pos += take

    def ranges(self) -> list[Range]:
        return merge_ranges([Range(pa, pa + PAGE_SIZE) for pa in self.pages])

    def read_page(self, pa: int) -> bytes | None:
        return self.pages.get(pa)

    def close(self) -> None:
        """Nothing to release: the pages are Python objects."""

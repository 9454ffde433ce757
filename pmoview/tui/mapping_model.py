"""Mappings as NumPy columns, filtered by attribute and VA range (no Textual: the view renders rows)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

FILTER_HELP = "words: rw ro x nx user kernel 4k 2m 1g notbacked · a range START-END · an address"


class FilterError(ValueError):
    pass


@dataclass
class MappingModel:
    """One root's mappings; ``rows`` (indices into ``maps``) is what the filter keeps, in VA order."""

    maps: Sequence[Any]
    va: np.ndarray
    size: np.ndarray
    writable: np.ndarray
    user: np.ndarray
    nx: np.ndarray
    page_size: np.ndarray
    backed: np.ndarray
    rows: np.ndarray
    filter_text: str = ""

    @classmethod
    def build(cls, maps: Sequence[Any]) -> MappingModel:
        n = len(maps)
        va = np.fromiter((m.va_start for m in maps), dtype=np.uint64, count=n)
        size = np.fromiter((m.va_end - m.va_start for m in maps), dtype=np.uint64, count=n)
        writable = np.fromiter((m.flags.writable for m in maps), dtype=bool, count=n)
        user = np.fromiter((m.flags.user for m in maps), dtype=bool, count=n)
        nx = np.fromiter((m.flags.nx for m in maps), dtype=bool, count=n)
        ps = np.fromiter((m.page_size for m in maps), dtype=np.uint64, count=n)
        backed = np.fromiter((getattr(m, "backed", True) for m in maps), dtype=bool, count=n)
        return cls(maps, va, size, writable, user, nx, ps, backed, np.arange(n, dtype=np.int64))

    def __len__(self) -> int:
        return int(self.rows.shape[0])

    def mapping(self, y: int) -> Any:
        return self.maps[int(self.rows[y])]

    def apply(self, text: str) -> None:
        """Keep the mappings that match every word of ``text``; raises FilterError for an unknown word."""
        keep = np.ones(len(self.maps), dtype=bool)
        for word in text.lower().split():
            keep &= self._mask(word)
        self.rows = np.flatnonzero(keep)
        self.filter_text = text

    def _mask(self, word: str) -> np.ndarray:
        simple = {
            "rw": self.writable,
            "w": self.writable,
            "ro": ~self.writable,
            "x": ~self.nx,
            "exec": ~self.nx,
            "nx": self.nx,
            "user": self.user,
            "usr": self.user,
            "kernel": ~self.user,
            "sup": ~self.user,
            "notbacked": ~self.backed,
            "backed": self.backed,
        }
        if word in simple:
            return np.asarray(simple[word], dtype=bool)
        sizes = {
            "4k": 1 << 12,
            "2m": 1 << 21,
            "1g": 1 << 30,
            "16k": 1 << 14,
            "64k": 1 << 16,
            "32m": 1 << 25,
            "512m": 1 << 29,
        }
        if word in sizes:
            return np.asarray(self.page_size == np.uint64(sizes[word]), dtype=bool)
        try:
            if "-" in word:
                a, b = (int(x.replace("_", ""), 0) for x in word.split("-", 1))
            else:
                a = int(word.replace("_", ""), 0)
                b = a + 1
        except ValueError:
            raise FilterError(f"unknown filter word {word!r} ({FILTER_HELP})") from None
        if b <= a:
            raise FilterError(f"range {word!r}: end must be above start")
        end = self.va + self.size  # may wrap to 0 for a mapping ending at 2**64
        ends_at_top = end < self.va
        return np.asarray(
            (self.va < np.uint64(min(b, (1 << 64) - 1))) & ((end > np.uint64(a)) | ends_at_top), dtype=bool
        )

    def index_of_va(self, va: int) -> int | None:
        """Row (after filtering) of the mapping holding ``va``, or of the first one after it."""
        if not len(self):
            return None
        vas = self.va[self.rows]
        i = int(np.searchsorted(vas, np.uint64(va), side="right")) - 1
        return max(0, i)

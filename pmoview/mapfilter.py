"""One mapping filter for the CLI and the TUI: words in, a boolean mask over ``MappingColumns`` out.

The TUI's filter box takes words (``rw x kernel-half 4k 0xffff888000000000-0xffffc88000000000``);
``pmoview mappings`` options are the same words (``--writable`` is ``rw``, ``--exec`` is ``x``,
``--user`` is ``user``, ``--supervisor`` is ``sup khalf``). Every word must hold (AND). Masks are
computed per column batch, so a filter costs a few numpy passes however many mappings there are.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from pmoview.arch.columns import MappingColumns

Bool = npt.NDArray[np.bool_]

FILTER_HELP = "words: rw ro x nx user sup khalf 4k 2m 1g notbacked · a range START-END · an address"
KERNEL_HALF = 1 << 63

# word -> (flag attribute, wanted value)
_ATTR_WORDS: dict[str, tuple[str, bool]] = {
    "rw": ("writable", True),
    "w": ("writable", True),
    "ro": ("writable", False),
    "x": ("nx", False),
    "exec": ("nx", False),
    "nx": ("nx", True),
    "user": ("user", True),
    "usr": ("user", True),
    "kernel": ("user", False),  # the TUI's word since 0.1: supervisor-only, in either half
    "sup": ("user", False),
    "supervisor": ("user", False),
}
_SIZE_WORDS = {
    "4k": 1 << 12,
    "16k": 1 << 14,
    "64k": 1 << 16,
    "2m": 1 << 21,
    "32m": 1 << 25,
    "512m": 1 << 29,
    "1g": 1 << 30,
}


class FilterError(ValueError):
    """A word the filter does not know, or a range that is empty."""


Test = Callable[[MappingColumns], Bool]


def _attr_test(attr: str, want: bool) -> Test:
    def test(cols: MappingColumns) -> Bool:
        got = cols.attr(attr)
        return got if want else ~got

    return test


def _size_test(size: int) -> Test:
    return lambda cols: np.asarray(cols.page_size == np.uint64(size), dtype=bool)


def _range_test(lo: int, hi: int) -> Test:
    """Mappings meeting [lo, hi)."""

    def test(cols: MappingColumns) -> Bool:
        end = cols.va_end  # wraps to 0 for a mapping ending at 2**64
        ends_at_top = end < cols.va_start
        below = cols.va_start < np.uint64(min(hi, (1 << 64) - 1)) if hi < 1 << 64 else np.ones(len(cols), bool)
        return np.asarray(below & ((end > np.uint64(lo)) | ends_at_top), dtype=bool)

    return test


def _parse_int(text: str) -> int:
    return int(text.replace("_", ""), 0)


@dataclass(frozen=True)
class MappingFilter:
    """A parsed filter: ``mask(cols)`` keeps the rows every word accepts."""

    text: str = ""
    tests: tuple[Test, ...] = ()
    va_range: tuple[int, int] | None = None  # the narrowest explicit range, for walking less

    def __bool__(self) -> bool:
        return bool(self.tests)

    def mask(self, cols: MappingColumns) -> Bool:
        keep = np.ones(len(cols), dtype=bool)
        for test in self.tests:
            keep &= test(cols)
        return keep

    def apply(self, cols: MappingColumns) -> MappingColumns:
        return cols.take(np.flatnonzero(self.mask(cols))) if self.tests else cols


def parse_filter(text: str) -> MappingFilter:
    """``FilterError`` names the first word that is neither a flag, a page size, a range nor an address."""
    tests: list[Test] = []
    va_range: tuple[int, int] | None = None
    for word in text.lower().split():
        if word in _ATTR_WORDS:
            tests.append(_attr_test(*_ATTR_WORDS[word]))
        elif word in ("khalf", "kernel-half"):
            tests.append(_range_test(KERNEL_HALF, 1 << 64))
        elif word in ("backed", "notbacked"):
            want = word == "backed"
            tests.append(lambda cols, want=want: cols.backed if want else ~cols.backed)  # type: ignore[misc]
        elif word in _SIZE_WORDS:
            tests.append(_size_test(_SIZE_WORDS[word]))
        else:
            try:
                if "-" in word:
                    a, b = (_parse_int(x) for x in word.split("-", 1))
                else:
                    a = _parse_int(word)
                    b = a + 1
            except ValueError:
                raise FilterError(f"unknown filter word {word!r} ({FILTER_HELP})") from None
            if b <= a:
                raise FilterError(f"range {word!r}: end must be above start")
            tests.append(_range_test(a, b))
            va_range = (a, b) if va_range is None else (max(va_range[0], a), min(va_range[1], b))
    return MappingFilter(text, tuple(tests), va_range)


def filter_words(
    writable: bool = False,
    exec_: bool = False,
    user: bool = False,
    supervisor: bool = False,
    va_range: tuple[int, int] | None = None,
) -> str:
    """The filter text for ``pmoview mappings`` options (so both front ends parse the same words)."""
    words = []
    if writable:
        words.append("rw")
    if exec_:
        words.append("x")
    if user:
        words.append("user")
    if supervisor:
        words += ["sup", "khalf"]
    if va_range is not None:
        words.append(f"{va_range[0]:#x}-{va_range[1]:#x}")
    return " ".join(words)

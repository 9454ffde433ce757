"""Located errors for every decoder in ``parsers``.

A dump is evidence from a failing machine: bad bytes are normal input. Every decoder
reports where it was reading and what it expected, so the CLI can print one line.
"""

from __future__ import annotations

from typing import Any, BinaryIO

import construct


class DumpFormatError(Exception):
    """The input cannot be used: ``path`` at ``offset`` does not hold ``expected``."""

    def __init__(self, path: str, offset: int | None, expected: str, found: str | None = None) -> None:
        self.path = path
        self.offset = offset
        self.expected = expected
        self.found = found
        super().__init__(self.one_line())

    def one_line(self) -> str:
        where = f" at offset {self.offset:#x}" if self.offset is not None else ""
        found = f", found {self.found}" if self.found else ""
        return f"{self.path}{where}: expected {self.expected}{found}"


def parse_at(
    struct: construct.Construct[Any, Any], data: bytes | memoryview, offset: int, what: str, path: str = "<bytes>"
) -> Any:
    """Parse ``struct`` from ``data[offset:]``; turn Construct's errors into a located DumpFormatError."""
    if offset < 0 or offset > len(data):
        raise DumpFormatError(path, offset, what, f"offset past the end ({len(data):#x} bytes)")
    try:
        return struct.parse(bytes(data[offset : offset + _bound(struct, data, offset)]))
    except construct.ConstructError as exc:
        raise DumpFormatError(path, offset, what, _short(exc)) from None


def parse_stream_at(struct: construct.Construct[Any, Any], stream: BinaryIO, offset: int, what: str, path: str) -> Any:
    try:
        stream.seek(offset)
        return struct.parse_stream(stream)
    except construct.ConstructError as exc:
        raise DumpFormatError(path, offset, what, _short(exc)) from None


def _bound(struct: construct.Construct[Any, Any], data: bytes | memoryview, offset: int) -> int:
    # Fixed-size structs only need their own bytes: avoids copying a whole mmap.
    try:
        return int(struct.sizeof())
    except construct.SizeofError:
        return len(data) - offset


def _short(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    msg = text[-1] if text else type(exc).__name__
    return msg[:160]

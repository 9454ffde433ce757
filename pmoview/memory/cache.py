"""The user's cache of decompressed dumps: where it is, how big it may grow, what leaves first.

A compressed dump (``.xz``, ``.gz``, ``.zst``) cannot be mapped, so ``container`` decompresses it once
into this directory (``PMOVIEW_CACHE``, else ``$XDG_CACHE_HOME/pmoview``, else ``~/.cache/pmoview``).
The directory is bounded: after a new copy is made, the least recently used copies are deleted until
the disk space they take (allocated blocks: the copies are sparse) is under ``PMOVIEW_CACHE_MAX``
(bytes, or with a K/M/G/T suffix; default 4G; 0 keeps only the copy in use). Opening a copy counts as
using it. The copy being opened is never deleted, even when it alone is over the bound.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from pathlib import Path

from parsers.errors import DumpFormatError

DEFAULT_MAX_BYTES = 4 << 30
SUFFIXES = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
PART = ".part"  # a copy being written (``name.part<pid>``)
STALE_PART_SECONDS = 24 * 3600  # a part file this old was left by a process that died


def cache_dir() -> Path:
    base = os.environ.get("PMOVIEW_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "pmoview"
    )
    return Path(base)


def cache_max() -> int:
    """``PMOVIEW_CACHE_MAX`` in bytes; text that is not a size is an error naming the variable."""
    text = os.environ.get("PMOVIEW_CACHE_MAX", "").strip()
    if not text:
        return DEFAULT_MAX_BYTES
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?", text, re.IGNORECASE)
    if m is None:
        raise DumpFormatError(
            "PMOVIEW_CACHE_MAX", None, "a size in bytes, or with a K, M, G or T suffix (e.g. 4G)", repr(text)
        )
    return int(float(m.group(1)) * SUFFIXES[m.group(2).upper()])


def touch(path: Path) -> None:
    """Mark ``path`` as just used (its mtime: atime is often not kept)."""
    with contextlib.suppress(OSError):  # a read-only cache: the order of use is then the order of creation
        os.utime(path)


def _disk_bytes(st: os.stat_result) -> int:
    return st.st_blocks * 512


def evict(keep: Path, limit: int | None = None) -> list[Path]:
    """Delete least recently used copies until the cache takes at most ``limit`` bytes of disk
    (``cache_max()`` by default), never ``keep``; returns what was deleted."""
    limit = cache_max() if limit is None else limit
    directory = keep.parent
    now = time.time()
    entries: list[tuple[float, int, Path]] = []
    total = 0
    try:
        names = os.listdir(directory)
    except OSError:
        return []
    for name in names:
        path = directory / name
        try:
            st = path.lstat()
        except OSError:
            continue  # deleted by another process meanwhile
        if not path.is_file() or path.is_symlink():
            continue
        size = _disk_bytes(st)
        total += size
        if path == keep:
            continue
        if PART in name and now - st.st_mtime < STALE_PART_SECONDS:
            continue  # another process is writing it
        entries.append((st.st_mtime, size, path))
    deleted: list[Path] = []
    for _, size, path in sorted(entries):
        if total <= limit:
            break
        try:
            path.unlink()
        except FileNotFoundError:
            pass  # another process evicted it first
        except OSError:
            continue
        total -= size
        deleted.append(path)
    return deleted

"""Compressed dump files (``.xz``, ``.gz``, ``.zst``), as dumps are shipped and as the samples are stored.

A compressed stream cannot be mapped, so it is decompressed once into a cache file (all-zero
chunks left as holes, so a mostly empty 5 GiB guest costs a few MiB of disk) and that file is
opened instead. The cache is bounded (``pmoview.memory.cache``:
``PMOVIEW_CACHE_MAX``). The logical size is capped so a decompression bomb ends in an error.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import BinaryIO, Protocol

from parsers.errors import DumpFormatError
from pmoview.memory.cache import cache_dir, cache_max, evict, touch

CHUNK = 1 << 20
DEFAULT_MAX_BYTES = 256 << 30  # logical size; PMOVIEW_MAX_UNPACK raises it

MAGICS: list[tuple[bytes, str]] = [
    (b"\xfd7zXZ\x00", "xz"),
    (b"\x1f\x8b", "gzip"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
]


def compression_of(head: bytes) -> str | None:
    for magic, name in MAGICS:
        if head.startswith(magic):
            return name
    return None


class _Stream(Protocol):
    """What decompression needs of a stream: lzma, gzip and zstandard readers all have it."""

    def read(self, size: int = -1, /) -> bytes: ...


def _opener(kind: str, raw: BinaryIO, path: str) -> AbstractContextManager[_Stream]:
    """A decompressing reader over ``raw``, the compressed file (its position tells the progress)."""
    import gzip
    import lzma

    import zstandard  # the codecs load when a compressed dump is unpacked: start-up does not pay for them

    if kind == "xz":
        return lzma.open(raw)
    if kind == "gzip":
        return gzip.open(raw)
    return zstandard.ZstdDecompressor().stream_reader(raw)


# ``progress(done, total)``: compressed bytes read so far and the compressed file's size.
UnpackProgress = Callable[[int, int], None]


def decompressed_path(path: str, kind: str, progress: UnpackProgress | None = None) -> str:
    """The cached decompressed copy of ``path``, made on first use (``progress`` hears after each MiB)."""
    import gzip
    import lzma

    st = os.stat(path)
    key = hashlib.sha256(f"{os.path.abspath(path)}\0{st.st_size}\0{st.st_mtime_ns}".encode()).hexdigest()[:24]
    out_dir = cache_dir()
    out = out_dir / f"{Path(path).name}.{key}"
    cache_bound = cache_max()  # an unusable PMOVIEW_CACHE_MAX is said before any work
    if out.exists():
        touch(out)
        evict(keep=out, limit=cache_bound)
        return str(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    limit = int(os.environ.get("PMOVIEW_MAX_UNPACK", DEFAULT_MAX_BYTES))
    tmp = out.with_name(out.name + f".part{os.getpid()}")
    zero = bytes(CHUNK)
    total = 0
    try:
        with open(path, "rb") as raw, _opener(kind, raw, path) as fin, open(tmp, "wb") as fout:
            while chunk := fin.read(CHUNK):
                total += len(chunk)
                if progress is not None:
                    progress(raw.tell(), st.st_size)
                if total > limit:
                    raise DumpFormatError(
                        path,
                        None,
                        f"a {kind} dump under {limit:#x} bytes decompressed (PMOVIEW_MAX_UNPACK raises the cap)",
                        "more",
                    )
                if chunk == zero[: len(chunk)]:
                    fout.seek(len(chunk), os.SEEK_CUR)
                else:
                    fout.write(chunk)
            fout.truncate()
        os.replace(tmp, out)
        evict(keep=out, limit=cache_bound)
    except (OSError, EOFError, lzma.LZMAError, gzip.BadGzipFile) as exc:
        raise DumpFormatError(path, None, f"a complete {kind} stream", f"{type(exc).__name__}: {exc}") from None
    except Exception as exc:
        if type(exc).__module__.startswith("zstandard"):
            raise DumpFormatError(path, None, "a complete zstd stream", str(exc)) from None
        raise
    finally:
        if tmp.exists():
            tmp.unlink()
    return str(out)

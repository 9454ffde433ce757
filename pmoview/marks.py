"""User marks on a dump (wrong · missing · ok · note), kept in a versioned JSON sidecar, and reports.

A mark is keyed by the page-table root and either the entry path (``[(level, index), ...]`` from the
root: the stable identity of an entry) or a VA range, so it survives re-opening the dump. The sidecar
sits beside the dump (``DUMP.pmoview-marks.json``) unless the user names another file::

    {"version": 1,
     "dump": {"path": "/abs/dump.kdump", "size": 123, "format": "kdump-flattened"},
     "marks": [{"id": "m1", "kind": "wrong", "root": "0x1000", "path": [[4, 256], [3, 0]],
                "va_start": "0xffff800000000000", "va_end": "0xffff800040000000",
                "note": "...", "created": "2024-01-01T00:00:00+00:00"}]}

Saving is atomic: a temporary file in the same directory is written, flushed and fsynced, renamed
over the sidecar with ``os.replace``, and the directory is fsynced; a crash at any point leaves
either the old or the new file. A sidecar that does not parse, or has a version this code does not
know, is refused with ``MarksError`` and left as it is: ``load_marks`` never returns a set that
would overwrite it.

No Textual here: ``pmoview check --marks`` uses this module headless.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pmoview.live.target import is_live

VERSION = 1
KINDS = ("wrong", "missing", "ok", "note")
SUFFIX = ".pmoview-marks.json"

PathKey = tuple[tuple[int, int], ...]


class MarksError(Exception):
    """The sidecar cannot be used (corrupt, future version, wrong shape). The file is left untouched."""

    def __init__(self, path: str, problem: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(
            f"{path}: {problem}; the file is kept as it is and will not be overwritten "
            "(move it away or pass --marks FILE to use another)"
        )


def sidecar_path(dump_path: str) -> str:
    """Where the marks of ``dump_path`` live by default: ``DUMP.pmoview-marks.json`` beside it. A live
    target has no folder: its marks go to the working directory, named after it
    (``gdb-127.0.0.1-1234.pmoview-marks.json``); table addresses stay the same while the guest runs on."""
    if is_live(dump_path):
        return os.path.abspath(re.sub(r"[^A-Za-z0-9.]+", "-", dump_path).strip("-") + SUFFIX)
    return os.fspath(dump_path) + SUFFIX


def dump_identity(dump_path: str, fmt: str | None = None) -> dict[str, Any]:
    """What names a dump in the sidecar: absolute path, size in bytes and format (a live target: its
    address, no size)."""
    if is_live(dump_path):
        return {"path": dump_path, "size": None, "format": fmt}
    try:
        size: int | None = os.stat(dump_path).st_size
    except OSError:
        size = None
    return {"path": os.path.abspath(dump_path), "size": size, "format": fmt}


def _now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


@dataclass(frozen=True)
class Mark:
    """One mark. ``path`` (entry path from the root) or ``va_start``/``va_end`` (end exclusive) or both."""

    id: str
    kind: str
    root: int
    path: PathKey | None = None
    va_start: int | None = None
    va_end: int | None = None
    note: str = ""
    created: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "root": hex(self.root),
            "path": None if self.path is None else [[lvl, idx] for lvl, idx in self.path],
            "va_start": None if self.va_start is None else hex(self.va_start),
            "va_end": None if self.va_end is None else hex(self.va_end),
            "note": self.note,
            "created": self.created,
        }

    @classmethod
    def from_json(cls, d: Any, where: str) -> Mark:
        if not isinstance(d, dict):
            raise ValueError(f"{where}: a mark must be an object, not {type(d).__name__}")  # noqa: TRY004
        kind = d.get("kind")
        if kind not in KINDS:
            raise ValueError(f"{where}: kind {kind!r} is not one of {', '.join(KINDS)}")
        path = d.get("path")
        key: PathKey | None = None
        if path is not None:
            if not isinstance(path, list) or not all(
                isinstance(p, list) and len(p) == 2 and all(isinstance(x, int) for x in p) for p in path
            ):
                raise ValueError(f"{where}: path must be [[level, index], ...] or null")
            key = tuple((int(p[0]), int(p[1])) for p in path)
        va_start, va_end = _hex_or_none(d.get("va_start"), where), _hex_or_none(d.get("va_end"), where)
        if (va_start is None) != (va_end is None) or (
            va_start is not None and va_end is not None and va_end <= va_start
        ):
            raise ValueError(f"{where}: va_start/va_end must both be given, end above start")
        if key is None and va_start is None:
            raise ValueError(f"{where}: a mark needs a path or a VA range")
        root = _hex_or_none(d.get("root"), where)
        if root is None:
            raise ValueError(f"{where}: root is required")
        note = d.get("note", "")
        if not isinstance(note, str):
            raise ValueError(f"{where}: note must be a string")  # noqa: TRY004
        return cls(str(d.get("id", "")), kind, root, key, va_start, va_end, note, str(d.get("created", "")))

    def covers(self, va_start: int, va_end: int) -> bool:
        """Whether this mark's VA range meets [va_start, va_end)."""
        return (
            self.va_start is not None and self.va_end is not None and self.va_start < va_end and va_start < self.va_end
        )


def _hex_or_none(v: Any, where: str) -> int | None:
    if v is None:
        return None
    if isinstance(v, int) and not isinstance(v, bool):
        return v
    if isinstance(v, str):
        try:
            return int(v, 0)
        except ValueError:
            pass
    raise ValueError(f'{where}: {v!r} is not an address ("0x...")')


def _path_key(path: Iterable[Sequence[int]] | None) -> PathKey | None:
    """``[(level, index), ...]`` or ``[[level, index], ...]`` as a ``PathKey``; None stays None."""
    return None if path is None else tuple((int(level), int(index)) for level, index in path)


@dataclass
class MarkSet:
    """The marks of one dump. ``path`` is the sidecar it loads from and saves to."""

    path: str
    dump: dict[str, Any] = field(default_factory=dict)
    marks: list[Mark] = field(default_factory=list)

    def __iter__(self) -> Iterator[Mark]:
        return iter(self.marks)

    def __len__(self) -> int:
        return len(self.marks)

    def _next_id(self) -> str:
        used = {m.id for m in self.marks}
        n = len(self.marks) + 1
        while f"m{n}" in used:
            n += 1
        return f"m{n}"

    def add(
        self,
        kind: str,
        root: int,
        path: Iterable[Sequence[int]] | None = None,
        va_start: int | None = None,
        va_end: int | None = None,
        note: str = "",
    ) -> Mark:
        """Add a mark (not saved until ``save``). A mark with the same kind, root, path and range is
        replaced (its note updated), so marking twice does not pile up."""
        if kind not in KINDS:
            raise ValueError(f"kind {kind!r} is not one of {', '.join(KINDS)}")
        key = _path_key(path)
        if key is None and va_start is None:
            raise ValueError("a mark needs an entry path or a VA range")
        if (va_start is None) != (va_end is None) or (
            va_start is not None and va_end is not None and va_end <= va_start
        ):
            raise ValueError("va_start and va_end go together, end above start")
        for i, m in enumerate(self.marks):
            if (m.kind, m.root, m.path, m.va_start, m.va_end) == (kind, root, key, va_start, va_end):
                if kind == "note" and note != m.note:
                    break  # several notes on one entry are fine
                new = Mark(m.id, kind, root, key, va_start, va_end, note or m.note, m.created)
                self.marks[i] = new
                return new
        mark = Mark(self._next_id(), kind, root, key, va_start, va_end, note, _now())
        self.marks.append(mark)
        return mark

    def remove(self, mark_id: str) -> Mark | None:
        for i, m in enumerate(self.marks):
            if m.id == mark_id:
                return self.marks.pop(i)
        return None

    def for_path(self, root: int, path: Iterable[Sequence[int]]) -> list[Mark]:
        """Marks on exactly this entry."""
        key = _path_key(path)
        return [m for m in self.marks if m.root == root and m.path == key]

    def under_path(self, root: int, path: Iterable[Sequence[int]]) -> list[Mark]:
        """Marks on this entry or on any entry below it."""
        key = _path_key(path) or ()
        n = len(key)
        return [m for m in self.marks if m.root == root and m.path is not None and m.path[:n] == key]

    def for_range(self, root: int, va_start: int, va_end: int) -> list[Mark]:
        """Marks whose VA range meets [va_start, va_end)."""
        return [m for m in self.marks if m.root == root and m.covers(va_start, va_end)]

    def to_json(self) -> dict[str, Any]:
        return {"version": VERSION, "dump": self.dump, "marks": [m.to_json() for m in self.marks]}

    def save(self) -> None:
        """Write the sidecar atomically (temp file, fsync, os.replace, fsync of the directory)."""
        atomic_write(self.path, self.dumps())

    def dumps(self) -> str:
        """The sidecar's text: one mark per line, so a diff shows which marks changed."""
        data = self.to_json()
        marks = ",\n".join("  " + json.dumps(m, ensure_ascii=False) for m in data["marks"])
        return (
            f'{{\n "version": {VERSION},\n "dump": {json.dumps(data["dump"], ensure_ascii=False)},\n'
            f' "marks": [' + (f"\n{marks}\n ]" if marks else "]") + "\n}\n"
        )


def _umask() -> int:
    """The process umask, read without changing it where Linux allows (``os.umask`` sets it)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _new_file_mode(path: str) -> int:
    """The mode ``open(path, "w")`` would leave: the old file's, or 0666 less the umask (a temporary
    file is 0600, and a report or sidecar is meant to be shared like any file the user writes)."""
    try:
        return os.stat(path).st_mode & 0o7777
    except OSError:
        return 0o666 & ~_umask()


def atomic_write(path: str, text: str) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    mode = _new_file_mode(path)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix="." + os.path.basename(path) + ".", suffix=".tmp")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    try:
        dfd = os.open(directory, os.O_RDONLY)
    except OSError:
        return  # some systems cannot open a directory; the rename is still atomic
    try:
        os.fsync(dfd)
    except OSError:
        pass
    finally:
        os.close(dfd)


def load_marks(path: str, dump: dict[str, Any] | None = None) -> MarkSet:
    """The marks in sidecar ``path``; an empty set (which will create it on save) when there is none.
    ``dump`` (see ``dump_identity``) is recorded in a new set. Raises ``MarksError`` for a file that
    cannot be read as marks version 1; the file is then left alone."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        return MarkSet(path, dict(dump or {}), [])
    except OSError as exc:
        raise MarksError(path, f"cannot read: {exc.strerror or exc}") from None
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MarksError(path, f"not a marks file (JSON error: {exc})") from None
    if not isinstance(data, dict) or "version" not in data:
        raise MarksError(path, 'not a marks file (no "version")')
    version = data["version"]
    if not isinstance(version, int) or isinstance(version, bool):
        raise MarksError(path, f"version {version!r} is not a number")
    if version > VERSION:
        raise MarksError(path, f"marks version {version} is newer than this pmoview reads ({VERSION}); upgrade pmoview")
    if version < 1:
        raise MarksError(path, f"unknown marks version {version}")
    marks_raw = data.get("marks", [])
    if not isinstance(marks_raw, list):
        raise MarksError(path, '"marks" must be a list')
    marks = []
    try:
        for i, d in enumerate(marks_raw):
            marks.append(Mark.from_json(d, f"mark {i}"))
    except ValueError as exc:
        raise MarksError(path, str(exc)) from None
    ids = [m.id for m in marks]
    if len(set(ids)) != len(ids) or "" in ids:
        raise MarksError(path, "mark ids must be present and unique")
    saved = data.get("dump")
    ident: dict[str, Any] = saved if isinstance(saved, dict) else dict(dump or {})
    return MarkSet(path, ident, marks)


def identity_mismatch(saved: dict[str, Any], current: dict[str, Any]) -> str | None:
    """A warning when the sidecar names a dump of another size or format than the one opened."""
    for key in ("size", "format"):
        a, b = saved.get(key), current.get(key)
        if a is not None and b is not None and a != b:
            return f"the marks were made on a dump with {key} {a}, this one has {b}"
    return None

"""The dump is evidence: no command modifies it, whatever its permissions.

A real sample is copied to a temporary directory with mode 0444 and with mode 0644, then
``pmoview info / translate / mappings`` (and ``check`` once it exists) run on it in-process. Its
sha256, size, mtime and ctime must be unchanged afterwards. Mode bits alone prove little when the
tests run as root (root may write a 0444 file), so every ``open``/``os.open``/``mmap`` of the dump
is also recorded while the commands run and each one must be read-only.
"""

from __future__ import annotations

import builtins
import hashlib
import mmap
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent / "fuzz"))
import realseeds as rs
from fuzz_target import check_cli_result, has_check, run_cli

SAMPLES = Path(__file__).resolve().parent.parent / "sample_dumps"
# A flattened kdump as committed, a compressed one (unpacked into the cache, never beside the dump) and an
# ELF core (5 GiB logical: copied sparse from pmoview's cache, as unpacking it takes seconds).
CASES = [("seed-no-pml4-256", "dump.kdump"), ("seed-correct", "dump.kdump.xz"), ("seed-correct", "dump.elf")]
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC


def fingerprint(path: Path) -> tuple[str, int, int, int]:
    """sha256 of the content (data extents with their offsets: a sparse 5 GiB core hashes its 8 MiB,
    and a write into a hole creates an extent), size, mtime and ctime."""
    h = hashlib.sha256()
    size = path.stat().st_size
    with open(path, "rb") as fh:
        fd, pos = fh.fileno(), 0
        while pos < size:
            try:
                data = os.lseek(fd, pos, os.SEEK_DATA)
            except OSError:
                break
            hole = os.lseek(fd, data, os.SEEK_HOLE)
            fh.seek(data)
            h.update(data.to_bytes(8, "little"))
            left = hole - data
            while left:
                chunk = fh.read(min(left, 1 << 20))
                h.update(chunk)
                left -= len(chunk)
            pos = hole
    st = path.stat()
    return h.hexdigest(), st.st_size, st.st_mtime_ns, st.st_ctime_ns


class OpenSpy:
    """Records how the dump file is opened while commands run."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, target: Path) -> None:
        self.target = os.path.realpath(target)
        self.opens: list[str] = []
        real_os_open, real_open, real_mmap = os.open, builtins.open, mmap.mmap
        spy = self

        def os_open(path: Any, flags: int, *a: Any, **k: Any) -> int:
            fd = real_os_open(path, flags, *a, **k)
            if spy._is_target(path):
                spy.opens.append(f"os.open flags={flags:#o}")
                if flags & WRITE_FLAGS:
                    spy.opens.append("WRITE")
            return fd

        def b_open(file: Any, mode: str = "r", *a: Any, **k: Any) -> Any:
            if spy._is_target(file):
                spy.opens.append(f"open mode={mode}")
                if any(c in mode for c in "wax+"):
                    spy.opens.append("WRITE")
            return real_open(file, mode, *a, **k)

        class SpyMmap(real_mmap):  # type: ignore[misc, valid-type]
            def __new__(cls, fileno: int, length: int, *a: Any, **k: Any) -> Any:
                access = k.get("access", a[2] if len(a) > 2 else mmap.ACCESS_DEFAULT)
                try:
                    same = os.path.realpath(f"/proc/self/fd/{fileno}") == spy.target
                except OSError:
                    same = False
                if same:
                    spy.opens.append(f"mmap access={access}")
                    if access != mmap.ACCESS_READ:
                        spy.opens.append("WRITE")
                return real_mmap.__new__(cls, fileno, length, *a, **k)

        monkeypatch.setattr(os, "open", os_open)
        monkeypatch.setattr(builtins, "open", b_open)
        monkeypatch.setattr(mmap, "mmap", SpyMmap)

    def _is_target(self, path: Any) -> bool:
        try:
            return isinstance(path, (str, bytes, os.PathLike)) and os.path.realpath(path) == self.target
        except (TypeError, ValueError):
            return False


def commands(path: str) -> list[list[str]]:
    cmds = [
        ["info", path],
        ["info", path, "--json"],
        ["translate", path, "0xffff888000000000", "0xffffffff80000000", "0x0"],
        ["mappings", path],
        ["mappings", path, "--json", "--writable"],
    ]
    if has_check():
        cmds.append(["check", path])
    return cmds


@pytest.mark.parametrize("mode", [0o444, 0o644], ids=["0444", "0644"])
@pytest.mark.parametrize("sample,name", CASES, ids=[f"{s}/{n}" for s, n in CASES])
def test_no_command_modifies_the_dump(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sample: str, name: str, mode: int
) -> None:
    src = SAMPLES / sample / name
    dump = tmp_path / name
    if src.exists():
        shutil.copyfile(src, dump)
    elif (unpacked := rs.sample_file(sample, name)) is not None:
        rs.sparse_copy(unpacked, dump)
    else:
        pytest.skip(f"{src} not present")
    monkeypatch.setenv("PMOVIEW_CACHE", str(tmp_path / "cache"))  # .xz inputs unpack here, not beside the dump
    os.chmod(dump, mode)
    before = fingerprint(dump)
    spy = OpenSpy(monkeypatch, dump)
    codes = []
    for argv in commands(str(dump)):
        code, out, err = run_cli(argv)
        check_cli_result(argv, code, out, err)
        codes.append(code)
    monkeypatch.undo()
    assert codes[:5] == [0] * 5, codes
    assert fingerprint(dump) == before
    assert oct(dump.stat().st_mode & 0o777) == oct(mode)
    assert spy.opens, "the spy saw the dump opened"  # the compressed ones are read through lzma too
    assert "WRITE" not in spy.opens, spy.opens
    assert sorted(os.listdir(tmp_path)) == sorted([name, "cache"] if name.endswith(".xz") else [name])

"""Mutated dumps end in a result or one DumpFormatError: never another exception, a hang or a huge
allocation. A fixed example budget keeps CI bounded; tests/fuzz/ has the long run."""

from __future__ import annotations

import contextlib
from pathlib import Path

import dumpsynth as synth
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from parsers.errors import DumpFormatError
from pmoview.memory import AbsentMemoryError, open_dump

PAGE = bytes(range(256)) * 16


def _seeds() -> dict[str, bytes]:
    notes = synth.prstatus_note(rip=1) + synth.qemu_note(cr3=0x1000) + synth.vmcoreinfo_note("OSRELEASE=6.1\n")
    plain = synth.kdump({0: PAGE, 1: bytes(4096), 7: PAGE[::-1]}, notes=notes, vmcoreinfo=b"OSRELEASE=6.1\n")
    return {
        "kdump": plain,
        "flat": synth.flatten(plain, chunk=1500),
        "elf": synth.elf_core([(0x1000, PAGE * 2), (0x10000, PAGE)], notes),
        "lime": synth.lime([(0x1000, PAGE * 2), (0x10000, PAGE)]),
    }


SEEDS = _seeds()


def exercise(path: str) -> DumpFormatError | None:
    """What every command does with a dump: open, list ranges and CPUs, read pages. Returns the
    located error the dump ended in, or None when it was read; any other exception propagates."""
    try:
        mem = open_dump(path)
    except DumpFormatError as exc:
        return exc
    try:
        ranges = mem.ranges()
        _ = [c.regs for c in mem.cpus], mem.vmcoreinfo
        for r in ranges[:8]:
            for pa in (r.start, r.end - 4096):
                with contextlib.suppress(AbsentMemoryError):
                    mem.read(pa & ~0xFFF, 4096)
        mem.read_page(0x7000)
    except DumpFormatError as exc:
        return exc
    finally:
        mem.close()
    return None


def is_one_located_line(err: DumpFormatError, path: Path) -> bool:
    """The error a user sees: one line that starts with the file's name."""
    line = err.one_line()
    return "\n" not in line and line.startswith(str(path))


mutation = st.tuples(st.integers(min_value=0, max_value=1 << 20), st.integers(min_value=0, max_value=255))


@pytest.mark.parametrize("fmt", sorted(SEEDS))
@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(flips=st.lists(mutation, min_size=1, max_size=8), cut=st.one_of(st.none(), st.integers(min_value=0)))
def test_mutated_dump_ends_in_result_or_located_error(
    tmp_path: Path, fmt: str, flips: list[tuple[int, int]], cut: int | None
) -> None:
    data = bytearray(SEEDS[fmt])
    for pos, value in flips:
        data[pos % len(data)] = value
    if cut is not None:
        data = data[: cut % (len(data) + 1)]
    path = tmp_path / f"m.{fmt}"
    path.write_bytes(bytes(data))
    err = exercise(str(path))
    assert err is None or is_one_located_line(err, path)


@pytest.mark.parametrize("fmt", sorted(SEEDS))
def test_truncation_at_every_structure_boundary(tmp_path: Path, fmt: str) -> None:
    data = SEEDS[fmt]
    whole = tmp_path / "whole"
    whole.write_bytes(data)
    assert exercise(str(whole)) is None, "the untouched seed must read"
    cuts = sorted({*range(0, 600, 8), *range(4096, len(data), 512), len(data) - 1})
    for cut in cuts:
        path = tmp_path / f"t{cut}"
        path.write_bytes(data[:cut])
        err = exercise(str(path))
        if cut < 32:  # shorter than any header: never a dump
            assert err is not None, cut
        assert err is None or is_one_located_line(err, path), (cut, err)


@pytest.mark.parametrize(
    "offset,value,error_at",
    [
        (428, (1 << 31) - 1, 428),  # block_size: the field itself
        (436, 0xFFFFFFFF, 0x3000),  # bitmap_blocks: where the bitmaps would start
        (432, 0x7FFFFFFF, 0x7FFFFFFF * 4096 + 4096),  # sub_hdr_size: past the file
        (4096 + 56, 1 << 40, 4096 + 56),  # size_note: the field itself
        (4096 + 48, 1 << 62, 1 << 62),  # offset_note: where the notes would be
        (4096 + 40, 1 << 40, None),  # size_vmcoreinfo: unread, VMCOREINFO comes from the ELF note
    ],
)
def test_hostile_kdump_header_fields_are_refused_at_their_offset(
    tmp_path: Path, offset: int, value: int, error_at: int | None
) -> None:
    data = bytearray(SEEDS["kdump"])
    width = 8 if offset >= 4096 else 4
    data[offset : offset + width] = value.to_bytes(width, "little")
    path = tmp_path / "h.kdump"
    path.write_bytes(bytes(data))
    err = exercise(str(path))
    if error_at is None:
        assert err is None
    else:
        assert err is not None and err.offset == error_at and is_one_located_line(err, path)

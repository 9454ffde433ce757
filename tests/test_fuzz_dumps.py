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


def exercise(path: str) -> None:
    """What every command does with a dump: open, list ranges and CPUs, read pages."""
    try:
        mem = open_dump(path)
    except DumpFormatError as exc:
        assert "\n" not in str(exc)
        return
    try:
        ranges = mem.ranges()
        _ = [c.regs for c in mem.cpus], mem.vmcoreinfo
        for r in ranges[:8]:
            for pa in (r.start, r.end - 4096):
                with contextlib.suppress(AbsentMemoryError):
                    mem.read(pa & ~0xFFF, 4096)
        mem.read_page(0x7000)
    except DumpFormatError as exc:
        assert "\n" not in str(exc)
    finally:
        mem.close()


mutation = st.tuples(st.integers(min_value=0, max_value=1 << 20), st.integers(min_value=0, max_value=255))


@pytest.mark.parametrize("fmt", sorted(SEEDS))
@settings(max_examples=60, deadline=2000, suppress_health_check=[HealthCheck.function_scoped_fixture])
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
    exercise(str(path))


@pytest.mark.parametrize("fmt", sorted(SEEDS))
def test_truncation_at_every_structure_boundary(tmp_path: Path, fmt: str) -> None:
    data = SEEDS[fmt]
    cuts = sorted({*range(0, 600, 8), *range(4096, len(data), 512), len(data) - 1})
    for cut in cuts:
        path = tmp_path / f"t{cut}"
        path.write_bytes(data[:cut])
        exercise(str(path))


@pytest.mark.parametrize(
    "offset,value",
    [
        (428, (1 << 31) - 1),  # block_size
        (436, 0xFFFFFFFF),  # bitmap_blocks
        (432, 0x7FFFFFFF),  # sub_hdr_size
        (4096 + 56, 1 << 40),  # size_note
        (4096 + 48, 1 << 62),  # offset_note
        (4096 + 40, 1 << 40),  # size_vmcoreinfo
    ],
)
def test_hostile_kdump_header_fields(tmp_path: Path, offset: int, value: int) -> None:
    data = bytearray(SEEDS["kdump"])
    width = 8 if offset >= 4096 else 4
    data[offset : offset + width] = value.to_bytes(width, "little")
    path = tmp_path / "h.kdump"
    path.write_bytes(bytes(data))
    exercise(str(path))

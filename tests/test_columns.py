"""Mappings as columns: the streamed merge equals the whole-tree merge, one filter serves the CLI and
the TUI, and the compact JSON keeps the contract (same keys and values, one mapping per line)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from synth import DIRECT_MAP, PAGE, MiB, X86Tree

from pmoview.arch.columns import MappingColumns
from pmoview.cli import main
from pmoview.cli.mappings_output import WRITE_ROWS, flags_json, write_json, write_text
from pmoview.mapfilter import FilterError, filter_words, parse_filter
from pmoview.space import AddressSpace
from pmoview.tui.mapping_model import MappingModel

LINUX = Path(__file__).resolve().parent.parent / "sample_dumps" / "linux-x86_64-4l-nokaslr" / "dump.kdump"
TOP = 0xFFFF_FFFF_FFFF_F000


def tree() -> X86Tree:
    """Runs that join across PTs, PA gaps, flag changes, 2 MiB pages, and a page ending at 2**64."""
    t = X86Tree()
    base = DIRECT_MAP + 2 * MiB - 4 * PAGE
    for i in range(8):
        t.map(base + i * PAGE, 0x5000_0000 + i * PAGE, rw=1, xd=1)
    t.map(base + 8 * PAGE, 0x5000_0000 + 9 * PAGE, rw=1, xd=1)
    t.map(base + 9 * PAGE, 0x5000_0000 + 10 * PAGE, rw=0, xd=1)
    t.map(DIRECT_MAP + 8 * MiB, 0x4000_0000, size=2 * MiB, rw=1)
    t.map(0x40_0000, 0x9000, us=1, rw=1, table_fields={"us": 1})
    t.map(TOP, 0x7000, rw=1, xd=1)
    return t


def test_streamed_batches_of_any_size_equal_the_cached_walk() -> None:
    t = tree()
    whole = AddressSpace(t.mem, t.root_obj()).walk()
    for rows in (1, 2, 3, 1000):
        space = AddressSpace(t.mem, t.root_obj())
        batches = list(space.mapping_batches(rows=rows))
        got = [m for b in batches for m in b.mappings()]
        assert got == whole
        assert all(len(b) >= rows for b in batches[:-1])
    assert whole[-1].va_end == 1 << 64 and len(whole) == 6


def test_columns_roundtrip_and_top_of_the_address_space() -> None:
    t = tree()
    space = AddressSpace(t.mem, t.root_obj())
    cols = space.columns()
    assert cols.mappings() == space.walk()
    assert MappingColumns.from_mappings(space.walk(), cols.flags).mappings() == space.walk()
    last = len(cols) - 1
    assert cols.va_end_int(last) == 1 << 64 and int(cols.va_end[last]) == 0  # wraps in uint64
    assert cols.overlapping(TOP + 5, 1 << 64) == (last, last + 1)
    assert space.reverse(0x7000 + 12) == [TOP + 12]


def test_one_filter_for_the_cli_options_and_the_tui_words() -> None:
    t = tree()
    space = AddressSpace(t.mem, t.root_obj())
    cols = space.columns()
    model = MappingModel.build(cols)
    for words, opts in (("rw", {"writable": True}), ("x", {"exec_": True}), ("user", {"user": True})):
        model.apply(words)
        assert model.rows.tolist() == np.flatnonzero(parse_filter(filter_words(**opts)).mask(cols)).tolist()
    sup_half = parse_filter(filter_words(supervisor=True)).apply(cols).mappings()
    assert sup_half and all(not m.flags.user and m.va_start >= 1 << 63 for m in sup_half)
    ranged = parse_filter(f"{TOP:#x}-{(1 << 64) - 1:#x}").apply(cols).mappings()
    assert [m.va_start for m in ranged] == [TOP]
    assert [m.page_size for m in parse_filter("2m").apply(cols).mappings()] == [2 * MiB]
    with pytest.raises(FilterError, match="sparkly"):
        parse_filter("rw sparkly")


def test_json_writer_is_the_contract_one_mapping_per_line() -> None:
    t = tree()
    space = AddressSpace(t.mem, t.root_obj())
    out = io.StringIO()
    n = write_json(space.mapping_batches(rows=2), out)
    text = out.getvalue()
    lines = text.splitlines()
    assert lines[0] == "[" and lines[-1] == "]" and len(lines) == n + 2
    assert all(" " not in line for line in lines)  # compact
    expected = [
        {
            "va_start": hex(m.va_start),
            "va_end": hex(m.va_end),
            "pa_start": hex(m.pa_start),
            "page_size": m.page_size,
            "flags": flags_json(m.flags),
        }
        for m in space.walk()
    ]
    assert json.loads(text) == expected
    assert expected[-1]["va_end"] == "0x10000000000000000"
    empty = io.StringIO()
    assert write_json(iter([]), empty) == 0 and json.loads(empty.getvalue()) == []
    listing = io.StringIO()
    assert write_text(space.mapping_batches(), listing) == n
    assert listing.getvalue().splitlines()[0].startswith("0x0000000000400000-0x0000000000401000      4K -> ")


def test_json_writer_rows_past_one_write_piece_with_absent_frames_and_odd_page_sizes() -> None:
    """A batch longer than one formatted piece (``WRITE_ROWS``), every flags of the table, unbacked
    rows with two reasons, and page sizes that are not powers of two (the writer's fallback) all give
    the object per mapping that ``json.dumps`` of the mapping gives."""
    t = tree()
    table = AddressSpace(t.mem, t.root_obj()).columns().flags
    rng = np.random.default_rng(3)
    reasons = ["excluded by dump level 31", "not memory the machine had"]
    n = WRITE_ROWS * 2 + 17
    for sizes in ((4096, 2 * MiB, 1 << 30), (4096, 12288, 2 * MiB)):
        page = rng.choice(np.array(sizes, dtype=np.uint64), n)
        count = rng.integers(1, 5, n).astype(np.uint64)
        va = np.cumsum(page * count, dtype=np.uint64) - page * count + np.uint64(DIRECT_MAP)
        cols = MappingColumns(
            va,
            count,
            rng.integers(0, 1 << 40, n).astype(np.uint64) & ~np.uint64(0xFFF),
            page,
            rng.integers(0, len(table), n).astype(np.int32),
            rng.random(n) < 0.7,
            np.zeros(n, np.int8),
            table,
        )

        def absent(pas: np.ndarray, ends: np.ndarray) -> tuple[list[str], list[int]]:
            assert np.all(ends - pas > 0)
            return reasons, (pas >> np.uint64(12) & np.uint64(1)).astype(int).tolist()

        out = io.StringIO()
        assert write_json([cols.take(slice(0, 5)), cols.take(slice(5, n))], out, absent) == n
        expected = []
        for m in cols.mappings():
            row: dict[str, object] = {
                "va_start": hex(m.va_start),
                "va_end": hex(m.va_end),
                "pa_start": hex(m.pa_start),
                "page_size": m.page_size,
                "flags": flags_json(m.flags),
            }
            if not m.backed:
                row["absent"] = reasons[(m.pa_start >> 12) & 1]
            expected.append(row)
        assert out.getvalue().count("\n") == n + 2
        assert json.loads(out.getvalue()) == expected


@pytest.mark.skipif(not LINUX.exists(), reason="sample missing")
def test_cli_json_streams_the_real_guest_unchanged(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["mappings", str(LINUX), "--json"]) == 0
    out = capsys.readouterr().out
    got = json.loads(out)
    assert len(got) == out.count("\n") - 2 > 60_000
    # the committed guest is cut to its page tables (a filtered kdump): its user frames say so
    assert got[0].pop("absent") == "excluded by dump level 31"
    assert got[0] == {
        "va_start": "0x400000",
        "va_end": "0x401000",
        "pa_start": "0x330e000",
        "page_size": 4096,
        "flags": {
            "present": True,
            "writable": False,
            "user": True,
            "nx": True,
            "user_nx": True,
            "global": False,
            "accessed": True,
            "dirty": False,
            "cache": "WB",
        },
    }

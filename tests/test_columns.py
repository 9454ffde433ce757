"""Mappings as columns: the streamed merge equals the whole-tree merge, one filter serves the CLI and
the TUI, and the compact JSON keeps the contract (same keys and values, one mapping per line)."""

from __future__ import annotations

import io
import itertools
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from synth import DIRECT_MAP, PAGE, MiB, X86Tree

from pmoview.arch.columns import MappingColumns
from pmoview.checks.regions import Region
from pmoview.cli import main
from pmoview.cli.mappings_output import ALIAS_MIN, TEXT_ROW, WRITE_ROWS, flags_json, write_json, write_text
from pmoview.mapfilter import FilterError, filter_words, parse_filter
from pmoview.sizes import size_short
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


def _listing_one_row_at_a_time(maps: list, flag_text: list[str], why: Callable, regions: list[Region]) -> list[str]:
    """The listing's rules spelled out row by row (the writer does them in numpy): a group of rows
    that map the same frames is cut greedily into runs at one VA stride, runs of ``ALIAS_MIN`` or more
    are one line, a header on entering a region."""
    lines: list[str] = []
    segs: list[list] = []  # [first mapping, count, stride]
    for m in maps:
        if segs:
            f, count, stride = segs[-1]
            last_va = f.va_start + (count - 1) * stride
            step = m.va_start - last_va
            if (m.pa_start, m.va_end - m.va_start, m.page_size, m.flags, m.backed) == (
                f.pa_start,
                f.va_end - f.va_start,
                f.page_size,
                f.flags,
                f.backed,
            ) and (count == 1 or step == stride):
                segs[-1] = [f, count + 1, step]
                continue
        segs.append([m, 1, 0])
    current = None
    for f, count, stride in segs:
        span = f.va_end - f.va_start
        if count >= ALIAS_MIN:
            items = [(f.va_start, count, stride)]
        else:
            items = [(f.va_start + k * stride, 1, 0) for k in range(count)]
        for va, c, st in items:
            here = next((r for r in regions if r.start <= va < r.end), None)
            if here is not None and here is not current:
                lines.append(f"---[ {here.name} ]---")
            current = here
            size, psz = size_short(span), size_short(f.page_size)
            ft = flag_text[f.flags]
            end = va + (c - 1) * st + span
            row = TEXT_ROW % (va, end, f"{c}x" if c > 1 else size, f.pa_start, psz, ft)
            if c > 1:
                row += f"  ({c:,} aliases of these {size}, one every {st:#x})"
            if not f.backed:
                row += f"  [frames not in the dump: {why(f.pa_start)}]"
            lines.append(row)
    return lines


def test_text_listing_folds_aliases_across_batches_like_the_row_by_row_rules() -> None:
    """Groups of same-frame rows with strides that hold, break and restart, groups cut by batch
    boundaries, regions entered and left, unbacked rows: the numpy listing equals the rules done one
    row at a time."""
    t = tree()
    table = AddressSpace(t.mem, t.root_obj()).columns().flags
    rng = np.random.default_rng(11)
    va, rows = DIRECT_MAP, []
    for _ in range(700):
        pa = int(rng.integers(0, 1 << 30)) & ~0xFFF
        page = int(rng.choice([PAGE, 2 * MiB]))
        count, flag, backed = int(rng.integers(1, 3)), int(rng.integers(0, len(table))), bool(rng.random() < 0.8)
        reps = int(rng.choice([1, 1, 1, 2, 3, 4, 5, 9, 40]))
        stride = page * count * int(rng.integers(1, 4))
        for _ in range(reps):
            rows.append((va, count, pa, page, flag, backed))
            va += stride if rng.random() < 0.85 else stride + page * count
    cols = MappingColumns(
        *(
            np.array(c, dtype=d)
            for c, d in zip(zip(*rows, strict=True), (np.uint64,) * 4 + (np.int32, bool), strict=True)
        ),
        np.zeros(len(rows), np.int8),
        table,
    )
    maps = cols.mappings()
    mid = maps[len(maps) // 2].va_start
    regions = [Region(DIRECT_MAP, mid, "Low"), Region(mid + 64 * MiB, 1 << 64, "High")]
    flag_ids = {f: i for i, f in enumerate(table.items)}
    flag_text = [f.text() for f in table.items]
    reasons = ["excluded by dump level 31", "not memory the machine had"]

    def absent(pas: np.ndarray, ends: np.ndarray) -> tuple[list[str], list[int]]:
        return reasons, (pas >> np.uint64(12) & np.uint64(1)).astype(int).tolist()

    expected = _listing_one_row_at_a_time(
        [m._replace(flags=flag_ids[m.flags]) for m in maps], flag_text, lambda pa: reasons[(pa >> 12) & 1], regions
    )
    assert (
        any("aliases of these" in line for line in expected) and sum(line.startswith("---[") for line in expected) == 2
    )
    cuts = sorted(rng.choice(np.arange(1, len(rows)), 30, replace=False).tolist())
    for bounds in ([0, len(rows)], [0, *cuts, len(rows)]):
        out = io.StringIO()
        batches = [cols.take(slice(a, b)) for a, b in itertools.pairwise(bounds)]
        assert write_text(batches, out, absent, regions) == len(rows)
        assert out.getvalue().splitlines() == expected


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

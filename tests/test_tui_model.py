"""The TUI's model helpers (no Textual): table rows, entry bits, the mappings filter, PMO coverage."""

from __future__ import annotations

import pytest
from synth import PAGE, GiB, MiB, X86Tree

from pmoview.sizes import size_short, size_text
from pmoview.space import AddressSpace
from pmoview.tui.mapping_model import FilterError, MappingModel
from pmoview.tui.rows import entry_bits, table_rows

KERNEL = 0xFFFF_FFFF_8000_0000


def _pt_with_runs() -> tuple[X86Tree, AddressSpace]:
    t = X86Tree()
    for i in range(8):  # 8 contiguous RW pages, then 4 read-only, then a gap, then one page elsewhere
        t.map(KERNEL + i * PAGE, 0x20_0000 + i * PAGE, rw=1)
    for i in range(8, 12):
        t.map(KERNEL + i * PAGE, 0x20_0000 + i * PAGE, rw=0)
    t.map(KERNEL + 20 * PAGE, 0x90_0000)
    return t, AddressSpace(t.mem, t.root_obj())


def _pt_view(s: AddressSpace):  # type: ignore[no-untyped-def]
    v = s.root_table()
    for _ in range(3):
        v = s.children(v, next(i for i in v.present()))
    return v


def test_leaf_table_rows_are_runs_of_contiguous_equal_pages() -> None:
    _, s = _pt_with_runs()
    rows = table_rows(s, _pt_view(s))
    summary = [(r.first, r.count, r.kind) for r in rows]
    assert summary == [(0, 8, "leaf"), (8, 4, "leaf"), (12, 8, "none"), (20, 1, "leaf"), (21, 491, "none")]
    assert rows[0].va_start == KERNEL and rows[0].va_end == KERNEL + 8 * PAGE and rows[0].target == 0x20_0000
    assert rows[0].flags.writable and not rows[1].flags.writable


def test_a_run_of_empty_entries_never_crosses_the_canonical_hole() -> None:
    t = X86Tree()
    t.map(KERNEL, 0x7000)
    s = AddressSpace(t.mem, t.root_obj())
    rows = table_rows(s, s.root_table())
    assert [(r.first, r.last) for r in rows if r.kind == "none"] == [(0, 255), (256, 510)]
    assert rows[1].va_start == 0xFFFF_8000_0000_0000


def test_table_rows_flag_a_table_missing_from_the_dump() -> None:
    t = X86Tree()
    t.map(KERNEL, 0x7000)
    t.write(t.root, 5, 0x9_0000_0000 | 3)  # a PDPT the dump does not hold
    s = AddressSpace(t.mem, t.root_obj())
    row = next(r for r in table_rows(s, s.root_table()) if r.first == 5)
    assert row.kind == "table" and row.backed is False


def test_entry_bits_name_every_field_of_a_2m_leaf() -> None:
    t = X86Tree()
    t.map(KERNEL, 0x4000_0000, size=2 * MiB, rw=1, xd=1)
    e = t.entry(KERNEL, 2)
    layout, fields = entry_bits("x86_64", 2, "leaf", 2 * MiB, e)
    by = {f.name: f for f in fields}
    assert layout == "PDE (2 MiB page)"
    assert by["ps"].value == 1 and by["xd"].meaning == "execute-disable" and by["address"].meaning == "0x40000000"
    assert sum(f.width for f in fields) == 64


def test_human_sizes() -> None:
    assert (size_short(4096), size_short(2 * MiB), size_short(GiB), size_short(1536)) == ("4K", "2M", "1G", "1.5K")
    assert (size_short(512), size_short(1 << 56)) == ("512B", "64P")
    assert (size_text(4096), size_text(3 * GiB // 2), size_text(512)) == ("4 KiB", "1.5 GiB", "512 bytes")


def test_mapping_filter_words_and_ranges() -> None:
    t = X86Tree()
    t.map(KERNEL, 0x1000, rw=1, xd=1)
    t.map(KERNEL + 2 * PAGE, 0x5000, rw=0)
    t.map(0x40_0000, 0x9000, us=1, rw=1, table_fields={"us": 1})
    model = MappingModel.build(AddressSpace(t.mem, t.root_obj()).columns())
    assert len(model) == 3
    model.apply("x kernel")
    assert [model.mapping(i).pa_start for i in range(len(model))] == [0x5000]
    model.apply("user")
    assert [model.mapping(i).va_start for i in range(len(model))] == [0x40_0000]
    model.apply(f"{KERNEL:#x}-{KERNEL + PAGE:#x}")
    assert [model.mapping(i).pa_start for i in range(len(model))] == [0x1000]
    model.apply("")
    assert len(model) == 3 and model.index_of_va(KERNEL + 2 * PAGE + 5) == 2
    with pytest.raises(FilterError):
        model.apply("sparkly")


def test_diff_rows_are_the_entries_in_va_order_with_removed_added_changed_at_one_va() -> None:
    """The Diff view's rows: the three lists joined and sorted by VA, stably (what the table of every
    row showed before the view drew only the visible ones)."""
    from test_diff import K, random_pair

    from pmoview.diff import diff_spaces
    from pmoview.tui.diff_rows import DiffRows, side_text

    a, b = random_pair(3000, seed=7)
    d = diff_spaces(a, b)
    want = sorted(
        [(m.va_start, "-", m.va_end, m, None) for m in d.removed]
        + [(m.va_start, "+", m.va_end, None, m) for m in d.added]
        + [(c.va_start, "~", c.va_end, c.a, c.b) for c in d.changed],
        key=lambda r: r[0],
    )
    rows = DiffRows.build(d)
    got = [rows.row(y) for y in range(len(rows))]
    assert len(got) == len(want) > 1000
    assert [(r.va_start, r.kind, r.va_end, r.a, r.b) for r in got] == want
    assert rows.width_a == max(len(side_text(w[3])) for w in want)
    y = rows.index_of_va(want[500][0])
    assert y is not None and got[y].va_start == want[500][0] and rows.index_of_va(K + 1) is None

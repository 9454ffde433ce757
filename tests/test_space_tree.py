"""AddressSpace as a lazy tree (for the TUI): table views, children, anomalies, cost bounds."""

from __future__ import annotations

from synth import DIRECT_MAP, PAGE, CountingMemory, GiB, MiB, SynthDirectMap, X86Tree, x86_table

from pmoview.arch import Root
from pmoview.arch.records import path_key
from pmoview.space import AddressSpace

KERNEL = 0xFFFF_FFFF_8000_0000


def test_root_table_and_children_carry_va_path_and_permissions() -> None:
    t = X86Tree()
    t.map(KERNEL, 0x7000, rw=1, table_fields={"rw": 0})
    s = AddressSpace(t.mem, t.root_obj())
    root = s.root_table()
    assert root.level == 4 and root.present() == [511] and root.va(511) == 0xFFFF_FF80_0000_0000
    pdpt = s.children(root, 511)
    assert pdpt is not None and pdpt.name == "PDPT" and pdpt.path == (root.entry(511),)
    pd = s.children(pdpt, 510)
    pt = s.children(pd, 0) if pd else None
    assert pt is not None and pt.level == 1 and pt.va(0) == KERNEL and pt.kind_of(0) == "leaf"
    f = s.leaf_flags(pt, 0)
    assert f is not None and not f.writable  # the tables above said read-only
    assert s.children(pt, 0) is None
    assert path_key((*pt.path, pt.entry(0))) == path_key(s.entry_path(KERNEL))


def test_table_view_without_context_and_missing_table() -> None:
    t = X86Tree()
    t.map(KERNEL, 0x7000)
    s = AddressSpace(t.mem, t.root_obj())
    v = s.table(t.root, 4)
    assert v.backed and len(v) == 512 and v.va(0) is None
    missing = s.table(0x9_0000_0000, 2)
    assert not missing.backed and len(missing) == 0


def test_children_marks_a_recursive_entry() -> None:
    t = X86Tree()
    t.write(t.root, 510, x86_table(t.root))
    s = AddressSpace(t.mem, t.root_obj())
    child = s.children(s.root_table(), 510)
    assert child is not None and child.recursive and child.pa == t.root and child.name == "PDPT"


def test_decoded_tables_are_cached() -> None:
    t = X86Tree()
    t.map(KERNEL, 0x7000)
    mem = CountingMemory(t.mem)
    s = AddressSpace(mem, t.root_obj())
    s.translate(KERNEL)
    before = mem.reads
    for _ in range(10):
        s.translate(KERNEL + 8)
    assert mem.reads == before and s.stats.cache_hits >= 40


def test_anomalies_are_recorded_once_per_entry() -> None:
    t = X86Tree()
    t.set_entry(KERNEL, 2, x86_table(0x7_0000_0000))
    s = AddressSpace(t.mem, t.root_obj())
    for _ in range(3):
        list(s.leaves())
    assert [a.kind for a in s.anomalies] == ["table-outside-memory"]


def test_walk_cost_grows_with_tables_not_with_memory() -> None:
    mem = CountingMemory(SynthDirectMap(gib=4))  # 4 GiB of 4 KiB pages: 1 + 1 + 4 + 2048 tables
    s = AddressSpace(mem, mem.inner.root)  # type: ignore[attr-defined]
    ms = s.mappings()
    assert len(ms) == 1 and ms[0].count == 4 * GiB // PAGE and ms[0].va_start == DIRECT_MAP
    assert ms[0].flags.writable and ms[0].flags.nx and ms[0].backed
    assert mem.reads == len(mem.pages) == 2 + 4 + 2048
    assert s.stats.tables_visited == 2054 and s.stats.leaves == 4 * GiB // PAGE
    s.mappings()  # cached
    assert mem.reads == 2054


def test_a_dag_of_shared_tables_is_bounded_by_the_visit_limit() -> None:
    from pmoview.arch import WalkLimits

    t = X86Tree()
    t.map(0, 0, PAGE)
    pdpt, pd = t.table_of(0, 3), t.table_of(0, 2)
    for i in range(512):  # every PDPTE -> the same PD, every PDE -> the same PT: 2**27 leaves, 3 pages
        t.write(pdpt, i, x86_table(pd))
        t.write(pd, i, x86_table(t.table_of(0, 1)))
    s = AddressSpace(t.mem, t.root_obj(), WalkLimits(max_tables=1000))
    n = sum(len(c) for c in s.chunks())
    assert n < 1000 and "limit" in {a.kind for a in s.anomalies}
    assert "shared-table" in {a.kind for a in s.anomalies}


def test_root_json() -> None:
    r = Root("aarch64", "aarch64-4k", 0x4123_4000, "VMCOREINFO swapper_pg_dir", va_bits=48, half="ttbr1", mair=0x44)
    assert r.to_json() == {
        "arch": "aarch64",
        "mode": "aarch64-4k",
        "table": "0x41234000",
        "source": "VMCOREINFO swapper_pg_dir",
        "va_bits": 48,
        "half": "ttbr1",
        "mair": "0x44",
        "granule": 4096,
        "start_level": 0,
        "top_table_entries": 512,
        "pa_bits": 48,
        "ds": False,
    }
    assert X86Tree().root_obj().to_json()["mode"] == "x86_64-4level"
    assert MiB == 1 << 20

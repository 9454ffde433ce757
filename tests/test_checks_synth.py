"""pmoview.checks on synthetic page tables built with tests/synth.py: one behaviour per test."""

from __future__ import annotations

import json
import struct
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from synth import PAGE, GiB, MiB, X86Tree, x86_table

from parsers.errors import DumpFormatError
from parsers.multiboot2 import MmapEntry, build_boot_info
from pmoview.checks import CheckOptions, run_checks
from pmoview.checks.findings import ERROR, INFO, WARNING, Pending, merge_pending, subtract_intervals
from pmoview.checks.profiles import SEED, evaluate, load_spec
from pmoview.checks.ram import find_ram
from pmoview.checks.report import render
from pmoview.kernel import KernelImage, KernelSegment
from pmoview.space import AddressSpace

PMO = 0xFFFF_8000_0000_0000
KBASE = 0xFFFF_FFFF_8000_0000
RAM = 64 * MiB
TEXT = KBASE + 0x20_0000  # kernel .text at PA 0x200000, 4 KiB pages
DATA = TEXT + 4 * PAGE
NX_ONLY = frozenset({"nx"})


def seed_tree(ram: int = RAM, one_gib_above: int | None = None) -> X86Tree:
    """A correct seed-design tree: PMO over ``ram`` with 2 MiB RW NX supervisor pages, kernel text R-X and
    data RW NX at KERNEL_VIRT_BASE + 2 MiB. Tables live at 0x100000 (inside RAM, as in the seed kernel)."""
    t = X86Tree(table_base=0x10_0000)
    for pa in range(0, min(ram, one_gib_above or ram), 2 * MiB):
        t.map(PMO + pa, pa, 2 * MiB, rw=1, xd=1)
    if one_gib_above is not None:
        for pa in range(one_gib_above, ram, GiB):
            t.map(PMO + pa, pa, GiB, rw=1, xd=1)
    for i in range(4):
        t.map(TEXT + i * PAGE, 0x20_0000 + i * PAGE, rw=0, xd=0)
    for i in range(4):
        t.map(DATA + i * PAGE, 0x20_4000 + i * PAGE, rw=1, xd=1)
    return t


def kernel_elf(text_flags: str = "R-X") -> KernelImage:
    return KernelImage(
        "kernel.elf",
        "x86_64",
        TEXT,
        [
            KernelSegment(TEXT, 0x20_0000, 4 * PAGE, 4 * PAGE, text_flags),
            KernelSegment(DATA, 0x20_4000, 4 * PAGE, 4 * PAGE, "RW-"),
        ],
        {},
    )


def check(
    t: X86Tree,
    ram: list[tuple[int, int]] | None = None,
    features: frozenset[str] | None = NX_ONLY,
    kernel: KernelImage | None = None,
    **kw: object,
):  # type: ignore[no-untyped-def]
    space = AddressSpace(t.mem, t.root_obj(nxe=True))
    opts = CheckOptions(cpu_features=features, ram=ram or [(0, RAM)], **kw)  # type: ignore[arg-type]
    return run_checks(space, t.mem, "seed", kernel=kernel, options=opts)


def only(report, kind: str):  # type: ignore[no-untyped-def]
    return [f for f in report.findings if f.kind == kind]


def test_correct_tree_has_no_findings_but_info() -> None:
    r = check(seed_tree(), kernel=kernel_elf())
    assert r.kinds(ERROR) == set() and r.kinds(WARNING) == set()
    assert r.exit_code == 0 and r.ram_source == "option"


def test_cleared_pmo_entry_is_pmo_missing_with_the_entry_as_evidence() -> None:
    t = seed_tree()
    t.set_entry(PMO + 8 * MiB, 2, 0)
    r = check(t)
    [f] = only(r, "pmo-missing")
    assert f.severity == ERROR
    assert (f.va_start, f.va_end, f.pa_start, f.pa_end) == (PMO + 8 * MiB, PMO + 10 * MiB, 8 * MiB, 10 * MiB)
    assert [(e.level, e.index) for e in f.paths[0]] == [(4, 256), (3, 0), (2, 4)]
    assert "PML4[256] → PDPT[0] → PD[4] is not present" in f.message
    assert r.exit_code == 1


def test_wrong_frame_is_wrong_target_and_not_also_missing() -> None:
    t = seed_tree()
    t.map(PMO + 8 * MiB, 10 * MiB, 2 * MiB, rw=1, xd=1)
    r = check(t)
    [f] = only(r, "pmo-wrong-target")
    assert (f.va_start, f.pa_start, f.pa_end) == (PMO + 8 * MiB, 10 * MiB, 12 * MiB)
    assert "mapped twice" in f.message and "0x800000-0xa00000" in f.message
    assert not only(r, "pmo-missing") and r.kinds(ERROR) == {"pmo-wrong-target"}


def test_executable_pmo_is_pmo_flags_merged_into_one_range() -> None:
    t = seed_tree()
    for pa in range(0, RAM, 2 * MiB):
        t.map(PMO + pa, pa, 2 * MiB, rw=1, xd=0)
    r = check(t)
    [f] = only(r, "pmo-flags")
    assert (f.va_start, f.va_end) == (PMO, PMO + RAM) and "executable" in f.message
    assert r.kinds(ERROR) == {"pmo-flags", "wx"}  # RW without XD: writable and executable too


def test_writable_executable_pmo_is_also_wx() -> None:
    t = seed_tree()
    t.map(PMO, 0, 2 * MiB, rw=1, xd=0)
    r = check(t)
    assert {"pmo-flags", "wx"} <= r.kinds(ERROR)


def test_user_pmo_is_user_kernel_and_pmo_flags() -> None:
    t = seed_tree()
    for pa in range(0, RAM, 2 * MiB):
        t.map(PMO + pa, pa, 2 * MiB, rw=1, xd=1, us=1)
    r = check(t)
    assert r.kinds(ERROR) == {"user-kernel", "pmo-flags"}
    [u] = only(r, "user-kernel")
    assert "U/S is set in PML4[256], PDPT[0], PD[0]" in u.message


def test_one_gib_pages_judged_by_cpu_features() -> None:
    t = seed_tree(ram=2 * GiB, one_gib_above=GiB)
    ram = [(0, 2 * GiB)]
    assert [f.severity for f in only(check(t, ram, features=NX_ONLY), "pmo-page-size")] == [ERROR]
    assert [f.severity for f in only(check(t, ram, features=None), "pmo-page-size")] == [WARNING]
    assert not only(check(t, ram, features=frozenset({"pdpe1gb", "nx"})), "pmo-page-size")
    assert not only(check(t, ram, features=None, allow_1g=True), "pmo-page-size")
    err = only(check(t, ram, features=NX_ONLY), "pmo-page-size")[0]
    assert "pdpe1gb" in err.message and "PDPT[1]" in err.message


def test_literal_virt_to_phys_is_diagnosed_in_plain_words() -> None:
    t = seed_tree(ram=2 * GiB)
    pd = t.table_of(PMO + GiB, 2)  # the extension PD for the second GiB, somewhere at 0x10xxxx
    bad = pd + KBASE - PMO  # kernel-image VA of the table, converted with the PMO rule
    pdpt = t.table_of(PMO, 3)
    t.write(pdpt, 1, x86_table(bad, us=0) | 0x3)
    # the table's kernel-image VA must be in the image region: KBASE + pd
    r = check(t, [(0, 2 * GiB)])
    [tom] = only(r, "table-outside-memory")
    assert tom.severity == ERROR and tom.pa_start == bad
    assert (
        f"PML4[256] → PDPT entry 1 points at {bad:#x}, which is kernel VA {KBASE + pd:#x} minus PHYS_OFFSET: "
        f"virt_to_phys checked the PMO range before the kernel-image range; the table is at PA {pd:#x}"
    ) in tom.message
    [miss] = only(r, "pmo-missing")
    assert (miss.pa_start, miss.pa_end) == (GiB, 2 * GiB) and "see table-outside-memory" in miss.message


def test_reserved_bit_pointer_outside_memory_is_still_table_outside_memory() -> None:
    t = seed_tree(ram=2 * GiB)
    pd = t.table_of(PMO + GiB, 2)
    pdpt = t.table_of(PMO, 3)
    t.write(pdpt, 1, x86_table(pd + KBASE - PMO) | 0x3)
    space = AddressSpace(t.mem, t.root_obj(nxe=True, maxphyaddr=40))
    r = run_checks(space, t.mem, "seed", options=CheckOptions(cpu_features=NX_ONLY, ram=[(0, 2 * GiB)]))
    assert {"reserved-bits", "table-outside-memory", "pmo-missing"} <= r.kinds(ERROR)
    assert "virt_to_phys" in only(r, "table-outside-memory")[0].message


def test_empty_pml4_256_is_only_pmo_root_missing() -> None:
    t = seed_tree()
    t.write(t.root, 256, 0)
    r = check(t)
    assert r.kinds(ERROR) == {"pmo-root-missing"}
    [f] = only(r, "pmo-root-missing")
    assert f.paths[0][0].text() == "PML4[256]" and "64 MiB of RAM" in f.message


def test_writable_text_is_wx_and_kernel_segment_perms() -> None:
    t = seed_tree()
    t.map(TEXT, 0x20_0000, rw=1, xd=0)
    r = check(t, kernel=kernel_elf())
    assert r.kinds(ERROR) == {"wx", "kernel-segment-perms"}
    [p] = only(r, "kernel-segment-perms")
    assert (p.va_start, p.va_end) == (TEXT, TEXT + PAGE) and "writable" in p.message and "R-X" in p.message


def test_unmapped_and_misplaced_kernel_segments() -> None:
    t = seed_tree()
    t.set_entry(DATA + PAGE, 1, 0)
    t.map(DATA + 2 * PAGE, 0x30_0000, rw=1, xd=1)
    r = check(t, kernel=kernel_elf())
    [m] = only(r, "kernel-segment-missing")
    assert (m.va_start, m.va_end) == (DATA + PAGE, DATA + 2 * PAGE)
    [w] = only(r, "kernel-segment-wrong-target")
    assert w.pa_start == 0x30_0000 and "virt_to_phys(va) = va - KERNEL_VIRT_BASE" in w.message


def test_identity_map_leftover_is_info() -> None:
    t = seed_tree()
    t.map(0, 0, 2 * MiB, rw=1, us=0)
    r = check(t)
    [f] = only(r, "identity-map-leftover")
    assert f.severity == INFO and r.exit_code == 0


def test_kernel_half_user_page_is_user_kernel() -> None:
    t = seed_tree()
    t.map(DATA, 0x20_4000, rw=1, xd=1, us=1)
    r = check(t)
    assert [f.kind for f in r.findings if f.severity == ERROR] == ["user-kernel"]


def test_ok_mark_suppresses_and_wrong_mark_becomes_user_mark(tmp_path: Path) -> None:
    from pmoview.marks import load_marks

    t = seed_tree()
    t.set_entry(PMO + 8 * MiB, 2, 0)
    marks = load_marks(str(tmp_path / "m.json"))
    marks.add("ok", t.root, path=[(4, 256), (3, 0), (2, 4)], note="known hole")
    r = check(t, marks=marks)
    assert not only(r, "pmo-missing") and len(r.suppressed) == 1 and r.exit_code == 0
    marks.add("wrong", t.root, path=[(4, 256), (3, 0), (2, 7)], note="should be UC")
    r = check(t, marks=marks)
    [u] = only(r, "user-mark")
    assert u.severity == ERROR and (u.va_start, u.va_end) == (PMO + 14 * MiB, PMO + 16 * MiB)
    assert "should be UC" in u.message and u.paths[0][-1].text() == "PD[7]"


def test_marks_of_another_root_are_ignored(tmp_path: Path) -> None:
    from pmoview.marks import load_marks

    t = seed_tree()
    marks = load_marks(str(tmp_path / "m.json"))
    marks.add("wrong", t.root + PAGE, path=[(4, 256)])
    assert not only(check(t, marks=marks), "user-mark")


def test_ram_from_multiboot2_kernel_symbols() -> None:
    t = seed_tree()
    entries = [MmapEntry(0, 0x9FC00, 1), MmapEntry(0x9FC00, 0x400, 2), MmapEntry(0x100000, RAM - 0x100000, 1)]
    copy_pa, count_pa = 0x20_5000, 0x20_6000
    t.mem.write(copy_pa, b"".join(struct.pack("<QQII", e.base_addr, e.length, e.type, 0) for e in entries))
    t.mem.write(count_pa, struct.pack("<I", len(entries)))
    k = kernel_elf()
    k.symbols.update({"mb2_mmap_copy": DATA + PAGE, "mb2_mmap_count": DATA + 2 * PAGE})
    space = AddressSpace(t.mem, t.root_obj(nxe=True))
    ram = find_ram(t.mem, space, k)
    assert ram.source == "multiboot2" and "mb2_mmap_copy" in ram.detail
    assert [(r.start, r.end, r.type) for r in ram.ranges] == [
        (0, 0x9FC00, 1),
        (0x9FC00, 0xA0000, 2),
        (0x100000, RAM, 1),
    ]
    r = run_checks(space, t.mem, "seed", kernel=k, options=CheckOptions(cpu_features=NX_ONLY))
    assert r.ram_source == "multiboot2" and r.exit_code == 0
    assert {f.severity for f in only(r, "pmo-extra")} == {INFO}  # the reserved 0x9fc00.. in the first GiB


def test_ram_from_a_scan_for_boot_information() -> None:
    t = seed_tree()
    t.mem.write(
        0x1_0008, build_boot_info([MmapEntry(0, 0x9FC00, 1), MmapEntry(0x100000, RAM - 0x100000, 1)], [(1, b"\0")])
    )
    ram = find_ram(t.mem)
    assert ram.source == "multiboot2" and "0x10008" in ram.detail and ram.top == RAM


def test_ram_falls_back_to_dump_ranges_and_says_so() -> None:
    t = seed_tree()
    ram = find_ram(t.mem, scan=False)
    assert ram.source == "dump" and not ram.authoritative and "not the firmware memory map" in ram.detail


def test_mb2_info_option_that_is_not_boot_information_is_unusable_input() -> None:
    t = seed_tree()
    with pytest.raises(DumpFormatError):
        find_ram(t.mem, mb2_info=0x10_0000)


def test_json_report_follows_the_contract() -> None:
    t = seed_tree()
    t.set_entry(PMO + 8 * MiB, 2, 0)
    data = json.loads(render(check(t), "json"))
    assert {"version", "profile", "ram_source", "findings", "summary"} <= set(data)
    assert data["profile"] == "seed" and data["ram_source"] == "option"
    f = next(f for f in data["findings"] if f["kind"] == "pmo-missing")
    assert f == {
        **f,
        "severity": "error",
        "va_start": "0xffff800000800000",
        "va_end": "0xffff800000a00000",
        "pa_start": "0x800000",
        "pa_end": "0xa00000",
    }
    assert f["paths"][0][-1] == {"level": 2, "index": 4, "entry": "0x0"}
    assert data["summary"]["error"] == 1 and data["summary"]["exit_code"] == 1


def test_sarif_and_junit_reports() -> None:
    t = seed_tree()
    t.set_entry(PMO + 8 * MiB, 2, 0)
    r = check(t)
    sarif = json.loads(render(r, "sarif"))
    assert sarif["version"] == "2.1.0"
    res = sarif["runs"][0]["results"]
    assert any(x["ruleId"] == "pmo-missing" and x["level"] == "error" for x in res)
    rules = [x["id"] for x in sarif["runs"][0]["tool"]["driver"]["rules"]]
    assert all(rules[x["ruleIndex"]] == x["ruleId"] for x in res)
    root = ET.fromstring(render(r, "junit"))
    case = root.find(".//testcase[@name='pmo-missing']")
    assert case is not None and case.find("failure") is not None
    assert root.find(".//testcase[@name='kernel-segment-perms']/skipped") is not None
    assert root.get("failures") == "1"


def test_text_report_groups_by_severity_and_shows_paths() -> None:
    t = seed_tree()
    t.set_entry(PMO + 8 * MiB, 2, 0)
    t.map(0, 0, 2 * MiB, rw=1)
    text = render(check(t), "text")
    assert text.index("ERRORS (1)") < text.index("INFO")
    assert "path:     PML4[256] → PDPT[0] → PD[4]" in text and "exit 1" in text


# -- profiles ------------------------------------------------------------------------------------------
def test_expressions_over_facts() -> None:
    facts = {"PHYS_OFFSET": PMO, "SYMBOL(_stext)": 0x1000, "kimage_voffset": 0x800}
    assert evaluate("PHYS_OFFSET + 0x1000", facts) == PMO + 0x1000
    assert evaluate("SYMBOL(_stext) - kimage_voffset", facts) == 0x800
    assert evaluate("-1", {}) == (1 << 64) - 1
    with pytest.raises(ValueError):
        evaluate("PHYS_OFFSET +", facts)


def test_spec_extends_and_overrides_a_profile(tmp_path: Path) -> None:
    spec = tmp_path / "layout.toml"
    spec.write_text("""
extends = "seed"
name = "my-kernel"
[[regions]]
name = "pmo"
required = ["present", "writable", "supervisor"]   # NX not required in this kernel
[[regions]]
name = "mmio"
role = "window"
va_start = "PHYS_OFFSET + 0x100000000000"
va_end = "PHYS_OFFSET + 0x100040000000"
forbidden = ["user", "exec"]
""")
    prof = load_spec(str(spec))
    assert prof.name == "my-kernel" and prof.region("pmo").required == ("present", "writable", "supervisor")
    assert prof.region("kernel-image") == SEED.region("kernel-image") and prof.region("mmio") is not None
    t = seed_tree()
    for pa in range(0, RAM, 2 * MiB):
        t.map(PMO + pa, pa, 2 * MiB, rw=1, xd=0)
    space = AddressSpace(t.mem, t.root_obj(nxe=True))
    r = run_checks(space, t.mem, "seed", options=CheckOptions(cpu_features=NX_ONLY, ram=[(0, RAM)]), spec=str(spec))
    assert not only(r, "pmo-flags") and r.profile.name == "my-kernel"


@pytest.mark.parametrize(
    "text",
    [
        'extends = "nope"',
        "bogus = 1",
        '[[regions]]\nname = "x"\nrole = "pmo"',
        '[[regions]]\nname = "pmo"\nrequired = ["shiny"]',
        "extends = [",
    ],
)
def test_bad_spec_is_unusable_input(tmp_path: Path, text: str) -> None:
    spec = tmp_path / "bad.toml"
    spec.write_text(text)
    with pytest.raises(DumpFormatError):
        load_spec(str(spec), SEED)


# -- findings ------------------------------------------------------------------------------------------
def test_touching_conclusions_merge_and_others_do_not() -> None:
    def render_(p: Pending) -> tuple[str, None, None]:
        return f"{p.count}", None, None

    items = [Pending("pmo-missing", ERROR, "g", a, a + 10, a, a + 10, render_) for a in (0, 10, 30)]
    items.append(Pending("pmo-missing", WARNING, "g", 20, 30, 20, 30, render_))
    got = sorted(merge_pending(items), key=lambda f: (f.severity, f.va_start))
    assert [(f.severity, f.va_start, f.va_end, f.message) for f in got] == [
        (ERROR, 0, 20, "2"),
        (ERROR, 30, 40, "1"),
        (WARNING, 20, 30, "1"),
    ]
    assert subtract_intervals([(0, 100)], [(10, 20), (15, 30), (90, 200)]) == [(0, 10), (30, 90)]


# -- CLI ----------------------------------------------------------------------------------------------
def _raw_image(t: X86Tree, path: Path) -> None:
    top = max(t.mem.pages) + PAGE
    buf = bytearray(top)
    for pa, page in t.mem.pages.items():
        buf[pa : pa + PAGE] = page
    path.write_bytes(bytes(buf))


def _cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    from pmoview.cli import main

    code = main(args)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_exit_codes_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    t = seed_tree()
    img = tmp_path / "ok.raw"
    _raw_image(t, img)
    base = [
        "check",
        str(img),
        "--dump-format",
        "raw",
        "--cr3",
        hex(t.root),
        "--profile",
        "seed",
        "--ram",
        f"0-{RAM:#x}",
        "--cpu-features",
        "nx",
    ]
    code, out, err = _cli(base + ["--format", "json"], capsys)
    assert code == 0, err
    assert json.loads(out)["summary"]["error"] == 0
    t.set_entry(PMO + 8 * MiB, 2, 0)
    _raw_image(t, img)
    code, out, _ = _cli(base, capsys)
    assert code == 1 and "[pmo-missing]" in out
    code, _, err = _cli(["check", str(tmp_path / "absent.kdump")], capsys)
    assert code == 2 and "Traceback" not in err
    bad = tmp_path / "bad.toml"
    bad.write_text("bogus = 1")
    code, _, err = _cli(base + ["--spec", str(bad)], capsys)
    assert code == 2 and "bad.toml" in err


def test_cli_junit_to_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    t = seed_tree()
    img = tmp_path / "ok.raw"
    _raw_image(t, img)
    out_file = tmp_path / "report.xml"
    code, _, err = _cli(
        [
            "check",
            str(img),
            "--dump-format",
            "raw",
            "--cr3",
            hex(t.root),
            "--ram",
            f"0-{RAM:#x}",
            "--format",
            "junit",
            "-o",
            str(out_file),
        ],
        capsys,
    )
    assert code == 0, err
    assert ET.parse(out_file).getroot().tag == "testsuites"


def test_checks_do_not_import_textual() -> None:
    import subprocess
    import sys

    code = "import sys, pmoview.checks, pmoview.cli.check_cmd; sys.exit('textual' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).parent.parent, check=False).returncode == 0


def test_cli_marks_sidecar(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from pmoview.marks import load_marks

    t = seed_tree()
    t.set_entry(PMO + 8 * MiB, 2, 0)
    img = tmp_path / "hole.raw"
    _raw_image(t, img)
    side = load_marks(str(tmp_path / "marks.json"))
    side.add("ok", t.root, path=[(4, 256), (3, 0), (2, 4)], note="firmware hole, on purpose")
    side.save()
    base = ["check", str(img), "--dump-format", "raw", "--cr3", hex(t.root), "--ram", f"0-{RAM:#x}"]
    code, out, err = _cli(base + ["--marks", str(tmp_path / "marks.json"), "--format", "json"], capsys)
    assert code == 0, err
    data = json.loads(out)
    assert data["summary"]["suppressed"] == 1 and data["suppressed"][0]["suppressed_by"] == "m1"
    (tmp_path / "broken.json").write_text("{not json")
    code, _, err = _cli(base + ["--marks", str(tmp_path / "broken.json")], capsys)
    assert code == 2 and "broken.json" in err

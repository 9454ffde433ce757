"""Real crash dumps: makedumpfile's LZO/zlib output, a PTI guest caught in user mode, and a real
panic's vmcore saved by a kexec capture kernel (sample_dumps/linux-x86_64-pti-user and
linux-x86_64-kdump-panic, made by sample_dumps/linux/make_kdump_samples.sh)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import cramjam
import numpy as np
import pytest
import zstandard

from parsers.kdump import (
    DUMP_DH_COMPRESSED_LZO,
    DUMP_DH_COMPRESSED_SNAPPY,
    DUMP_DH_COMPRESSED_ZSTD,
    PAGE_DESC_DTYPE,
    PAGE_DESC_SIZE,
)
from pmoview.arch import Root
from pmoview.checks import run_checks
from pmoview.kernel_log import access_of, find_oops, read_kernel_log
from pmoview.memory import open_dump
from pmoview.memory.kdump import KdumpMemory
from pmoview.roots import find_roots
from pmoview.space import AddressSpace

SAMPLES = Path(__file__).resolve().parent.parent / "sample_dumps"
PTI = SAMPLES / "linux-x86_64-pti-user"
PANIC = SAMPLES / "linux-x86_64-kdump-panic"


def truth(d: Path) -> dict[str, Any]:
    return json.loads((d / "truth.json").read_text())  # type: ignore[no-any-return]


def pmoview(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pmoview", *args], capture_output=True, text=True, timeout=300)


def descriptor_flags(mem: KdumpMemory) -> set[int]:
    _, rank = mem._index()
    n = int(rank[-1])
    raw = mem.file.read(mem.desc_offset, n * PAGE_DESC_SIZE, "descriptors")
    return {int(f) for f in np.frombuffer(raw, dtype=PAGE_DESC_DTYPE)["flags"]}


def pages_of(path: Path) -> dict[int, bytes]:
    mem = open_dump(str(path))
    out = {}
    for r in mem.ranges():
        for pa in range(r.start, r.end, 4096):
            page = mem.read_page(pa)
            assert page is not None
            out[pa] = page
    mem.close()
    return out


# -- codecs -------------------------------------------------------------------------------------
def test_makedumpfile_lzo_pages_equal_zlib_pages_of_the_same_snapshot() -> None:
    """makedumpfile -l (LZO) and -c (zlib) of one QEMU ELF dump, and QEMU's own kdump-zlib of the
    same stopped guest: every page the cuts share decodes to the same bytes."""
    t = truth(PTI)["dumps"]
    lzo_mem = open_dump(str(PTI / t["kdump"]))
    assert isinstance(lzo_mem, KdumpMemory)
    assert DUMP_DH_COMPRESSED_LZO in descriptor_flags(lzo_mem)
    lzo_mem.close()
    lzo = pages_of(PTI / t["kdump"])
    zl = pages_of(PTI / t["kdump_makedumpfile_zlib"])
    qemu = pages_of(PTI / t["kdump_qemu_zlib"])
    assert len(lzo) > 300 and lzo.keys() == zl.keys()
    assert all(lzo[pa] == zl[pa] for pa in lzo)
    shared = lzo.keys() & qemu.keys()
    assert len(shared) > 300 and all(lzo[pa] == qemu[pa] for pa in shared)


def test_capture_kernel_lzo_zlib_and_elf_copy_agree() -> None:
    t = truth(PANIC)["dumps"]
    lzo_mem = open_dump(str(PANIC / t["kdump"]))
    assert isinstance(lzo_mem, KdumpMemory)
    assert DUMP_DH_COMPRESSED_LZO in descriptor_flags(lzo_mem)
    lzo_mem.close()
    lzo, zl, elf = (pages_of(PANIC / t[k]) for k in ("kdump", "kdump_zlib", "elf"))
    assert lzo.keys() == zl.keys() and all(lzo[pa] == zl[pa] for pa in lzo)
    shared = lzo.keys() & elf.keys()
    assert len(shared) > 250 and all(lzo[pa] == elf[pa] for pa in shared)


@pytest.mark.parametrize(
    ("flag", "encode"),
    [
        (DUMP_DH_COMPRESSED_SNAPPY, lambda b: bytes(cramjam.snappy.compress_raw(b))),
        (DUMP_DH_COMPRESSED_ZSTD, lambda b: zstandard.ZstdCompressor(level=1).compress(b)),
    ],
    ids=["snappy", "zstd"],
)
def test_snappy_and_zstd_pages_of_a_real_dump_decode(tmp_path: Path, flag: int, encode: Any) -> None:
    """No producer here writes snappy or zstd kdumps (Debian's makedumpfile 1.7.2 and QEMU 7.2 are
    built without them), so the real LZO dump is re-encoded page by page as makedumpfile -p / -z
    would (raw snappy, one zstd frame per page) and must read back unchanged."""
    src = open_dump(str(PTI / truth(PTI)["dumps"]["kdump"]))
    assert isinstance(src, KdumpMemory)
    raw = bytearray(Path(src.file.path if hasattr(src.file, "path") else src.path).read_bytes())
    _, rank = src._index()
    n = int(rank[-1])
    descs = np.frombuffer(bytes(raw[src.desc_offset : src.desc_offset + n * PAGE_DESC_SIZE]), dtype=PAGE_DESC_DTYPE)
    expected = pages_of(PTI / truth(PTI)["dumps"]["kdump"])
    out = bytearray(raw[: src.desc_offset + n * PAGE_DESC_SIZE])
    new = descs.copy()
    for i, pa in enumerate(sorted(expected)):
        body = encode(expected[pa])
        new[i] = (len(out), len(body), flag, int(descs[i]["page_flags"]))
        out += body
    out[src.desc_offset : src.desc_offset + n * PAGE_DESC_SIZE] = new.tobytes()
    src.close()
    path = tmp_path / "recoded.kdump"
    path.write_bytes(bytes(out))
    assert pages_of(path) == expected


# -- root kinds ---------------------------------------------------------------------------------
def test_pti_user_cr3_is_recognised_and_its_kernel_twin_leads() -> None:
    t = truth(PTI)
    mem = open_dump(str(PTI / t["dumps"]["kdump"]))
    roots = find_roots(mem)
    by_table = {r.table: r for r in roots}
    for user, twin in zip(t["pti_user_roots"], t["kernel_twins"], strict=True):
        u = by_table[int(user, 16)]
        assert u.kind == "pti-user" and u.twin == int(twin, 16)
        assert by_table[int(twin, 16)].kind == "kernel"
    assert roots[0].kind == "kernel"
    assert [r.kind for r in roots] == sorted((r.kind for r in roots), key=lambda k: k != "kernel")
    mem.close()


def test_pti_snapshot_checks_clean_and_kernel_vas_translate_without_options() -> None:
    d = PTI / truth(PTI)["dumps"]["kdump"]
    r = pmoview("check", str(d))
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr
    r = pmoview("check", str(d), "--all-roots", "--format", "json")
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert not [f for f in report["findings"] if f["severity"] == "error"]
    assert {x.get("kind") for x in report["roots"]} == {"kernel", "pti-user"}
    stext = truth(PTI)["vmcoreinfo_expect"]["SYMBOL(_stext)"]
    r = pmoview("translate", str(d), "0x" + stext, "--json")
    assert r.returncode == 0 and json.loads(r.stdout)[0]["pa"] is not None, r.stderr


def test_a_kernel_pgd_judged_as_pti_user_leaks_the_direct_map() -> None:
    t = truth(PTI)
    mem = open_dump(str(PTI / t["dumps"]["kdump"]))
    twin = int(t["kernel_twins"][0], 16)
    as_user = Root("x86_64", "x86_64-4level", twin, "test", kind="pti-user", twin=twin - 0x1000)
    report = run_checks([AddressSpace(mem, as_user)], mem)
    leaks = [f for f in report.findings if f.kind == "pti-leak"]
    assert leaks and all(f.severity == "error" and f.root == twin for f in leaks)
    assert sum((f.va_end or 0) - (f.va_start or 0) for f in leaks) > 256 << 20  # the direct map at least
    assert not [f for f in report.findings if f.kind.startswith(("pmo-", "kernel-segment"))]
    mem.close()


# -- the real panic -----------------------------------------------------------------------------
@pytest.mark.parametrize("key", ["kdump", "kdump_zlib", "elf"])
def test_real_panic_vmcore_opens_checks_clean_and_logs_the_panic(key: str) -> None:
    t = truth(PANIC)
    path = PANIC / t["dumps"][key]
    mem = open_dump(str(path))
    assert len(mem.cpus) == 2 and all("NT_PRSTATUS" in c.sources for c in mem.cpus)
    roots = find_roots(mem)
    assert roots and roots[0].kind == "kernel" and roots[0].source.startswith("VMCOREINFO")
    log = read_kernel_log(mem)
    assert any(t["panic"]["log_line"] in r.text for r in log.records)
    oops = find_oops(log)
    assert oops is not None
    assert (oops.panic, oops.cpu, oops.pid, oops.comm) == (
        t["panic"]["message"],
        t["panic"]["cpu"],
        t["panic"]["pid"],
        t["panic"]["comm"],
    )
    mem.close()
    r = pmoview("check", str(path))
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr
    r = pmoview("log", str(path), "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["oops"]["panic"] == t["panic"]["message"] and out["oops"]["cpu"] == t["panic"]["cpu"]


def test_kernel_log_matches_the_console() -> None:
    """The boot messages the console printed (levels 0-6; KERN_DEBUG stays in the log only) before
    /init quietened it are the log's, in order; the debug ones are there too, with level 7."""
    mem = open_dump(str(PANIC / truth(PANIC)["dumps"]["kdump"]))
    log = read_kernel_log(mem)
    serial = (PANIC / "serial.log").read_text(errors="replace")
    first = log.records[:60]
    assert first[0].line().startswith("[    0.000000] Linux version 6.1.0")
    shown = [r.line() for r in first if r.level is not None and r.level < 7]
    assert len(shown) > 50 and all(line in serial for line in shown)
    assert {r.level for r in first if r.line() not in serial} == {7}
    assert [r.seq for r in log.records] == list(range(log.records[0].seq, log.records[0].seq + len(log.records)))
    mem.close()


def test_oops_lines_give_address_access_and_cpu() -> None:
    """The lines arch/x86/mm/fault.c (show_fault_oops, page_fault_oops) and dump_stack print."""
    from pmoview.kernel_log import KernelLog, LogRecord

    text = [
        "BUG: unable to handle page fault for address: ffff888012345678",
        "#PF: supervisor write access in kernel mode",
        "#PF: error_code(0x0003) - permissions violation",
        "PGD 1a801067 P4D 1a801067 PUD 0",
        "Oops: 0003 [#1] PREEMPT SMP PTI",
        "CPU: 1 PID: 77 Comm: insmod Not tainted 6.1.0-56-amd64 #1  Debian 6.1.192-2",
        "RIP: 0010:demo_init+0x11/0x1000 [demo]",
        "Kernel panic - not syncing: Fatal exception",
    ]
    log = KernelLog("test", [LogRecord(i, i, 1, None, s) for i, s in enumerate(text)])
    oops = find_oops(log)
    assert oops is not None
    assert oops.fault_address == 0xFFFF888012345678 and oops.access == "write" and oops.mode == "kernel"
    assert (oops.error_code, oops.not_present, oops.cpu, oops.pid, oops.comm) == (3, False, 1, 77, "insmod")
    assert oops.rip == "demo_init+0x11/0x1000 [demo]" and oops.panic == "Fatal exception"
    assert [access_of(c) for c in (0, 2, 0x10, 0x11)] == ["read", "write", "instruction fetch", "instruction fetch"]


# -- filtered dumps -----------------------------------------------------------------------------
@pytest.mark.parametrize("key", ["kdump", "kdump_qemu_zlib"])
def test_a_filtered_dump_lists_the_mappings_of_the_full_one(key: str) -> None:
    """The committed dumps hold only page tables (a filtered kdump's bitmap 2); their mappings are
    the ones QEMU's uncut ELF dump of the same moment gives, root by root (counted at capture)."""
    t = truth(PTI)
    mem = open_dump(str(PTI / t["dumps"][key]))
    got = {hex(r.table): len(AddressSpace(mem, r).mappings()) for r in find_roots(mem)}
    assert got == t["mappings_in_full_dump"]
    mem.close()


def test_absent_reasons_of_a_batch_equal_each_ranges_own_reason() -> None:
    """The batch answer (bit lookups for one-block ranges, prefix sums for longer ones, one by one over a
    huge span) gives every range the reason ``absent_reason`` gives it alone."""
    t = truth(PTI)
    mem = open_dump(str(PTI / t["dumps"]["kdump"]))
    assert isinstance(mem, KdumpMemory) and mem.header.dump_level == 31
    top = mem.max_pfn * mem.block_size
    rng = np.random.default_rng(7)
    pages = (rng.integers(0, mem.max_pfn + 64, 3000, dtype=np.int64) * mem.block_size).tolist()
    one = [(pa, pa + mem.block_size) for pa in pages] + [(top - 4096, top), (top, top + 4096)]
    multi = one + [
        (pa, pa + int(n) * mem.block_size) for pa, n in zip(pages, rng.integers(2, 600, len(pages)), strict=True)
    ]
    sparse = multi + [(0, 4096), (1 << 50, (1 << 50) + 4096)]
    for ranges in (one, multi, sparse):
        starts, ends = zip(*ranges, strict=True)
        names, ids = mem.absent_reasons(np.array(starts, np.uint64), np.array(ends, np.uint64))
        assert [names[i] for i in ids] == [mem.absent_reason(a, b) for a, b in ranges]
        assert len(set(ids)) >= 2  # the sample has excluded frames and frames the machine never had
    mem.close()


def test_missing_frames_say_why() -> None:
    t = truth(PTI)
    mem = open_dump(str(PTI / t["dumps"]["kdump"]))
    user = next(r for r in find_roots(mem) if r.kind == "pti-user")
    space = AddressSpace(mem, user)
    leaf = next(m for m in space.mappings() if m.flags.user and not m.backed)
    tr = space.translate(leaf.va_start)
    assert tr.pa is not None and tr.backed is False and tr.absent == "excluded by dump level 31"
    top = max(int(e["end"], 16) for e in t["ram_map"] if e["type"] == 1)
    assert mem.absent_reason(top + (64 << 20)) == "not memory the machine had (not in the dump's bitmap)"
    mem.close()
    r = pmoview("mappings", str(PTI / t["dumps"]["kdump"]), "--cr3", hex(user.table), "--user", "--json")
    rows = json.loads(r.stdout)
    assert rows and {x.get("absent") for x in rows} <= {"excluded by dump level 31", None}
    assert any(x.get("absent") for x in rows)
    r = pmoview("translate", str(PTI / t["dumps"]["kdump"]), "--cr3", hex(user.table), hex(leaf.va_start))
    assert "excluded by dump level 31" in r.stdout


def test_arm64_oops_lines_give_address_and_access() -> None:
    """The lines arch/arm64/mm/fault.c prints (die_kernel_fault, mem_abort_decode, data_abort_decode)."""
    from pmoview.kernel_log import KernelLog, LogRecord

    text = [
        "Unable to handle kernel paging request at virtual address ffff000002a01000",
        "Mem abort info:",
        "  ESR = 0x0000000096000047",
        "  EC = 0x25: DABT (current EL), IL = 32 bits",
        "Data abort info:",
        "  CM = 0, WnR = 1",
        "Internal error: Oops: 0000000096000047 [#1] SMP",
        "CPU: 0 PID: 1 Comm: sh Not tainted 6.1.0-56-arm64 #1  Debian 6.1.192-2",
    ]
    oops = find_oops(KernelLog("test", [LogRecord(i, i, 1, None, s) for i, s in enumerate(text)]))
    assert oops is not None
    assert (oops.fault_address, oops.access, oops.cpu, oops.comm) == (0xFFFF000002A01000, "write", 0, "sh")


def test_root_kind_option_puts_that_kind_first() -> None:
    d = PTI / truth(PTI)["dumps"]["kdump"]
    r = pmoview("translate", str(d), "0x400000", "--root-kind", "pti-user", "--json")
    assert r.returncode == 0 and "CPU 0 CR3" in r.stderr and json.loads(r.stdout)[0]["pa"] is not None
    r = pmoview("translate", str(d), "0x400000", "--json")
    assert r.returncode == 0 and "kernel twin of CPU 0 CR3" in r.stderr


def test_aarch64_ttbr1_roots_are_kernel_and_ttbr0_roots_user() -> None:
    arm = SAMPLES / "linux-arm64"
    mem = open_dump(str(arm / truth(arm)["dumps"]["kdump"]))
    roots = find_roots(mem)
    assert roots and all(r.kind == ("user" if r.half == "ttbr0" else "kernel") for r in roots)
    ttbr1 = roots[0].table
    from pmoview.roots import RootOptions

    both = find_roots(mem, options=RootOptions(ttbr0=ttbr1, ttbr1=ttbr1))
    assert {(r.half, r.kind) for r in both if r.source.startswith("--")} == {("ttbr0", "user"), ("ttbr1", "kernel")}
    mem.close()


OOPS = sorted(p.parent for p in SAMPLES.glob("*/truth.json") if "oops" in json.loads(p.read_text()))


@pytest.mark.parametrize("sample", OOPS, ids=[p.name for p in OOPS])
def test_real_oops_gives_fault_address_access_and_cpu(sample: Path) -> None:
    """Real page-fault oopses of Debian's 6.1 kernel (sample_dumps/linux/fault): the log's oops is
    the one the console printed (truth from serial.log at capture)."""
    t = truth(sample)
    mem = open_dump(str(sample / t["dumps"]["kdump"]))
    oops = find_oops(read_kernel_log(mem))
    mem.close()
    assert oops is not None
    want = t["oops"]
    assert oops.fault_address == int(want["fault_address"], 16)
    assert (oops.access, oops.mode, oops.error_code) == (want["access"], want["mode"], want["error_code"])
    assert (oops.cpu, oops.pid, oops.comm, oops.panic) == (want["cpu"], want["pid"], want["comm"], want["panic"])

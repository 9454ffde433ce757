"""Every cap on work per input (docs/limits.md) stops with a clear one-line message, and can be raised.

Caps are tested at a small monkeypatched value so the tests stay cheap; the default is asserted
against the table in docs/limits.md so the two cannot drift apart.
"""

from __future__ import annotations

import lzma
import os
import re
import subprocess
import sys
import zlib
from pathlib import Path

import dumpsynth as synth
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from parsers.errors import DumpFormatError
from parsers.kdump import DUMP_DH_COMPRESSED_ZSTD, FLAT_HEADER_SIZE, PAGE_DESC_DTYPE, flat_record_header
from pmoview.arch.records import WalkLimits
from pmoview.checks import findings
from pmoview.memory import cache, container, elfcore, fileview, kdump, lime, open_dump
from pmoview.memory.segmented import PA_LIMIT

sys.path.insert(0, str(Path(__file__).parent / "fuzz"))
from fuzz_target import run_cli

ROOT = Path(__file__).resolve().parent.parent
PAGE = bytes(range(256)) * 16


def limits_doc() -> str:
    return (ROOT / "docs" / "limits.md").read_text()


@pytest.mark.parametrize(
    "name,value",
    [
        ("WalkLimits.max_tables", f"{WalkLimits().max_tables:,}"),
        ("WalkLimits.max_revisits", f"{WalkLimits().max_revisits:,}"),
        ("EXACT_PLACES", f"{findings.EXACT_PLACES:,}"),
        ("AGGREGATE_OVER", f"{findings.AGGREGATE_OVER:,}"),
        ("MAX_CAUSES", f"{findings.MAX_CAUSES:,}"),
        ("MAX_FINDINGS", f"{findings.MAX_FINDINGS:,}"),
        ("WalkLimits.max_anomalies", f"{WalkLimits().max_anomalies:,}"),
        ("MAX_NOTE_BYTES", "64 MiB"),
        ("MAX_FLAT_RECORDS", f"{fileview.MAX_FLAT_RECORDS:,}"),
        ("MAX_LIME_RANGES", f"{lime.MAX_LIME_RANGES:,}"),
        ("PMOVIEW_MAX_UNPACK", "256 GiB"),
        ("SCAN_LIMIT_BYTES", "256 MiB"),
        ("CACHE_BYTES", "64 MiB"),
        ("PMOVIEW_CACHE_MAX", "4 GiB"),
    ],
)
def test_limits_doc_lists_each_cap_with_its_default(name: str, value: str) -> None:
    row = next((line for line in limits_doc().splitlines() if name in line and line.startswith("|")), "")
    assert row and value in row, f"docs/limits.md has no row for {name} with default {value}"


def test_defaults_match_the_doc() -> None:
    assert elfcore.MAX_NOTE_BYTES == kdump.MAX_NOTE_BYTES == 64 << 20
    assert container.DEFAULT_MAX_BYTES == 256 << 30
    assert kdump.CACHE_BYTES == 64 << 20
    assert cache.DEFAULT_MAX_BYTES == 4 << 30


# -- flattened records ------------------------------------------------------------------------------------
@settings(max_examples=200, derandomize=True, database=None)
@given(st.binary(min_size=16, max_size=16))
def test_record_header_fast_decoder_agrees_with_construct(raw: bytes) -> None:
    c = flat_record_header.parse(raw)
    assert fileview._RECORD.unpack(raw) == (c.offset, c.buf_size)


records = st.lists(st.tuples(st.integers(0, 300), st.integers(1, 120), st.integers(0, 255)), min_size=1, max_size=12)


@settings(max_examples=150, derandomize=True, database=None, deadline=None)
@given(recs=records, reads=st.lists(st.tuples(st.integers(0, 420), st.integers(0, 200)), max_size=8))
def test_overlapping_flattened_records_read_as_makedumpfile_R_writes_them(
    tmp_path_factory: pytest.TempPathFactory, recs: list[tuple[int, int, int]], reads: list[tuple[int, int]]
) -> None:
    """Later records win where they overlap, gaps read as zeros, and every read is a bisect (no scan)."""
    body = [flat_record_header.build({"offset": o, "buf_size": n}) + bytes([v]) * n for o, n, v in recs]
    raw = (
        synth.flatten(b"")[:FLAT_HEADER_SIZE]
        + b"".join(body)
        + flat_record_header.build({"offset": -1, "buf_size": -1})
    )
    ref = bytearray(max(o + n for o, n, _ in recs))
    for o, n, v in recs:
        ref[o : o + n] = bytes([v]) * n
    path = tmp_path_factory.mktemp("flat") / "f"
    path.write_bytes(raw)
    f = fileview.FlattenedFile(fileview.MappedFile(str(path)))
    assert f.size == len(ref)
    assert all(f._starts[i] < f._ends[i] <= f._starts[i + 1] for i in range(len(f._starts) - 1))
    for off, n in reads + [(0, len(ref))]:
        if off + n <= len(ref):
            assert f.read(off, n, "x") == bytes(ref[off : off + n])
        else:
            with pytest.raises(DumpFormatError):
                f.read(off, n, "x")
    f.close()


def test_flattened_record_cap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fileview, "MAX_FLAT_RECORDS", 3)
    path = tmp_path / "d.kdump"
    path.write_bytes(synth.flatten(synth.kdump({0: PAGE}), chunk=512))
    with pytest.raises(DumpFormatError, match=r"at most 3 flattened records \(pmoview.memory.fileview.MAX_FLAT"):
        open_dump(str(path))


# -- notes --------------------------------------------------------------------------------------------------
def test_elf_note_cap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(elfcore, "MAX_NOTE_BYTES", 64)
    path = tmp_path / "d.elf"
    path.write_bytes(synth.elf_core([(0, PAGE)], synth.prstatus_note() + synth.qemu_note(cr3=0x1000)))
    with pytest.raises(DumpFormatError, match="PT_NOTE segment under 64 bytes"):
        open_dump(str(path))


def test_kdump_note_cap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kdump, "MAX_NOTE_BYTES", 64)
    path = tmp_path / "d.kdump"
    path.write_bytes(synth.kdump({0: PAGE}, notes=synth.prstatus_note()))
    with pytest.raises(DumpFormatError, match="size_note under 64"):
        open_dump(str(path))


# -- LiME ---------------------------------------------------------------------------------------------------
def test_lime_range_cap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lime, "MAX_LIME_RANGES", 2)
    path = tmp_path / "d.lime"
    path.write_bytes(synth.lime([(0x1000 * i * 2, PAGE) for i in range(3)]))
    with pytest.raises(DumpFormatError, match="at most 2 LiME ranges"):
        open_dump(str(path))


def test_lime_range_reaching_the_top_of_the_address_space_is_clipped(tmp_path: Path) -> None:
    """A range ending at 2**64 (e_addr all ones) used to reach the walker as an end numpy cannot hold."""
    path = tmp_path / "d.lime"
    path.write_bytes(synth.lime([(0x1000, PAGE), ((1 << 64) - 4096, PAGE)]))
    with open_dump(str(path)) as mem:
        assert all(r.end <= PA_LIMIT for r in mem.ranges())
        assert mem.info.details["segments_outside_pa_space"] == 1
    code, _, err = run_cli(["mappings", str(path), "--cr3", "0x1000"])
    assert code == 0, err


def test_elf_pt_load_past_the_pa_space_is_clipped_not_fatal(tmp_path: Path) -> None:
    """Regression: p_paddr 0x8000000000000000 made ``AddressSpace`` raise OverflowError (found by
    tests/test_robust_real_dumps.py on seed-correct's ELF core)."""
    path = tmp_path / "d.elf"
    path.write_bytes(
        synth.elf_core(
            [(0x1000, PAGE), (1 << 63, PAGE), ((1 << 64) - 4096, PAGE)],
            synth.prstatus_note() + synth.qemu_note(cr3=0x1000),
        )
    )
    with open_dump(str(path)) as mem:
        assert [(r.start, r.end) for r in mem.ranges()] == [(0x1000, 0x2000)]
        assert mem.info.details["segments_outside_pa_space"] == 2
    for argv in (["info", str(path)], ["mappings", str(path)], ["translate", str(path), "0x0"]):
        code, _, err = run_cli(argv)
        assert code == 0, err


# -- compressed inputs --------------------------------------------------------------------------------------
def test_unpack_cap_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PMOVIEW_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("PMOVIEW_MAX_UNPACK", str(3 << 20))
    path = tmp_path / "d.kdump.xz"
    path.write_bytes(lzma.compress(synth.kdump({0: PAGE}) + bytes(4 << 20)))
    code, out, err = run_cli(["info", str(path)])
    assert code == 2 and out == "" and err.count("\n") == 1 and "PMOVIEW_MAX_UNPACK raises the cap" in err
    monkeypatch.setenv("PMOVIEW_MAX_UNPACK", str(8 << 20))
    assert run_cli(["info", str(path)])[0] == 0


# -- compressed pages ---------------------------------------------------------------------------------------
def _kdump_with_block(tmp_path: Path, block: bytes, flags: int) -> Path:
    plain = bytearray(synth.kdump({0: PAGE}, compress=False))
    path = tmp_path / "d.kdump"
    path.write_bytes(bytes(plain))
    with open_dump(str(path)) as mem:
        at = mem.desc_offset  # type: ignore[attr-defined]
    desc = np.frombuffer(bytes(plain[at : at + 24]), dtype=PAGE_DESC_DTYPE)[0].copy()
    data_at = int(desc["offset"])
    desc["size"], desc["flags"] = len(block), flags
    plain[at : at + 24] = desc.tobytes()
    plain = plain[:data_at] + block
    path.write_bytes(bytes(plain))
    return path


def test_zstd_page_declaring_a_huge_content_size_is_refused_without_inflating_it(tmp_path: Path) -> None:
    """Regression: ZstdDecompressor.decompress ignores max_output_size when the frame header has a
    content size, so one 8 KiB page descriptor inflated to 256 MiB. Measured in a child process."""
    zstandard = pytest.importorskip("zstandard")
    frame = zstandard.ZstdCompressor(level=19).compress(bytes(200 << 20))
    assert len(frame) <= 8192
    path = _kdump_with_block(tmp_path, frame, DUMP_DH_COMPRESSED_ZSTD)
    # VmHWM, not ru_maxrss: Linux carries the parent's peak into ru_maxrss across fork + exec.
    # A bad block reads as absent and is counted (a damaged dump stays browsable); the reason is kept.
    code = (
        f"import re\nfrom pmoview.memory import open_dump\n"
        f"m = open_dump({str(path)!r})\nassert m.read_page(0) is None\nprint(m.info.details['first_unreadable'])\n"
        f"print(int(re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1)) // 1024)\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=False,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert run.returncode == 0 and len(run.stdout.splitlines()) == 2, (run.stdout, run.stderr[-2000:])
    message, rss_mib = run.stdout.strip().splitlines()
    assert "to decompress to 4096 bytes" in message
    assert int(rss_mib) < 200, f"peak RSS {rss_mib} MiB: the frame was inflated"


def test_zlib_page_inflating_past_its_block_is_refused(tmp_path: Path) -> None:
    """Inflation stops at the block size, and a stream that has more is an error, not silently cut."""
    block = zlib.compress(bytes(8 << 20), 9)[:8192]
    path = _kdump_with_block(tmp_path, block, kdump.DUMP_DH_COMPRESSED_ZLIB)
    with open_dump(str(path)) as mem:
        assert mem.read_page(0) is None  # unreadable: absent and counted, with the reason kept
        assert "decompress" in str(mem.info.details["first_unreadable"])


# -- the walk -----------------------------------------------------------------------------------------------
def test_cli_max_tables_is_honoured_end_to_end(tmp_path: Path) -> None:
    sample = ROOT / "sample_dumps" / "seed-no-pml4-256" / "dump.kdump"
    if not sample.exists():
        pytest.skip("sample not present")
    full = run_cli(["mappings", str(sample), "--json"])
    capped = run_cli(["mappings", str(sample), "--json", "--max-tables", "2"])
    assert full[0] == capped[0] == 0
    assert len(capped[1]) < len(full[1])  # the cap reached the walker
    assert re.search(r"--max-tables", run_cli(["mappings", "--help"])[1])

"""``pmoview info``: the JSON contract, and one-line errors with exit 2 on unusable input."""

from __future__ import annotations

import json
from pathlib import Path

import dumpsynth as synth
import pytest

from pmoview.cli import main

PAGE = bytes(4096)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_info_json_contract(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    notes = synth.prstatus_note() + synth.qemu_note(cr3=0x5000, cr4=0x20)
    dump = tmp_path / "d.kdump"
    dump.write_bytes(synth.kdump({0: PAGE, 5: PAGE}, notes=notes, vmcoreinfo=b"OSRELEASE=6.1.0-x\nKERNELOFFSET=0\n"))
    code, out, _ = run(capsys, "info", str(dump), "--json")
    assert code == 0
    data = json.loads(out)
    assert {"format", "size", "ranges", "cpus", "vmcoreinfo", "roots"} <= set(data)
    assert data["format"] == "kdump"
    assert data["ranges"] == [{"start": "0x0", "end": "0x1000"}, {"start": "0x5000", "end": "0x6000"}]
    assert data["cpus"][0]["cr3"] == "0x5000" and data["cpus"][0]["cr4"] == "0x20"
    assert data["vmcoreinfo"]["OSRELEASE"] == "6.1.0-x"
    first = data["roots"][0]
    assert {k: first[k] for k in ("arch", "mode", "table", "source")} == {
        "arch": "x86_64",
        "mode": "x86_64-4level",
        "table": "0x5000",
        "source": "CPU 0 CR3",
    }


def test_info_text_names_format_and_cpus(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dump = tmp_path / "d.elf"
    dump.write_bytes(synth.elf_core([(0, PAGE)], synth.prstatus_note() + synth.qemu_note(cr3=0x1000)))
    code, out, _ = run(capsys, "info", str(dump))
    assert code == 0
    assert "elf" in out and "cr3=0x1000" in out


@pytest.mark.parametrize(
    "content,expect",
    [
        (b"", "empty file"),
        (b"not a dump at all" * 10, "expected a kdump, flattened kdump, ELF or LiME header"),
        (b"KDUMP   " + bytes(100), "disk_dump_header"),
        (b"\x7fELF" + bytes(20), "ELF"),
    ],
)
def test_bad_input_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes, expect: str
) -> None:
    dump = tmp_path / "bad"
    dump.write_bytes(content)
    code, out, err = run(capsys, "info", str(dump))
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and str(dump) in err and expect in err


def test_missing_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "info", str(tmp_path / "nope"))
    assert code == 2 and "No such file" in err

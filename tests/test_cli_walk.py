"""``translate`` and ``mappings`` on real samples: the JSON contract, caps that say so, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pmoview.cli import main

SAMPLES = Path(__file__).resolve().parent.parent / "sample_dumps"
LINUX = SAMPLES / "linux-x86_64-4l-nokaslr" / "dump.kdump"
SEED = SAMPLES / "seed-literal-virt-to-phys" / "dump.kdump.xz"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.skipif(not SEED.exists(), reason="sample missing")
def test_translate_json_contract_and_the_walk_stop(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "translate", str(SEED), "0xffffffff80100000", "0xffff800050000000", "--json")
    assert code == 0
    mapped, stopped = json.loads(out)
    assert set(mapped) >= {"va", "pa", "page_size", "flags", "path"}
    assert mapped["va"] == "0xffffffff80100000" and mapped["pa"] == "0x100000" and mapped["page_size"] == 4096
    assert [p["level"] for p in mapped["path"]] == [4, 3, 2, 1]
    assert mapped["flags"]["writable"] is False and mapped["flags"]["nx"] is False
    assert stopped["pa"] is None and "0x7fff8010f000" in stopped["reason"]
    assert stopped["path"][-1] == {"level": 3, "index": 1, "entry": "0x7fff8010f003", "entry_pa": "0x105008"}
    assert "using x86_64-4level root at 0x102000" in err


@pytest.mark.skipif(not LINUX.exists(), reason="sample missing")
def test_mappings_filters_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "mappings", str(LINUX), "--json", "--user", "--writable")
    assert code == 0
    maps = json.loads(out)
    assert maps and all(m["flags"]["user"] and m["flags"]["writable"] for m in maps)
    assert all(int(m["va_start"], 16) < int(m["va_end"], 16) for m in maps)
    code, out, _ = run(
        capsys,
        "mappings",
        str(LINUX),
        "--json",
        "--supervisor",
        "--exec",
        "--range",
        "0xffffffff80000000-0xffffffffc0000000",
    )
    text = json.loads(out)
    assert text and all(not m["flags"]["user"] and not m["flags"]["nx"] for m in text)


@pytest.mark.skipif(not LINUX.exists(), reason="sample missing")
def test_mappings_says_when_the_table_cap_cut_the_walk(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "mappings", str(LINUX), "--max-tables", "5")
    assert code == 0
    assert "incomplete" in err and "max-tables" in err


def test_max_tables_must_be_positive(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["mappings", str(LINUX), "--max-tables", "0"])
    assert exc.value.code == 2
    assert "at least 1" in capsys.readouterr().err


def test_half_written_dump_still_answers_and_says_where_the_walk_stopped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import dumpsynth as synth

    dump = tmp_path / "t.kdump"
    data = synth.kdump(
        {0: bytes(4096), 1: bytes(4096)}, notes=synth.prstatus_note() + synth.qemu_note(cr3=0x1000), compress=False
    )
    dump.write_bytes(data[:-10])  # the root's table page is cut short, as by an interrupted makedumpfile
    code, out, err = run(capsys, "translate", str(dump), "0xffffffff80000000", "--json")
    assert code == 0
    (result,) = json.loads(out)
    assert result["pa"] is None and "0x1000" in result["reason"]
    assert "1 block(s) of the dump are unreadable" in err


def test_unusable_dump_is_one_line_even_after_a_root_note(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import dumpsynth as synth

    dump = tmp_path / "t.kdump"
    data = bytearray(synth.kdump({0: bytes(4096)}, notes=synth.prstatus_note() + synth.qemu_note(cr3=0x1000)))
    data[4096 + 96 : 4096 + 104] = (1 << 40).to_bytes(8, "little")  # fine until the first read
    data[436:440] = (1 << 20).to_bytes(4, "little")  # bitmap blocks past the end: unusable at open
    dump.write_bytes(bytes(data))
    code, out, err = run(capsys, "translate", str(dump), "0xffffffff80000000")
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and str(dump) in err

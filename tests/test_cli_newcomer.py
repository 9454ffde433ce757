"""What a newcomer meets on the command line (issue 12): unusable input before any screen, roots the
options name, compressed dumps, the field's habits (bare hex, vtop-style levels, ptdump regions)."""

from __future__ import annotations

import io
import lzma
import sys
from pathlib import Path

import pytest

from pmoview.cli import main
from pmoview.main import main as pmoview_main

SAMPLES = Path(__file__).resolve().parent.parent / "sample_dumps"
SEED = SAMPLES / "seed-correct" / "dump.kdump.xz"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = pmoview_main(list(argv))  # the ``pmoview`` command: the CLI with the TUI behind ``pmoview DUMP``
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def no_screen(monkeypatch: pytest.MonkeyPatch) -> None:
    """Starting the TUI fails the test: unusable input must be refused before the screen starts."""
    from pmoview.tui import app

    def refuse(*args: object, **kwargs: object) -> int:
        raise AssertionError("the TUI started on unusable input")

    monkeypatch.setattr(app.PmoviewApp, "run", refuse)


@pytest.mark.parametrize("kind", ["missing", "directory", "text", "empty"])
def test_tui_on_unusable_input_is_one_line_and_exit_2(
    kind: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], no_screen: None
) -> None:
    path = {"missing": tmp_path / "nope.kdump", "directory": tmp_path, "text": tmp_path / "notes.txt"}.get(
        kind, tmp_path / "empty"
    )
    if kind == "text":
        path.write_text("these are my notes, not a dump\n")
    if kind == "empty":
        path.write_bytes(b"")
    code, out, err = run(capsys, str(path))
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and str(path) in err
    want = {"missing": "No such file", "directory": "a directory", "text": "header", "empty": "empty"}[kind]
    assert want in err


@pytest.mark.parametrize(("typed", "meant"), [("transalte", "translate"), ("infoo", "info"), ("chekc", "check")])
def test_a_mistyped_command_is_named_not_opened_as_a_dump(
    typed: str, meant: str, capsys: pytest.CaptureFixture[str], no_screen: None
) -> None:
    code, _, err = run(capsys, typed, str(SEED))
    assert code == 2 and f"unknown command {typed!r}" in err and repr(meant) in err


@pytest.mark.skipif(not SEED.exists(), reason="sample missing")
def test_tui_with_a_root_outside_the_dump_exits_2_before_the_screen(
    capsys: pytest.CaptureFixture[str], no_screen: None
) -> None:
    code, _, err = run(capsys, str(SEED), "--cr3", "0x7fff0000000")
    assert code == 2 and "--cr3 0x7fff0000000" in err and "not in the dump" in err


@pytest.mark.skipif(not SEED.exists(), reason="sample missing")
@pytest.mark.parametrize("value", ["-1", "0x10000000000000000"])
def test_cr3_that_is_no_register_value_is_refused(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["translate", str(SEED), "0xffffffff80101000", f"--cr3={value}"])
    assert exc.value.code == 2
    assert "64-bit register" in capsys.readouterr().err


@pytest.mark.skipif(not SEED.exists(), reason="sample missing")
def test_cr3_outside_the_dump_is_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "translate", str(SEED), "0xffffffff80101000", "--cr3", "0x7fff0000000")
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "not in the dump" in err and str(SEED) in err


@pytest.mark.skipif(not SEED.exists(), reason="sample missing")
def test_cr3_on_a_page_with_no_valid_entry_is_a_warning(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "translate", str(SEED), "0xffffffff80101000", "--cr3", "0x3000000")
    assert code == 0 and "has no valid entry" in err


@pytest.mark.skipif(not SEED.exists(), reason="sample missing")
def test_cr3_on_kernel_code_is_a_warning(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "translate", str(SEED), "0xffffffff80101000", "--cr3", "0x100000")
    assert code == 0 and "is it a page table?" in err


@pytest.mark.skipif(not SEED.exists(), reason="sample missing")
def test_the_real_cr3_draws_no_warning(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "translate", str(SEED), "0xffffffff80101000", "--cr3", "0x102000")
    assert code == 0 and "page table?" not in err and "no valid entry" not in err


class Terminal(io.StringIO):
    """A stderr that is a terminal (progress is for people, not for logs)."""

    def isatty(self) -> bool:
        return True


def test_compressed_dump_errors_name_the_users_file_and_progress_shows_on_a_terminal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PMOVIEW_CACHE", str(tmp_path / "cache"))
    bad = tmp_path / "guest.kdump.xz"
    bad.write_bytes(lzma.compress(b"not a dump at all" * 100_000))
    code, _, err = run(capsys, "info", str(bad))  # not a terminal: the error alone
    assert code == 2 and err.count("\n") == 1
    assert err.startswith(f"pmoview: {bad} (decompressed) at offset 0x0: expected")
    assert str(tmp_path / "cache") not in err
    other = tmp_path / "again.kdump.xz"  # a new file: decompressed again, now on a "terminal"
    other.write_bytes(bad.read_bytes())
    term = Terminal()
    monkeypatch.setattr(sys, "stderr", term)
    assert main(["info", str(other)]) == 2
    shown = term.getvalue()
    assert f"\rpmoview: decompressing {other} into the cache (once): 100%" in shown
    assert "\r\033[K" in shown  # the progress line is erased before the error is printed
    assert shown.rstrip("\n").endswith("found b'not a du'")


LINUX_KASLR = SAMPLES / "linux-x86_64-4l-kaslr" / "dump.kdump"


@pytest.mark.skipif(not LINUX_KASLR.exists(), reason="sample missing")
def test_findings_shared_by_every_root_are_reported_once_with_their_roots(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    code, out, _ = run(capsys, "check", str(LINUX_KASLR), "--format", "json")
    one = json.loads(out)
    code, out, _ = run(capsys, "check", str(LINUX_KASLR), "--format", "json", "--all-roots")
    every = json.loads(out)
    assert len(every["roots"]) == 3
    assert len(every["findings"]) == len(one["findings"]) == 2
    for f in every["findings"]:
        assert f["roots"] == [r["table"] for r in every["roots"]] and f["root"] == f["roots"][0]
    code, out, _ = run(capsys, "check", str(LINUX_KASLR), "--all-roots")
    assert out.count("[pmo-flags]") == 1 and "roots:    0xc608000, 0x228a000, 0x8c10000" in out

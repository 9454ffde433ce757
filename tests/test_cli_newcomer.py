"""What a newcomer meets on the command line (issue 12): unusable input before any screen, roots the
options name, compressed dumps, the field's habits (bare hex, vtop-style levels, ptdump regions)."""

from __future__ import annotations

import io
import lzma
import sys
from collections.abc import Iterable, Iterator
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


# -- the field's habits -------------------------------------------------------------------------------------
LINUX_NOKASLR = SAMPLES / "linux-x86_64-4l-nokaslr" / "dump.kdump"


@pytest.mark.skipif(not SEED.exists(), reason="sample missing")
def test_translate_takes_bare_hex_and_prints_levels_as_vtop(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "translate", str(SEED), "ffffffff80101000")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("ffffffff80101000 -> 101000  (4K page")
    # PML4 at 0x102000: entry 511 is at 0x102ff8 and holds 0x107023 (sample_dumps/seed-correct truth)
    assert lines[1] == "  PML4: 102ff8 => 107023  [511]"
    assert lines[2].startswith("  PDPT: 107ff0 => ") and lines[3].startswith("    PD: ")
    assert lines[4].startswith("    PT: ") and lines[4].endswith("[257]")
    assert lines[5] == "  PAGE: 101000"


@pytest.mark.skipif(not SEED.exists(), reason="sample missing")
def test_a_bad_address_among_several_is_reported_for_itself(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    code, out, err = run(capsys, "translate", str(SEED), "0xffffffff80101000", "xyz", "ffff800000a01000", "--json")
    assert code == 2  # unusable input among the addresses
    results = json.loads(out)
    assert [r["va"] for r in results] == ["0xffffffff80101000", "xyz", "0xffff800000a01000"]
    assert results[0]["pa"] == "0x101000" and results[2]["pa"] == "0xa01000"
    assert results[1]["pa"] is None and "not an address" in results[1]["reason"]
    assert results[0]["path"][0]["entry_pa"] == "0x102ff8"
    assert err.count("not an address: 'xyz'") == 1
    code, out, err = run(capsys, "translate", str(SEED), "ffffffff80101000", "1" * 17)
    assert code == 2 and out.startswith("ffffffff80101000 -> 101000") and "wider than 64 bits" in err


@pytest.mark.skipif(not LINUX_NOKASLR.exists(), reason="sample missing")
def test_mappings_supervisor_filter_and_kernel_is_the_elf(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    code, out, _ = run(capsys, "mappings", str(LINUX_NOKASLR), "--supervisor", "--json")
    maps = json.loads(out)
    assert code == 0 and maps
    assert all(not m["flags"]["user"] and int(m["va_start"], 16) >> 63 for m in maps)
    with pytest.raises(SystemExit) as exc:  # --kernel takes the ELF here too, as on every command
        main(["mappings", str(LINUX_NOKASLR), "--kernel"])
    assert exc.value.code == 2 and "--kernel: expected one argument" in capsys.readouterr().err


def test_version_is_the_packages_version() -> None:
    """``pmoview --version`` and the reports' ``version`` say what pip installed (pyproject's version)."""
    import tomllib

    from pmoview import __version__

    project = tomllib.loads((Path(__file__).resolve().parent.parent / "pyproject.toml").read_text())["project"]
    assert __version__ == project["version"]


def test_version_and_help_with_examples_and_no_markup(capsys: pytest.CaptureFixture[str]) -> None:
    from pmoview import __version__

    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0 and capsys.readouterr().out.strip() == f"pmoview {__version__}"
    for argv in (["--help"], ["check", "--help"], ["translate", "--help"], ["tui", "--help"], ["snapshot", "--help"]):
        with pytest.raises(SystemExit):
            main(argv)
        text = capsys.readouterr().out
        assert "``" not in text and ":class:" not in text and "`pmoview" not in text, argv
    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    assert "examples:" in text and "pmoview translate vmcore ffffffff81000000" in text


LINUX_5L = SAMPLES / "linux-x86_64-5l-kaslr" / "dump.kdump"
ARM64 = SAMPLES / "linux-arm64" / "dump.kdump"
SEED_HOLE = SAMPLES / "seed-no-extension"


def headers(text: str) -> list[str]:
    return [line[5:-5] for line in text.splitlines() if line.startswith("---[ ")]


def first_after(text: str, header: str) -> str:
    lines = text.splitlines()
    return lines[lines.index(f"---[ {header} ]---") + 1]


@pytest.mark.skipif(not LINUX_NOKASLR.exists(), reason="sample missing")
def test_mappings_text_names_the_regions_as_ptdump(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "mappings", str(LINUX_NOKASLR))
    assert code == 0
    assert headers(out) == [
        "User Space",
        "Direct map",
        "vmalloc() Area",
        "Vmemmap",
        "CPU entry Area",
        "ESPfix Area",
        "High Kernel Mapping",
        "Modules",
        "Fixmap Area",
    ]
    assert first_after(out, "Direct map").startswith("0xffff888000000000-")
    assert first_after(out, "Vmemmap").startswith("0xffffea0000000000-")
    assert first_after(out, "High Kernel Mapping").startswith("0xffffffff8")


@pytest.mark.skipif(not LINUX_KASLR.exists(), reason="sample missing")
def test_mappings_text_folds_the_espfix_aliases_into_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    code, out, _ = run(capsys, "mappings", str(LINUX_KASLR), "--json")
    every = json.loads(out)
    code, out, _ = run(capsys, "mappings", str(LINUX_KASLR))
    lines = out.splitlines()
    assert len(every) > 65_536 and len(lines) < 500  # 65,765 mappings, a page of text
    espfix = first_after(out, "ESPfix Area")
    assert "65,536 aliases of these 4K, one every 0x10000" in espfix
    assert espfix.startswith("0xffffff4900009000-0xffffff49ffffa000")  # end exclusive: the last alias's end
    assert "Direct map" in headers(out) and first_after(out, "Direct map").startswith("0xffff89c3c0000000-")
    assert "vmalloc() Area (KASLR base inferred)" in headers(out)
    # everything else is listed one mapping per line, each range end-exclusive as in the JSON
    plain = [line.split()[0] for line in lines if line.startswith("0x") and "aliases" not in line]
    from_json = {f"{int(m['va_start'], 16):#018x}-{int(m['va_end'], 16):#018x}" for m in every}
    assert plain and set(plain) <= from_json and len(plain) == len(every) - 65_536


@pytest.mark.skipif(not LINUX_5L.exists(), reason="sample missing")
def test_mappings_text_regions_on_5_level_paging(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "mappings", str(LINUX_5L))
    names = headers(out)
    assert names.index("Direct map") < names.index("vmalloc() Area (KASLR base inferred)")
    assert names.index("vmalloc() Area (KASLR base inferred)") < names.index("Vmemmap (KASLR base inferred)")
    assert first_after(out, "Vmemmap (KASLR base inferred)").split()[4] == "2M"  # struct pages, 2 MiB pages


@pytest.mark.skipif(not ARM64.exists(), reason="sample missing")
def test_mappings_text_regions_on_arm64(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "mappings", str(ARM64))
    names = headers(out)
    assert names[0] == "Linear Mapping" and "Kernel image" in names and "vmemmap" in names
    assert first_after(out, "Linear Mapping").startswith("0xffff000000000000-")


@pytest.mark.skipif(not (SEED_HOLE / "kernel.elf").exists(), reason="sample missing")
def test_mappings_text_regions_of_the_seed_design(capsys: pytest.CaptureFixture[str]) -> None:
    dump = next(SEED_HOLE.glob("dump.kdump*"))
    code, out, _ = run(capsys, "mappings", str(dump), "--kernel", str(SEED_HOLE / "kernel.elf"))
    assert headers(out) == ["PMO (direct map)", "Kernel image"]
    assert first_after(out, "Kernel image").startswith("0xffffffff80100000-0xffffffff80101000")


@pytest.mark.skipif(not LINUX_5L.exists(), reason="sample missing")
def test_mappings_text_infers_kaslr_regions_without_holding_the_tree(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The listing holds one batch; placing the KASLR regions must not hold more: no whole-tree columns,
    and the stream of mappings is read only as far as the vmemmap's first mapping."""
    from pmoview.checks import regions
    from pmoview.space import AddressSpace

    _, before, _ = run(capsys, "mappings", str(LINUX_5L))

    def no_columns(self: AddressSpace) -> None:
        raise AssertionError("AddressSpace.columns() holds every mapping")

    monkeypatch.setattr(AddressSpace, "columns", no_columns)
    read: list[int] = []
    place = regions._kaslr_regions

    def counting(page_offset: int, lay: object, limit: int, mapped: Iterable[tuple[int, int]]) -> object:
        def counted() -> Iterator[tuple[int, int]]:
            for item in mapped:
                read.append(item[0])
                yield item

        return place(page_offset, lay, limit, counted())  # type: ignore[arg-type]

    monkeypatch.setattr(regions, "_kaslr_regions", counting)
    code, out, _ = run(capsys, "mappings", str(LINUX_5L))
    assert code == 0 and out == before
    vmemmap = int(first_after(out, "Vmemmap (KASLR base inferred)").split("-")[0], 16)
    assert read and read[-1] == vmemmap  # stopped at the vmemmap's first mapping
    assert sum(1 for line in out.splitlines() if line.startswith("0x")) > len(read)


def test_profile_option_offers_every_builtin_profile() -> None:
    """``--profile`` is parsed without importing the checks: its list must be the built-in profiles."""
    from pmoview.checks.profiles import BUILTIN
    from pmoview.cli.options import PROFILES

    assert sorted(PROFILES) == sorted(BUILTIN)


@pytest.mark.skipif(not (SEED_HOLE / "kernel.elf").exists(), reason="sample missing")
def test_check_refuses_a_profile_of_another_architecture(capsys: pytest.CaptureFixture[str]) -> None:
    dump = next(SEED_HOLE.glob("dump.kdump*"))
    code, _, err = run(capsys, "check", str(dump), "--profile", "xv6-riscv")
    assert code == 2 and err.strip() == (
        "pmoview: --profile: expected a profile for x86_64 dumps, found xv6-riscv (for riscv64)"
    )
    code, out, _ = run(capsys, "check", str(dump), "--profile", "linux-x86_64")
    assert code in (0, 1) and "summary:" in out

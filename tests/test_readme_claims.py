"""The README as a newcomer reads it (issue 12): what it claims is what the program does."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pmoview.main import main

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def test_readme_opens_with_one_line_then_the_two_commands() -> None:
    lines = README.splitlines()
    assert lines[0] == "# pmoview" and lines[1] == ""
    description = lines[2 : lines.index("```sh")]
    assert description[-1] == "" and all(line for line in description[:-1])  # one sentence, then the commands
    block = lines[lines.index("```sh") + 1 : lines.index("```", lines.index("```sh") + 1)]
    assert len(block) == 2 and "pmoview sample_dumps/" in block[0] and "pytest" in block[1]


def test_readme_links_stay_in_the_repository() -> None:
    for target in re.findall(r"\]\(([^)]+)\)", README):
        assert not target.startswith(("http", "/", "..")), target
        assert (ROOT / target).exists(), target
    assert "../" not in README and "shared/reference" not in README


def test_readme_names_the_samples_by_their_real_directories() -> None:
    named = set(re.findall(r"`((?:seed|linux|rvseed|xv6)[-\w]*)`", README)) | set(
        re.findall(r"sample_dumps/((?:seed|linux|rvseed|xv6)[-\w]*)", README)
    )
    named = {n for n in named if not n.endswith("-") and "*" not in n}
    assert named, "the README names no sample"
    missing = [n for n in named if not (ROOT / "sample_dumps" / n).is_dir()]
    assert not missing, missing


def test_readme_documents_the_options_a_newcomer_needs() -> None:
    for option in ("--all-roots", "--no-ram-scan", "--supervisor", "--version", "--kernel ELF"):
        assert option in README, option
    assert "pip install pmoview" not in README  # not on a package index: from the repository or a wheel
    assert "--kernel-elf" in README and "now `--supervisor`" in README


def test_readme_documents_every_key_of_the_main_screen() -> None:
    from pmoview.tui.screens.main import MainScreen
    from pmoview.tui.views import VIEWS

    table = README[README.index("| key | action |") :]
    table = table[: table.index("\n\n")]
    for binding in MainScreen.BINDINGS:
        key = getattr(binding, "key_display", None) or binding.key  # type: ignore[union-attr]
        if key.isdigit():
            continue
        assert f"`{key}`" in table, key
    assert f"`1`-`{len(VIEWS)}`" in table
    for view in VIEWS:
        assert f"**{view.title}**" in README, view.title


SEED = ROOT / "sample_dumps" / "seed-correct" / "dump.kdump.xz"


@pytest.mark.skipif(not SEED.exists(), reason="sample missing")
def test_readme_translate_example_is_what_translate_prints(capsys: pytest.CaptureFixture[str]) -> None:
    example = README[README.index("    $ pmoview translate sample_dumps/seed-correct") :]
    lines = example.splitlines()
    command = lines[0].strip()[2:].split()
    shown = []
    for line in lines[1:]:
        if not line.startswith("    "):
            break
        shown.append(line[4:])
    assert main(command[1:]) == 0
    assert capsys.readouterr().out.splitlines() == shown

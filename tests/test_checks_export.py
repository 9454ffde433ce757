"""The TUI's export: the checks' own report (JSON and text) plus the marks, in one writer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import SAMPLES

from pmoview.checks import run_checks
from pmoview.checks.export import export, write_export
from pmoview.checks.report import to_text
from pmoview.inputs import InputOptions, open_inputs
from pmoview.marks import load_marks


def test_export_carries_the_check_report_and_the_marks(tmp_path: Path) -> None:
    d = SAMPLES / "seed-hole"
    if not (d / "dump.kdump.xz").exists():
        pytest.skip("sample_dumps/seed-hole is not here")
    opened = open_inputs(InputOptions(str(d / "dump.kdump.xz"), kernel=str(d / "kernel.elf")))
    space = opened.space(opened.roots[0])
    report = run_checks(space, opened.mem, kernel=opened.kernel)
    marks = load_marks(str(tmp_path / "m.json"), {"path": "/d", "size": 9, "format": "kdump"})
    marks.add("missing", opened.roots[0].table, None, 0xFFFF_8000_4800_0000, 0xFFFF_8000_4820_0000, "the | hole")
    names = {r.level: r.name for r in space.mode.levels}
    result = export(report, marks, dump=marks.dump, roots=opened.roots, level_names=names)
    assert {k: result.data[k] for k in report.to_json()} == json.loads(json.dumps(report.to_json()))
    assert result.data["marks_summary"] == {"wrong": 0, "missing": 1, "ok": 0, "note": 0}
    assert to_text(report).rstrip("\n") in result.markdown
    assert "the \\| hole" in result.markdown  # table cells escape pipes
    md, js = write_export(result, str(tmp_path / "report"))
    assert Path(md).read_text() == result.markdown and json.loads(Path(js).read_text()) == result.data
    opened.close()


def test_export_without_a_report_says_why(tmp_path: Path) -> None:
    marks = load_marks(str(tmp_path / "m.json"))
    result = export(None, marks, dump={}, roots=[], why_no_report="checks failed: ValueError: x")
    assert "checks failed: ValueError: x" in result.markdown and "No marks." in result.markdown
    assert result.data["findings"] == [] and result.data["notes"] == ["checks failed: ValueError: x"]

"""The TUI's export (``e``): the checks' report and the user's marks, as Markdown and as JSON.

One report writer: the findings, coverage and notes are ``checks.report``'s (``Report.to_json()`` and
its text rendering, as ``pmoview check`` prints them); this module only adds the marks. Both files are
written atomically.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pmoview import __version__
from pmoview.arch import Root
from pmoview.checks.report import Report, to_text
from pmoview.marks import KINDS, Mark, atomic_write


@dataclass(frozen=True)
class Export:
    """The findings and marks as the TUI exports them: Markdown for people, a dict for JSON."""

    markdown: str
    data: dict[str, Any]


def export(
    report: Report | None,
    marks: Iterable[Mark],
    *,
    dump: Mapping[str, Any],
    roots: Iterable[Root],
    level_names: Mapping[int, str] | None = None,
    why_no_report: str = "the checks did not run",
) -> Export:
    """``report`` (None when the checks could not run: then ``why_no_report`` says why) and ``marks``."""
    mark_list = list(marks)
    names = level_names or {}
    counts = {k: sum(1 for m in mark_list if m.kind == k) for k in KINDS}
    if report is not None:
        data = report.to_json()
    else:
        data = {"version": __version__, "findings": [], "roots": [r.to_json() for r in roots], "notes": [why_no_report]}
    data = {**data, "dump_identity": dict(dump), "marks": [m.to_json() for m in mark_list], "marks_summary": counts}
    md = ["# pmoview report", ""]
    md.append(f"- dump: `{dump.get('path')}` ({dump.get('format') or '?'}, {dump.get('size') or '?'} bytes)")
    md.append("- marks: " + ", ".join(f"{counts[k]} {k}" for k in KINDS))
    md += ["", "## Checks", ""]
    md += ["```", to_text(report).rstrip("\n"), "```"] if report is not None else [why_no_report]
    md += ["", "## Marks", ""]
    if mark_list:
        md += ["| id | kind | root | entry path | VA range | note |", "|---|---|---|---|---|---|"]
        for m in mark_list:
            path = " → ".join(f"{names.get(level, f'L{level}')}[{index}]" for level, index in m.path or ())
            va = f"{m.va_start:#x}-{m.va_end:#x}" if m.va_start is not None and m.va_end is not None else ""
            md.append(f"| {m.id} | {m.kind} | {m.root:#x} | {path} | {va} | {_cell(m.note)} |")
    else:
        md.append("No marks.")
    return Export("\n".join(md) + "\n", data)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def write_export(result: Export, base: str) -> tuple[str, str]:
    """Write ``base.md`` and ``base.json`` (atomically); returns both paths."""
    md_path, json_path = base + ".md", base + ".json"
    atomic_write(md_path, result.markdown)
    atomic_write(json_path, json.dumps(result.data, indent=2) + "\n")
    return md_path, json_path

"""The report of a check run, and its renderings: text (a review), JSON, SARIF 2.1.0, JUnit XML.

JSON is the contract of the checks issue: ``{"version", "profile", "ram_source", "findings":
[{"kind", "severity", "va_start", "va_end", "pa_start", "pa_end", "message", "paths"}], "summary"}``
with lowercase hex strings, exclusive ends, null where not applicable, and ``paths`` a list of entry
paths, each a list of ``{"level", "index", "entry"}``; more keys are added (roots, ram, notes...).
SARIF follows the OASIS SARIF 2.1.0 schema (one run, one rule per finding kind, levels
error/warning/note). JUnit has one test case per check kind: a failure when it found errors,
warnings and info in system-out, skipped when the check could not run (e.g. no --kernel).
"""

from __future__ import annotations

import json
import textwrap
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any

from pmoview import __version__
from pmoview.arch import Root
from pmoview.checks.coverage import PmoCoverage
from pmoview.checks.findings import ERROR, INFO, KINDS, SEVERITIES, WARNING, Finding, path_text
from pmoview.checks.profiles import ResolvedProfile
from pmoview.checks.ram import RamMap
from pmoview.kernel import KernelImage
from pmoview.memory import PhysicalMemory

FORMATS = ("text", "json", "sarif", "junit")
WIDTH = 100

RULES = {
    "pmo-root-missing": "The top-level entry that should anchor the PMO / direct map is empty",
    "pmo-missing": "RAM the profile requires is not mapped in the PMO / direct map",
    "pmo-wrong-target": "A PMO / direct-map VA maps a frame other than the PA rule says",
    "pmo-flags": "PMO / direct-map pages lack required attributes or carry forbidden ones",
    "pmo-page-size": "PMO / direct-map page size not allowed (1 GiB pages need CPUID pdpe1gb)",
    "pmo-overlap": "The PMO / direct-map window reaches another region of the layout",
    "pmo-extra": "Memory outside the RAM map is mapped cacheable in the PMO / direct map",
    "kernel-segment-missing": "Part of the kernel image is not mapped",
    "kernel-segment-wrong-target": "Kernel image VA maps a frame other than the image's PA rule says",
    "kernel-segment-perms": "Kernel image page permissions differ from the ELF segment's p_flags",
    "wx": "A kernel-half page is both writable and executable",
    "user-kernel": "A kernel-half page is accessible from user mode",
    "reserved-bits": "A paging entry has reserved bits set (the MMU faults)",
    "table-outside-memory": "A table pointer points outside the memory in the dump",
    "recursive-map": "A recursive (self-referencing) page-table entry",
    "identity-map-leftover": "An identity map (VA = PA) left in the user half",
    "user-mark": "A reviewer marked this entry or range wrong or missing",
    "pti-leak": "A PTI user page table maps kernel memory beyond the entry trampoline and cpu_entry_area",
    "table-cycle": "A table points back to a table above it",
    "walk-limit": "The walk stopped at a limit before the end",
}
SARIF_LEVEL = {ERROR: "error", WARNING: "warning", INFO: "note"}


@dataclass
class Report:
    """What ``check`` found, with the profile and RAM it judged against: the one source of every report format."""

    profile: ResolvedProfile
    ram: RamMap
    findings: list[Finding]
    suppressed: list[Finding] = field(default_factory=list)
    roots: list[Root] = field(default_factory=list)
    dump: PhysicalMemory | None = None
    notes: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    cpu_features: frozenset[str] | None = None
    kernel: KernelImage | None = None
    coverage: list[PmoCoverage] = field(default_factory=list)  # PMO coverage per root and PMO region

    @property
    def ram_source(self) -> str:
        return self.ram.source

    @property
    def pmo_base(self) -> int | None:
        regions = self.profile.regions_of("pmo")
        return regions[0].va_start if regions else None

    def count(self, severity: str) -> int:
        return sum(1 for f in self.findings if f.severity == severity)

    @property
    def summary(self) -> dict[str, int]:
        return {
            "error": self.count(ERROR),
            "warning": self.count(WARNING),
            "info": self.count(INFO),
            "suppressed": len(self.suppressed),
            "exit_code": self.exit_code,
        }

    @property
    def exit_code(self) -> int:
        return 1 if self.count(ERROR) else 0

    def kinds(self, severity: str | None = None) -> set[str]:
        return {f.kind for f in self.findings if severity is None or f.severity == severity}

    # -- JSON ----------------------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        dump = None
        if self.dump is not None:
            dump = {
                "path": _dump_name(self.dump),
                "format": self.dump.format,
                "arch": self.dump.arch,
            }
        return {
            "version": __version__,
            "profile": self.profile.name,
            "ram_source": self.ram.source,
            "findings": [f.to_json() for f in self.findings],
            "summary": self.summary,
            "dump": dump,
            "roots": [r.to_json() for r in self.roots],
            "cpu_features": None if self.cpu_features is None else sorted(self.cpu_features),
            "kernel": None if self.kernel is None else self.kernel.path,
            "ram": self.ram.to_json(),
            "profile_detail": self.profile.to_json(),
            "notes": self.notes,
            "skipped": self.skipped,
            "suppressed": [{**f.to_json(), "suppressed_by": f.suppressed_by} for f in self.suppressed],
            "coverage": [c.to_json() for c in self.coverage],
        }


def render(report: Report, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(report.to_json(), indent=2) + "\n"
    if fmt == "sarif":
        return json.dumps(to_sarif(report), indent=2) + "\n"
    if fmt == "junit":
        return to_junit(report)
    return to_text(report)


# -- text ------------------------------------------------------------------------------------------------
def _wrap(text: str, indent: str) -> list[str]:
    return textwrap.wrap(
        text, WIDTH, initial_indent=indent, subsequent_indent=indent, break_long_words=False, break_on_hyphens=False
    ) or [indent]


def _range(a: int | None, b: int | None) -> str:
    return "-" if a is None else f"{a:#018x}-{b:#018x}" if b is not None else f"{a:#x}"


def finding_text(f: Finding) -> list[str]:
    head = f"[{f.kind}] VA {_range(f.va_start, f.va_end)}"
    if f.pa_start is not None:
        head += f"  PA {f.pa_start:#x}-{f.pa_end:#x}" if f.pa_end is not None else f"  PA {f.pa_start:#x}"
    lines = [head]
    lines += _wrap(f.message, "    ")
    if f.expected or f.found:
        lines.append(f"    expected: {f.expected or '-'}")
        lines.append(f"    found:    {f.found or '-'}")
    if len(f.roots) > 1:
        lines.append(f"    roots:    {', '.join(f'{r:#x}' for r in f.roots)} (the same for each)")
    for i, p in enumerate(f.paths):
        label = "    path:     " if i == 0 else "              "
        lines.append(label + path_text(p))
    if f.paths_omitted:
        lines.append(f"              ... and {f.paths_omitted} more entries")
    if f.count > 1:
        lines.append(f"    places:   {f.count:,} in all; the first {len(f.examples)}:")
        for e in f.examples:
            pa = f"  PA {e.pa_start:#x}-{e.pa_end:#x}" if e.pa_start is not None and e.pa_end is not None else ""
            lines.append(f"              VA {_range(e.va_start, e.va_end)}{pa}  {path_text(e.path, values=False)}")
    return lines


def _dump_name(mem: PhysicalMemory) -> str:
    """The file the user named (a compressed dump's, not its cached copy's)."""
    return str(mem.info.details.get("source") or mem.path)


def to_text(report: Report) -> str:
    out: list[str] = []
    d = report.dump
    if d is not None:
        out.append(f"pmoview check {_dump_name(d)}  ({d.format}, {d.arch or '?'})")
    p = report.profile
    out.append(f"profile:  {p.name}  ({p.why or p.profile.source})")
    for r in p.regions:
        end = f"-{r.va_end:#x}" if r.va_end is not None else ""
        out.append(f"          {r.name}: VA {r.va_start:#x}{end}  [{r.rule_text}]")
    for k in p.used_facts():
        src = p.fact_sources.get(k, "")
        if not src.endswith("profile constant"):
            out += textwrap.wrap(
                f"{k} = {p.facts[k]:#x}: {src}", WIDTH, initial_indent="          ", subsequent_indent="            "
            )
    for root in report.roots:
        out.append(f"root:     {root.mode} table {root.table:#x}  ({root.source})")
    out.append(f"RAM map:  {report.ram.source}: {report.ram.detail}")
    if report.cpu_features is not None:
        out.append(f"CPU:      {', '.join(sorted(report.cpu_features)) or 'no features'} (--cpu-features)")
    out.append("")
    titles = {ERROR: "ERRORS", WARNING: "WARNINGS", INFO: "INFO"}
    for sev in SEVERITIES:
        group = [f for f in report.findings if f.severity == sev]
        if not group:
            continue
        out.append(f"{titles[sev]} ({len(group)})")
        out.append("")
        for f in group:
            out += finding_text(f)
            out.append("")
    if not report.findings:
        out += ["No findings: the address space matches the profile.", ""]
    if report.coverage:
        out.append("PMO COVERAGE")
        for c in report.coverage:
            out += c.text()
        out.append("")
    if report.suppressed:
        out.append(
            f"suppressed by ok marks: {len(report.suppressed)} ("
            + ", ".join(sorted({f"{f.kind} by {f.suppressed_by}" for f in report.suppressed}))
            + ")"
        )
    if report.skipped:
        out.append("not checked: " + "; ".join(f"{k} ({v})" for k, v in sorted(report.skipped.items())))
    if report.notes:
        out.append("notes:")
        for n in report.notes:
            out += textwrap.wrap(
                n,
                WIDTH,
                initial_indent="  - ",
                subsequent_indent="    ",
                break_long_words=False,
                break_on_hyphens=False,
            )
    s = report.summary
    out.append(f"summary: {s['error']} error(s), {s['warning']} warning(s), {s['info']} info -> exit {s['exit_code']}")
    return "\n".join(out) + "\n"


# -- SARIF 2.1.0 -----------------------------------------------------------------------------------------
def _camel(kind: str) -> str:
    return "".join(w.capitalize() for w in kind.split("-"))


def to_sarif(report: Report) -> dict[str, Any]:
    kinds = list(KINDS)
    rules = [
        {
            "id": k,
            "name": _camel(k),
            "shortDescription": {"text": RULES.get(k, k)},
            "defaultConfiguration": {"level": "error"},
        }
        for k in kinds
    ]
    uri = _dump_name(report.dump) if report.dump is not None else "dump"
    results = []
    for f in report.findings:
        logical: list[dict[str, Any]] = []
        if f.va_start is not None:
            logical.append(
                {
                    "name": f"VA {_range(f.va_start, f.va_end)}",
                    "kind": "module",
                    "fullyQualifiedName": " / ".join(e.text() for e in f.paths[0]) if f.paths else None,
                }
            )
        loc: dict[str, Any] = {"physicalLocation": {"artifactLocation": {"uri": uri}}}
        if logical:
            loc["logicalLocations"] = [{k: v for k, v in x.items() if v is not None} for x in logical]
        fj = f.to_json()
        results.append(
            {
                "ruleId": f.kind,
                "ruleIndex": kinds.index(f.kind) if f.kind in kinds else -1,
                "level": SARIF_LEVEL.get(f.severity, "note"),
                "message": {"text": f.message},
                "locations": [loc],
                "partialFingerprints": {"pmoview/v1": f"{f.kind}:{fj['va_start']}:{fj['pa_start']}"},
                "properties": {k: fj[k] for k in ("va_start", "va_end", "pa_start", "pa_end", "paths")}
                | {"expected": f.expected, "found": f.found},
            }
        )
    for r in results:
        if int(r["ruleIndex"]) < 0:  # type: ignore[call-overload]
            del r["ruleIndex"]
    return {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "pmoview",
                        "version": __version__,
                        "semanticVersion": __version__,
                        "informationUri": "https://github.com/pmoview/pmoview",
                        "rules": rules,
                    }
                },
                "artifacts": [{"location": {"uri": uri}}],
                "invocations": [{"executionSuccessful": True, "exitCode": report.exit_code}],
                "results": results,
                "properties": {"profile": report.profile.name, "ram_source": report.ram.source, "notes": report.notes},
            }
        ],
    }


# -- JUnit XML -------------------------------------------------------------------------------------------
def to_junit(report: Report) -> str:
    name = f"pmoview check {_dump_name(report.dump) if report.dump is not None else ''}".strip()
    suites = ET.Element("testsuites", name="pmoview check")
    suite = ET.SubElement(suites, "testsuite", name=name)
    props = ET.SubElement(suite, "properties")
    for k, v in (
        ("profile", report.profile.name),
        ("ram_source", report.ram.source),
        ("ram_detail", report.ram.detail),
        ("roots", "; ".join(f"{r.mode} {r.table:#x} ({r.source})" for r in report.roots)),
    ):
        ET.SubElement(props, "property", name=k, value=str(v))
    tests = failures = skipped = 0
    for kind in KINDS:
        fs = [f for f in report.findings if f.kind == kind]
        tests += 1
        case = ET.SubElement(suite, "testcase", classname=f"pmoview.check.{report.profile.name}", name=kind, time="0")
        errs = [f for f in fs if f.severity == ERROR]
        if errs:
            failures += 1
            fail = ET.SubElement(
                case, "failure", message=f"{len(errs)} error finding(s): {RULES.get(kind, kind)}", type=kind
            )
            fail.text = "\n\n".join("\n".join(finding_text(f)) for f in errs)
        elif kind in report.skipped and not fs:
            skipped += 1
            ET.SubElement(case, "skipped", message=report.skipped[kind])
        rest = [f for f in fs if f.severity != ERROR]
        if rest:
            out = ET.SubElement(case, "system-out")
            out.text = "\n\n".join(f"{f.severity}: " + "\n".join(finding_text(f)) for f in rest)
    for el, n in ((suite, None), (suites, None)):
        del n
        el.set("tests", str(tests))
        el.set("failures", str(failures))
        el.set("errors", "0")
        el.set("skipped", str(skipped))
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"

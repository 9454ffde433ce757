"""Findings aggregate where they repeat, and a check's work does not follow the leaf count: a PMO
split page by page with every other page read-only (262 144 leaves, none merge) gives one pmo-flags
finding with a ``count`` and a few ``examples``, and only the entry paths a report shows are walked."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from pmoview.checks.findings import AGGREGATE_OVER, ERROR, MAX_EXAMPLES, Pending, PendingCollector, merge_pending
from pmoview.cli import main
from pmoview.space import AddressSpace

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
from make_synthetic import write  # noqa: E402

SEED_PMO = 0xFFFF_8000_0000_0000


def render_(p: Pending) -> tuple[str, None, None]:
    return f"{p.va_start:#x}", None, None


def places(n: int, gap: int = 20) -> list[Pending]:
    return [Pending("pmo-flags", ERROR, "g", a, a + 10, a, a + 10, render_) for a in range(0, n * gap, gap)]


def test_a_few_places_stay_separate_findings() -> None:
    got = merge_pending(places(AGGREGATE_OVER))
    assert len(got) == AGGREGATE_OVER and all(f.count == 1 and f.examples == () for f in got)


def test_many_places_become_one_finding_with_count_and_examples() -> None:
    (f,) = merge_pending(places(AGGREGATE_OVER + 1))
    assert f.count == AGGREGATE_OVER + 1 and len(f.examples) == MAX_EXAMPLES
    assert (f.va_start, f.va_end) == (0, AGGREGATE_OVER * 20 + 10)
    assert [e.va_start for e in f.examples] == [20 * i for i in range(MAX_EXAMPLES)]
    j = f.to_json()
    assert j["count"] == AGGREGATE_OVER + 1 and len(j["examples"]) == MAX_EXAMPLES
    assert set(j["examples"][0]) == {"va_start", "va_end", "pa_start", "pa_end", "path"}


def test_the_collector_keeps_a_bounded_number_of_places_and_counts_the_rest() -> None:
    sink = PendingCollector()
    sink.extend(places(50_000))
    (bucket,) = sink.buckets.values()
    assert len(bucket.places) <= 1024
    (f,) = merge_pending(sink)
    assert f.count == 50_000 and f.va_end == 49_999 * 20 + 10


@pytest.fixture(scope="module")
def alternating(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("alt") / "alt-1g.elf"
    write(str(path), 1, alternate=True, base_va=SEED_PMO)
    return path


def test_alternating_pmo_is_one_aggregated_finding(
    alternating: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    walked: list[int] = []
    translate = AddressSpace.translate

    def counting(self: AddressSpace, va: int):  # type: ignore[no-untyped-def]
        walked.append(va)
        return translate(self, va)

    monkeypatch.setattr(AddressSpace, "translate", counting)
    assert main(["check", "--format", "json", str(alternating)]) == 1
    report = json.loads(capsys.readouterr().out)
    flags = [f for f in report["findings"] if f["kind"] == "pmo-flags"]
    assert len(report["findings"]) <= 1000 and len(flags) == 1
    (f,) = flags
    assert f["count"] == 131_072 and len(f["examples"]) == MAX_EXAMPLES
    assert f["examples"][1]["va_start"] == hex(SEED_PMO + 0x3000)
    assert f["examples"][1]["path"][-1]["index"] == 3
    # entry paths are walked for what the report shows, not per place: 262 144 leaves, a few dozen walks
    assert len(walked) < 100


def test_alternating_mappings_stream_one_per_line(alternating: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["mappings", "--json", "--writable", str(alternating)]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 131_072 + 2 and '"writable":false' not in out


def test_finding_index_answers_rows_without_scanning_findings() -> None:
    from pmoview.checks.findings import Example, Finding, PathEntry
    from pmoview.checks.index import FindingIndex

    leaf = (PathEntry(4, 256, 0), PathEntry(3, 0, 0), PathEntry(2, 5, 0))
    other = (PathEntry(4, 256, 0), PathEntry(3, 1, 0), PathEntry(2, 7, 0))
    findings = [
        Finding("wx", "error", 0x1000, 0x2000, None, None, "m", paths=(leaf,)),
        Finding(
            "pmo-flags", "warning", 0x8000, 0x9000, None, None, "m", count=40, examples=(Example(1, 2, 3, 4, other),)
        ),
        Finding("pmo-extra", "info", 0x20000, 0x30000, None, None, "m"),
    ]
    idx = FindingIndex(findings)
    assert idx.severity(((4, 256),), None, None) == 3  # both paths run through PML4[256]
    assert idx.severity(((4, 256), (3, 1)), None, None) == 2  # an example's path counts
    assert idx.severity(((4, 255),), 0x8800, 0x8900) == 2  # by VA range
    assert idx.severity(((4, 255),), 0x0, 0x1001) == 3
    assert idx.severity(((4, 255),), 0x2000, 0x8000) == 0  # touching is not meeting
    assert idx.severity(((4, 255),), 0x2F000, 0x40000) == 1


def test_distinct_causes_and_findings_are_capped_and_say_so() -> None:
    from pmoview.checks.findings import MAX_CAUSES, MAX_FINDINGS

    sink = PendingCollector()
    for i in range(MAX_CAUSES + 500):  # a wrong-target offset per place: a cause each
        sink.add(Pending("pmo-wrong-target", ERROR, ("pmo", i), i * 20, i * 20 + 10, 0, 10, render_))
    assert len(sink.buckets) == MAX_CAUSES + 1  # the rest share one bucket
    many = [Pending(f"k{i % 7}", ERROR, ("g", i), i * 20, i * 20 + 10, None, None, render_) for i in range(3000)]
    got = merge_pending(many)
    assert len(got) == MAX_FINDINGS and got[-1].kind == "report-limit"
    assert "2,001 more findings" in got[-1].message

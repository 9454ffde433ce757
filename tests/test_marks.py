"""pmoview.marks: the sidecar format, atomic saves, refusal of unusable files, reports."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pmoview.marks import (
    KINDS,
    MarksError,
    MarkSet,
    dump_identity,
    identity_mismatch,
    load_marks,
    sidecar_path,
)

ROOT = Path(__file__).resolve().parent.parent
KERNEL_PMO = 0xFFFF_8000_0000_0000


def test_sidecar_sits_beside_the_dump() -> None:
    assert sidecar_path("/x/dump.kdump") == "/x/dump.kdump.pmoview-marks.json"


def test_missing_sidecar_is_an_empty_set_that_keeps_the_identity(tmp_path: Path) -> None:
    ident = {"path": "/d", "size": 1, "format": "raw"}
    ms = load_marks(str(tmp_path / "m.json"), ident)
    assert len(ms) == 0 and ms.dump == ident and not (tmp_path / "m.json").exists()


def test_marks_round_trip_through_the_sidecar(tmp_path: Path) -> None:
    p = str(tmp_path / "d.pmoview-marks.json")
    ms = load_marks(p, {"path": "/d", "size": 5, "format": "kdump"})
    a = ms.add("wrong", 0x1000, [(4, 256), (3, 0)], note="frame off by 1 GiB")
    b = ms.add("missing", 0x1000, None, KERNEL_PMO + (1 << 30), KERNEL_PMO + (2 << 30))
    ms.add("ok", 0x1000, [[4, 511]])
    ms.add("note", 0x2000, [(4, 1)], 0x8000000000, 0x10000000000, "second CPU")
    ms.save()
    data = json.loads(Path(p).read_text())
    assert data["version"] == 1 and data["dump"]["size"] == 5
    assert data["marks"][0]["path"] == [[4, 256], [3, 0]] and data["marks"][0]["root"] == "0x1000"
    assert data["marks"][1]["va_start"] == hex(KERNEL_PMO + (1 << 30)) and data["marks"][1]["path"] is None
    again = load_marks(p)
    assert again.marks == ms.marks
    assert again.for_path(0x1000, [(4, 256), (3, 0)]) == [a]
    assert again.for_range(0x1000, KERNEL_PMO + (1 << 30) + 4096, KERNEL_PMO + (1 << 30) + 8192) == [b]
    assert again.for_range(0x2000, KERNEL_PMO, KERNEL_PMO + 1) == []
    assert [m.id for m in again.under_path(0x1000, [(4, 256)])] == [a.id]


def test_marking_the_same_entry_twice_replaces_not_duplicates(tmp_path: Path) -> None:
    ms = load_marks(str(tmp_path / "m.json"))
    ms.add("wrong", 1, [(4, 1)])
    ms.add("wrong", 1, [(4, 1)], note="now with a reason")
    assert len(ms) == 1 and ms.marks[0].note == "now with a reason"


def test_remove_by_id(tmp_path: Path) -> None:
    ms = load_marks(str(tmp_path / "m.json"))
    m = ms.add("ok", 1, [(4, 1)])
    assert ms.remove(m.id) == m and len(ms) == 0 and ms.remove("nope") is None


def test_ids_stay_unique_after_removal(tmp_path: Path) -> None:
    ms = load_marks(str(tmp_path / "m.json"))
    a = ms.add("ok", 1, [(4, 1)])
    ms.add("ok", 1, [(4, 2)])
    ms.remove(a.id)
    c = ms.add("ok", 1, [(4, 3)])
    assert len({m.id for m in ms}) == 2 and c.id != ms.marks[0].id


@pytest.mark.parametrize(
    "kwargs",
    [
        {"kind": "bogus", "path": [(4, 1)]},
        {"kind": "wrong"},
        {"kind": "missing", "va_start": 10, "va_end": 5},
        {"kind": "missing", "va_start": 10},
    ],
)
def test_add_rejects_marks_without_a_place_or_kind(tmp_path: Path, kwargs: dict) -> None:  # type: ignore[type-arg]
    ms = load_marks(str(tmp_path / "m.json"))
    with pytest.raises(ValueError):
        ms.add(root=1, **kwargs)


@pytest.mark.parametrize(
    "content, words",
    [
        (b"{not json", "JSON error"),
        (b"\xff\xfe", "JSON error"),
        (b"[]", 'no "version"'),
        (b'{"version": 2, "marks": []}', "newer than this pmoview"),
        (b'{"version": "1", "marks": []}', "not a number"),
        (b'{"version": 1, "marks": [{"kind": "wrong", "root": "0x1"}]}', "path or a VA range"),
        (b'{"version": 1, "marks": [{"id": "a", "kind": "odd", "root": "0x1", "path": [[4, 1]]}]}', "kind"),
        (b'{"version": 1, "marks": {}}', "must be a list"),
    ],
)
def test_unusable_sidecar_is_refused_and_kept(tmp_path: Path, content: bytes, words: str) -> None:
    p = tmp_path / "m.json"
    p.write_bytes(content)
    with pytest.raises(MarksError) as exc:
        load_marks(str(p))
    assert words in str(exc.value) and "kept" in str(exc.value)
    assert p.read_bytes() == content


def test_identity_mismatch_names_the_difference() -> None:
    assert identity_mismatch({"size": 1, "format": "kdump"}, {"size": 2, "format": "kdump"}) is not None
    assert identity_mismatch({"size": 1}, {"size": 1, "format": "x"}) is None


def test_dump_identity_has_path_size_format(tmp_path: Path) -> None:
    f = tmp_path / "d"
    f.write_bytes(b"abc")
    assert dump_identity(str(f), "raw") == {"path": str(f), "size": 3, "format": "raw"}


def test_save_leaves_no_temporary_files(tmp_path: Path) -> None:
    ms = load_marks(str(tmp_path / "m.json"))
    ms.add("ok", 1, [(4, 1)])
    ms.save()
    ms.save()
    assert sorted(os.listdir(tmp_path)) == ["m.json"]


def test_marks_module_does_not_import_textual() -> None:
    code = "import sys, pmoview.marks; assert 'textual' not in sys.modules, 'textual imported'"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})


SAVER = """
import sys
from pmoview.marks import load_marks
ms = load_marks(sys.argv[1])
n = 0
print("ready", flush=True)
while True:
    n += 1
    ms.marks.clear()
    for i in range(4000):
        ms.add("note", 0x1000, [(4, i % 512), (3, i // 512)], note=f"generation {n} mark {i} " + "x" * 40)
    ms.save()
"""


def test_sigkill_mid_save_leaves_a_loadable_sidecar(tmp_path: Path) -> None:
    p = tmp_path / "d.pmoview-marks.json"
    first = load_marks(str(p))
    for i in range(3):
        first.add("wrong", 0x1000, [(4, i)])
    first.save()
    rng = random.Random(1234)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for _ in range(8):
        child = subprocess.Popen([sys.executable, "-c", SAVER, str(p)], env=env, stdout=subprocess.PIPE)
        assert child.stdout is not None and child.stdout.readline().strip() == b"ready"
        time.sleep(rng.uniform(0.05, 0.6))
        child.send_signal(signal.SIGKILL)
        child.wait()
        ms = load_marks(str(p))  # never a torn file: the old set or a complete new one
        assert len(ms) in (3, 4000)
    leftovers = [n for n in os.listdir(tmp_path) if n != p.name]
    assert all(n.endswith(".tmp") for n in leftovers)  # a killed save may leave its temp file, never a bad sidecar


def test_every_kind_is_accepted(tmp_path: Path) -> None:
    ms = load_marks(str(tmp_path / "m.json"))
    for i, k in enumerate(KINDS):
        ms.add(k, 1, [(4, i)])
    ms.save()
    assert [m.kind for m in load_marks(ms.path)] == list(KINDS)
    assert isinstance(ms, MarkSet)

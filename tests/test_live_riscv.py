"""A live RISC-V guest through QEMU's gdbstub: satp comes from the hart (the CSR QEMU's dumps lack),
and the walk equals the one on the same kernel's dump (rvseed-sv48, sample_dumps)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from qemu_guest import Guest

from pmoview.cli import main

SAMPLE = Path(__file__).resolve().parent.parent / "sample_dumps" / "rvseed-sv48"
pytestmark = pytest.mark.skipif(
    shutil.which("qemu-system-riscv64") is None or not (SAMPLE / "kernel.elf").exists(),
    reason="needs qemu-system-riscv64 (qemu-system-misc) and the rvseed-sv48 sample",
)


@pytest.fixture(scope="module")
def guest(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Guest]:
    cmd = ["qemu-system-riscv64", "-machine", "virt", "-bios", "none", "-m", "128M", "-smp", "2"]
    g = Guest([*cmd, "-kernel", str(SAMPLE / "kernel.elf")], tmp_path_factory.mktemp("rv"), "PMOVIEW-READY")
    g.qmp.execute("stop")  # type: ignore[union-attr]
    yield g
    g.kill()


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_satp_from_the_gdbstub_is_the_root_and_mappings_equal_the_dumps(
    guest: Guest, capsys: pytest.CaptureFixture[str]
) -> None:
    truth = json.loads((SAMPLE / "truth.json").read_text())
    satp = truth["harts"][0]["satp"]
    code, live, err = run(capsys, "mappings", guest.gdb, "--json")
    assert code == 0, err
    assert "from CPU 0 satp" in err and "riscv64-sv48" in err
    code, dumped, err = run(capsys, "mappings", str(SAMPLE / "dump.elf.xz"), "--satp", satp, "--json")
    assert code == 0, err
    live_rows, dumped_rows = json.loads(live), json.loads(dumped)
    # the same mappings, the same frames absent; why differs: the dump lacks them, the guest has no RAM there
    assert [r.get("absent", "") for r in dumped_rows if "absent" in r] and all(
        r["absent"] == "not RAM or ROM of the guest (info mtree)" for r in live_rows if "absent" in r
    )
    assert [{**r, "absent": bool(r.get("absent"))} for r in live_rows] == [
        {**r, "absent": bool(r.get("absent"))} for r in dumped_rows
    ]


def test_info_over_gdbstub_lists_satp_and_sstatus(guest: Guest, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "info", guest.gdb)
    assert code == 0, err
    assert "satp" in out and "sstatus" in out
    assert "CPU 0 satp" in out

"""A faulting seed kernel run again live: QEMU stops it at its triple fault (-no-reboot, -action
shutdown=pause) and ``pmoview cpus gdb://...`` names the same fault, entry and access as the committed
dump of the same kernel (and as QEMU's own #PF record in its truth)."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest
from qemu_guest import Guest, seed_iso

from pmoview.cli import main

SAMPLES = Path(__file__).resolve().parent.parent / "sample_dumps"
TOOLS = ("qemu-system-x86_64", "grub-mkrescue", "xorriso")
pytestmark = pytest.mark.skipif(
    any(shutil.which(t) is None for t in TOOLS), reason="needs qemu-system-x86 and GRUB (.ci/run installs them)"
)
KEYS = ("va", "access", "mode", "allowed", "reason", "level", "index", "entry")


@pytest.mark.parametrize("name", ["seed-fault-ro-write", "seed-fault-nx-fetch"])
def test_live_fault_is_named_as_in_the_dump(name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = SAMPLES / name
    truth = json.loads((d / "truth.json").read_text())
    iso = seed_iso(d / "kernel.elf", tmp_path)
    qemu = ["qemu-system-x86_64", "-machine", "pc", "-accel", "tcg", "-m", "1536M", "-smp", "1"]
    qemu += ["-cpu", "qemu64,+nx", "-cdrom", str(iso), "-action", "shutdown=pause"]
    guest = Guest(qemu, tmp_path, r"PMOVIEW-FAULTING")
    try:
        assert guest.qmp is not None
        deadline = time.monotonic() + 60
        while guest.qmp.status() != "shutdown":  # the triple fault stops it by itself
            assert time.monotonic() < deadline, "the guest did not stop at its fault"
            time.sleep(0.1)
        assert main(["cpus", guest.gdb, "--json"]) == 0
        (live,) = json.loads(capsys.readouterr().out)
        assert main(["cpus", str(d / truth["dumps"]["kdump"]), "--json"]) == 0
        (dumped,) = json.loads(capsys.readouterr().out)
        assert live["fault"] is not None and dumped["fault"] is not None
        assert {k: live["fault"][k] for k in KEYS} == {k: dumped["fault"][k] for k in KEYS}
        assert live["fault"]["va"] == truth["fault"]["qemu_pf"]["cr2"] and live["pc"] == truth["fault"]["qemu_pf"]["ip"]
        # the gdbstub target reports control registers, not every general one: an operand's address
        # may not be computable there (at_pc None), but never contradicts the dump
        assert dumped["fault"]["at_pc"] is True and live["fault"]["at_pc"] in (True, None)
        assert guest.qmp.status() == "shutdown"  # read, never resumed
    finally:
        guest.kill()

"""A live AArch64 Linux guest (Debian's arm64 kernel, as sample_dumps/linux/ builds it) read through the
gdbstub: its roots come from TTBR1_EL1/TCR_EL1/MAIR_EL1, and ``translate`` must answer exactly as a dump of
the same paused guest taken with ``pmoview snapshot`` over QMP (whose roots come from VMCOREINFO).

Needs the kernel and initramfs that ``sample_dumps/linux/make_linux_samples.sh`` builds under
``$PMOVIEW_LINUX_BUILD`` (default ``/work/linux-build``, the script's ``$BUILD``); skipped without them."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest
from qemu_guest import Guest

from pmoview.cli import main

BUILD = Path(os.environ.get("PMOVIEW_LINUX_BUILD", "/work/linux-build"))
ABI = os.environ.get("ABI", "6.1.0-56")
KERNEL = BUILD / "arm64-root" / "boot" / f"vmlinuz-{ABI}-arm64"
INITRD = BUILD / "initramfs-arm64.cpio.gz"

pytestmark = [
    pytest.mark.skipif(shutil.which("qemu-system-aarch64") is None, reason="needs qemu-system-arm"),
    pytest.mark.skipif(
        not (KERNEL.exists() and INITRD.exists()),
        reason=f"needs {KERNEL} and {INITRD}: run sample_dumps/linux/make_linux_samples.sh (BUILD={BUILD})",
    ),
]


def translations(capsys: pytest.CaptureFixture[str], target: str, vas: list[str]) -> list[dict[str, object]]:
    code = main(["translate", target, *vas, "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    result: list[dict[str, object]] = json.loads(out)
    return result


def test_translate_over_gdbstub_answers_as_a_snapshot_of_the_same_guest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    qemu = [
        "qemu-system-aarch64", "-M", "virt", "-accel", "tcg", "-cpu", "max", "-m", "512M", "-smp", "2",
        "-kernel", str(KERNEL), "-initrd", str(INITRD), "-append", "console=ttyAMA0 init_on_free=1",
        "-device", "vmcoreinfo", "-nic", "none",
    ]  # fmt: skip
    guest = Guest(qemu, tmp_path, r"PMOVIEW-READY", boot_timeout=300)
    try:
        assert guest.qmp is not None
        guest.qmp.execute("stop")
        serial = guest.serial.read_text(errors="replace")
        symbols = re.findall(r"PMOVIEW-KSYM ([0-9a-f]{16}) \w (_stext|_etext|_sdata|_end)", serial)
        regs = guest.qmp.execute("human-monitor-command", **{"command-line": "info registers"})
        pc_sp = re.findall(r"\b(?:PC|SP)=([0-9a-f]{16})", regs)
        # kernel text and data, the stack, the linear map's first RAM page and a high one, a user VA
        vas = [f"0x{a}" for a, _ in symbols] + [f"0x{v}" for v in pc_sp]
        vas += ["0xffff000000000000", "0xffff00001fe00000", "0xffff800008000000"]
        snap = tmp_path / "arm64.kdump"
        assert main(["snapshot", guest.qmp_target, str(snap), "--format", "kdump-zlib"]) == 0
        capsys.readouterr()
        live = translations(capsys, guest.gdb, vas)
        # a user VA: the gdbstub gives TTBR0_EL1 too, a dump's VMCOREINFO only the kernel half
        (user,) = translations(capsys, guest.gdb, ["0x400000"])
        info = main(["info", guest.gdb, "--json"])
        data = json.loads(capsys.readouterr().out) if info == 0 else {"roots": [], "cpus": []}
        roots = data["roots"]
    finally:
        guest.kill()
    # Live, translate takes a user VA (bit 55 clear) through CPU 0's TTBR0_EL1; a dump has no TTBR0, so the
    # dump is given the same register values the gdbstub showed, as a user would pass them.
    cpu0 = data["cpus"][0]
    dump = translations(capsys, str(snap), [*vas, "--ttbr0", cpu0["ttbr0_el1"], "--tcr", cpu0["tcr_el1"]])
    assert roots and roots[0]["source"].startswith("CPU 0 TTBR1_EL1")
    assert sum(t["pa"] is not None for t in live) >= 6
    assert "non-canonical" not in str(user.get("reason"))
    for lt, dt in zip(live, dump, strict=True):
        # the gdbstub gives MAIR_EL1, a dump does not: attribute names there, AttrIndx numbers here
        lf, df = lt.pop("flags"), dt.pop("flags")
        assert lt == dt
        if isinstance(lf, dict) and isinstance(df, dict):
            lf.pop("cache"), df.pop("cache")
            assert lf == df

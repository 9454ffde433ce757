"""Live targets against a real QEMU: the committed seed-hole kernel booted again, paused after its ready
marker, read through the gdbstub (``gdb://``) and QMP (``qmp:``) must give exactly what its committed dump
gives; a running guest, a guest resumed mid-read, a vanished QEMU and a silent port give one line each."""

from __future__ import annotations

import json
import shlex
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from qemu_guest import Guest, free_port, seed_iso

from pmoview.cli import main
from pmoview.live.errors import LiveError
from pmoview.live.rsp import RspClient
from pmoview.live.target import open_live

ROOT = Path(__file__).resolve().parent.parent
HOLE = ROOT / "sample_dumps" / "seed-hole"
TOOLS = ("qemu-system-x86_64", "grub-mkrescue", "xorriso")
pytestmark = pytest.mark.skipif(
    any(shutil.which(t) is None for t in TOOLS), reason="needs qemu-system-x86 and GRUB (.ci/run installs them)"
)


def machine_args(truth_cmdline: str, iso: Path) -> list[str]:
    """The committed dump's QEMU command line with the ISO replaced and the capture-only options dropped."""
    argv = shlex.split(truth_cmdline)
    out: list[str] = []
    skip = 0
    for i, a in enumerate(argv):
        if skip:
            skip -= 1
            continue
        if a in ("-cdrom", "-display"):
            skip = 1
            if a == "-cdrom":
                out += ["-cdrom", str(iso)]
            continue
        if a == "-no-reboot" or (i == 0):
            if i == 0:
                out.append(a)
            continue
        out.append(a)
    return out


@pytest.fixture(scope="module")
def hole(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Guest]:
    work = tmp_path_factory.mktemp("live-seed-hole")
    truth = json.loads((HOLE / "truth.json").read_text())
    iso = seed_iso(HOLE / "kernel.elf", work)
    guest = Guest(machine_args(truth["qemu_cmdline"], iso), work, r"PMOVIEW-READY")
    assert guest.qmp is not None
    guest.qmp.execute("stop")  # paused after the marker, as the committed dump was taken
    yield guest
    guest.kill()


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def check_json(capsys: pytest.CaptureFixture[str], dump: str) -> tuple[int, dict[str, object]]:
    code, out, err = run(capsys, "check", dump, "--kernel", str(HOLE / "kernel.elf"), "--format", "json")
    assert code in (0, 1), err
    return code, json.loads(out)


def phy_mem_mode(guest: Guest) -> bytes:
    client = RspClient("127.0.0.1", guest.port)
    try:
        client.request("qSupported")
        return client.request("qqemu.PhyMemMode")
    finally:
        client.close()


def test_check_over_gdbstub_gives_exactly_the_dump_findings(hole: Guest, capsys: pytest.CaptureFixture[str]) -> None:
    dump_code, dump = check_json(capsys, str(HOLE / "dump.kdump.xz"))
    live_code, live = check_json(capsys, hole.gdb)
    assert live_code == dump_code == 1
    assert live["findings"] == dump["findings"]
    assert live["ram_source"] == dump["ram_source"] == "multiboot2"
    assert hole.qmp is not None and hole.qmp.status() == "paused"  # never resumed
    assert phy_mem_mode(hole) == b"0"  # the stub's memory mode is back to virtual


def test_check_over_qmp_gives_exactly_the_dump_findings(hole: Guest, capsys: pytest.CaptureFixture[str]) -> None:
    _, dump = check_json(capsys, str(HOLE / "dump.kdump.xz"))
    code, live = check_json(capsys, hole.qmp_target)
    assert code == 1
    assert live["findings"] == dump["findings"]


def test_translate_over_gdbstub_answers_as_the_dump(hole: Guest, capsys: pytest.CaptureFixture[str]) -> None:
    vas = ["0xffffffff80100000", "0xffff800000001000", "0xffff800048000000", "0xffff80005ffdf000", "0x1000"]
    code_d, out_d, _ = run(capsys, "translate", str(HOLE / "dump.kdump.xz"), *vas, "--json")
    code_l, out_l, err = run(capsys, "translate", hole.gdb, *vas, "--json")
    assert code_l == code_d == 0, err
    assert json.loads(out_l) == json.loads(out_d)


def test_info_over_gdbstub_shows_system_registers(hole: Guest, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "info", hole.gdb, "--json")
    assert code == 0, err
    info = json.loads(out)
    truth = json.loads((HOLE / "truth.json").read_text())["cpus"][0]
    cpu = info["cpus"][0]
    for reg in ("cr0", "cr3", "cr4", "efer"):  # EFER is what a dump lacks
        assert int(str(cpu[reg]), 0) == int(truth[reg], 16), reg


def test_snapshot_over_qmp_writes_a_dump_check_reads_the_same(
    hole: Guest, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "hole.kdump"
    code, text, err = run(capsys, "snapshot", hole.qmp_target, str(out), "--format", "kdump-zlib")
    assert code == 0, err
    assert out.stat().st_size > 0 and str(out) in text
    _, fresh = check_json(capsys, str(out))
    _, dump = check_json(capsys, str(HOLE / "dump.kdump.xz"))
    assert fresh["findings"] == dump["findings"]
    assert not list(tmp_path.glob(".pmoview-snapshot-*"))  # no partial file left


def test_running_guest_is_refused_left_running_and_stopped_only_with_stop(
    hole: Guest, capsys: pytest.CaptureFixture[str]
) -> None:
    assert hole.qmp is not None
    hole.qmp.execute("cont")
    try:
        for target in (hole.gdb, hole.qmp_target):
            code, out, err = run(capsys, "info", target)
            assert code == 2 and out == ""
            assert len(err.strip().splitlines()) == 1 and "running" in err and "--stop" in err
            assert hole.qmp.status() == "running"
        code, _, err = run(capsys, "check", hole.gdb, "--kernel", str(HOLE / "kernel.elf"), "--stop")
        assert code == 1
        assert "pmoview stopped it (--stop)" in err
        assert hole.qmp.status() == "paused"
    finally:
        hole.qmp.execute("stop")


def test_guest_resumed_mid_read_is_one_line_error(hole: Guest) -> None:
    assert hole.qmp is not None
    for target in (hole.gdb, hole.qmp_target):
        mem = open_live(target)
        try:
            assert mem.read_page(0x102000) is not None
            hole.qmp.execute("cont")
            with pytest.raises(LiveError) as err:
                mem.read_page(0x200000)
            assert "while pmoview was reading" in err.value.one_line()
            assert "\n" not in err.value.one_line()
            # the gdbstub stops a running guest on any byte; pmoview lets it run on, as it was
            assert hole.qmp.status() == "running"
        finally:
            hole.qmp.execute("stop")
            mem.close()


def test_disconnected_qemu_is_one_line_error(tmp_path: Path) -> None:
    guest = Guest(["qemu-system-x86_64", "-machine", "pc", "-accel", "tcg", "-m", "64M", "-S"], tmp_path, None)
    try:
        mem = open_live(guest.gdb, timeout=5)
        assert mem.read_page(0x1000) == bytes(4096)  # a fresh machine's RAM
    finally:
        guest.kill()
    start = time.monotonic()
    with pytest.raises(LiveError) as err:
        mem.read_page(0x2000)
    assert time.monotonic() - start < 6
    assert err.value.path == guest.gdb and "\n" not in err.value.one_line()
    mem.close()


@pytest.mark.parametrize("scheme", ["gdb://", "qmp://"])
def test_port_without_qemu_gives_one_line_not_a_hang(scheme: str, capsys: pytest.CaptureFixture[str]) -> None:
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)
    accepted: list[socket.socket] = []
    threading.Thread(target=lambda: accepted.append(silent.accept()[0]), daemon=True).start()
    target = f"{scheme}127.0.0.1:{silent.getsockname()[1]}"
    try:
        start = time.monotonic()
        code, out, err = run(capsys, "info", target, "--live-timeout", "1")
        assert code == 2 and out == ""
        assert time.monotonic() - start < 5
        assert err.startswith(f"pmoview: {target}: ") and len(err.strip().splitlines()) == 1
        assert "within 1 s" in err
    finally:
        for s in accepted:
            s.close()
        silent.close()
    code, _, err = run(capsys, "info", f"{scheme}127.0.0.1:{free_port()}")  # nothing listening
    assert code == 2 and "cannot connect" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "variant",
    ["seed-correct", "seed-literal-virt-to-phys", "seed-wx", "seed-user-pmo", "seed-no-pml4-256", "seed-1g-nopdpe1gb"],
)
def test_every_seed_variant_checks_the_same_live_as_its_dump(
    variant: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sample = ROOT / "sample_dumps" / variant
    truth = json.loads((sample / "truth.json").read_text())
    dump = sample / truth["dumps"]["kdump"]
    kernel = str(sample / "kernel.elf")
    guest = Guest(machine_args(truth["qemu_cmdline"], seed_iso(sample / "kernel.elf", tmp_path)), tmp_path, "READY")
    try:
        assert guest.qmp is not None
        guest.qmp.execute("stop")
        code_d, out_d, _ = run(capsys, "check", str(dump), "--kernel", kernel, "--format", "json")
        code_l, out_l, err = run(capsys, "check", guest.gdb, "--kernel", kernel, "--format", "json")
    finally:
        guest.kill()
    assert code_l == code_d, err
    assert json.loads(out_l)["findings"] == json.loads(out_d)["findings"]


def test_tui_on_a_live_guest_shows_the_snapshot_time_and_r_reads_it_again(hole: Guest, tmp_path: Path) -> None:
    pytest.importorskip("textual")
    import asyncio

    from snapshot_apps.helpers import settle

    from pmoview.inputs import InputOptions
    from pmoview.marks import sidecar_path
    from pmoview.tui.app import make_app

    assert sidecar_path(hole.gdb) == str(Path.cwd() / f"gdb-127.0.0.1-{hole.port}.pmoview-marks.json")
    app = make_app(InputOptions(hole.gdb, kernel=str(HOLE / "kernel.elf")), marks=str(tmp_path / "m.json"))

    async def drive() -> None:
        async with app.run_test(size=(160, 50)) as pilot:
            await settle(app, pilot)
            for _ in range(100):  # walk, checks and coverage run one after the other
                if app.session is not None and app.session.findings:
                    break
                await pilot.pause(0.05)
            first = app.session
            assert first is not None
            status = str(app.main.query_one("#status").render())
            assert "gdbstub" in status and f"snapshot {first.mem.info.details['snapshot_time']}" in status
            assert {f.kind for f in first.findings if f.severity == "error"} == {"pmo-missing"}
            await pilot.press("r")
            await settle(app, pilot)
            for _ in range(100):
                if app.session is not None and app.session is not first and app.session.findings:
                    break
                await pilot.pause(0.05)
            assert app.session is not None and app.session is not first
            assert [f.kind for f in app.session.findings] == [f.kind for f in first.findings]
            assert first.mem.client.closed  # the first connection was let go: QEMU serves one client

    asyncio.run(drive())
    assert hole.qmp is not None and hole.qmp.status() == "paused"


def test_explain_over_gdbstub_answers_as_the_dump(hole: Guest, capsys: pytest.CaptureFixture[str]) -> None:
    for va, access in (("0xffff800048000000", "read"), ("0xffff800000001000", "exec"), ("0xffffffff80100000", "read")):
        code_d, out_d, _ = run(capsys, "explain", str(HOLE / "dump.kdump.xz"), va, "--access", access, "--json")
        code_l, out_l, err = run(capsys, "explain", hole.gdb, va, "--access", access, "--json")
        assert code_l == code_d, err
        live, dump = json.loads(out_l), json.loads(out_d)
        # "control"/"assumptions" differ on purpose: the stub gives EFER, the dump leaves NXE inferred
        keys = ("allowed", "pa", "page_size", "reason", "level", "index", "entry", "path")
        assert {k: live.get(k) for k in keys} == {k: dump.get(k) for k in keys}
        assert live["control"]["nxe"]["assumed"] is False and dump["control"]["nxe"]["assumed"] is True


def test_snapshot_elf_of_a_small_guest_reads_back_with_the_live_ranges(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # QEMU writes a 32-bit ELF for a CPU not in long mode: the smallest seed guest, booted to its marker
    sample = ROOT / "sample_dumps" / "seed-no-pml4-256"
    truth = json.loads((sample / "truth.json").read_text())
    guest = Guest(machine_args(truth["qemu_cmdline"], seed_iso(sample / "kernel.elf", tmp_path)), tmp_path, "READY")
    try:
        assert guest.qmp is not None
        guest.qmp.execute("stop")
        out = tmp_path / "small.elf"
        code, _, err = run(capsys, "snapshot", guest.qmp_target, str(out))
        assert code == 0, err
        code, live_out, err = run(capsys, "info", guest.qmp_target, "--json")
        assert code == 0, err
    finally:
        guest.kill()
    code, dump_out, err = run(capsys, "info", str(out), "--json")
    assert code == 0, err
    live, dump = json.loads(live_out), json.loads(dump_out)
    assert dump["format"] == "elf" and live["format"] == "qmp"
    assert live["ranges"] == dump["ranges"]


def test_diff_of_the_dump_and_the_live_guest_is_empty_and_cpus_agree(
    hole: Guest, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "diff", str(HOLE / "dump.kdump.xz"), hole.gdb, "--json")
    assert code == 0, err
    diff = json.loads(out)
    assert diff["added"] == diff["removed"] == diff["changed"] == []
    assert diff["b"]["root"]["table"] == diff["a"]["root"]["table"]
    code_d, out_d, _ = run(capsys, "cpus", str(HOLE / "dump.kdump.xz"), "--json")
    code_l, out_l, err = run(capsys, "cpus", hole.gdb, "--json")
    assert code_l == code_d == 0, err
    for live, dump in zip(json.loads(out_l), json.loads(out_d), strict=True):
        assert (live["pc"], live["sp"], live["mode"]) == (dump["pc"], dump["sp"], dump["mode"])
        assert live["root"]["table"] == dump["root"]["table"]


def test_breakpoint_workflow_gdb_disconnects_pmoview_reads_gdb_continues(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The boot.S developer's loop: gdb stops the kernel at a breakpoint (``Z0`` at ``kernel_main``) and
    disconnects (not ``detach``, which would resume); pmoview reads the stopped guest; gdb reconnects and
    continues. pmoview leaves the breakpoint, the stop and the memory mode as they were."""
    truth = json.loads((HOLE / "truth.json").read_text())
    argv = machine_args(truth["qemu_cmdline"], seed_iso(HOLE / "kernel.elf", tmp_path)) + ["-S"]
    guest = Guest(argv, tmp_path, None)
    kernel_main = next(
        int(line.split()[0], 16)
        for line in subprocess.run(["nm", str(HOLE / "kernel.elf")], capture_output=True, text=True).stdout.splitlines()
        if line.endswith(" kernel_main")
    )
    try:
        gdb = RspClient("127.0.0.1", guest.port)
        gdb.request("qSupported")
        assert gdb.request(f"Z0,{kernel_main:x},1") == b"OK"
        gdb.resume()
        assert gdb.wait_stop(60).startswith(b"T05")
        gdb.close()

        code, out, err = run(capsys, "cpus", guest.gdb, "--json")
        assert code == 0, err
        assert int(json.loads(out)[0]["pc"], 16) == kernel_main
        code, out, err = run(capsys, "info", guest.gdb, "--json")
        assert code == 0, err
        details = json.loads(out)["details"]
        assert details["run_state"] == "paused (debug)"
        code, out, err = run(capsys, "translate", guest.gdb, f"{kernel_main:#x}", "--json")
        assert code == 0 and int(json.loads(out)[0]["pa"], 16) == kernel_main - 0xFFFFFFFF80000000, err

        gdb = RspClient("127.0.0.1", guest.port)
        gdb.request("qSupported")
        assert gdb.request("qqemu.PhyMemMode") == b"0"
        assert gdb.request(f"z0,{kernel_main:x},1") == b"OK"  # pmoview left the user's breakpoint in place
        gdb.resume()
        guest.wait_serial("PMOVIEW-READY", 60)  # and the kernel runs on from where it stopped
        gdb.close()
    finally:
        guest.kill()


def test_qmp_over_tcp_refuses_a_running_guest_and_stops_it_with_stop(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    port = free_port()
    qmp_tcp = ["-qmp", f"tcp:127.0.0.1:{port},server=on,wait=off"]
    guest = Guest(["qemu-system-x86_64", "-machine", "pc", "-accel", "tcg", "-m", "64M", *qmp_tcp], tmp_path, None)
    target = f"qmp://127.0.0.1:{port}"
    try:
        assert guest.qmp is not None and guest.qmp.status() == "running"  # SeaBIOS, looking for a disk
        code, out, err = run(capsys, "info", target)
        assert code == 2 and out == "" and "running" in err and len(err.strip().splitlines()) == 1
        assert guest.qmp.status() == "running"
        code, out, err = run(capsys, "info", target, "--stop", "--json")
        assert code == 0, err
        assert json.loads(out)["ranges"][0] == {"start": "0x0", "end": "0xa0000"}
        assert "pmoview stopped it (--stop)" in err
        assert guest.qmp.status() == "paused"
    finally:
        guest.kill()


def test_boot_code_stopped_after_loading_cr3_is_walked_before_paging_is_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """boot.S stopped by a breakpoint on the instruction after ``mov %eax, %cr3`` (paging still off): the
    tables CR3 names are what the next instructions will switch on, so they are the root to look at."""
    text = subprocess.run(
        ["objdump", "-d", "-M", "i386", str(HOLE / "kernel.elf")], capture_output=True, text=True, check=True
    ).stdout
    lines = text.splitlines()
    at = next(i for i, line in enumerate(lines) if "mov    %eax,%cr3" in line)
    after_cr3 = int(lines[at + 1].split(":")[0], 16) - 0xFFFFFFFF80000000  # 32-bit code runs at its PA
    truth = json.loads((HOLE / "truth.json").read_text())
    guest = Guest(machine_args(truth["qemu_cmdline"], seed_iso(HOLE / "kernel.elf", tmp_path)) + ["-S"], tmp_path, None)
    try:
        gdb = RspClient("127.0.0.1", guest.port)
        gdb.request("qSupported")
        assert gdb.request(f"Z0,{after_cr3:x},1") == b"OK"
        gdb.resume()
        assert gdb.wait_stop(60).startswith(b"T05")
        gdb.close()
        code, out, err = run(capsys, "translate", guest.gdb, "0xffffffff80100000", "0xffff800000200000", "--json")
    finally:
        guest.kill()
    assert code == 0, err
    assert "CR0.PG=0" in err  # the root is named as not in use yet
    kernel, pmo = json.loads(out)
    assert int(kernel["pa"], 16) == 0x100000 and int(pmo["pa"], 16) == 0x200000

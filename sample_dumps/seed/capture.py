#!/usr/bin/env python3
"""Boot a QEMU guest, wait for a ready line on its serial port, then capture it.

Python standard library only, so that any sample generator can import it or run it:

    capture.py --name seed-correct --out DIR \
        --qemu-args "-accel tcg -m 5G -smp 2 -cpu qemu64,+nx -cdrom seed.iso" \
        --ready-regex 'PMOVIEW-READY' [--raw 0x0:0x40000000] [--arch x86_64|aarch64]

What ends up in DIR (names as in sample_dumps/SCHEMA.md):
    serial.log              the guest's first serial port (added here as -serial file:...)
    info-registers.txt      HMP "info registers -a"
    info-tlb-cpuN.txt       HMP "info tlb" for CPU N   (x86 only: QEMU has no "info tlb" for arm)
    info-mem-cpuN.txt       HMP "info mem" for CPU N   (x86 only)
    dump.elf[.xz]           QMP dump-guest-memory, ELF, paging=false
    dump.kdump[.xz]         QMP dump-guest-memory, format kdump-zlib (makedumpfile *flattened* stream)
    dump.raw[.xz]           QMP pmemsave of [BASE, BASE+LEN) when --raw is given
    int-log.txt             with --int-log: the tail of QEMU's "-d int" log from the last exception
                            sequence (check_exception lines, vector, error code, IP, CR2, registers)
    qemu-stderr.log         only if QEMU printed anything (removed when empty)

The guest is stopped (QMP "stop") before anything is read, so every file shows the same instant.
With --wait-shutdown the guest is expected to stop by itself (a triple fault with -no-reboot and
"-action shutdown=pause" leaves the machine in run state "shutdown", CPU state intact): the capture
waits for that state after the ready line, so nothing is read before the fault.
QEMU 7.2 creates dump files with mode 0400; they are made 0644 here.

As a module: capture(...) returns a dict with the QEMU version, the exact command line, the CPUs
(query-cpus-fast), the ready line and the files written; --meta FILE writes the same as JSON.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


class QMPError(RuntimeError):
    pass


class QMP:
    """Minimal synchronous QMP client over a UNIX socket."""

    def __init__(self, path: str, timeout: float = 60.0) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.sock.connect(path)
                break
            except (FileNotFoundError, ConnectionRefusedError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        self.file = self.sock.makefile("rwb", buffering=0)
        self.events: list[dict[str, Any]] = []
        self._next_id = 0
        greeting = self._read()
        if "QMP" not in greeting:
            raise QMPError(f"unexpected QMP greeting: {greeting}")
        self.greeting = greeting
        self.execute("qmp_capabilities")

    def _read(self) -> dict[str, Any]:
        line = self.file.readline()
        if not line:
            raise QMPError("QMP connection closed")
        return json.loads(line)

    def execute(self, command: str, timeout: float = 120.0, **arguments: Any) -> Any:
        self._next_id += 1
        msg: dict[str, Any] = {"execute": command, "id": self._next_id}
        if arguments:
            msg["arguments"] = arguments
        self.sock.settimeout(timeout)
        self.file.write(json.dumps(msg).encode() + b"\n")
        while True:
            reply = self._read()
            if "event" in reply:
                self.events.append(reply)
                continue
            if reply.get("id") != self._next_id:
                continue
            if "error" in reply:
                raise QMPError(f"{command}: {reply['error']}")
            return reply.get("return")

    def hmp(self, command_line: str, cpu_index: int | None = None, timeout: float = 120.0) -> str:
        args: dict[str, Any] = {"command-line": command_line}
        if cpu_index is not None:
            args["cpu-index"] = cpu_index
        return self.execute("human-monitor-command", timeout=timeout, **args)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()


def parse_raw(spec: str) -> tuple[int, int]:
    base, _, length = spec.partition(":")
    if not length:
        raise argparse.ArgumentTypeError("--raw wants BASE:LEN, e.g. 0x0:0x40000000")
    return int(base, 0), int(length, 0)


def xz_file(path: Path, threads: int = 2, level: str = "-9") -> Path:
    subprocess.run(["xz", level, f"-T{threads}", "-f", str(path)], check=True)
    out = path.with_name(path.name + ".xz")
    out.chmod(0o644)
    return out


def wait_for_ready(serial: Path, regex: re.Pattern[str], proc: subprocess.Popen[bytes], timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if serial.exists():
            text = serial.read_text(errors="replace")
            m = regex.search(text)
            if m:
                line_start = text.rfind("\n", 0, m.start()) + 1
                line_end = text.find("\n", m.end())
                return text[line_start : line_end if line_end >= 0 else len(text)].strip()
        if proc.poll() is not None:
            raise RuntimeError(f"QEMU exited (rc={proc.returncode}) before the ready line")
        time.sleep(0.25)
    raise TimeoutError(f"no line matching {regex.pattern!r} on the serial port within {timeout}s")


def wait_for_state(qmp: QMP, state: str, timeout: float) -> str:
    """Poll query-status until the run state is ``state`` (the guest stopped by itself)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = qmp.execute("query-status")["status"]
        if status == state:
            return status
        time.sleep(0.1)
    raise TimeoutError(f"run state never became {state!r} within {timeout}s")


def last_exception_sequence(text: str) -> str:
    """From a "-d int" log, the lines from the first check_exception of the last exception sequence
    (the one that ended the guest): earlier interrupts (BIOS, GRUB) are noise."""
    lines = text.splitlines(keepends=True)
    starts = [i for i, line in enumerate(lines) if line.startswith("check_exception old: 0xffffffff")]
    if not starts:
        raise RuntimeError("no check_exception line in the -d int log")
    return "".join(lines[starts[-1] :])


def capture(
    name: str,
    out: Path,
    qemu_args: str,
    ready_regex: str,
    arch: str = "x86_64",
    raw: tuple[int, int] | None = None,
    qemu: str | None = None,
    formats: tuple[str, ...] = ("elf", "kdump"),
    xz: tuple[str, ...] = ("elf", "raw"),
    timeout: float = 180.0,
    add_serial: bool = True,
    no_reboot: bool = True,
    cwd: Path | None = None,
    log=print,
    wait_shutdown: bool = False,
    int_log: bool = False,
) -> dict[str, Any]:
    out = out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    qemu = qemu or f"qemu-system-{arch}"
    tmp = Path(tempfile.mkdtemp(prefix=f"capture-{name}-"))
    sock = tmp / "qmp.sock"
    serial = out / "serial.log"
    if serial.exists():
        serial.unlink()
    user_args = shlex.split(qemu_args)
    extra = ["-qmp", f"unix:{sock},server=on,wait=off", "-display", "none"]
    if add_serial:
        extra += ["-serial", f"file:{serial}"]
    if no_reboot:
        extra += ["-no-reboot"]
    qemu_log = tmp / "qemu-int.log"
    if int_log:
        extra += ["-d", "int", "-D", str(qemu_log)]
    cmd = [qemu] + user_args + extra
    # the recorded command line leaves out the capture plumbing (socket, file paths)
    recorded = (
        [qemu]
        + user_args
        + ["-display", "none"]
        + (["-no-reboot"] if no_reboot else [])
        + (["-d", "int", "-D", "qemu-int.log"] if int_log else [])
    )
    log(f"[{name}] starting: {shlex.join(cmd)}")
    stderr_path = out / "qemu-stderr.log"
    t0 = time.monotonic()
    files: dict[str, str] = {}
    with open(stderr_path, "wb") as err:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=err, stderr=err, cwd=cwd)
    qmp = None
    try:
        qmp = QMP(str(sock))
        version = qmp.execute("query-version")
        q = version["qemu"]
        qemu_version = f"{q['major']}.{q['minor']}.{q['micro']}"
        ready = wait_for_ready(serial, re.compile(ready_regex), proc, timeout)
        t_ready = time.monotonic() - t0
        log(f"[{name}] ready after {t_ready:.1f}s: {ready}")
        run_state = None
        if wait_shutdown:
            run_state = wait_for_state(qmp, "shutdown", timeout)
            log(f"[{name}] stopped by itself: run state {run_state}")
        qmp.execute("stop")
        cpus = qmp.execute("query-cpus-fast")
        (out / "info-registers.txt").write_text(qmp.hmp("info registers -a"))
        files["info_registers"] = "info-registers.txt"
        if arch == "x86_64":
            for cpu in cpus:
                idx = cpu["cpu-index"]
                (out / f"info-tlb-cpu{idx}.txt").write_text(qmp.hmp("info tlb", idx, timeout=600))
                (out / f"info-mem-cpu{idx}.txt").write_text(qmp.hmp("info mem", idx, timeout=600))
        if "elf" in formats:
            path = out / "dump.elf"
            t = time.monotonic()
            qmp.execute("dump-guest-memory", timeout=1800, paging=False, protocol=f"file:{path}")
            path.chmod(0o644)
            log(f"[{name}] ELF dump {path.stat().st_size} bytes in {time.monotonic() - t:.1f}s")
            files["elf"] = path.name
        if "kdump" in formats:
            path = out / "dump.kdump"
            t = time.monotonic()
            qmp.execute("dump-guest-memory", timeout=1800, paging=False, protocol=f"file:{path}", format="kdump-zlib")
            path.chmod(0o644)
            log(f"[{name}] kdump {path.stat().st_size} bytes in {time.monotonic() - t:.1f}s")
            files["kdump"] = path.name
        if raw is not None:
            path = out / "dump.raw"
            qmp.execute("pmemsave", timeout=1800, val=raw[0], size=raw[1], filename=str(path))
            path.chmod(0o644)
            files["raw"] = path.name
        if int_log:
            (out / "int-log.txt").write_text(last_exception_sequence(qemu_log.read_text(errors="replace")))
            files["int_log"] = "int-log.txt"
        qmp.execute("quit")
    finally:
        if qmp is not None:
            qmp.close()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)
        if stderr_path.exists() and stderr_path.stat().st_size == 0:
            stderr_path.unlink()
    for kind in ("elf", "kdump", "raw"):
        if kind in files and kind in xz:
            t = time.monotonic()
            files[kind] = xz_file(out / files[kind]).name
            log(f"[{name}] xz {files[kind]}: {(out / files[kind]).stat().st_size} bytes in {time.monotonic() - t:.1f}s")
    return {
        "name": name,
        "arch": arch,
        "qemu": qemu_version,
        "qemu_cmdline": shlex.join(recorded),
        "cpus": cpus,
        "ready_line": ready,
        "seconds_to_ready": round(t_ready, 1),
        "files": files,
        "raw": {"base": hex(raw[0]), "length": hex(raw[1])} if raw else None,
        "run_state": run_state,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--name", required=True)
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--qemu-args", required=True, help="QEMU arguments (no -qmp/-serial/-display)")
    ap.add_argument("--ready-regex", required=True)
    ap.add_argument("--raw", type=parse_raw, help="BASE:LEN of guest-physical memory to pmemsave")
    ap.add_argument("--arch", default="x86_64", choices=["x86_64", "aarch64"])
    ap.add_argument("--qemu", help="QEMU binary (default qemu-system-ARCH)")
    ap.add_argument("--formats", default="elf,kdump", help="dump formats: elf,kdump (comma list, may be empty)")
    ap.add_argument("--xz", default="elf,raw", help="which dumps to xz-compress: elf,kdump,raw")
    ap.add_argument("--timeout", type=float, default=180.0, help="seconds to wait for the ready line")
    ap.add_argument("--no-serial", action="store_true", help="do not add -serial file:OUT/serial.log")
    ap.add_argument("--allow-reboot", action="store_true", help="do not add -no-reboot")
    ap.add_argument("--cwd", type=Path, help="working directory for QEMU (relative paths in --qemu-args)")
    ap.add_argument("--meta", type=Path, help="write the capture metadata as JSON here")
    ap.add_argument(
        "--wait-shutdown", action="store_true", help="after the ready line, wait until the guest stops by itself"
    )
    ap.add_argument("--int-log", action="store_true", help="run with -d int and keep the last exception sequence")
    a = ap.parse_args(argv)

    def split(s):
        return tuple(x for x in s.split(",") if x)

    meta = capture(
        a.name,
        a.out,
        a.qemu_args,
        a.ready_regex,
        arch=a.arch,
        raw=a.raw,
        qemu=a.qemu,
        formats=split(a.formats),
        xz=split(a.xz),
        timeout=a.timeout,
        add_serial=not a.no_serial,
        no_reboot=not a.allow_reboot,
        cwd=a.cwd,
        log=lambda m: print(m, file=sys.stderr, flush=True),
        wait_shutdown=a.wait_shutdown,
        int_log=a.int_log,
    )
    text = json.dumps(meta, indent=2)
    if a.meta:
        a.meta.write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Boot a RISC-V guest in qemu-system-riscv64, talk to its console, then capture it.

    capture_riscv.py --name xv6-riscv --out DIR --ready-regex '^\\$ ' \
        --qemu-args "-machine virt -bios none -kernel K ..." [--send 'spin 3 &' ...] [--settle 2]

The console is a UNIX socket QEMU waits on before it starts the guest (so no output is lost and
commands can be typed into a shell); everything read from it is kept in DIR/serial.log. After the
ready line (and the commands, each followed by the ready regex again), the guest runs ``--settle``
more seconds, is stopped (QMP ``stop``) and then captured:

    info-registers.txt      HMP "info registers -a" (pc, mstatus, satp of every hart; QEMU 7.2 prints no priv)
    info-mem-cpuN.txt       HMP "info mem" for hart N: QEMU's own walk of that hart's satp
    dump.elf.xz             QMP dump-guest-memory (ELF), xz-compressed
    capture.json            QEMU version, command line, query-cpus-fast, per-hart pc/mstatus/satp

Python standard library only (imports the QMP client of ../seed/capture.py).
"""

from __future__ import annotations

import argparse
import json
import re
import select
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "seed"))
from capture import QMP, xz_file  # noqa: E402


class Console:
    def __init__(self, path: Path, log: Path, timeout: float = 30.0) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.sock.connect(str(path))
                break
            except (FileNotFoundError, ConnectionRefusedError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        self.sock.setblocking(False)
        self.text = ""
        self.log = open(log, "w", encoding="utf-8", errors="replace")  # noqa: SIM115

    def pump(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return
            r, _, _ = select.select([self.sock], [], [], min(left, 0.2))
            if r:
                data = self.sock.recv(65536)
                if not data:
                    raise RuntimeError("console closed")
                chunk = data.decode("utf-8", "replace")
                self.text += chunk
                self.log.write(chunk)
                self.log.flush()

    def wait_for(self, regex: re.Pattern[str], start: int, timeout: float) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = regex.search(self.text, start)
            if m:
                return m
            self.pump(0.25)
        raise TimeoutError(f"no {regex.pattern!r} on the console within {timeout}s; last: {self.text[-300:]!r}")

    def send(self, line: str) -> None:
        self.sock.setblocking(True)
        self.sock.sendall(line.encode() + b"\n")
        self.sock.setblocking(False)

    def close(self) -> None:
        self.log.close()
        self.sock.close()


REG_RE = re.compile(r"\b(satp|sstatus|mstatus|priv|pc)\s+([0-9a-fA-FUSM]+)")


def hart_csrs(text: str) -> list[dict[str, str]]:
    """satp, sstatus, mstatus, privilege and pc of each hart from "info registers -a"."""
    harts: list[dict[str, str]] = []
    for block in re.split(r"\n(?=CPU#\d+)", text):
        m = re.match(r"CPU#(\d+)", block.strip())
        if not m:
            continue
        regs: dict[str, str] = {"index": m.group(1)}
        for name, value in REG_RE.findall(block):
            regs.setdefault(name, value if name == "priv" else hex(int(value, 16)))
        harts.append(regs)
    return harts


def capture(a: argparse.Namespace) -> dict[str, Any]:
    out: Path = a.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f"capture-{a.name}-"))
    qmp_sock, con_sock = tmp / "qmp.sock", tmp / "console.sock"
    user_args = shlex.split(a.qemu_args)
    cmd = ["qemu-system-riscv64", *user_args, "-display", "none", "-no-reboot", "-monitor", "none"]
    cmd += ["-qmp", f"unix:{qmp_sock},server=on,wait=off"]
    cmd += ["-chardev", f"socket,id=con0,path={con_sock},server=on,wait=on", "-serial", "chardev:con0"]
    recorded = ["qemu-system-riscv64", *user_args, "-display", "none", "-no-reboot"]
    print(f"[{a.name}] {shlex.join(cmd)}", file=sys.stderr)
    err = open(out / "qemu-stderr.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=err, stderr=err, cwd=a.cwd)
    qmp = con = None
    try:
        # QEMU waits for the console's client before it runs the guest: no early output is lost.
        con = Console(con_sock, out / "serial.log")
        qmp = QMP(str(qmp_sock))
        v = qmp.execute("query-version")["qemu"]
        ready = re.compile(a.ready_regex, re.M)
        m = con.wait_for(ready, 0, a.timeout)
        for line in a.send:
            con.send(line)
            con.pump(0.5)
            m = con.wait_for(ready, m.end(), a.timeout)
        con.pump(a.settle)
        qmp.execute("stop")
        cpus = qmp.execute("query-cpus-fast")
        regs = qmp.hmp("info registers -a")
        (out / "info-registers.txt").write_text(regs)
        for cpu in cpus:
            idx = cpu["cpu-index"]
            (out / f"info-mem-cpu{idx}.txt").write_text(qmp.hmp("info mem", idx, timeout=600))
        path = out / "dump.elf"
        qmp.execute("dump-guest-memory", timeout=1800, paging=False, protocol=f"file:{path}")
        path.chmod(0o644)
        qmp.execute("quit")
    finally:
        if con is not None:
            con.close()
        if qmp is not None:
            qmp.close()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        err.close()
        shutil.rmtree(tmp, ignore_errors=True)
        # QEMU says it waits for the console's client: expected, not worth keeping.
        log = out / "qemu-stderr.log"
        lines = [ln for ln in log.read_text().splitlines() if "QEMU waiting for connection" not in ln]
        if lines:
            log.write_text("\n".join(lines) + "\n")
        else:
            log.unlink()
    xz_file(out / "dump.elf")
    meta = {
        "name": a.name,
        "qemu": f"{v['major']}.{v['minor']}.{v['micro']}",
        "qemu_cmdline": shlex.join(recorded),
        "cpus": cpus,
        "harts": hart_csrs(regs),
        "sent": a.send,
    }
    (out / "capture.json").write_text(json.dumps(meta, indent=2) + "\n")
    return meta


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--name", required=True)
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--qemu-args", required=True)
    ap.add_argument("--ready-regex", required=True)
    ap.add_argument("--send", action="append", default=[], help="a line to type once ready (repeatable)")
    ap.add_argument("--settle", type=float, default=2.0, help="seconds to run after the last command")
    ap.add_argument("--timeout", type=float, default=120.0)
    ap.add_argument("--cwd", type=Path)
    a = ap.parse_args(argv)
    print(json.dumps(capture(a), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

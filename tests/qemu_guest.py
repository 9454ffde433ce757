"""Real QEMU guests for the live tests: a gdbstub on a free random port, a QMP UNIX socket, the serial
console in a file, niced, bounded by ``timeout``, always killed at the end."""

from __future__ import annotations

import json
import random
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SEED_SRC = ROOT / "sample_dumps" / "seed" / "src"


def free_port() -> int:
    """A free TCP port between 20000 and 60000 (never QEMU's default 1234)."""
    for _ in range(200):
        port = random.randint(20000, 60000)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free TCP port")


def seed_iso(kernel_elf: Path, out_dir: Path) -> Path:
    """A GRUB rescue ISO around a committed seed ``kernel.elf`` (Multiboot2: QEMU's -kernel cannot boot it)."""
    iso_root = out_dir / "isodir"
    (iso_root / "boot" / "grub").mkdir(parents=True, exist_ok=True)
    shutil.copy(kernel_elf, iso_root / "boot" / "kernel.elf")
    shutil.copy(SEED_SRC / "grub.cfg", iso_root / "boot" / "grub" / "grub.cfg")
    iso = out_dir / "seed.iso"
    subprocess.run(["grub-mkrescue", "-o", str(iso), str(iso_root)], check=True, capture_output=True, timeout=120)
    return iso


class QmpLine:
    """Just enough QMP for a test to drive the guest (stop, cont, status) behind pmoview's back."""

    def __init__(self, path: Path, timeout: float = 30.0) -> None:
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.settimeout(timeout)
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.sock.connect(str(path))
                break
            except (FileNotFoundError, ConnectionRefusedError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        self.file = self.sock.makefile("rwb", buffering=0)
        self.file.readline()
        self.execute("qmp_capabilities")

    def execute(self, command: str, **arguments: Any) -> Any:
        msg: dict[str, Any] = {"execute": command}
        if arguments:
            msg["arguments"] = arguments
        self.file.write(json.dumps(msg).encode() + b"\n")
        while True:
            reply = json.loads(self.file.readline())
            if "return" in reply:
                return reply["return"]
            if "error" in reply:
                raise RuntimeError(reply["error"])

    def status(self) -> str:
        return str(self.execute("query-status")["status"])

    def close(self) -> None:
        self.sock.close()


class Guest:
    def __init__(self, qemu: list[str], workdir: Path, ready: str | None, boot_timeout: float = 120.0) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.qmp_path = workdir / "qmp.sock"  # pmoview's; QEMU serves one client per QMP socket
        self.control_path = workdir / "control.sock"  # the test's own, to stop and resume the guest
        self.serial = workdir / "serial.log"
        argv = [
            "nice", "-n", "10", "timeout", "600",
            *qemu,
            "-display", "none", "-no-reboot",
            "-serial", f"file:{self.serial}",
            "-gdb", f"tcp:127.0.0.1:{self.port}",
            "-qmp", f"unix:{self.qmp_path},server=on,wait=off",
            "-qmp", f"unix:{self.control_path},server=on,wait=off",
        ]  # fmt: skip
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.qmp: QmpLine | None = None
        try:
            self.qmp = QmpLine(self.control_path)
            if ready is not None:
                self.wait_serial(ready, boot_timeout)
        except BaseException:
            self.kill()
            raise

    @property
    def gdb(self) -> str:
        return f"gdb://127.0.0.1:{self.port}"

    @property
    def qmp_target(self) -> str:
        return f"qmp:{self.qmp_path}"

    def wait_serial(self, regex: str, timeout: float) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"QEMU exited: {self.proc.stderr.read().decode() if self.proc.stderr else ''}")
            text = self.serial.read_text(errors="replace") if self.serial.exists() else ""
            m = re.search(regex, text)
            if m:
                return m
            time.sleep(0.2)
        raise TimeoutError(f"no {regex!r} on the serial console within {timeout} s")

    def kill(self) -> None:
        if self.qmp is not None:
            self.qmp.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

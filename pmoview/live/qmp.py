"""A stopped QEMU guest read through QMP (``-qmp unix:PATH,server=on,wait=off`` or ``tcp:HOST:PORT``).

- ``query-status`` says whether the guest runs. A running guest is refused unless ``--stop``, and QMP
  ``STOP``/``RESUME`` events, which QEMU sends to every QMP client, tell when it moved meanwhile.
- ``query-target`` gives the architecture, ``query-cpus-fast`` the CPUs, and ``human-monitor-command``
  ``info registers`` (per ``cpu-index``) the x86 control registers and EFER. QEMU 7.2 prints no
  TTBR/TCR for arm there: an AArch64 guest over QMP needs ``--ttbr1``/``--tcr``, or ``gdb://``.
- ``info mtree -f`` lists the RAM and ROM; memory is read with ``pmemsave`` into a private temporary
  file, one command per run of contiguous pages, all of a batch sent at once. QEMU writes that file,
  so QMP memory reads need QEMU on this machine (the socket path or host is local).
- ``snapshot()`` writes a dump (``dump-guest-memory``, ELF or kdump-zlib) a user can keep.

The client is written here rather than taken from ``qemu.qmp``: that library is asyncio-only, its
synchronous shim has no timeout on connect and drives the calling thread's event loop, which the TUI
owns. QMP is JSON lines; every read here has a deadline.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import shutil
import socket
import tempfile
import time
from types import MappingProxyType

from pmoview.live import hmp
from pmoview.live.base import LiveMemory
from pmoview.live.errors import LiveError
from pmoview.live.target import LiveTarget
from pmoview.memory.base import PAGE_SIZE, CpuState

DEFAULT_TIMEOUT = 10.0
MAX_LINE = 16 << 20  # a QMP reply (``info mtree -f`` through HMP is the largest we ask for) stays far below


class QmpClient:
    """Synchronous QMP: greeting, ``qmp_capabilities``, commands answered by ``id``, events kept."""

    def __init__(self, target: LiveTarget, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.name = str(target)
        self.timeout = timeout
        try:
            if target.socket_path is not None:
                self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.sock.settimeout(timeout)
                self.sock.connect(target.socket_path)
            else:
                assert target.host is not None and target.port is not None
                self.sock = socket.create_connection((target.host, target.port), timeout=timeout)
        except OSError as exc:
            reason = f"no answer within {timeout:g} s" if isinstance(exc, TimeoutError) else exc.strerror
            raise LiveError(self.name, f"cannot connect ({reason}); is QEMU running with -qmp?") from None
        self._buf = bytearray()
        self._next_id = 0
        self.events: list[dict[str, object]] = []
        try:
            greeting = self._read_message(time.monotonic() + timeout)
        except LiveError as exc:
            if "no QMP reply" not in exc.problem:
                raise
            raise LiveError(
                self.name,
                f"no QMP greeting within {timeout:g} s; QEMU serves one client per -qmp socket: is another "
                "client connected? (give QEMU a second -qmp socket for pmoview)",
            ) from None
        if "QMP" not in greeting:
            raise LiveError(self.name, f"expected a QMP greeting, found {str(greeting)[:80]}")
        self.execute("qmp_capabilities")

    def _read_message(self, deadline: float) -> dict[str, object]:
        while True:
            nl = self._buf.find(b"\n")
            if nl >= 0:
                line = bytes(self._buf[:nl])
                del self._buf[: nl + 1]
                if not line.strip():
                    continue
                try:
                    msg = json.loads(line)
                except ValueError:
                    raise LiveError(self.name, f"expected a QMP JSON message, found {line[:60]!r}") from None
                if not isinstance(msg, dict):
                    raise LiveError(self.name, f"expected a QMP JSON object, found {line[:60]!r}")
                return msg
            if len(self._buf) > MAX_LINE:
                raise LiveError(self.name, "a QMP message longer than 16 MiB")
            left = deadline - time.monotonic()
            if left <= 0:
                raise LiveError(self.name, f"no QMP reply within {self.timeout:g} s")
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(1 << 16)
            except TimeoutError:
                raise LiveError(self.name, f"no QMP reply within {self.timeout:g} s") from None
            except OSError as exc:
                raise LiveError(self.name, f"connection lost ({exc.strerror})") from None
            if not data:
                raise LiveError(self.name, "QEMU closed the QMP connection")
            self._buf += data

    def _send(self, msg: dict[str, object]) -> None:
        try:
            self.sock.sendall(json.dumps(msg).encode() + b"\n")
        except OSError as exc:
            raise LiveError(self.name, f"connection lost ({exc.strerror})") from None

    def execute_many(self, commands: list[tuple[str, dict[str, object]]], timeout: float | None = None) -> list[object]:
        """Send every command at once; the return values in order (a QMP error is a LiveError)."""
        first = self._next_id + 1
        for name, args in commands:
            self._next_id += 1
            msg: dict[str, object] = {"execute": name, "id": self._next_id}
            if args:
                msg["arguments"] = args
            self._send(msg)
        results: dict[int, object] = {}
        deadline = time.monotonic() + (timeout or self.timeout)
        while len(results) < len(commands):
            msg = self._read_message(deadline)
            if "event" in msg:
                self.events.append(msg)
                continue
            ident = msg.get("id")
            if not isinstance(ident, int) or not first <= ident <= self._next_id:
                continue
            if "error" in msg:
                err = msg["error"]
                desc = err.get("desc", err) if isinstance(err, dict) else err
                raise LiveError(self.name, f"QMP {commands[ident - first][0]} failed: {desc}")
            results[ident] = msg.get("return")
        return [results[first + i] for i in range(len(commands))]

    def execute(self, name: str, args: dict[str, object] | None = None, timeout: float | None = None) -> object:
        return self.execute_many([(name, args or {})], timeout)[0]

    def hmp(self, command: str, cpu_index: int | None = None) -> str:
        args: dict[str, object] = {"command-line": command}
        if cpu_index is not None:
            args["cpu-index"] = cpu_index
        out = self.execute("human-monitor-command", args)
        return out if isinstance(out, str) else ""

    def poll_events(self) -> None:
        """Collect events already sent (never waits)."""
        self.sock.setblocking(False)
        try:
            while True:
                data = self.sock.recv(1 << 16)
                if not data:
                    break
                self._buf += data
        except (BlockingIOError, InterruptedError):
            pass
        except OSError as exc:
            raise LiveError(self.name, f"connection lost ({exc.strerror})") from None
        finally:
            self.sock.settimeout(self.timeout)
        while b"\n" in self._buf:
            msg = self._read_message(time.monotonic() + self.timeout)
            if "event" in msg:
                self.events.append(msg)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()


def _status(client: QmpClient) -> tuple[bool, str]:
    st = client.execute("query-status")
    if not isinstance(st, dict):
        raise LiveError(client.name, f"query-status gave {st!r}")
    return bool(st.get("running")), str(st.get("status", "?"))


def connect_stopped(target: LiveTarget, stop: bool, timeout: float) -> tuple[QmpClient, bool]:
    """A QMP connection to a guest that is stopped; True when pmoview stopped it (``--stop``)."""
    client = QmpClient(target, timeout)
    try:
        running, _ = _status(client)
        if running and not stop:
            raise LiveError(
                client.name,
                "the guest is running; pmoview reads a stopped guest only (stop it with the monitor's "
                "`stop` or in gdb, or pass --stop to let pmoview stop it)",
            )
        if running:
            client.execute("stop")
        return client, running
    except BaseException:
        client.close()
        raise


class QmpMemory(LiveMemory):
    batch_pages = 256  # one pmemsave per run of contiguous pages: larger batches cost little

    def __init__(self, target: LiveTarget, stop: bool = False, timeout: float = DEFAULT_TIMEOUT) -> None:
        super().__init__(str(target), "qmp")
        self._tmpdir = tempfile.mkdtemp(prefix="pmoview-qmp-")
        try:
            self.client, stopped = connect_stopped(target, stop, timeout)
            self.info.details["target"] = self.path
            self.info.details["stopped_by_pmoview"] = stopped
            arch = self.client.execute("query-target")
            name = arch.get("arch") if isinstance(arch, dict) else None
            self.info.arch = {"x86_64": "x86_64", "aarch64": "aarch64"}.get(str(name))
            if self.info.arch is None:
                raise LiveError(self.path, f"a target pmoview can walk (x86_64, aarch64), found {name!r}")
            self._set_ranges(self.client.hmp("info mtree -f"))
            self._snapshot()
        except BaseException:
            self.close()
            raise
        atexit.register(self.close)

    def _snapshot(self) -> None:
        running, state = _status(self.client)
        if running:
            raise LiveError(self.path, "the guest is running again; stop it and retry")
        cpus_raw = self.client.execute("query-cpus-fast")
        cpus: list[CpuState] = []
        for entry in cpus_raw if isinstance(cpus_raw, list) else []:
            index = int(entry.get("cpu-index", len(cpus))) if isinstance(entry, dict) else len(cpus)
            regs: dict[str, int] = {}
            if self.info.arch == "x86_64":
                regs = hmp.x86_registers(self.client.hmp("info registers", index)).get(0, {})
            cpus.append(CpuState(index, self.info.arch or "x86_64", MappingProxyType(regs), ("QMP info registers",)))
        self.info.cpus = cpus
        self._stamp(state)
        self.client.poll_events()
        self.client.events.clear()

    def _fetch(self, pages: list[int]) -> None:
        runs: list[tuple[int, int]] = []  # (pa, page count)
        for pa in pages:
            if runs and runs[-1][0] + runs[-1][1] * PAGE_SIZE == pa:
                runs[-1] = (runs[-1][0], runs[-1][1] + 1)
            else:
                runs.append((pa, 1))
        files = [os.path.join(self._tmpdir, f"{n}.bin") for n in range(len(runs))]
        self.client.execute_many(
            [
                ("pmemsave", {"val": pa, "size": count * PAGE_SIZE, "filename": f})
                for (pa, count), f in zip(runs, files, strict=True)
            ]
        )
        for (pa, count), f in zip(runs, files, strict=True):
            try:
                with open(f, "rb") as fh:
                    data = fh.read()
                os.unlink(f)
            except OSError as exc:
                raise LiveError(
                    self.path, f"cannot read QEMU's pmemsave file {f} ({exc.strerror}); is QEMU on this machine?"
                ) from None
            if len(data) != count * PAGE_SIZE:
                raise LiveError(self.path, f"pmemsave of {count} page(s) at {pa:#x} wrote {len(data)} bytes")
            for k in range(count):
                self._pages[pa + k * PAGE_SIZE] = data[k * PAGE_SIZE : (k + 1) * PAGE_SIZE]
        self._check_still_stopped()

    def _check_still_stopped(self) -> None:
        self.client.poll_events()
        moved = any(e.get("event") == "RESUME" for e in self.client.events)
        running, _ = _status(self.client)
        if running or moved:
            self._pages.clear()
            what = "is running" if running else "ran and stopped again"
            raise LiveError(
                self.path, f"the guest {what} while pmoview was reading its memory; stop it and retry (in the TUI: r)"
            )

    # -- live ---------------------------------------------------------------------------------
    def refresh(self) -> None:
        with self._lock:
            self._pages.clear()
            self._snapshot()

    def close(self) -> None:
        self._forget()
        client = getattr(self, "client", None)
        if client is not None:
            client.close()
        tmp = getattr(self, "_tmpdir", None)
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
            self._tmpdir = ""


SNAPSHOT_FORMATS = ("elf", "kdump-zlib")


def snapshot(target_text: str, out: str, fmt: str = "elf", stop: bool = False, timeout: float = 600.0) -> bool:
    """Write the stopped guest's memory and CPU state to ``out`` with QEMU's ``dump-guest-memory``.
    The file appears complete or not at all (written beside ``out``, then renamed). Returns whether
    pmoview stopped the guest."""
    from pmoview.live.target import parse_target

    target = parse_target(target_text)
    if target.kind != "qmp":
        raise LiveError(target_text, "snapshot needs a QMP target (qmp:PATH or qmp://HOST:PORT)")
    if fmt not in SNAPSHOT_FORMATS:
        raise LiveError(target_text, f"snapshot format {fmt!r}; expected one of {', '.join(SNAPSHOT_FORMATS)}")
    dest = os.path.abspath(out)
    directory = os.path.dirname(dest)
    if not os.path.isdir(directory):
        raise LiveError(out, "an output path in an existing directory")
    client, stopped = connect_stopped(target, stop, DEFAULT_TIMEOUT)
    fd, partial = tempfile.mkstemp(prefix=".pmoview-snapshot-", dir=directory)
    os.close(fd)
    try:
        client.execute(
            "dump-guest-memory",
            {"paging": False, "protocol": f"file:{partial}", "format": fmt},
            timeout=timeout,
        )
        if os.path.getsize(partial) == 0:
            raise LiveError(target_text, f"QEMU wrote nothing to {partial}; is QEMU on this machine?")
        os.chmod(partial, 0o644)  # QEMU creates dump files 0400
        os.replace(partial, dest)
    finally:
        client.close()
        with contextlib.suppress(OSError):
            os.unlink(partial)
    return stopped

"""Live targets named where a dump file would be: ``gdb://HOST:PORT``, ``qmp:PATH`` (a UNIX socket)
and ``qmp://HOST:PORT``."""

from __future__ import annotations

import sys
from dataclasses import dataclass

from pmoview.live.errors import LiveError
from pmoview.memory.base import PhysicalMemory

SCHEMES = ("gdb://", "qmp://", "qmp:")


@dataclass(frozen=True)
class LiveTarget:
    """A live guest named on the command line: a gdbstub (``gdb://HOST:PORT``) or QMP (socket or TCP)."""

    kind: str  # "gdb" or "qmp"
    host: str | None
    port: int | None
    socket_path: str | None

    def __str__(self) -> str:
        if self.socket_path is not None:
            return f"qmp:{self.socket_path}"
        return f"{self.kind}://{self.host}:{self.port}"


def is_live(text: str) -> bool:
    return text.startswith(SCHEMES)


def parse_target(text: str) -> LiveTarget:
    if text.startswith("qmp:") and not text.startswith("qmp://"):
        path = text[4:]
        if not path:
            raise LiveError(text, "expected qmp:PATH naming QEMU's QMP UNIX socket")
        return LiveTarget("qmp", None, None, path)
    kind, _, rest = text.partition("://")
    host, sep, port_text = rest.rpartition(":")
    host = host.strip("[]")  # [::1]:PORT
    if not sep or not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise LiveError(text, f"expected {kind}://HOST:PORT with a port from 1 to 65535")
    return LiveTarget(kind, host, int(port_text), None)


def _open_targets() -> list[PhysicalMemory]:
    """The live targets open now. None when no live backend was ever loaded: a command on a dump file
    does not pay for importing one (6 ms of a 0.2 s ``info``)."""
    base = sys.modules.get("pmoview.live.base")
    return list(base.OPEN) if base is not None else []


def live_notes() -> list[str]:
    """What a front end should tell the user about the live targets it has open."""
    return [
        f"{m.path}: the guest was running; pmoview stopped it (--stop) and leaves it stopped"
        for m in _open_targets()
        if m.info.details.get("stopped_by_pmoview")
    ]


def close_live_targets() -> None:
    """Close every live target still open: each connection is put back as it was, now."""
    for mem in _open_targets():
        mem.close()
    base = sys.modules.get("pmoview.live.base")
    if base is not None:
        base.OPEN.clear()


def open_live(text: str, stop: bool = False, timeout: float | None = None) -> PhysicalMemory:
    """Connect to a live QEMU and return it as PhysicalMemory (CPU state included)."""
    return _open_live(text, stop, timeout)


def _open_live(text: str, stop: bool, timeout: float | None) -> PhysicalMemory:
    target = parse_target(text)
    if timeout is not None and not timeout > 0:
        raise LiveError(text, f"a timeout above 0 seconds, not {timeout}")
    if target.kind == "gdb":
        from pmoview.live.gdbstub import GdbStubMemory
        from pmoview.live.rsp import DEFAULT_TIMEOUT as GDB_TIMEOUT

        assert target.host is not None and target.port is not None
        return GdbStubMemory(target.host, target.port, stop=stop, timeout=timeout or GDB_TIMEOUT)
    from pmoview.live.qmp import DEFAULT_TIMEOUT as QMP_TIMEOUT
    from pmoview.live.qmp import QmpMemory

    return QmpMemory(target, stop=stop, timeout=timeout or QMP_TIMEOUT)

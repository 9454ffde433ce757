"""The GDB remote serial protocol (RSP) over TCP, as far as a read-only inspector needs it.

Framing is ``$payload#xx`` (``xx`` the byte sum mod 256, in hex); ``}`` escapes a byte (XOR 0x20) and
``*`` run-length encodes a reply. Until ``QStartNoAckMode`` is accepted every packet is acknowledged
with ``+``. Requests may be pipelined: the stub answers them in order, so reading many memory blocks
costs one round trip per batch, not per block.

Every socket read has a deadline; a closed connection, a timeout or a malformed packet is an
``RspError`` with one line of text. Replies the client did not ask for (a stop reply ``T..``/``S..``
sent because the guest stopped again, ``O`` console output) are kept in ``unsolicited`` so the caller
can tell that the guest moved.
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Sequence

from pmoview.live.errors import LiveError

DEFAULT_TIMEOUT = 5.0


class RspError(LiveError):
    """The stub is unreachable, went away, timed out or answered something the protocol does not allow."""


def checksum(payload: bytes) -> int:
    return sum(payload) & 0xFF


def frame(payload: bytes) -> bytes:
    """``payload`` as one packet, with the protocol's four special bytes escaped."""
    out = bytearray()
    for b in payload:
        if b in b"$#}*":
            out += bytes((0x7D, b ^ 0x20))
        else:
            out.append(b)
    return b"$" + bytes(out) + b"#" + f"{checksum(bytes(out)):02x}".encode()


def unescape(body: bytes) -> bytes:
    """A received packet body with escapes and run-length encoding undone (checksum already verified)."""
    if b"}" not in body and b"*" not in body:
        return body
    out = bytearray()
    i, n = 0, len(body)
    while i < n:
        b = body[i]
        if b == 0x7D and i + 1 < n:
            out.append(body[i + 1] ^ 0x20)
            i += 2
        elif b == 0x2A and out and i + 1 < n:
            out += bytes((out[-1],)) * (body[i + 1] - 29)
            i += 2
        else:
            out.append(b)
            i += 1
    return bytes(out)


def is_stop_reply(payload: bytes) -> bool:
    return payload[:1] in (b"T", b"S", b"W", b"X") and len(payload) >= 3


class TargetStopped(RspError):
    """A stop reply arrived where none was asked for: the target was running (a QEMU stub stops a running
    guest when any byte reaches it, and the request that carried that byte is lost) or stopped again."""


class RspClient:
    """One connection to a GDB stub. Not thread-safe; one request stream at a time."""

    def __init__(self, host: str, port: int, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.target = f"gdb://{host}:{port}"
        self.timeout = timeout
        try:
            self.sock = socket.create_connection((host, port), timeout=timeout)
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            if isinstance(exc, TimeoutError):
                reason = f"no answer within {timeout:g} s"
            raise RspError(self.target, f"cannot connect ({reason}); is QEMU running with -gdb tcp::{port}?") from None
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.settimeout(timeout)
        self._buf = bytearray()
        self.acks = True
        self.unsolicited: list[bytes] = []
        self.round_trips = 0  # for benchmarks: request batches sent, packets asked, bytes received
        self.requests = 0
        self.bytes_received = 0
        self.strict = False  # raise TargetStopped on an unsolicited stop reply (after the handshake)
        self.closed = False

    # -- raw I/O ------------------------------------------------------------------------------
    def _recv_more(self, deadline: float) -> None:
        left = deadline - time.monotonic()
        if left <= 0:
            raise RspError(self.target, f"no reply within {self.timeout:g} s")
        self.sock.settimeout(left)
        try:
            data = self.sock.recv(1 << 16)
        except TimeoutError:
            raise RspError(self.target, f"no reply within {self.timeout:g} s") from None
        except OSError as exc:
            raise RspError(self.target, f"connection lost ({exc.strerror or type(exc).__name__})") from None
        if not data:
            raise RspError(self.target, "the stub closed the connection")
        self.bytes_received += len(data)
        self._buf += data

    def _send(self, data: bytes) -> None:
        try:
            self.sock.sendall(data)
        except OSError as exc:
            raise RspError(self.target, f"connection lost ({exc.strerror or type(exc).__name__})") from None

    def _read_packet(self, deadline: float) -> bytes:
        """The next packet's payload (acks and stray bytes before ``$`` skipped)."""
        while True:
            start = self._buf.find(b"$")
            if b"-" in self._buf[: start if start >= 0 else len(self._buf)]:
                raise RspError(self.target, "the stub rejected a request's checksum (NAK)")
            if start < 0:
                self._buf.clear()  # only acks before the next packet
                self._recv_more(deadline)
                continue
            del self._buf[:start]
            start = 0
            end = self._buf.find(b"#", start)
            if end < 0 or end + 3 > len(self._buf):
                if len(self._buf) - start > (1 << 22):
                    raise RspError(self.target, "packet longer than 4 MiB without an end marker")
                self._recv_more(deadline)
                continue
            body = bytes(self._buf[start + 1 : end])
            sent = bytes(self._buf[end + 1 : end + 3])
            del self._buf[: end + 3]
            try:
                good = int(sent, 16) == checksum(body)
            except ValueError:
                good = False
            if not good:
                if self.acks:
                    self._send(b"-")  # ask for it again
                    continue
                raise RspError(self.target, f"packet with a bad checksum ({sent!r})")
            if self.acks:
                self._send(b"+")
            return unescape(body)

    # -- requests -----------------------------------------------------------------------------
    def _reply(self, deadline: float, stop_reply_ok: bool) -> bytes:
        """The reply to the oldest outstanding request. A stop reply where none can be the answer means
        the target stopped on its own (or because this connection opened): kept in ``unsolicited``."""
        while True:
            payload = self._read_packet(deadline)
            if not stop_reply_ok and is_stop_reply(payload):
                self.unsolicited.append(payload)
                if self.strict:
                    raise TargetStopped(self.target, f"unexpected stop reply {payload[:20].decode('ascii', 'replace')}")
                continue
            if payload[:1] == b"O" and payload != b"OK" and not stop_reply_ok:
                self.unsolicited.append(payload)  # console output outside a monitor command
                continue
            return payload

    def request(self, payload: str | bytes, timeout: float | None = None, stop_reply_ok: bool = False) -> bytes:
        """Send one request and return its reply (``stop_reply_ok`` for ``?``, whose answer is one)."""
        return self.pipeline([payload], timeout, stop_reply_ok)[0]

    def pipeline(
        self, payloads: Sequence[str | bytes], timeout: float | None = None, stop_reply_ok: bool = False
    ) -> list[bytes]:
        """Send every request at once and return the replies in order. The stub answers in order; with
        acks on, its ``+`` before each reply is skipped and each reply is acked as it is read (a system-mode
        QEMU stub does not wait for the ack before it reads the next request)."""
        deadline = time.monotonic() + (timeout or self.timeout)
        self.round_trips += 1
        self.requests += len(payloads)
        self._send(b"".join(frame(p.encode() if isinstance(p, str) else p) for p in payloads))
        return [self._reply(deadline, stop_reply_ok) for _ in payloads]

    def monitor(self, command: str, timeout: float | None = None) -> str:
        """A monitor (HMP) command through ``qRcmd``: its console output, as text."""
        deadline = time.monotonic() + (timeout or self.timeout)
        self._send(frame(b"qRcmd," + command.encode().hex().encode()))
        text = bytearray()
        while True:
            payload = self._read_packet(deadline)
            if is_stop_reply(payload):
                self.unsolicited.append(payload)
                if self.strict:
                    raise TargetStopped(self.target, f"unexpected stop reply {payload[:20].decode('ascii', 'replace')}")
                continue
            if payload[:1] == b"O" and payload != b"OK":
                try:
                    text += bytes.fromhex(payload[1:].decode("ascii"))
                except ValueError:
                    raise RspError(self.target, f"monitor output is not hex: {payload[:40]!r}") from None
                continue
            if payload == b"OK":
                return text.decode("utf-8", "replace")
            if payload == b"":
                raise RspError(self.target, "the stub has no monitor commands (qRcmd unsupported)")
            reply = payload[:40].decode("ascii", "replace")
            raise RspError(self.target, f"monitor command {command!r} failed: {reply}")

    def start_no_ack(self) -> bool:
        reply = self.request("QStartNoAckMode")
        if reply == b"OK":
            self.acks = False
            return True
        return False

    def resync(self, payload: str, timeout: float | None = None) -> None:
        """Send a request answered by ``OK`` and drop every packet before that answer: after an
        interrupted pipeline the replies still owed are of no use."""
        deadline = time.monotonic() + (timeout or self.timeout)
        self._send(frame(payload.encode()))
        while self._read_packet(deadline) != b"OK":
            pass

    def resume(self) -> None:
        """``c``: let the target run. Its answer is a stop reply when it stops again, read by ``wait_stop``."""
        self._send(frame(b"c"))

    def interrupt(self) -> None:
        """Ctrl-C: ask the stub to stop the target (answered by a stop reply)."""
        self._send(b"\x03")

    def wait_stop(self, timeout: float) -> bytes:
        """The next stop reply (after ``c`` or an interrupt)."""
        deadline = time.monotonic() + timeout
        while True:
            payload = self._read_packet(deadline)
            if is_stop_reply(payload):
                return payload

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        with contextlib.suppress(OSError):
            self.sock.close()

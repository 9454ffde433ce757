"""A stopped QEMU guest read through its gdbstub (``-gdb tcp::PORT`` / ``-s``) as PhysicalMemory.

What QEMU's stub gives, and how it is used (checked against QEMU 7.2):
- ``qSupported`` → ``PacketSize`` (0x1000): an ``m`` read returns at most half of it (hex), so
  memory comes in 2 KiB blocks, many requests per round trip (``RspClient.pipeline``).
- Opening the connection stops a running guest, and the stub then reports that stop (``T02``)
  before it answers anything. That is how pmoview knows the guest was running: without ``--stop`` it
  lets the guest continue (``c``) and refuses; with ``--stop`` it keeps it stopped and says so.
- Registers by number from the target description (``qXfer:features:read``); QEMU answers ``p`` only
  after the client has read that description. x86_64 has CR0-CR4, CR8 and EFER; AArch64 has every
  system register (TTBR0/1_EL1, TCR_EL1, SCTLR_EL1, MAIR_EL1, ...). One set per vCPU (``Hg``).
- ``Qqemu.PhyMemMode:1`` makes ``m`` read guest-physical memory; the previous mode is put back on
  close. Physical reads of unassigned addresses return zeros, so which addresses exist comes from the
  monitor's ``info mtree -f`` (``qRcmd``): RAM and ROM, as ``dump-guest-memory`` would write them.
- The guest is never written, registers are never set, the stub is never sent ``D`` (QEMU resumes the
  guest on detach) nor ``?`` (QEMU removes all breakpoints on it): closing the socket leaves the guest,
  its breakpoints and the stub's memory mode as they were.

Pages are cached until ``refresh()``; each batch of reads ends with ``info status`` and fails with one
line when the guest was resumed meanwhile (another monitor, a script), as a torn read would mislead.
"""

from __future__ import annotations

import atexit
import contextlib
from types import MappingProxyType
from typing import NoReturn

from pmoview.live import hmp
from pmoview.live.base import LiveMemory
from pmoview.live.errors import LiveError
from pmoview.live.rsp import DEFAULT_TIMEOUT, RspClient, RspError, TargetStopped, is_stop_reply
from pmoview.live.tdesc import Register, TargetDescription, TargetDescriptionError, parse_target
from pmoview.memory.base import PAGE_SIZE, CpuState

# Registers a page-table inspector needs, per architecture (names as the target description has them,
# lowercased). Whatever of these the stub lacks is simply absent from the CPU state.
WANTED = {
    "x86_64": (
        "rip",
        "rsp",
        "eflags",
        "cs",
        "ss",
        "cr0",
        "cr2",
        "cr3",
        "cr4",
        "cr8",
        "efer",
        "pkru",
        "fs_base",
        "gs_base",
        "k_gs_base",
    ),
    "aarch64": (
        "pc",
        "sp",
        "cpsr",
        "ttbr0_el1",
        "ttbr1_el1",
        "tcr_el1",
        "sctlr_el1",
        "sctlr",  # QEMU 7.2 names SCTLR_EL1 so (one register with the AArch32 SCTLR)
        "mair_el1",
        "id_aa64mmfr0_el1",
        "currentel",
    ),
    # QEMU's generated riscv-64bit-csr.xml and its "virtual" priv register (0 U, 1 S, 3 M)
    "riscv64": ("pc", "sp", "satp", "sstatus", "mstatus", "priv"),
}


def _feature(item: str) -> tuple[str, str]:
    """``name=value``, ``name+``, ``name-`` or ``name?`` of a qSupported reply."""
    if "=" in item:
        name, value = item.split("=", 1)
        return name, value
    if item[-1:] in ("+", "-", "?"):
        return item[:-1], item[-1]
    return item, "+"


class GdbStubMemory(LiveMemory):
    def __init__(self, host: str, port: int, stop: bool = False, timeout: float = DEFAULT_TIMEOUT) -> None:
        super().__init__(f"gdb://{host}:{port}", "gdbstub")
        self._restore_mode: str | None = None
        self._address = (host, port, timeout)
        self.stop = stop
        self._connect()
        atexit.register(self.close)

    def _connect(self) -> None:
        host, port, timeout = self._address
        self.client = RspClient(host, port, timeout)
        try:
            self._open(self.stop)
            self.client.strict = True
        except BaseException:
            self.close()
            raise

    # -- opening ------------------------------------------------------------------------------
    def _open(self, stop: bool) -> None:
        c = self.client
        try:
            reply = c.request("qSupported:xmlRegisters=i386;qXfer:features:read+")
        except RspError as exc:
            if "no reply" not in exc.problem:
                raise
            raise LiveError(
                self.path,
                f"{exc.problem} after connecting; QEMU's gdbstub serves one client at a time: "
                "is a debugger attached? (in gdb: `disconnect` keeps the guest stopped, `detach` resumes it)",
            ) from None
        supported = reply.decode("ascii", "replace")
        features = dict(_feature(f) for f in supported.split(";") if f)
        try:
            self.packet_size = int(features.get("PacketSize", "400"), 16)
        except ValueError:
            raise LiveError(self.path, f"qSupported gave a PacketSize that is not hex: {supported[:60]}") from None
        # QEMU reports the stop its accepting this connection caused before any reply: the guest was running.
        was_running = any(is_stop_reply(p) for p in c.unsolicited)
        c.unsolicited.clear()
        if was_running and not stop:
            c.resume()  # let it run on, as it did before pmoview connected
            raise LiveError(
                self.path,
                "the guest is running; pmoview reads a stopped guest only (stop it in gdb or with the "
                "monitor's `stop`, or pass --stop to let pmoview stop it); it was left running",
            )
        self.info.details["target"] = self.path
        self.info.details["stopped_by_pmoview"] = was_running
        self.chunk = max(256, min(self.packet_size // 2, 1 << 16) & ~0xFF)
        self.info.details["packet_size"] = self.packet_size
        self.tdesc = self._target_description(features)
        self.info.arch = self.tdesc.arch
        if self.info.arch is None:
            raise LiveError(
                self.path, f"a target pmoview can walk (x86_64, aarch64, riscv64), found {self.tdesc.architecture!r}"
            )
        mode = c.request("qqemu.PhyMemMode").decode("ascii", "replace")
        if mode not in ("0", "1"):
            raise LiveError(self.path, "this stub cannot read physical memory (QEMU 4.2 or later has Qqemu.PhyMemMode)")
        if mode != "1":
            if c.request("Qqemu.PhyMemMode:1") != b"OK":
                raise LiveError(self.path, "the stub refused Qqemu.PhyMemMode:1")
            self._restore_mode = mode
        # No "?" (stop reason) here: QEMU answers it by removing every breakpoint, taking it for a new gdb
        # session. Why the guest stopped is in run_state instead ("paused (debug)": a breakpoint or step).
        self._set_ranges(c.monitor("info mtree -f"))
        self._snapshot()

    def _target_description(self, features: dict[str, str]) -> TargetDescription:
        if features.get("qXfer:features:read") != "+":
            raise LiveError(self.path, "the stub sends no target description (qXfer:features:read)")
        try:
            return parse_target(self._xfer_features)
        except TargetDescriptionError as exc:
            raise LiveError(self.path, f"unusable target description: {exc}") from None

    def _xfer_features(self, annex: str) -> str:
        out = bytearray()
        step = max(64, self.packet_size - 16)
        while True:
            reply = self.client.request(f"qXfer:features:read:{annex}:{len(out):x},{step:x}")
            if reply[:1] not in (b"m", b"l"):
                raise LiveError(self.path, f"cannot read target description {annex!r}: {reply[:20]!r}")
            out += reply[1:]
            if reply[:1] == b"l" or len(out) > (4 << 20):
                return out.decode("utf-8", "replace")

    def _threads(self) -> list[str]:
        ids: list[str] = []
        reply = self.client.request("qfThreadInfo")
        while reply[:1] == b"m":
            ids += [t for t in reply[1:].decode("ascii", "replace").split(",") if t]
            reply = self.client.request("qsThreadInfo")
        return ids or ["1"]

    def _cpu_states(self) -> list[CpuState]:
        arch = self.info.arch or "x86_64"
        regs_by_name = self.tdesc.by_name()
        wanted: list[Register] = [regs_by_name[n] for n in WANTED[arch] if n in regs_by_name]
        cpus = []
        for n, tid in enumerate(self._threads()):
            replies = self.client.pipeline([f"Hg{tid}"] + [f"p{r.number:x}" for r in wanted])
            if replies[0] != b"OK":
                raise LiveError(self.path, f"the stub cannot select CPU thread {tid}: {replies[0][:20]!r}")
            values: dict[str, int] = {}
            for reg, reply in zip(wanted, replies[1:], strict=True):
                if not reply or reply[:1] == b"E" and len(reply) == 3:
                    continue  # not readable on this CPU
                try:
                    values[reg.name] = int.from_bytes(bytes.fromhex(reply.decode("ascii")), "little")
                except ValueError:
                    raise LiveError(self.path, f"register {reg.name} came back as {reply[:40]!r}") from None
            if "eflags" in values:  # the name a dump's notes use too
                values.setdefault("rflags", values["eflags"])
            try:  # QEMU numbers its threads cpu_index + 1 ("02", or "p01.02" with multiprocess)
                index = int(tid.rsplit(".", 1)[-1], 16) - 1
            except ValueError:
                index = n
            cpus.append(CpuState(max(index, 0), arch, MappingProxyType(values), (f"gdbstub thread {tid}",)))
        return cpus

    def _snapshot(self) -> None:
        """Registers, run state and the time: what a dump's notes would hold."""
        state = hmp.run_state(self.client.monitor("info status"))
        if hmp.is_running(state):
            raise LiveError(self.path, "the guest is running again; stop it and retry")
        self.info.cpus = self._cpu_states()
        self._stamp(state)
        self.client.unsolicited.clear()

    # -- reading ------------------------------------------------------------------------------
    def _fetch(self, pages: list[int]) -> None:
        requests = [f"m{pa + off:x},{min(self.chunk, PAGE_SIZE - off):x}" for pa in pages for off in self._offsets()]
        try:
            replies = self.client.pipeline(requests)
        except TargetStopped:
            self._moved()
        per = len(self._offsets())
        for j, pa in enumerate(pages):
            parts = replies[j * per : (j + 1) * per]
            try:
                data = b"".join(bytes.fromhex(p.decode("ascii")) for p in parts)
            except ValueError:
                data = b""
            if len(data) != PAGE_SIZE:
                bad = next((p for p in parts if len(p) != 2 * self.chunk), parts[0])
                raise LiveError(self.path, f"physical read at {pa:#x} failed: {bad[:20]!r}")
            self._pages[pa] = data

    def _offsets(self) -> range:
        return range(0, PAGE_SIZE, min(self.chunk, PAGE_SIZE))

    def _moved(self) -> NoReturn:
        """Someone resumed the guest between two requests; the stub stopped it again on pmoview's next
        byte (and lost that request). What was read may be torn: forget it, put the guest back to running
        unless --stop allows pmoview to stop it, and say so."""
        self._pages.clear()
        left = "pmoview stopped it again (--stop)"
        with contextlib.suppress(RspError):
            if self._restore_mode is not None:
                mode, self._restore_mode = self._restore_mode, None
                self.client.resync(f"Qqemu.PhyMemMode:{mode}", timeout=2.0)
            if not self.stop:
                self.client.resume()
                left = "it was left running"
        self.client.close()
        raise LiveError(
            self.path,
            f"the guest was resumed while pmoview was reading its memory; {left}; stop it and retry (in the TUI: r)",
        )

    # -- live ---------------------------------------------------------------------------------
    def refresh(self) -> None:
        """A new connection: after a resume the stub's reply stream cannot be trusted."""
        with self._lock:
            self._pages.clear()
            self.close()
            self._connect()

    def close(self) -> None:
        self._forget()
        client = getattr(self, "client", None)
        if client is None or client.closed:
            return
        with self._lock:
            with contextlib.suppress(RspError):  # a stub that is gone has nothing left to restore
                self._restore()
            client.close()

    def _restore(self) -> None:
        if self._restore_mode is not None:
            mode, self._restore_mode = self._restore_mode, None
            self.client.request(f"Qqemu.PhyMemMode:{mode}", timeout=2.0)

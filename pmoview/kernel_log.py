"""The kernel log from a dump's printk ring buffer, located through VMCOREINFO (as
``makedumpfile --dump-dmesg`` and crash's ``log`` do), and what an oops or panic in it says.

Linux 5.10+ keeps the log in a lockless ring buffer (``kernel/printk/printk_ringbuffer.h``):
``prb`` points at a ``printk_ringbuffer`` holding a descriptor ring (``descs``, ``infos``, ids from
``tail_id`` to ``head_id``) and a text data ring (blocks of ``unsigned long id`` + text, located by
``text_blk_lpos``). Older kernels keep ``struct printk_log`` records in ``log_buf`` from
``log_first_idx`` to ``log_next_idx``. VMCOREINFO exports every symbol, size and offset needed;
nothing here assumes a layout it does not state. Kernel VAs are read through a kernel root.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass, field

from parsers.errors import DumpFormatError
from pmoview import vmcoreinfo as vmci
from pmoview.arch.root import Root
from pmoview.memory import PhysicalMemory
from pmoview.space import AddressSpace

MAX_RECORDS = 1 << 20  # a hostile head/tail pair cannot make the reader loop for ever
MAX_RING_BYTES = 1 << 28
DESC_COMMITTED, DESC_FINALIZED = 1, 2
FAILED_LPOS = 0x1  # lpos values with bit 0 set carry no text (data-less records)


@dataclass(frozen=True)
class LogRecord:
    """One kernel log record: sequence number, timestamp, level and text."""

    seq: int
    ts_nsec: int
    level: int | None
    caller: str | None  # "CPU 1" or "PID 123" (printk's caller_id), None when not recorded
    text: str

    def line(self) -> str:
        secs, ns = divmod(self.ts_nsec, 1_000_000_000)
        prefix = f"[{secs:5d}.{ns // 1000:06d}] "
        return prefix + self.text.replace("\n", "\n" + " " * len(prefix))  # continuation lines, as dmesg

    def to_json(self) -> dict[str, object]:
        return {"seq": self.seq, "ts_nsec": self.ts_nsec, "level": self.level, "caller": self.caller, "text": self.text}


@dataclass(frozen=True)
class Oops:
    """What the log says about a crash. ``access`` is "read", "write" or "instruction fetch" (from
    ``#PF: error_code``, else the ``#PF: ... access`` words); ``cpu``/``pid``/``comm`` from the
    ``CPU: N PID: P Comm: C`` line that follows the oops or panic."""

    panic: str | None = None
    bug: str | None = None
    fault_address: int | None = None
    access: str | None = None
    mode: str | None = None  # "kernel" or "user": the mode the fault happened in
    error_code: int | None = None
    not_present: bool | None = None  # error_code bit 0 clear: the page was not present
    cpu: int | None = None
    pid: int | None = None
    comm: str | None = None
    rip: str | None = None  # the RIP line's text (symbol+offset when the kernel printed it)

    def to_json(self) -> dict[str, object]:
        return {
            "panic": self.panic,
            "bug": self.bug,
            "fault_address": None if self.fault_address is None else hex(self.fault_address),
            "access": self.access,
            "mode": self.mode,
            "error_code": None if self.error_code is None else hex(self.error_code),
            "not_present": self.not_present,
            "cpu": self.cpu,
            "pid": self.pid,
            "comm": self.comm,
            "rip": self.rip,
        }


@dataclass
class KernelLog:
    """The kernel log read from the dump's printk buffer, and how many records the dump did not hold."""

    layout: str  # "lockless ring buffer (5.10+)" or "printk_log records"
    records: list[LogRecord] = field(default_factory=list)
    missing: int = 0  # records whose descriptor or text the dump does not hold
    root: Root | None = None

    @property
    def text(self) -> str:
        return "\n".join(r.line() for r in self.records)


class KernelVA:
    """Bytes at kernel VAs, translated page by page through one kernel root."""

    def __init__(self, mem: PhysicalMemory, root: Root) -> None:
        self.mem, self.space = mem, AddressSpace(mem, root)
        self._pages: dict[int, bytes | None] = {}

    def page(self, va: int) -> bytes | None:
        base = va & ~0xFFF
        if base not in self._pages:
            t = self.space.translate(base)
            self._pages[base] = None if t.pa is None else self.mem.read_page(t.pa & ~0xFFF)
        return self._pages[base]

    def read(self, va: int, size: int) -> bytes | None:
        out = bytearray()
        while size > 0:
            page = self.page(va)
            if page is None:
                return None
            off = va & 0xFFF
            n = min(size, 0x1000 - off)
            out += page[off : off + n]
            va, size = va + n, size - n
        return bytes(out)

    def u(self, va: int, size: int) -> int | None:
        raw = self.read(va, size)
        return None if raw is None else int.from_bytes(raw, "little")


class _Layout:
    def __init__(self, info: dict[str, str], path: str) -> None:
        self.info, self.path = info, path

    def off(self, name: str) -> int:
        value = self.info.get(f"OFFSET({name})")
        if value is None:
            raise DumpFormatError(self.path, None, f"VMCOREINFO OFFSET({name}) for the kernel log", "absent")
        return int(value)

    def size(self, name: str) -> int:
        value = self.info.get(f"SIZE({name})")
        if value is None:
            raise DumpFormatError(self.path, None, f"VMCOREINFO SIZE({name}) for the kernel log", "absent")
        return int(value)


def _kernel_root(mem: PhysicalMemory) -> Root:
    from pmoview.roots import find_roots

    for root in find_roots(mem):
        if root.kind == "kernel":
            return root
    raise DumpFormatError(mem.path, None, "a kernel page-table root to read the kernel log through", "none")


def read_kernel_log(mem: PhysicalMemory, root: Root | None = None) -> KernelLog:
    """The log records, oldest first. Raises DumpFormatError when VMCOREINFO does not describe a
    log layout or the ring buffer's control structures are not in the dump."""
    info = mem.vmcoreinfo or {}
    root = root or _kernel_root(mem)
    kva = KernelVA(mem, root)
    lay = _Layout(dict(info), mem.path)
    if vmci.symbol(info, "prb") is not None:
        log = _lockless(kva, lay, vmci.symbol(info, "prb") or 0)
    elif vmci.symbol(info, "log_buf") is not None:
        log = _printk_log(kva, lay, info)
    else:
        raise DumpFormatError(mem.path, None, "VMCOREINFO SYMBOL(prb) or SYMBOL(log_buf) (the kernel log)", "absent")
    log.root = root
    return log


def _need(value: int | None, path: str, what: str, va: int) -> int:
    if value is None:
        raise DumpFormatError(path, None, f"{what} at kernel VA {va:#x} in the dump", "not mapped or not dumped")
    return value


def _lockless(kva: KernelVA, lay: _Layout, prb_sym: int) -> KernelLog:
    path = kva.mem.path
    rb = _need(kva.u(prb_sym, 8), path, "the prb pointer", prb_sym)
    desc_ring = rb + lay.off("printk_ringbuffer.desc_ring")
    text_ring = rb + lay.off("printk_ringbuffer.text_data_ring")
    counter = lay.off("atomic_long_t.counter")
    count_bits = _need(kva.u(desc_ring + lay.off("prb_desc_ring.count_bits"), 4), path, "count_bits", desc_ring)
    descs = _need(kva.u(desc_ring + lay.off("prb_desc_ring.descs"), 8), path, "descs", desc_ring)
    infos = _need(kva.u(desc_ring + lay.off("prb_desc_ring.infos"), 8), path, "infos", desc_ring)
    head_id = _need(kva.u(desc_ring + lay.off("prb_desc_ring.head_id") + counter, 8), path, "head_id", desc_ring)
    tail_id = _need(kva.u(desc_ring + lay.off("prb_desc_ring.tail_id") + counter, 8), path, "tail_id", desc_ring)
    size_bits = _need(kva.u(text_ring + lay.off("prb_data_ring.size_bits"), 4), path, "size_bits", text_ring)
    data = _need(kva.u(text_ring + lay.off("prb_data_ring.data"), 8), path, "the text data ring", text_ring)
    if not 0 < count_bits < 32 or not 0 < size_bits < 32 or (1 << size_bits) > MAX_RING_BYTES:
        raise DumpFormatError(
            path, None, "a plausible printk ring buffer", f"count_bits {count_bits}, size_bits {size_bits}"
        )
    ndesc, dsize = 1 << count_bits, 1 << size_bits
    desc_size, info_size = lay.size("prb_desc"), lay.size("printk_info")
    sv_off = lay.off("prb_desc.state_var") + counter
    lpos_off = lay.off("prb_desc.text_blk_lpos")
    begin_off, next_off = lay.off("prb_data_blk_lpos.begin"), lay.off("prb_data_blk_lpos.next")
    seq_off, ts_off = lay.off("printk_info.seq"), lay.off("printk_info.ts_nsec")
    len_off, caller_off = lay.off("printk_info.text_len"), lay.off("printk_info.caller_id")
    id_mask = (1 << 62) - 1  # DESC_ID_MASK: the two top bits of state_var are the state
    log = KernelLog("lockless ring buffer (5.10+)")
    n = ((head_id - tail_id) & id_mask) + 1
    for step in range(min(n, ndesc, MAX_RECORDS)):
        rid = (tail_id + step) & id_mask
        idx = rid & (ndesc - 1)
        d = kva.read(descs + idx * desc_size, desc_size)
        inf = kva.read(infos + idx * info_size, info_size)
        if d is None or inf is None:
            log.missing += 1
            continue
        sv = int.from_bytes(d[sv_off : sv_off + 8], "little")
        state = sv >> 62
        if sv & id_mask != rid or state not in (DESC_COMMITTED, DESC_FINALIZED):
            continue  # reserved (being written) or already reused
        begin = int.from_bytes(d[lpos_off + begin_off : lpos_off + begin_off + 8], "little")
        nxt = int.from_bytes(d[lpos_off + next_off : lpos_off + next_off + 8], "little")
        seq, ts = struct.unpack_from("<QQ", inf, seq_off)[0], struct.unpack_from("<Q", inf, ts_off)[0]
        (text_len,) = struct.unpack_from("<H", inf, len_off)
        (caller_id,) = struct.unpack_from("<I", inf, caller_off)
        level = inf[len_off + 3] >> 5  # u16 text_len; u8 facility; u8 flags:5, level:3
        text = b""
        if not begin & FAILED_LPOS and not nxt & FAILED_LPOS:
            if begin >> size_bits == nxt >> size_bits:
                start, avail = begin & (dsize - 1), nxt - begin
            elif (begin + dsize) >> size_bits == nxt >> size_bits:
                start, avail = 0, nxt & (dsize - 1)  # the block wrapped: its data is at the start
            else:
                continue
            avail -= 8  # the block begins with the descriptor id
            raw = kva.read(data + start + 8, max(0, min(text_len, avail)))
            if raw is None:
                log.missing += 1
                continue
            text = raw
        caller = None
        if caller_id:
            caller = f"CPU {caller_id & 0x7FFFFFFF}" if caller_id & 0x80000000 else f"PID {caller_id}"
        log.records.append(LogRecord(seq, ts, level, caller, text.decode("utf-8", "replace")))
    return log


def _printk_log(kva: KernelVA, lay: _Layout, info: dict[str, str] | object) -> KernelLog:
    """Before 5.10: ``struct printk_log`` records (len, text_len, ts_nsec, then text) in ``log_buf``;
    a record with len 0 means the writer wrapped to the buffer's start."""
    path = kva.mem.path
    vi = info if isinstance(info, dict) else {}
    buf_ptr = vmci.symbol(vi, "log_buf") or 0
    buf = _need(kva.u(buf_ptr, 8), path, "log_buf", buf_ptr)
    len_sym = vmci.symbol(vi, "log_buf_len") or 0
    first_sym = vmci.symbol(vi, "log_first_idx") or 0
    next_sym = vmci.symbol(vi, "log_next_idx") or 0
    buf_len = _need(kva.u(len_sym, 4), path, "log_buf_len", len_sym)
    idx = _need(kva.u(first_sym, 4), path, "log_first_idx", first_sym)
    end = _need(kva.u(next_sym, 4), path, "log_next_idx", next_sym)
    if not 0 < buf_len <= MAX_RING_BYTES:
        raise DumpFormatError(path, None, "a plausible log_buf_len", str(buf_len))
    ts_off, len_off = lay.off("printk_log.ts_nsec"), lay.off("printk_log.len")
    tlen_off, hdr = lay.off("printk_log.text_len"), lay.size("printk_log")
    ring = kva.read(buf, buf_len)
    if ring is None:
        raise DumpFormatError(path, None, f"log_buf at kernel VA {buf:#x} in the dump", "not mapped or not dumped")
    log = KernelLog("printk_log records")
    seq = 0
    while idx != end and len(log.records) < MAX_RECORDS:
        if idx + hdr > buf_len:
            break
        (rec_len,) = struct.unpack_from("<H", ring, idx + len_off)
        if rec_len == 0:
            idx = 0
            continue
        (ts,) = struct.unpack_from("<Q", ring, idx + ts_off)
        (tlen,) = struct.unpack_from("<H", ring, idx + tlen_off)
        text = ring[idx + hdr : idx + hdr + tlen]
        log.records.append(LogRecord(seq, ts, None, None, text.decode("utf-8", "replace")))
        seq += 1
        idx += rec_len
    return log


# -- oops / panic --------------------------------------------------------------------------------
_PF_ADDR = re.compile(
    r"BUG: (?:unable to handle page fault for address|kernel NULL pointer dereference, address): ([0-9a-fA-F]+)"
)
_PF_ACCESS = re.compile(r"#PF: (supervisor|user) (read|write|instruction fetch) access in (kernel|user) mode")
_PF_CODE = re.compile(r"#PF: error_code\(0x([0-9a-fA-F]+)\)")
# arm64 (arch/arm64/mm/fault.c die_kernel_fault, mem_abort_decode, data_abort_decode)
_ARM_ADDR = re.compile(
    r"Unable to handle kernel (?:paging request|NULL pointer dereference|execute from non-executable memory|"
    r"write to read-only memory|read from unreadable memory) at virtual address ([0-9a-fA-F]+)"
)
_ARM_EC = re.compile(r"EC = 0x([0-9a-fA-F]+): (\S+)")
_ARM_WNR = re.compile(r"\bWnR = ([01])\b")
_CPU = re.compile(r"CPU: (\d+) PID: (\d+) Comm: (\S+)")
_PANIC = re.compile(r"Kernel panic - not syncing: (.*)")
_BUG = re.compile(r"^(BUG: .*|Oops: .*|general protection fault.*|kernel BUG at .*)$")
_RIP = re.compile(r"^RIP: [0-9a-fA-F]+:(.*)$")


def access_of(error_code: int) -> str:
    """The access an x86 page-fault error code describes (bit 4 I/D, bit 1 W/R)."""
    if error_code & 0x10:
        return "instruction fetch"
    return "write" if error_code & 0x2 else "read"


def find_oops(log: KernelLog) -> Oops | None:
    """The first oops or panic in the log, or None. The CPU is the one the first ``CPU: N PID:`` line
    after the first BUG/Oops/panic line names (the reporting CPU). x86_64: ``BUG: unable to handle
    page fault for address``, ``#PF: error_code(...)``; arm64: ``Unable to handle kernel ... at
    virtual address``, ``EC = 0x25: DABT``/``IABT``, ``WnR``."""
    found: dict[str, object] = {}
    started = False
    for rec in log.records:
        for line in rec.text.splitlines():
            line = line.strip()
            if m := (_PF_ADDR.search(line) or _ARM_ADDR.search(line)):
                found.setdefault("fault_address", int(m.group(1), 16))
                started = True
            if started and (m := _ARM_EC.search(line)) and m.group(2).startswith("IABT"):
                found.setdefault("access", "instruction fetch")
                found.setdefault("mode", "kernel" if m.group(2).endswith("(current EL)") else "user")
            if started and (m := _ARM_WNR.search(line)):
                found.setdefault("access", "write" if m.group(1) == "1" else "read")
            if (m := _BUG.match(line)) and "bug" not in found:
                found["bug"] = m.group(1)
                started = True
            if m := _PF_ACCESS.search(line):
                found.setdefault("access", m.group(2))
                found.setdefault("mode", m.group(3))
            if m := _PF_CODE.search(line):
                code = int(m.group(1), 16)
                found.setdefault("error_code", code)
                found["access"] = access_of(code)
                found.setdefault("not_present", not code & 1)
            if m := _PANIC.search(line):
                found.setdefault("panic", m.group(1).strip())
                started = True
            if started and (m := _CPU.search(line)) and "cpu" not in found:
                found.update(cpu=int(m.group(1)), pid=int(m.group(2)), comm=m.group(3))
            if started and (m := _RIP.match(line)) and "rip" not in found:
                found["rip"] = m.group(1).strip()
    if not started:
        return None
    return Oops(**found)  # type: ignore[arg-type]

"""The kernel log's pre-5.10 layout (``struct printk_log`` records in ``log_buf``), which no sample
here has (Debian 12's kernels are 6.1): a synthetic buffer laid out as kernel/printk/printk.c wrote
it, with the wrap marker, read through page tables like a real one. Also: what unusable input says."""

from __future__ import annotations

import struct

import pytest
from synth import PAGE, X86Tree

from parsers.errors import DumpFormatError
from pmoview.kernel_log import find_oops, read_kernel_log
from pmoview.memory.base import DumpInfo

K = 0xFFFF_FFFF_8100_0000  # kernel image VA, mapped to PA 0x1000000
VARS, BUF, BUF_LEN = K, K + 0x10000, 4096


def record(ts: int, text: bytes) -> bytes:
    # u64 ts_nsec; u16 len; u16 text_len; u16 dict_len; u8 facility; u8 flags:5, level:3; text; pad to 8
    body = struct.pack("<QHHHBB", ts, 0, len(text), 0, 0, 6 << 5) + text
    body += bytes(-len(body) % 8)
    return body[:8] + struct.pack("<H", len(body)) + body[10:]


def build(vmci_extra: dict[str, str] | None = None) -> tuple[X86Tree, int]:
    tree = X86Tree()
    for off in range(0, 0x20000, PAGE):
        tree.map(K + off, 0x100_0000 + off)
        tree.mem.write(0x100_0000 + off, bytes(PAGE))
    a = record(1_000_000, b"first, near the end of the buffer")
    b = record(2_000_000, b"Kernel panic - not syncing: second, after the wrap")
    c = record(3_000_000, b"CPU: 1 PID: 7 Comm: sh Not tainted")
    first = BUF_LEN - len(a) - 16  # room for A and a zero-length wrap marker after it
    ring = bytearray(BUF_LEN)
    ring[first : first + len(a)] = a
    ring[0 : len(b)] = b
    ring[len(b) : len(b) + len(c)] = c
    nxt = len(b) + len(c)
    pa = lambda va: 0x100_0000 + va - K  # noqa: E731
    tree.mem.write(pa(BUF), bytes(ring))
    tree.mem.write(pa(VARS), struct.pack("<Q", BUF))  # char *log_buf
    tree.mem.write(pa(VARS + 8), struct.pack("<I", BUF_LEN))  # u32 log_buf_len
    tree.mem.write(pa(VARS + 16), struct.pack("<I", first))  # u32 log_first_idx
    tree.mem.write(pa(VARS + 24), struct.pack("<I", nxt))  # u32 log_next_idx
    info = {
        "SYMBOL(log_buf)": f"{VARS:x}",
        "SYMBOL(log_buf_len)": f"{VARS + 8:x}",
        "SYMBOL(log_first_idx)": f"{VARS + 16:x}",
        "SYMBOL(log_next_idx)": f"{VARS + 24:x}",
        "SIZE(printk_log)": "16",
        "OFFSET(printk_log.ts_nsec)": "0",
        "OFFSET(printk_log.len)": "8",
        "OFFSET(printk_log.text_len)": "10",
        **(vmci_extra or {}),
    }
    tree.mem.info = DumpInfo(arch="x86_64", vmcoreinfo=info)
    return tree, first


def test_printk_log_records_are_read_across_the_wrap() -> None:
    tree, _ = build()
    log = read_kernel_log(tree.mem, tree.root_obj(kind="kernel"))
    assert log.layout == "printk_log records"
    assert [r.text for r in log.records] == [
        "first, near the end of the buffer",
        "Kernel panic - not syncing: second, after the wrap",
        "CPU: 1 PID: 7 Comm: sh Not tainted",
    ]
    assert [r.ts_nsec for r in log.records] == [1_000_000, 2_000_000, 3_000_000]
    oops = find_oops(log)
    assert oops is not None and (oops.panic, oops.cpu, oops.comm) == ("second, after the wrap", 1, "sh")


def test_a_log_layout_vmcoreinfo_does_not_describe_is_refused_in_one_line() -> None:
    tree, _ = build()
    assert tree.mem.info.vmcoreinfo is not None
    del tree.mem.info.vmcoreinfo["OFFSET(printk_log.text_len)"]
    with pytest.raises(DumpFormatError, match=r"OFFSET\(printk_log.text_len\)"):
        read_kernel_log(tree.mem, tree.root_obj(kind="kernel"))
    tree.mem.info.vmcoreinfo = {"OSRELEASE": "6.1.0"}
    with pytest.raises(DumpFormatError, match="SYMBOL\\(prb\\) or SYMBOL\\(log_buf\\)"):
        read_kernel_log(tree.mem, tree.root_obj(kind="kernel"))

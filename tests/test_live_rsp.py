"""The RSP framing edge cases a real stub rarely shows: escapes, run-length encoding, checksums, and
the target-description reader's numbering (live behaviour is tested against QEMU in test_live_qemu)."""

from __future__ import annotations

import pytest

from pmoview.live import hmp
from pmoview.live.rsp import checksum, frame, unescape
from pmoview.live.tdesc import TargetDescriptionError, parse_target


def test_frame_escapes_the_four_special_bytes_and_sums_what_is_sent() -> None:
    packet = frame(b"a$b#c}d*e")
    body = packet[1:-3]
    assert body == b"a}\x04b}\x03c}]d}\x0ae"
    assert int(packet[-2:], 16) == checksum(body)
    assert unescape(body) == b"a$b#c}d*e"


def test_run_length_encoding_repeats_the_previous_byte() -> None:
    # "0* " is '0' plus 32 - 29 = 3 more: four zeros (gdb's own example)
    assert unescape(b"0* ") == b"0000"
    assert unescape(b'ab*"c') == b"abbbbbbc"


def test_target_description_numbers_registers_across_includes_and_regnum() -> None:
    files = {
        "target.xml": '<target><architecture>i386:x86-64</architecture><xi:include href="core.xml"/>'
        '<xi:include href="sys.xml"/></target>',
        "core.xml": '<feature name="core"><reg name="rax" bitsize="64" regnum="0"/>'
        '<reg name="RBX" bitsize="64"/></feature>',
        "sys.xml": '<feature name="sys"><reg name="cr3" bitsize="64" regnum="60"/>'
        '<reg name="efer" bitsize="64"/></feature>',
    }
    desc = parse_target(files.__getitem__)
    assert desc.arch == "x86_64"
    assert [(r.name, r.number) for r in desc.registers] == [("rax", 0), ("rbx", 1), ("cr3", 60), ("efer", 61)]
    with pytest.raises(TargetDescriptionError):
        parse_target({"target.xml": "<target><reg name='x' bitsize='?'/></target>"}.__getitem__)


def test_mtree_ranges_are_ram_and_rom_of_the_system_address_space_only() -> None:
    text = """FlatView #0
 AS "I/O", root: io
  0000000000000000-0000000000000fff (prio 0, ram): not-system
FlatView #1
 AS "memory", root: system
 AS "cpu-memory-0", root: system
  0000000000000000-000000000009ffff (prio 0, ram): pc.ram
  00000000000a0000-00000000000bffff (prio 1, i/o): vga-lowmem
  00000000000c0000-00000000000cafff (prio 0, rom): pc.ram @00000000000c0000
  00000000000cb000-00000000000cdfff (prio 0, ram): pc.ram @00000000000cb000
  00000000fffc0000-00000000ffffffff (prio 0, rom): pc.bios
"""
    assert [(hex(r.start), hex(r.end)) for r in hmp.memory_ranges(text)] == [
        ("0x0", "0xa0000"),
        ("0xc0000", "0xce000"),
        ("0xfffc0000", "0x100000000"),
    ]

    from pmoview.live.base import LiveMemory

    class Ranges(LiveMemory):  # only the RAM/ROM map: nothing is read
        def _fetch(self, pages: list[int]) -> None: ...

        def refresh(self) -> None: ...

        def close(self) -> None:
            self._forget()

    mem = Ranges("gdb://test:1", "gdb")
    mem._set_ranges(text)
    mem.close()  # leaves the list of open live targets
    # what a live guest lacks: outside its RAM and ROM (VGA's MMIO hole), or inside and unreadable
    assert mem.absent_reason(0xA0000, 0xA1000) == "not RAM or ROM of the guest (info mtree)"
    assert mem.absent_reason(0x9F000, 0xA1000) == "not RAM or ROM of the guest (info mtree)"
    assert mem.absent_reason(0x1000, 0x2000) == "not readable from the target"

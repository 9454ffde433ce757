"""QEMU human-monitor (HMP) answers pmoview reads, through QMP ``human-monitor-command`` or the
gdbstub's ``qRcmd``: ``info status``, ``info mtree -f`` (the guest's RAM and ROM) and x86
``info registers``. Pure text in, values out."""

from __future__ import annotations

import re

from pmoview.memory.base import Range, merge_ranges

_MTREE_LINE = re.compile(r"^\s*([0-9a-f]+)-([0-9a-f]+) \(prio -?\d+, ([a-z/ ]+)\): (.*)$")
_X86_REG = re.compile(r"\b(CR[0-4]|EFER|RIP|RSP|CR8)=\s*([0-9a-f]+)")
_CPU_HEAD = re.compile(r"^CPU#(\d+)", re.M)

# dump-guest-memory keeps RAM and ROM blocks, not MMIO nor ROM devices (flash, "romd"): the same is
# "present" here, so that a live guest and its dump have the same ranges.
PRESENT_KINDS = ("ram", "rom")


def run_state(text: str) -> str:
    """``info status`` → ``running``, ``paused``, ``paused (debug)``, ``paused (prelaunch)``, ..."""
    m = re.search(r"VM status:\s*(.+)", text)
    return m.group(1).strip() if m else text.strip()


def is_running(state: str) -> bool:
    return state.startswith("running")


def memory_ranges(mtree_flat: str) -> list[Range]:
    """RAM and ROM in the system address space ("memory") of ``info mtree -f``, merged."""
    out: list[Range] = []
    in_system = False
    for line in mtree_flat.splitlines():
        if line.startswith("FlatView #"):
            in_system = False
            continue
        if line.strip().startswith('AS "memory"'):
            in_system = True
            continue
        if not in_system:
            continue
        m = _MTREE_LINE.match(line)
        if m and m.group(3).strip() in PRESENT_KINDS:
            out.append(Range(int(m.group(1), 16), int(m.group(2), 16) + 1))
    return merge_ranges(out)


def x86_registers(info_registers: str) -> dict[int, dict[str, int]]:
    """Per CPU index: the control registers and EFER of ``info registers -a`` (x86)."""
    out: dict[int, dict[str, int]] = {}
    heads = list(_CPU_HEAD.finditer(info_registers))
    if not heads:  # a single CPU's ``info registers`` has no header
        heads_text = [(0, info_registers)]
    else:
        heads_text = [
            (int(h.group(1)), info_registers[h.end() : heads[i + 1].start() if i + 1 < len(heads) else None])
            for i, h in enumerate(heads)
        ]
    for index, text in heads_text:
        regs = {m.group(1).lower(): int(m.group(2), 16) for m in _X86_REG.finditer(text)}
        if regs:
            out[index] = regs
    return out

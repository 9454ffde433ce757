"""What an access check answers: the access, the privilege it runs at, the CPU control state it
assumed, and the verdict with the entry and bit that decide it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from pmoview.arch.flags import Flags
from pmoview.arch.records import EntryRef

Access = Literal["read", "write", "exec"]
Privilege = Literal["kernel", "user"]
ACCESSES: tuple[Access, ...] = ("read", "write", "exec")
PRIVILEGES: tuple[Privilege, ...] = ("kernel", "user")

# Stable reason kinds (JSON contract: add, never rename).
REASONS = (
    "ok",
    "not-present",
    "reserved-bit",
    "read-only",
    "no-execute",
    "supervisor-only",
    "smep",
    "smap",
    "pkey",
    "permission",
    "non-canonical",
    "table-outside-memory",
    "pan",
    "access-flag",
    # RISC-V
    "sum",
    "user-exec",
    "not-readable",
)


@dataclass(frozen=True)
class ControlBit:
    """One control setting the check depends on: its value and where it came from. ``assumed`` is True
    when the dump does not record it and the value is a default (then ``source`` says why)."""

    value: int
    source: str
    assumed: bool = False


@dataclass(frozen=True)
class ControlState:
    """Named control settings (x86: ``wp``, ``smep``, ``smap``, ``pke``, ``ac``, ``nxe``, ``pkru``;
    AArch64: ``pan``, ``hpd``), each with provenance."""

    arch: str
    bits: dict[str, ControlBit] = field(default_factory=dict)

    def value(self, name: str) -> int:
        return self.bits[name].value

    def on(self, name: str) -> bool:
        return bool(self.bits[name].value)

    def assumptions(self) -> list[str]:
        return [f"{name}={b.value:#x} assumed: {b.source}" for name, b in self.bits.items() if b.assumed]

    def to_json(self) -> dict[str, dict[str, object]]:
        return {n: {"value": b.value, "source": b.source, "assumed": b.assumed} for n, b in self.bits.items()}


@dataclass(frozen=True)
class Denial:
    """Why the MMU refuses: ``reason`` (one of REASONS), ``depth`` the index in the walked path of the
    entry that decides it, ``message`` in words (naming the bit)."""

    reason: str
    depth: int
    message: str


@dataclass(frozen=True)
class Explanation:
    """Whether an access to ``va`` at a privilege is allowed: the PA, the entry that decided, the path
    walked and the reason in words."""

    va: int
    access: Access
    mode: Privilege
    allowed: bool
    pa: int | None
    reason: str
    level: int | None
    index: int | None
    entry: int | None
    path: tuple[EntryRef, ...]
    message: str
    level_name: str | None = None
    page_size: int | None = None
    flags: Flags | None = None
    control: ControlState | None = None
    assumptions: tuple[str, ...] = ()
    also: tuple[str, ...] = ()  # other entries that would deny the access as well

    def to_json(self) -> dict[str, object]:
        return {
            "va": hex(self.va),
            "access": self.access,
            "mode": self.mode,
            "allowed": self.allowed,
            "pa": None if self.pa is None else hex(self.pa),
            "reason": self.reason,
            "level": self.level,
            "index": self.index,
            "entry": None if self.entry is None else hex(self.entry),
            "path": [
                {"level": e.level, "index": e.index, "entry": hex(e.entry), "table_pa": hex(e.table_pa)}
                for e in self.path
            ],
            "message": self.message,
            "level_name": self.level_name,
            "page_size": self.page_size,
            "also": list(self.also),
            "control": None if self.control is None else self.control.to_json(),
            "assumptions": list(self.assumptions),
        }

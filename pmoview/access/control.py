"""Reading control settings out of a CPU's registers, with provenance, and recording which ones a
decision consulted (only those are worth an "assumed" note)."""

from __future__ import annotations

from collections.abc import Mapping

from pmoview.access.model import ControlBit, ControlState


def bit_of(regs: Mapping[str, int], reg: str, bit: int, label: str, cpu: int | None) -> ControlBit | None:
    """``regs[reg]`` bit ``bit`` as a ControlBit, or None when the dump (or live target) does not record ``reg``."""
    if reg not in regs:
        return None
    where = f"CPU {cpu} " if cpu is not None else ""
    return ControlBit((regs[reg] >> bit) & 1, f"{label} from {where}{reg.upper()}")  # a dump's, or a live target's


def with_overrides(state: ControlState, overrides: Mapping[str, int]) -> ControlState:
    """Values the user gave (``--control NAME=VALUE``) replace what the dump says or what was assumed."""
    unknown = sorted(set(overrides) - set(state.bits))
    if unknown:
        raise ValueError(
            f"unknown control setting(s) {', '.join(unknown)} for {state.arch}; known: {', '.join(state.bits)}"
        )
    bits = dict(state.bits)
    for name, value in overrides.items():
        bits[name] = ControlBit(value, "given on the command line")
    return ControlState(state.arch, bits)


class Consulted:
    """A ControlState reader that remembers what it was asked."""

    def __init__(self, state: ControlState) -> None:
        self.state = state
        self.names: list[str] = []

    def on(self, name: str) -> bool:
        return bool(self.value(name))

    def value(self, name: str) -> int:
        if name not in self.names:
            self.names.append(name)
        return self.state.value(name)

    def assumptions(self) -> list[str]:
        out = []
        for name in self.names:
            b = self.state.bits[name]
            if b.assumed:
                out.append(f"{name}={b.value} assumed ({b.source})")
        return out

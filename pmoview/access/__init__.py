"""Why an access faults: walk one VA as the MMU does for one access at one privilege, with the CPU's
control state, and name the entry and the bit that decide.

The walk is ``AddressSpace.translate`` (the same one every view uses); what is architecture-specific
is the permission check on the entries walked and where the control state comes from. Each
architecture registers an ``ArchRules`` (``register``): x86_64, aarch64, riscv64.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from pmoview.access import aarch64, riscv, x86_64
from pmoview.access.control import Consulted, with_overrides
from pmoview.access.model import (
    ACCESSES,
    PRIVILEGES,
    REASONS,
    Access,
    ControlBit,
    ControlState,
    Denial,
    Explanation,
    Privilege,
)
from pmoview.arch.records import EntryRef
from pmoview.arch.root import Root
from pmoview.memory.base import CpuState
from pmoview.space import AddressSpace

__all__ = [
    "ACCESSES",
    "PRIVILEGES",
    "REASONS",
    "Access",
    "ArchRules",
    "ControlBit",
    "ControlState",
    "Explanation",
    "Privilege",
    "control_for",
    "explain",
    "register",
    "rules_for",
]

CheckFn = Callable[
    [Sequence[EntryRef], Mapping[int, str], Access, Privilege, Consulted], tuple[Denial | None, tuple[str, ...]]
]


@dataclass(frozen=True)
class ArchRules:
    """One architecture's part: the control state from a CPU's registers, the privilege a CPU runs
    at, and the permission check on a walk that reached a leaf."""

    arch: str
    control: Callable[[Mapping[str, int] | None, Root, int | None], ControlState]
    privilege: Callable[[Mapping[str, int]], Privilege | None]
    check: CheckFn


_RULES: dict[str, ArchRules] = {}


def register(rules: ArchRules) -> None:
    _RULES[rules.arch] = rules


def rules_for(arch: str) -> ArchRules:
    try:
        return _RULES[arch]
    except KeyError:
        raise ValueError(f"no access rules for architecture {arch!r}; known: {', '.join(sorted(_RULES))}") from None


register(ArchRules(x86_64.ARCH, x86_64.control, x86_64.privilege, x86_64.check))
register(ArchRules(aarch64.ARCH, aarch64.control, aarch64.privilege, aarch64.check))
register(ArchRules(riscv.ARCH, riscv.control, riscv.privilege, riscv.check))


def control_for(root: Root, cpu: CpuState | None = None, overrides: Mapping[str, int] | None = None) -> ControlState:
    """The control state for walks from ``root``: from ``cpu``'s registers where the dump has them,
    else defaults marked as assumed; ``overrides`` (the user's) win."""
    rules = rules_for(root.arch)
    state = rules.control(None if cpu is None else cpu.regs, root, None if cpu is None else cpu.index)
    return with_overrides(state, overrides) if overrides else state


def explain(
    space: AddressSpace,
    va: int,
    access: Access = "read",
    mode: Privilege = "kernel",
    control: ControlState | None = None,
) -> Explanation:
    """Whether ``access`` at ``mode`` to ``va`` is allowed through ``space``'s tables, and if not, why."""
    if access not in ACCESSES:
        raise ValueError(f"access must be one of {ACCESSES}, not {access!r}")
    if mode not in PRIVILEGES:
        raise ValueError(f"mode must be one of {PRIVILEGES}, not {mode!r}")
    rules = rules_for(space.root.arch)
    state = control if control is not None else control_for(space.root)
    ctl = Consulted(state)
    names = {row.level: row.name for row in space.mode.levels}
    t = space.translate(va)
    path = tuple(t.path)
    base = {"va": va, "access": access, "mode": mode, "path": path, "control": state}
    walk_notes = tuple(n for n in space.assumptions if "NXE" not in n)  # NXE is a control bit here

    def stop(reason: str, depth: int | None, message: str) -> Explanation:
        ref = path[depth] if depth is not None and path else None
        level = ref.level if ref is not None else space.mode.levels[0].level
        index = ref.index if ref is not None else None
        return Explanation(
            **base,  # type: ignore[arg-type]
            allowed=False,
            pa=None,
            reason=reason,
            level=level if reason != "non-canonical" else None,
            index=index,
            entry=None if ref is None else ref.entry,
            message=message,
            level_name=names.get(level) if reason != "non-canonical" else None,
            assumptions=(*ctl.assumptions(), *walk_notes),
        )

    if t.pa is None:
        if not path:
            if space.mode.offset_of(va) is None:
                return stop("non-canonical", None, f"{va:#x} is {t.reason}: the MMU translates no such address")
            why = space.mem.absent_reason(space.root.table)
            return stop("table-outside-memory", None, f"the top table at {space.root.table:#x} cannot be read: {why}")
        last = path[-1]
        row = space.mode.level_row(last.level)
        where = f"{row.name}[{last.index}] = {last.entry:#018x}"
        if not last.entry & row.valid_mask:
            bit = "P=0" if space.root.arch == "x86_64" else "bit 0 (valid) = 0"
            return stop("not-present", len(path) - 1, f"{where} has {bit}: not present, nothing mapped at {va:#x}")
        if t.stop_level is not None and t.stop_level != last.level:
            return stop(
                "table-outside-memory",
                len(path) - 1,
                f"{where} points to a {names.get(t.stop_level, '?')} table that cannot be read: "
                f"{space.mem.absent_reason(row.table_address(last.entry))} "
                "(the walk cannot be followed; the MMU would read whatever is there)",
            )
        if space.root.arch == "x86_64":
            ctl.value("nxe")  # bit 63 is reserved without EFER.NXE: the verdict depends on it
        return stop("reserved-bit", len(path) - 1, f"{where}: {t.reason}; the MMU faults on it (reserved bit)")

    denial, also = rules.check(path, names, access, mode, ctl)
    leaf = path[-1]
    if denial is None:
        message = f"{access} at {mode} privilege allowed: {va:#x} -> {t.pa:#x} via {names[leaf.level]}[{leaf.index}]"
        return Explanation(
            **base,  # type: ignore[arg-type]
            allowed=True,
            pa=t.pa,
            reason="ok",
            level=leaf.level,
            index=leaf.index,
            entry=leaf.entry,
            message=message,
            level_name=names[leaf.level],
            page_size=t.page_size,
            flags=t.flags,
            assumptions=(*ctl.assumptions(), *walk_notes),
        )
    ref = path[denial.depth]
    message = denial.message + (f" (also denied by {', '.join(also)})" if also else "")
    return Explanation(
        **base,  # type: ignore[arg-type]
        allowed=False,
        pa=t.pa,
        reason=denial.reason,
        level=ref.level,
        index=ref.index,
        entry=ref.entry,
        message=message,
        level_name=names[ref.level],
        page_size=t.page_size,
        flags=t.flags,
        assumptions=(*ctl.assumptions(), *walk_notes),
        also=also,
    )

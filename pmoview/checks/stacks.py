"""Kernel stacks and their guard pages: kinds ``stack-missing``, ``stack-flags`` and ``stack-guard``.

A profile's ``StackRule`` places ``count`` stacks below ``top`` (xv6: KSTACK(p) = TRAMPOLINE -
(p + 1) * 2 * PGSIZE, one page each). Each stack must be mapped, writable, not executable and not
user-accessible; the pages between it and the next stack down must not be mapped at all: that guard
is what turns a kernel stack overflow into a page fault instead of silent corruption of the stack
below (or of whatever the guard page maps).
"""

from __future__ import annotations

from pmoview.checks.context import CheckContext, flags_words
from pmoview.checks.findings import ERROR, Pending, path_text
from pmoview.checks.profiles import FactMissing, evaluate
from pmoview.sizes import size_text

PAGE = 4096


def check(ctx: CheckContext) -> list[Pending]:
    rule = ctx.profile.profile.stacks
    if rule is None:
        return []
    try:
        top = evaluate(rule.top, ctx.profile.facts)
    except (FactMissing, ValueError):
        return []
    out: list[Pending] = []
    space = ctx.space
    for i in range(rule.count):
        lo = top - (i + 1) * rule.stride
        t = space.translate(lo)
        if t.pa is None or t.flags is None:
            out.append(
                ctx.pending(
                    "stack-missing",
                    ERROR,
                    "stack-missing",
                    lo,
                    lo + rule.size,
                    None,
                    None,
                    _render_missing,
                    [ctx.path(t.path)],
                    first=i,
                    reason=t.reason,
                    rule=rule.description,
                )
            )
            continue
        f = t.flags
        bad = [w for w, b in (("not writable", not f.writable), ("executable", not f.nx), ("user", f.user)) if b]
        if bad:
            out.append(
                ctx.pending(
                    "stack-flags",
                    ERROR,
                    ("stack-flags", tuple(bad)),
                    lo,
                    lo + rule.size,
                    t.pa,
                    t.pa + rule.size,
                    _render_flags,
                    [ctx.path(t.path)],
                    bad=", ".join(bad),
                    flags=flags_words(f, ctx),
                    first=i,
                )
            )
        for guard in range(lo - (rule.stride - rule.size), lo, PAGE):
            g = space.translate(guard)
            if g.pa is not None and g.flags is not None:
                out.append(
                    ctx.pending(
                        "stack-guard",
                        ERROR,
                        "stack-guard",
                        guard,
                        guard + PAGE,
                        g.pa,
                        g.pa + PAGE,
                        _render_guard,
                        [ctx.path(g.path)],
                        stack=lo,
                        first=i,
                        flags=flags_words(g.flags, ctx),
                    )
                )
    return out


def _render_missing(p: Pending) -> tuple[str, str | None, str | None]:
    n = (p.va_end or 0) - (p.va_start or 0)
    msg = (
        f"kernel stack VA {p.va_start:#x}-{p.va_end:#x} ({size_text(n)}) is not mapped "
        f"({p.data['reason']}); {p.data['rule']}. A process whose kernel stack is there faults on its "
        "first trap."
    )
    return msg, "mapped, RW, NX, supervisor", p.data["reason"]


def _render_flags(p: Pending) -> tuple[str, str | None, str | None]:
    first = p.paths[0] if p.paths else ()
    where = f" ({path_text(first, values=False)} = {first[-1].entry:#x})" if first else ""
    msg = f"kernel stack VA {p.va_start:#x}-{p.va_end:#x}{where} is {p.data['bad']} ({p.data['flags']})."
    return msg, "RW, NX, supervisor", p.data["flags"]


def _render_guard(p: Pending) -> tuple[str, str | None, str | None]:
    first = p.paths[0] if p.paths else ()
    where = f" ({path_text(first, values=False)} = {first[-1].entry:#x})" if first else ""
    n = (p.va_end or 0) - (p.va_start or 0)
    msg = (
        f"guard page VA {p.va_start:#x}-{p.va_end:#x} ({size_text(n)}) below a kernel stack is mapped{where} "
        f"to PA {p.pa_start:#x} ({p.data['flags']}): a kernel stack overflow writes there instead of faulting."
    )
    return msg, "not mapped", f"mapped to {p.pa_start:#x}"

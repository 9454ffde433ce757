"""W^X and user/kernel separation in the kernel half: kinds ``wx`` and ``user-kernel``.

``wx``: a page the kernel may both write and execute (effective flags: R/W at every level and no
XD/PXN at any level). ``user-kernel``: a page in the kernel half that user mode may access (U/S at
every level; AArch64 AP[1]); the profile may allow a few (Linux's vsyscall page) at info.
"""

from __future__ import annotations

from pmoview.checks.context import CheckContext, flags_words
from pmoview.checks.findings import ERROR, INFO, Pending, intersect_intervals, path_text, subtract_intervals
from pmoview.sizes import size_text


def check(ctx: CheckContext) -> list[Pending]:
    out: list[Pending] = []
    half = ctx.profile.profile.kernel_half
    allowed = [((a.start, a.end), a.reason) for a in ctx.profile.user_ok]
    # only W+X or user-accessible mappings can conclude anything here
    for m in ctx.maps_where(half, 1 << 64, lambda c: (c.attr("writable") & ~c.attr("nx")) | c.attr("user")):
        f = m.flags
        if f.writable and not f.nx:
            ctx.sink.add(
                ctx.pending(
                    "wx",
                    ERROR,
                    "wx",
                    m.va_start,
                    m.va_end,
                    m.pa_start,
                    m.pa_end,
                    _render_wx,
                    [m.va_start],
                    flags=flags_words(f, ctx),
                    region=_region_of(ctx, m.va_start),
                )
            )
        if f.user:
            pieces: list[tuple[tuple[int, int], str | None]] = [
                ((s, e), None) for s, e in subtract_intervals([(m.va_start, m.va_end)], [iv for iv, _ in allowed])
            ]
            for iv, reason in allowed:
                for s, e in intersect_intervals([(m.va_start, m.va_end)], [iv]):
                    pieces.append(((s, e), reason))
            for (s, e), why in pieces:
                pa = m.pa_start + (s - m.va_start)
                ctx.sink.add(
                    ctx.pending(
                        "user-kernel",
                        INFO if why else ERROR,
                        ("user", why),
                        s,
                        e,
                        pa,
                        pa + (e - s),
                        _render_user,
                        [s],
                        why=why,
                        flags=flags_words(f, ctx),
                        region=_region_of(ctx, s),
                        arch=ctx.arch,
                    )
                )
    return out


def _region_of(ctx: CheckContext, va: int) -> str | None:
    for r in ctx.profile.regions:
        hi = r.va_end
        if hi is None and r.role == "pmo":
            from pmoview.checks.pmo import window

            hi = window(ctx, r)[1]
        if hi is not None and r.va_start <= va < hi:
            return r.description
    return None


def _render_wx(p: Pending) -> tuple[str, str | None, str | None]:
    n = (p.va_end or 0) - (p.va_start or 0)
    where = f" (in the {p.data['region']})" if p.data["region"] else ""
    msg = (
        f"Kernel VA {p.va_start:#x}-{p.va_end:#x} ({size_text(n)}, PA {p.pa_start:#x}-{p.pa_end:#x}){where} is "
        "writable and executable at once: R/W=1 on every level and no XD/PXN on any. A single kernel write bug "
        "becomes code execution; map code read-only and data no-execute."
    )
    if p.paths:
        msg += f" Leaf: {path_text(p.paths[0], values=False)} = {p.paths[0][-1].entry:#x}."
    return msg, "W^X: writable or executable, not both", p.data["flags"]


def _render_user(p: Pending) -> tuple[str, str | None, str | None]:
    n = (p.va_end or 0) - (p.va_start or 0)
    where = f" (in the {p.data['region']})" if p.data["region"] else ""
    path = p.paths[0] if p.paths else ()
    us = [e.text() for e in path if e.entry & 4] if p.data["arch"] == "x86_64" else []
    msg = (
        f"Kernel-half VA {p.va_start:#x}-{p.va_end:#x} ({size_text(n)}, PA {p.pa_start:#x}-{p.pa_end:#x}){where} is "
        "accessible from user mode"
    )
    if us:
        msg += f": U/S is set in {', '.join(us)}"
    msg += "."
    if p.data["why"]:
        msg = f"Allowed by the profile ({p.data['why']}): " + msg
    else:
        msg += " User code can read (and, if writable, modify) kernel memory; clear U/S in at least one level."
    return msg, "supervisor-only", p.data["flags"]

"""Kernel image checks: kernel-segment-missing, kernel-segment-wrong-target, kernel-segment-perms.

Without ``--kernel``: every mapping in the profile's image region must follow its PA rule (and a region
with no known end is probed at its start). With the ELF: every PT_LOAD segment must be mapped, at the
rule's PA, with page permissions no wider than its p_flags (write and execute beyond p_flags are
errors; fewer rights, such as Linux's read-only-after-init data, are noted at info).
"""

from __future__ import annotations

from itertools import pairwise

from pmoview.checks.context import CheckContext
from pmoview.checks.findings import (
    ERROR,
    INFO,
    Pending,
    intersect_intervals,
    merge_intervals,
    path_text,
    subtract_intervals,
)
from pmoview.checks.profiles import U64, ResolvedRegion
from pmoview.kernel import KernelImage
from pmoview.sizes import size_text

PAGE = 4096


def check(ctx: CheckContext) -> list[Pending]:
    out: list[Pending] = []
    regions = ctx.profile.regions_of("image")
    for region in regions:
        if region.va_end is None:
            out += _probe(ctx, region)
        else:
            out += _rule(ctx, region, region.va_start, region.va_end, None)
    if ctx.kernel is None:
        for k in ("kernel-segment-missing", "kernel-segment-perms"):
            ctx.skipped.setdefault(k, "needs --kernel ELF")
        return out
    if ctx.kernel.arch != ctx.arch:
        ctx.skipped["kernel-segment-perms"] = f"--kernel is {ctx.kernel.arch}, the dump is {ctx.arch}"
        return out
    out += _segments(ctx, ctx.kernel, regions[0] if regions else None)
    return out


def _render_rule(p: Pending) -> tuple[str, str | None, str | None]:
    r = p.data["region"]
    assert p.va_start is not None and p.va_end is not None and p.pa_start is not None
    n = p.va_end - p.va_start
    exp = r.pa_of(p.va_start)
    seg = p.data.get("segment")
    what = f"segment {seg}" if seg else f"{r.description} VA"
    msg = (
        f"Kernel {what} {p.va_start:#x}-{p.va_end:#x} ({size_text(n)}) maps PA {p.pa_start:#x}-{p.pa_start + n:#x}; "
        f"{r.rule_text} gives PA {exp:#x}-{exp + n:#x}."
    )
    if p.paths:
        msg += f" Leaf: {path_text(p.paths[0], values=False)} = {p.paths[0][-1].entry:#x}."
    return msg, f"PA {exp:#x}-{exp + n:#x}", f"PA {p.pa_start:#x}-{p.pa_start + n:#x}"


def _wrong_target(
    ctx: CheckContext, region: ResolvedRegion, va0: int, va1: int, pa0: int, segment: str | None
) -> Pending:
    """VA va0-va1 of the image maps PA pa0 onwards, not what the region's rule says."""
    return ctx.pending(
        "kernel-segment-wrong-target",
        ERROR,
        (region.name, pa0 - region.pa_of(va0), segment),
        va0,
        va1,
        pa0,
        pa0 + (va1 - va0),
        _render_rule,
        [va0],
        region=region,
        segment=segment,
    )


def _rule(ctx: CheckContext, region: ResolvedRegion, lo: int, hi: int, segment: str | None) -> list[Pending]:
    out = []
    for m in ctx.maps_in(lo, hi):
        va0, va1 = max(m.va_start, lo), min(m.va_end, hi)
        pa0 = m.pa_start + (va0 - m.va_start)
        if pa0 != region.pa_of(va0):
            out.append(_wrong_target(ctx, region, va0, va1, pa0, segment))
    return out


def _probe(ctx: CheckContext, region: ResolvedRegion) -> list[Pending]:
    t = ctx.space.translate(region.va_start)
    if t.pa is None:
        return [
            ctx.pending(
                "kernel-segment-missing",
                ERROR,
                region.name,
                region.va_start,
                region.va_start + PAGE,
                None,
                None,
                _render_probe_missing,
                [ctx.path(t.path)],
                region=region,
                reason=t.reason,
            )
        ]
    if t.pa != region.pa_of(region.va_start):
        return [
            ctx.pending(
                "kernel-segment-wrong-target",
                ERROR,
                (region.name, "probe"),
                region.va_start,
                region.va_start + PAGE,
                t.pa,
                t.pa + PAGE,
                _render_rule,
                [ctx.path(t.path)],
                region=region,
            )
        ]
    return []


def _render_probe_missing(p: Pending) -> tuple[str, str | None, str | None]:
    r = p.data["region"]
    msg = f"The start of the {r.description} at VA {p.va_start:#x} is not mapped ({p.data['reason']})."
    return msg, f"mapped at {r.rule_text}", str(p.data["reason"])


def _segments(ctx: CheckContext, kernel: KernelImage, region: ResolvedRegion | None) -> list[Pending]:
    out: list[Pending] = []
    offset = ctx.options.kernel_offset
    if offset is None:
        offset = ctx.profile.facts.get("KERNELOFFSET", 0)
    segs = []
    for s in kernel.segments:
        if s.memsz == 0:
            continue
        va = (s.va + offset) & U64
        if va < ctx.profile.profile.kernel_half:
            continue  # a boot stub linked low (multiboot header, trampoline): not part of the kernel half
        segs.append((va & ~(PAGE - 1), -(-(va + s.memsz) // PAGE) * PAGE, s))
    if not segs:
        ctx.skipped["kernel-segment-perms"] = "the kernel ELF has no PT_LOAD segment in the kernel half"
        return out
    # permissions allowed per elementary interval: union of the segments touching it
    cuts = sorted({v for a, b, _ in segs for v in (a, b)})
    for a, b in pairwise(cuts):
        touching = [s for s0, s1, s in segs if s0 < b and a < s1]
        if not touching:
            continue
        w = any(s.writable for s in touching)
        x = any(s.executable for s in touching)
        names = "/".join(f"{s.va + offset & U64:#x} {s.flags}" for s in touching)
        mapped = []
        for m in ctx.maps_in(a, b):
            va0, va1 = max(m.va_start, a), min(m.va_end, b)
            mapped.append((va0, va1))
            pa0 = m.pa_start + (va0 - m.va_start)
            flags = m.flags
            extra = []
            if flags.writable and not w:
                extra.append("writable")
            if not flags.nx and not x:
                extra.append("executable")
            if extra:
                out.append(
                    ctx.pending(
                        "kernel-segment-perms",
                        ERROR,
                        ("wider", tuple(extra), names),
                        va0,
                        va1,
                        pa0,
                        pa0 + (va1 - va0),
                        _render_perms,
                        [va0],
                        names=names,
                        extra=extra,
                        w=w,
                        x=x,
                        flags=flags,
                    )
                )
            fewer = []
            if w and not flags.writable:
                fewer.append("read-only")
            if x and flags.nx:
                fewer.append("no-execute")
            if fewer and not (w and x):
                out.append(
                    ctx.pending(
                        "kernel-segment-perms",
                        INFO,
                        ("narrower", tuple(fewer), names),
                        va0,
                        va1,
                        pa0,
                        pa0 + (va1 - va0),
                        _render_perms_narrow,
                        [va0],
                        names=names,
                        fewer=fewer,
                    )
                )
            if (
                region is not None
                and region.va_end is not None
                and pa0 != region.pa_of(va0)
                and not (region.va_start <= va0 < region.va_end)
            ):
                out.append(_wrong_target(ctx, region, va0, va1, pa0, names))
        init = _init_range(kernel, offset)
        for s0, s1 in subtract_intervals([(a, b)], merge_intervals(mapped)):
            pieces: list[tuple[int, int, bool]] = [(s0, s1, False)]
            if init is not None:
                freed = [(u, v, True) for u, v in intersect_intervals([(s0, s1)], [init])]
                pieces = freed + [(u, v, False) for u, v in subtract_intervals([(s0, s1)], [init])]
            for u, v, is_init in pieces:
                t = ctx.space.translate(u)
                out.append(
                    ctx.pending(
                        "kernel-segment-missing",
                        INFO if is_init else ERROR,
                        ("seg", names, t.reason, is_init),
                        u,
                        v,
                        None,
                        None,
                        _render_seg_missing,
                        [ctx.path(t.path)],
                        names=names,
                        reason=t.reason,
                        init=is_init,
                    )
                )
    return out


def _render_perms(p: Pending) -> tuple[str, str | None, str | None]:
    want = "R" + ("W" if p.data["w"] else "-") + ("X" if p.data["x"] else "-")
    got = " and ".join(p.data["extra"])
    msg = (
        f"Kernel VA {p.va_start:#x}-{p.va_end:#x} (ELF PT_LOAD {p.data['names']}) is mapped {got}, "
        f"beyond the segment's p_flags {want}."
    )
    if "writable" in p.data["extra"] and "executable" in p.data["extra"]:
        msg += " Writable kernel text lets any kernel write primitive become code execution."
    elif "executable" in p.data["extra"]:
        msg += " Data that can be executed widens every kernel bug."
    else:
        msg += " Read-only data (page tables' neighbours, constants) can be overwritten."
    if p.paths:
        msg += f" Leaf: {path_text(p.paths[0], values=False)} = {p.paths[0][-1].entry:#x}."
    return msg, want, p.data["flags"].text()


def _render_perms_narrow(p: Pending) -> tuple[str, str | None, str | None]:
    msg = (
        f"Kernel VA {p.va_start:#x}-{p.va_end:#x} (ELF PT_LOAD {p.data['names']}) is mapped "
        f"{' and '.join(p.data['fewer'])}, narrower than p_flags (expected after boot for read-only-after-init "
        "data or freed init sections)."
    )
    return msg, None, None


def _render_seg_missing(p: Pending) -> tuple[str, str | None, str | None]:
    n = (p.va_end or 0) - (p.va_start or 0)
    msg = f"Kernel VA {p.va_start:#x}-{p.va_end:#x} ({size_text(n)}, ELF PT_LOAD {p.data['names']}) is not mapped"
    if p.paths and p.paths[0]:
        last = p.paths[0][-1]
        msg += f": {path_text(p.paths[0], values=False)} = {last.entry:#x} ({p.data['reason']})"
    msg += "."
    if p.data.get("init"):
        msg += " It lies between __init_begin and __init_end: init memory freed after boot, as expected."
    return msg, "mapped", str(p.data["reason"])


def _init_range(kernel: KernelImage, offset: int) -> tuple[int, int] | None:
    a, b = kernel.symbol("__init_begin"), kernel.symbol("__init_end")
    if a is None or b is None or b <= a:
        return None
    return ((a + offset) & U64) & ~(PAGE - 1), -(-((b + offset) & U64) // PAGE) * PAGE

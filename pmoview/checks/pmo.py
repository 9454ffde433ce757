"""PMO / direct-map / linear-map checks: every region of role "pmo" in the profile.

Kinds: pmo-root-missing, pmo-missing, pmo-wrong-target, pmo-flags, pmo-page-size, pmo-overlap,
pmo-extra. Coverage is judged per VA slot: RAM at PA p must be mapped at VA ``va_of(p)``; a slot that
maps the wrong frame is pmo-wrong-target (not also pmo-missing), an empty slot is pmo-missing with the
entry that ends the walk as evidence.
"""

from __future__ import annotations

from functools import partial
from itertools import pairwise
from typing import Any

import numpy as np

from pmoview.checks.context import ATTR_WORDS, CheckContext, flags_words, has_attr
from pmoview.checks.coverage import pmo_coverage
from pmoview.checks.findings import (
    ERROR,
    INFO,
    WARNING,
    Interval,
    IntervalUnion,
    Pending,
    intersect_intervals,
    path_text,
    subtract_intervals,
)
from pmoview.checks.profiles import GiB, ResolvedRegion
from pmoview.checks.runs import RunCarry, Window, judge_runs, per_flag
from pmoview.sizes import size_text

MAX_STEPS = 4096  # translate() calls spent explaining one missing range


def _align_up(v: int, a: int) -> int:
    return -(-v // a) * a


def window(ctx: CheckContext, region: ResolvedRegion) -> tuple[int, int]:
    lo = region.va_start
    if region.va_end is not None:
        return lo, region.va_end
    top = _align_up(max(ctx.ram.top, 1), GiB)
    return lo, region.va_of(top) if top > region.pa_base else lo + GiB


def check(ctx: CheckContext) -> list[Pending]:
    out: list[Pending] = []
    for region in ctx.profile.regions_of("pmo"):
        out += _region(ctx, region)
    return out


def _region(ctx: CheckContext, region: ResolvedRegion) -> list[Pending]:
    out: list[Pending] = []
    lo, hi = window(ctx, region)
    out += _overlap(ctx, region, lo, hi)
    for other in ctx.profile.regions:
        if other.name in region.must_not_reach and other.va_start > lo:
            hi = min(hi, other.va_start)
    t = ctx.space.translate(lo)
    top_level = ctx.space.mode.levels[0].level
    if t.pa is None and t.reason == "not present" and t.stop_level == top_level:
        e = t.path[-1]
        span = ctx.level_span(top_level)
        out.append(
            ctx.pending(
                "pmo-root-missing",
                ERROR,
                region.name,
                lo,
                lo + span,
                None,
                None,
                _render_root_missing,
                [ctx.path(t.path)],
                region=region,
                entry=e,
                ram=ctx.ram.of_types(region.cover_types),
            )
        )
        _coverage(ctx, region, [], [], (region.pa_of(lo), region.pa_of(lo) + (hi - lo)))
        return out
    scan = _WindowScan(ctx, region)
    for batch in ctx.batches(lo, hi):
        win = Window.of(batch, lo, hi)
        if len(win):
            scan.judge(win)
    pa_window = (region.pa_of(lo), region.pa_of(lo) + (hi - lo))
    out += _missing(ctx, region, scan.slots.merged(), pa_window)
    _coverage(ctx, region, scan.correct.merged(), scan.wrong_slots, pa_window)
    return out


class _WindowScan:
    """The window's checks, one batch of mappings at a time, vectorised over its columns: each check
    runs once per run of mappings it would judge alike (pmoview.checks.runs), so a tree of a million
    unmergeable leaves costs numpy passes, and memory follows one batch. Conclusions go to the sink
    as they come; what the window's end needs (the VA slots mapped, the PA mapped where the rule says,
    the slots mapping another frame) is kept as merged ranges: as many as the window has separate
    ranges, not as many as it has leaves."""

    def __init__(self, ctx: CheckContext, region: ResolvedRegion) -> None:
        self.ctx, self.region = ctx, region
        self.slots = IntervalUnion()  # expected-PA slots of the mapped VAs
        self.correct = IntervalUnion()  # PA mapped where the rule says
        self.wrong_slots: list[tuple[Interval, int]] = []  # (expected-PA slot, PA mapped at its start)
        self.classes: dict[tuple[tuple[str, str], ...], int] = {}  # flag problems -> class, across batches
        self.memory_types: dict[str | None, int] = {}
        self.wrong_runs, self.flag_runs = RunCarry(), RunCarry()
        self.size_runs, self.extra_runs = RunCarry(), RunCarry()

    def _flag_class(self, f: Any) -> int:
        problems = tuple(_problems(self.ctx, self.region, f).items())
        return self.classes.setdefault(problems, len(self.classes)) if problems else -1

    def _memory_type(self, f: Any) -> int:
        ctx = self.ctx
        return self.memory_types.setdefault(ctx.memory_type(f), len(self.memory_types)) if ctx.cacheable(f) else -1

    def judge(self, win: Window) -> None:
        ctx, region, sink = self.ctx, self.region, self.ctx.sink
        n = len(win)
        everything = np.ones(n, dtype=bool)
        same = np.zeros(n, dtype=np.int64)
        exp0 = win.va0 - np.uint64(region.va_start) + np.uint64(region.pa_base)  # region.pa_of, mod 2**64
        ok = win.pa0 == exp0
        rs, ren = win.runs(everything, same, pa_contiguous=False)  # VA runs = runs of expected-PA slots
        for i, j in zip(rs.tolist(), ren.tolist(), strict=True):
            self.slots.add(int(exp0[i]), int(exp0[i]) + int(win.va1[j]) - int(win.va0[i]))
        rs, ren = win.runs(ok, same)
        for i, j in zip(rs.tolist(), ren.tolist(), strict=True):
            self.correct.add(int(win.pa0[i]), int(win.pa1[j]))
        delta = (win.pa0 - exp0).view(np.int64)
        s_wrong, e_wrong = self.wrong_runs.runs(win, ~ok, delta)
        wrong_continued = self.wrong_runs.continued
        cls = per_flag(win.cols, self._flag_class)
        rs, ren = self.flag_runs.runs(win, cls >= 0, cls)
        touches = np.zeros(rs.size, dtype=bool)
        for x in region.exempt:  # runs meeting an exemption are cut by it: judged in full
            touches |= (win.pa0[rs] < np.uint64(x.pa_end)) & (win.pa1[ren] > np.uint64(x.pa_start))
        judge_runs(sink, win, rs, ren, cls, partial(_flags, ctx, region), self.flag_runs, touches)
        size = win.cols.page_size.astype(np.int64)
        rs, ren = self.size_runs.runs(win, everything, size)
        judge_runs(sink, win, rs, ren, size, partial(_page_size, ctx, region), self.size_runs)
        kind = per_flag(win.cols, self._memory_type)
        extra_key = kind * 64 + np.log2(np.maximum(size, 1)).astype(np.int64)
        rs, ren = self.extra_runs.runs(win, ok & (kind >= 0), extra_key)
        every_run = np.ones(rs.size, dtype=bool)  # pieces outside RAM: every run judged in full
        judge_runs(sink, win, rs, ren, extra_key, partial(_extra, ctx, region), self.extra_runs, every_run)
        judge_runs(
            sink,
            win,
            s_wrong,
            e_wrong,
            delta,
            lambda m, v0, v1, p0, p1: [_wrong(ctx, region, m, v0, v1, self.correct)],
            self.wrong_runs,
        )
        for k, (i, j) in enumerate(zip(s_wrong.tolist(), e_wrong.tolist(), strict=True)):
            slot = (int(exp0[i]), int(exp0[i]) + int(win.va1[j]) - int(win.va0[i]))
            if k == 0 and wrong_continued:  # the run the previous batch ended with goes on
                (s0, _), maps_pa = self.wrong_slots.pop()
                slot = (s0, slot[1])
            else:
                maps_pa = int(win.pa0[i])
            self.wrong_slots.append((slot, maps_pa))


def _coverage(
    ctx: CheckContext,
    region: ResolvedRegion,
    correct: list[Interval],
    wrong: list[tuple[Interval, int]],
    pa_window: Interval,
) -> None:
    """The region's RAM by status, from the same walk as the findings (the report's ``coverage``): the
    RAM ``_missing`` requires, so a missing range here is a pmo-missing finding there."""
    ram = ctx.ram.of_types(region.cover_types)
    if region.va_end is not None:
        ram = intersect_intervals(ram, [pa_window])
    ctx.coverage.append(
        pmo_coverage(
            root=ctx.root,
            region=region.name,
            rule=region.rule_text,
            pa_base=region.pa_base,
            va_start=region.va_start,
            ram_source=ctx.ram.source,
            authoritative=ctx.ram.authoritative,
            ram=ram,
            correct=correct,
            wrong=wrong,
        )
    )


# -- pmo-overlap ---------------------------------------------------------------------------------------
def _overlap(ctx: CheckContext, region: ResolvedRegion, lo: int, hi: int) -> list[Pending]:
    out = []
    for other in ctx.profile.regions:
        if other is region or other.name not in region.must_not_reach:
            continue
        o_lo = other.va_start
        o_hi = other.va_end if other.va_end is not None else o_lo + 1
        if lo < o_hi and o_lo < hi:
            out.append(
                ctx.pending(
                    "pmo-overlap",
                    ERROR,
                    other.name,
                    max(lo, o_lo),
                    min(hi, o_hi),
                    None,
                    None,
                    _render_overlap,
                    region=region,
                    other=other,
                    lo=lo,
                    hi=hi,
                )
            )
    return out


def _render_overlap(p: Pending) -> tuple[str, str | None, str | None]:
    r, o = p.data["region"], p.data["other"]
    top = p.data["hi"] - p.data["lo"]
    msg = (
        f"The {r.description} window {p.data['lo']:#x}-{p.data['hi']:#x} ({size_text(top)}, enough for all RAM "
        f"at {r.rule_text}) reaches into the {o.description} region at {o.va_start:#x}: VAs in "
        f"{p.va_start:#x}-{p.va_end:#x} would mean two things, and virt_to_phys cannot tell them apart."
    )
    return msg, f"the {r.name} window ends below {o.va_start:#x}", f"it reaches {p.data['hi']:#x}"


# -- pmo-root-missing ----------------------------------------------------------------------------------
def _render_root_missing(p: Pending) -> tuple[str, str | None, str | None]:
    r, e = p.data["region"], p.data["entry"]
    ram = p.data["ram"]
    total = sum(b - a for a, b in ram)
    path = p.paths[0] if p.paths else ()
    where = path_text(path, values=False) if path else "the top-level entry"
    msg = (
        f"There is no {r.description} at all: {where} (which covers {r.va_start:#x}) is empty "
        f"({e.entry:#x}), so none of the {size_text(total)} of RAM is reachable at {r.rule_text}. "
        "Code that calls phys_to_virt() faults on first use."
    )
    return msg, f"{where} present, pointing to the {r.name} tables", f"{where} = {e.entry:#x} (not present)"


# -- pmo-wrong-target ----------------------------------------------------------------------------------
def _wrong(ctx: CheckContext, region: ResolvedRegion, m: Any, va0: int, va1: int, correct: IntervalUnion) -> Pending:
    """``correct``: the PA the window maps where the rule says. It is complete only after the window's
    last batch, so what it says about this range (mapped twice, lost) is read when the finding is worded."""
    pa0 = m.pa_start + (va0 - m.va_start)
    exp0 = region.pa_of(va0)
    n = va1 - va0
    return ctx.pending(
        "pmo-wrong-target",
        ERROR,
        (region.name, pa0 - exp0),
        va0,
        va1,
        pa0,
        pa0 + n,
        _render_wrong,
        [va0],
        region=region,
        exp0=exp0,
        correct=correct,
        page_size=m.page_size,
    )


def _render_wrong(p: Pending) -> tuple[str, str | None, str | None]:
    r = p.data["region"]
    assert p.va_start is not None and p.va_end is not None and p.pa_start is not None
    n = p.va_end - p.va_start
    exp0 = r.pa_of(p.va_start)
    msg = (
        f"{r.description} VA {p.va_start:#x}-{p.va_end:#x} ({size_text(n)}) maps PA {p.pa_start:#x}-"
        f"{p.pa_start + n:#x}, but {r.rule_text} puts PA {exp0:#x}-{exp0 + n:#x} there."
    )
    extra = []
    correct: IntervalUnion = p.data["correct"]
    twice = correct.first_overlap(p.pa_start, p.pa_start + n)
    if twice:
        a, b = twice
        extra.append(f"PA {a:#x}-{b:#x} is therefore mapped twice in the {r.description}")
    lost = correct.first_gap(exp0, exp0 + n)
    if lost:
        a, b = lost
        extra.append(f"PA {a:#x}-{b:#x} is not reachable through it at all")
    if extra:
        msg += " " + "; ".join(extra) + "."
    if p.paths:
        msg += f" The leaf is {path_text(p.paths[0], values=False)} = {p.paths[0][-1].entry:#x}."
    return msg, f"PA {exp0:#x}-{exp0 + n:#x}", f"PA {p.pa_start:#x}-{p.pa_start + n:#x}"


# -- pmo-flags -----------------------------------------------------------------------------------------
def _exempt_pieces(
    region: ResolvedRegion, attr: str, pa0: int, pa1: int
) -> tuple[list[Interval], list[tuple[Interval, str]]]:
    """Split [pa0, pa1) into pieces where ``attr`` is enforced and pieces exempt from it (with reason)."""
    exempt = [((x.pa_start, x.pa_end), x.reason) for x in region.exempt if attr in x.attrs]
    if not exempt:
        return [(pa0, pa1)], []
    ex_pieces = []
    for (a, b), why in exempt:
        for s, e in intersect_intervals([(pa0, pa1)], [(a, b)]):
            ex_pieces.append(((s, e), why))
    enforced = subtract_intervals([(pa0, pa1)], [iv for iv, _ in ex_pieces])
    return enforced, ex_pieces


def _problems(ctx: CheckContext, region: ResolvedRegion, flags: Any) -> dict[str, str]:
    """Attributes the region requires that ``flags`` lack, and forbidden ones they have."""
    problems: dict[str, str] = {}
    for attr in sorted(region.required):
        if not has_attr(flags, attr, ctx):
            problems[attr] = "required"
    for attr in sorted(region.forbidden):
        if has_attr(flags, attr, ctx):
            problems[attr] = "forbidden"
    return problems


def _flags(ctx: CheckContext, region: ResolvedRegion, m: Any, va0: int, va1: int, pa0: int, pa1: int) -> list[Pending]:
    problems = _problems(ctx, region, m.flags)
    if not problems:
        return []
    out = []
    # pieces: PA sub-ranges of this mapping and which problems apply there
    cuts = {pa0, pa1}
    for x in region.exempt:
        for v in (x.pa_start, x.pa_end):
            if pa0 < v < pa1:
                cuts.add(v)
    points = sorted(cuts)
    path = va0  # evidence: its entry path is walked only if the report shows it
    for a, b in pairwise(points):
        enforced: list[tuple[str, str, str | None]] = []
        exempted: list[tuple[str, str, str | None]] = []
        for attr, how in problems.items():
            reason = next(
                (x.reason for x in region.exempt if attr in x.attrs and x.pa_start <= a and b <= x.pa_end), None
            )
            (exempted if reason else enforced).append((attr, how, reason))
        va_a = va0 + (a - pa0)
        va_b = va_a + (b - a)
        if enforced:
            key = tuple((at, how) for at, how, _ in enforced)
            out.append(
                ctx.pending(
                    "pmo-flags",
                    ERROR,
                    (region.name, key),
                    va_a,
                    va_b,
                    a,
                    b,
                    _render_flags,
                    [path],
                    region=region,
                    problems=key,
                    flags=flags_words(m.flags, ctx),
                )
            )
        if exempted:
            key = tuple((at, how) for at, how, _ in exempted)
            out.append(
                ctx.pending(
                    "pmo-flags",
                    INFO,
                    (region.name, key, "exempt"),
                    va_a,
                    va_b,
                    a,
                    b,
                    _render_flags,
                    [path],
                    region=region,
                    problems=key,
                    flags=flags_words(m.flags, ctx),
                    reason=exempted[0][2],
                )
            )
    return out


def _want_text(region: ResolvedRegion) -> str:
    words = [ATTR_WORDS[a][0] for a in sorted(region.required) if a != "present"]
    words += [
        "not " + ATTR_WORDS[a][0]
        for a in sorted(region.forbidden)
        if a not in ("user",) or "supervisor" not in region.required
    ]
    return ", ".join(words)


def _render_flags(p: Pending) -> tuple[str, str | None, str | None]:
    r = p.data["region"]
    bad = []
    for attr, how in p.data["problems"]:
        bad.append(ATTR_WORDS[attr][1] if how == "required" else ATTR_WORDS[attr][0])
    n = (p.va_end or 0) - (p.va_start or 0)
    msg = (
        f"{r.description} VA {p.va_start:#x}-{p.va_end:#x} ({size_text(n)}, PA {p.pa_start:#x}-{p.pa_end:#x}) "
        f"is {' and '.join(bad)}; the profile requires {_want_text(r)}."
    )
    if ("nx", "required") in p.data["problems"]:
        msg += " Without NX every byte of physical memory is executable through this window."
    if ("user", "forbidden") in p.data["problems"] or ("supervisor", "required") in p.data["problems"]:
        msg += " With U/S=1 user code can read and write all of physical memory (U/S must be clear at some level)."
    if ("writable", "required") in p.data["problems"]:
        msg += " phys_to_virt() writes through this window fault."
    if p.data.get("reason"):
        msg = f"Allowed by the profile ({p.data['reason']}): " + msg
    return msg, _want_text(r), p.data["flags"]


# -- pmo-page-size -------------------------------------------------------------------------------------
def _page_size(
    ctx: CheckContext, region: ResolvedRegion, m: Any, va0: int, va1: int, pa0: int, pa1: int
) -> list[Pending]:
    out = []
    size = m.page_size
    feature = ctx.profile.profile.one_gib_feature
    if size == GiB and feature and ctx.arch == "x86_64":
        feats = ctx.options.cpu_features
        if ctx.options.allow_1g or (feats is not None and feature in feats):
            pass
        elif feats is not None:
            out.append(
                ctx.pending(
                    "pmo-page-size",
                    ERROR,
                    (region.name, "1g-no-feature"),
                    va0,
                    va1,
                    pa0,
                    pa1,
                    _render_1g,
                    [va0],
                    region=region,
                    known=True,
                    feature=feature,
                    features=sorted(feats),
                )
            )
        else:
            out.append(
                ctx.pending(
                    "pmo-page-size",
                    WARNING,
                    (region.name, "1g-unknown"),
                    va0,
                    va1,
                    pa0,
                    pa1,
                    _render_1g,
                    [va0],
                    region=region,
                    known=False,
                    feature=feature,
                )
            )
    if region.page_sizes and size not in region.page_sizes and not (size == GiB and feature):
        out.append(
            ctx.pending(
                "pmo-page-size",
                WARNING,
                (region.name, "size", size),
                va0,
                va1,
                pa0,
                pa1,
                _render_size,
                [va0],
                region=region,
                size=size,
            )
        )
    return out


def _render_1g(p: Pending) -> tuple[str, str | None, str | None]:
    r = p.data["region"]
    n = (p.va_end or 0) - (p.va_start or 0)
    first = p.paths[0] if p.paths else ()
    where = f" ({path_text(first, values=False)} = {first[-1].entry:#x}, PS=1)" if first else ""
    if p.data["known"]:
        msg = (
            f"{r.description} VA {p.va_start:#x}-{p.va_end:#x} ({size_text(n)}) uses 1 GiB pages{where}, but the "
            f"CPU does not have {p.data['feature']} (features given: {', '.join(p.data['features']) or 'none'}). "
            "PS=1 in a PDPTE is a reserved bit there: real hardware raises #PF with RSVD set on every access. "
            "QEMU TCG does not enforce this, so a guest that ran is no proof. Use 2 MiB pages unless CPUID "
            "80000001H:EDX[26] is set."
        )
        return msg, f"2 MiB pages (the CPU lacks {p.data['feature']})", "1 GiB pages"
    msg = (
        f"{r.description} VA {p.va_start:#x}-{p.va_end:#x} ({size_text(n)}) uses 1 GiB pages{where}. They are "
        f"only valid if the CPU has {p.data['feature']} (CPUID 80000001H:EDX[26]), which the dump does not say; "
        f"pass --cpu-features {p.data['feature']} (or --allow-1g) if it does, --cpu-features none if it does not."
    )
    return msg, f"1 GiB pages only with {p.data['feature']}", "1 GiB pages, CPU features unknown"


def _render_size(p: Pending) -> tuple[str, str | None, str | None]:
    r = p.data["region"]
    allowed = ", ".join(size_text(s) for s in r.page_sizes)
    msg = (
        f"{r.description} VA {p.va_start:#x}-{p.va_end:#x} uses {size_text(p.data['size'])} pages; the "
        f"profile allows {allowed}."
    )
    return msg, allowed, size_text(p.data["size"])


# -- pmo-extra -----------------------------------------------------------------------------------------
def _extra(ctx: CheckContext, region: ResolvedRegion, m: Any, va0: int, va1: int, pa0: int, pa1: int) -> list[Pending]:
    if not ctx.cacheable(m.flags) or pa0 != region.pa_of(va0):
        return []
    outside = subtract_intervals([(pa0, pa1)], ctx.ram.ram_intervals())
    out = []
    for a, b in outside:
        pieces: list[tuple[int, int, str | None]] = []
        ok = [((x.start, x.end), x.reason) for x in region.extra_ok]
        covered = []
        for (s, e), reason in ok:
            for cs, ce in intersect_intervals([(a, b)], [(s, e)]):
                pieces.append((cs, ce, reason))
                covered.append((cs, ce))
        for s, e in subtract_intervals([(a, b)], covered):
            pieces.append((s, e, None))
        for s, e, why in sorted(pieces, key=lambda x: x[0]):
            sev = INFO if why else WARNING
            page_pa = m.pa_start + ((va0 + (s - pa0) - m.va_start) // m.page_size) * m.page_size
            # the piece's first page maps RAM as well (a RAM range that ends inside a page)
            straddles = min(e, page_pa + m.page_size) - s < m.page_size and bool(
                intersect_intervals([(page_pa, page_pa + m.page_size)], ctx.ram.ram_intervals())
            )
            out.append(
                ctx.pending(
                    "pmo-extra",
                    sev,
                    (region.name, why),
                    va0 + (s - pa0),
                    va0 + (e - pa0),
                    s,
                    e,
                    _render_extra,
                    [va0 + (s - pa0)],
                    region=region,
                    why=why,
                    parts=_type_parts(ctx, s, e),
                    mt=ctx.memory_type(m.flags),
                    page=m.page_size,
                    straddles=straddles,
                    authoritative=ctx.ram.authoritative,
                )
            )
    return out


def _type_parts(ctx: CheckContext, a: int, b: int) -> list[tuple[int, int, str]]:
    """``(0x9fc00, 0xa0000, "reserved")``, ``(0xa0000, 0xf0000, "absent from the map")``: what the RAM
    map says about [a, b)."""
    parts = []
    pos = a
    for r in sorted(ctx.ram.ranges, key=lambda r: r.start):
        if r.end <= pos or r.start >= b:
            continue
        if r.start > pos:
            parts.append((pos, r.start, "absent from the map"))
        s, e = max(pos, r.start), min(b, r.end)
        parts.append((s, e, "reserved" if r.type == 2 else f"type {r.type}"))
        pos = e
    if pos < b:
        parts.append((pos, b, "absent from the map"))
    return parts


def _parts_text(parts: list[tuple[int, int, str]]) -> str:
    joined: list[tuple[int, int, str]] = []
    for s, e, what in sorted(parts):
        if joined and joined[-1][1] == s and joined[-1][2] == what:
            joined[-1] = (joined[-1][0], e, what)
        else:
            joined.append((s, e, what))
    return "; ".join(f"{s:#x}-{e:#x} {what}" for s, e, what in joined)


def _render_extra(p: Pending) -> tuple[str, str | None, str | None]:
    r = p.data["region"]
    parts = p.data["parts"]
    what = f"not RAM in the RAM map ({_parts_text(parts)})" if parts else "not in the RAM map"
    if not p.data["authoritative"]:
        what = "not in the dump (the RAM map is not known: dump ranges used)"
    msg = (
        f"{r.description} VA {p.va_start:#x}-{p.va_end:#x} maps PA {p.pa_start:#x}-{p.pa_end:#x}, which is {what}, "
        f"as cacheable memory ({p.data['mt']})."
    )
    if p.data.get("straddles") and p.data["page"] > 4096:
        msg += (
            f" The {size_text(p.data['page'])} page that maps it also maps RAM: the {r.description} is rounded "
            "up to whole large pages at the end of a RAM range."
        )
    elif p.data.get("straddles"):
        msg += " The RAM range ends inside a 4 KiB page, so the page that maps its tail maps this too."
    if p.data["why"]:
        msg += f" Expected: {p.data['why']}."
    else:
        msg += (
            " A cacheable alias of device or firmware memory invites speculative reads and memory-type "
            "conflicts (Intel SDM 11.11.9 on large pages spanning memory types); stop the mapping at the end of "
            "RAM or map it UC."
        )
    return msg, "RAM only (or UC)", f"{p.data['mt']} mapping of non-RAM"


# -- pmo-missing ---------------------------------------------------------------------------------------
def _missing(ctx: CheckContext, region: ResolvedRegion, slots: list[Interval], pa_window: Interval) -> list[Pending]:
    out: list[Pending] = []
    required = ctx.ram.of_types(region.cover_types)
    noted = ctx.ram.of_types([t for t in region.note_types if t not in region.cover_types])
    if region.va_end is not None:  # a region with an end maps only its own PA window (xv6: KERNBASE..PHYSTOP)
        required = intersect_intervals(required, [pa_window])
        noted = intersect_intervals(noted, [pa_window])
    for ivs, sev_req in ((required, ERROR if ctx.ram.authoritative else WARNING), (noted, INFO)):
        for a, b in subtract_intervals(ivs, slots):
            out += _explain_missing(ctx, region, a, b, sev_req)
    return out


def _explain_missing(ctx: CheckContext, region: ResolvedRegion, a: int, b: int, severity: str) -> list[Pending]:
    out = []
    va, va_end = region.va_of(a), region.va_of(a) + (b - a)
    steps = 0
    while va < va_end:
        t = ctx.space.translate(va)
        if t.pa is not None:  # mapped after all (e.g. a slot the merged walk skipped): next page
            nxt = min(va + (t.page_size or 4096), va_end)
            va = nxt
            continue
        # the entry that ended the walk: the last one on the path (for a table outside memory, the pointer)
        level = t.path[-1].level if t.path else (t.stop_level or ctx.space.mode.levels[-1].level)
        span = ctx.level_span(level)
        nxt = min((va // span + 1) * span, va_end)
        steps += 1
        if steps > MAX_STEPS:
            nxt = va_end
        reason = t.reason or "not mapped"
        cause_kind = "outside" if "not in dump" in reason else reason
        pa_a = region.pa_of(va)
        out.append(
            ctx.pending(
                "pmo-missing",
                severity,
                (region.name, cause_kind, level),
                va,
                nxt,
                pa_a,
                pa_a + (nxt - va),
                _render_missing,
                [ctx.path(t.path)],
                region=region,
                reason=reason,
                type=ctx.ram.type_at(pa_a),
                authoritative=ctx.ram.authoritative,
                pa_free=False,
            )
        )
        va = nxt
    return out


def _render_missing(p: Pending) -> tuple[str, str | None, str | None]:
    r = p.data["region"]
    assert p.pa_start is not None and p.pa_end is not None
    n = p.pa_end - p.pa_start
    t = p.data["type"]
    tname = {1: "available RAM", 3: "ACPI reclaimable", 4: "ACPI NVS"}.get(t, f"type {t}") if t else "memory"
    if p.data["authoritative"]:
        msg = (
            f"{tname} PA {p.pa_start:#x}-{p.pa_end:#x} ({size_text(n)}) has no {r.description} mapping at VA "
            f"{p.va_start:#x}-{p.va_end:#x}"
        )
    else:
        msg = (
            f"The dump holds PA {p.pa_start:#x}-{p.pa_end:#x} ({size_text(n)}) "
            f"but the {r.description} does not map it at VA {p.va_start:#x}-{p.va_end:#x}. "
            "No RAM map was found (dump ranges used), so this may be ROM or "
            "device memory (QEMU: VGA at 0xfd000000, BIOS ROM at 0xfffc0000) rather than RAM; pass --ram to decide"
        )
    path = p.paths[0] if p.paths else ()
    reason = p.data["reason"]
    if path:
        last = path[-1]
        where = path_text(path, values=False)
        if "not in dump" in reason:
            cause = f"{where} = {last.entry:#x} points at a table that is not in memory (see table-outside-memory)"
        elif reason == "not present":
            cause = f"{where} is not present ({last.entry:#x})"
        else:
            cause = f"{where} = {last.entry:#x}: {reason}"
        msg += f": {cause}"
        if p.count > 1:
            msg += f" (and {p.count - 1} more entries like it)"
    msg += "."
    if p.severity == INFO:
        msg += " Noted, not required by the profile."
    return msg, f"{r.rule_text} for all of it", "no mapping"

"""User marks (the TUI's sidecar, ``pmoview.marks``) applied to findings.

``ok`` marks suppress the findings they cover (same root; the mark's entry path is a prefix of one of
the finding's evidence paths, or its VA range contains the finding's). ``wrong`` and ``missing`` marks
become findings of kind ``user-mark`` (error): a reviewer's verdict the checks did not reach.
``note`` marks are left to the TUI and reports.
"""

from __future__ import annotations

from collections.abc import Iterable

from pmoview.arch import EntryRef
from pmoview.arch.records import path_key
from pmoview.checks.context import CheckContext
from pmoview.checks.findings import ERROR, EntryPath, Finding, PathEntry, path_text
from pmoview.marks import Mark
from pmoview.sizes import size_text
from pmoview.space import TableView


def _covers(mark: Mark, f: Finding) -> bool:
    if mark.path is not None:
        n = len(mark.path)
        for p in f.paths:
            if len(p) >= n and path_key(p[:n]) == mark.path:
                return True
    if mark.va_start is not None and mark.va_end is not None and f.va_start is not None and f.va_end is not None:
        return mark.va_start <= f.va_start and f.va_end <= mark.va_end
    return False


def entry_at(ctx: CheckContext, key: tuple[tuple[int, int], ...]) -> tuple[EntryPath, int | None, int | None]:
    """Follow an entry path from the root: the entries found, and the VA range the last one covers."""
    space = ctx.space
    levels = [r.level for r in space.mode.levels]
    if not key or [lv for lv, _ in key] != levels[: len(key)]:
        return (), None, None
    view: TableView | None = space.root_table()
    refs: list[EntryRef] = []
    offset = 0
    for depth, (_level, idx) in enumerate(key):
        row = space.mode.levels[depth]
        if not 0 <= idx < row.entries:
            return ctx.path(refs), None, None
        offset += idx * row.span
        if view is None or not view.backed:
            break
        refs.append(view.entry(idx))
        if depth + 1 < len(key):
            view = space.children(view, idx)
    span = space.mode.levels[len(key) - 1].span
    va = space.mode.va_of(offset)
    return ctx.path(refs), va, va + span


def apply_marks(
    ctx: CheckContext, findings: list[Finding], marks: Iterable[Mark]
) -> tuple[list[Finding], list[Finding]]:
    mine = [m for m in marks if m.root == ctx.root]
    ok = [m for m in mine if m.kind == "ok"]
    kept: list[Finding] = []
    suppressed: list[Finding] = []
    for f in findings:
        hit = next((m for m in ok if _covers(m, f)), None)
        if hit is None:
            kept.append(f)
        else:
            suppressed.append(Finding(**{**f.__dict__, "suppressed_by": hit.id}))
    for m in mine:
        if m.kind not in ("wrong", "missing"):
            continue
        paths: tuple[EntryPath, ...] = ()
        va0, va1 = m.va_start, m.va_end
        where = ""
        if m.path is not None:
            path, pva0, pva1 = entry_at(ctx, tuple(m.path))
            if path:
                paths = (path,)
                where = f" at {path_text(path)}"
            else:
                where = " at " + " → ".join(PathEntry(lv, ix, 0, _name(ctx, lv)).text() for lv, ix in m.path)
            if va0 is None:
                va0, va1 = pva0, pva1
        what = "wrong" if m.kind == "wrong" else "missing (something should be mapped here)"
        rng = f" VA {va0:#x}-{va1:#x} ({size_text(va1 - va0)})" if va0 is not None and va1 is not None else ""
        note = f': "{m.note}"' if m.note else ""
        kept.append(
            Finding(
                "user-mark",
                ERROR,
                va0,
                va1,
                None,
                None,
                f"Marked {what} by a reviewer (mark {m.id}){where}{rng}{note}.",
                paths,
                root=ctx.root,
                expected=None,
                found=m.kind,
                roots=() if ctx.root is None else (ctx.root,),
            )
        )
    return kept, suppressed


def _name(ctx: CheckContext, level: int) -> str:
    try:
        return str(ctx.space.level_name(level))
    except KeyError:
        return f"L{level}"

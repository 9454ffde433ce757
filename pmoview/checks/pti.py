"""What a PTI user PGD may map in the kernel half: kind ``pti-leak``.

With page-table isolation, user code runs on a PGD whose kernel half holds only what entering and
leaving the kernel needs (Linux ``arch/x86/mm/pti.c``): the cpu_entry_area (GDT, IDT, entry stacks,
TSS), espfix's read-only stacks, the entry text (and, where the kernel clones it, the rest of the
kernel text and read-only data), and one page per CPU of the direct map: the CPU's TSS, which the
SYSCALL entry spills a register into (``pti_clone_user_shared``); that page is also mapped in the
cpu_entry_area, which is how it is recognised. Anything else there (the direct map, kernel data,
vmalloc, modules) is readable from user mode by a Meltdown-class attack, which is what PTI exists
to prevent. Such roots are never judged by the PMO rules: they must not map the PMO at all.
"""

from __future__ import annotations

from pmoview.checks.context import CheckContext, flags_words
from pmoview.checks.findings import ERROR, Pending, path_text
from pmoview.sizes import size_text

CPU_ENTRY_AREA = (0xFFFF_FE00_0000_0000, 0xFFFF_FE80_0000_0000)  # one 512 GiB top-level slot
ESPFIX = (0xFFFF_FF00_0000_0000, 0xFFFF_FF80_0000_0000)
KERNEL_IMAGE = (0xFFFF_FFFF_8000_0000, 1 << 64)  # __START_KERNEL_map to the top


def _inside(va: int, span: tuple[int, int]) -> bool:
    return span[0] <= va < span[1]


def check(ctx: CheckContext) -> list[Pending]:
    if ctx.arch != "x86_64" or getattr(ctx.space.root, "kind", None) != "pti-user":
        return []
    half = ctx.profile.profile.kernel_half
    maps = ctx.maps_in(half, 1 << 64)
    entry_area_pas = {
        (m.pa_start + off) & ~0xFFF
        for m in maps
        if _inside(m.va_start, CPU_ENTRY_AREA)
        for off in range(0, m.va_end - m.va_start, 0x1000)
    }
    out: list[Pending] = []
    for m in maps:
        f = m.flags
        if _inside(m.va_start, CPU_ENTRY_AREA):
            continue
        if _inside(m.va_start, ESPFIX) and not f.writable:
            continue
        if _inside(m.va_start, KERNEL_IMAGE) and not f.writable:
            continue
        if m.va_end - m.va_start == 0x1000 and m.pa_start in entry_area_pas:
            continue  # the CPU's TSS through its per-CPU (direct-map) address
        what = "kernel data" if _inside(m.va_start, KERNEL_IMAGE) else "kernel memory"
        out.append(
            ctx.pending(
                "pti-leak",
                ERROR,
                "pti-leak",
                m.va_start,
                m.va_end,
                m.pa_start,
                m.pa_end,
                _render,
                [ctx.path_of_va(m.va_start)],
                flags=flags_words(f, ctx),
                what=what,
                region=_region_of(ctx, m.va_start),
            )
        )
    return out


def _region_of(ctx: CheckContext, va: int) -> str | None:
    from pmoview.checks.wx import _region_of as region_of

    return region_of(ctx, va)


def _render(p: Pending) -> tuple[str, str | None, str | None]:
    n = (p.va_end or 0) - (p.va_start or 0)
    where = f" the {p.data['region']}" if p.data["region"] else f" {p.data['what']}"
    msg = (
        f"The PTI user page tables map{where} at VA {p.va_start:#x}-{p.va_end:#x} ({size_text(n)}, "
        f"PA {p.pa_start:#x}-{p.pa_end:#x}). A user PGD's kernel half should hold only the entry trampoline, "
        "the cpu_entry_area, espfix and each CPU's TSS; user code can read anything else there with a "
        "Meltdown-class attack."
    )
    if p.paths:
        msg += f" Leaf: {path_text(p.paths[0], values=False)} = {p.paths[0][-1].entry:#x}."
    return msg, "not mapped in the PTI user page tables", p.data["flags"]

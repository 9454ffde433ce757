"""Structure of the tree itself: table-outside-memory, reserved-bits, recursive-map, identity-map-leftover
(and table-cycle, walk-limit). Mostly the walker's anomalies, judged and worded.

A table pointer outside memory gets one more look: if its address plus the PMO base is a kernel-image
VA whose image PA holds a table, the kernel converted a kernel-image VA with the PMO rule -- the
``virt_to_phys`` trap of the seed design (docs/seed-design.md), which tests ``va >= PHYS_OFFSET``
before the image range.
"""

from __future__ import annotations

from typing import Any

from pmoview.checks.context import CheckContext
from pmoview.checks.findings import ERROR, INFO, WARNING, EntryPath, Pending, path_text
from pmoview.checks.profiles import U64, GiB
from pmoview.sizes import size_text

X86_ADDR = 0x000F_FFFF_FFFF_F000  # bits 51:12, whatever MAXPHYADDR is
ARM_ADDR = 0x0000_FFFF_FFFF_F000  # bits 47:12


RISCV_PPN = 0x003F_FFFF_FFFF_FC00  # bits 53:10, the PPN: PA = PPN << 12


def entry_address(arch: str, entry: int) -> int:
    if arch == "riscv64":
        return (entry & RISCV_PPN) << 2
    return entry & (X86_ADDR if arch == "x86_64" else ARM_ADDR)


def check(ctx: CheckContext) -> list[Pending]:
    out: list[Pending] = []
    diag = VirtToPhysDiagnosis(ctx)
    for a in ctx.space.anomalies:
        path = ctx.path(a.path)
        if a.kind == "table-outside-memory":
            target = (
                a.table_pa if a.table_pa is not None else (entry_address(ctx.arch, a.path[-1].entry) if a.path else 0)
            )
            out.append(
                ctx.pending(
                    "table-outside-memory",
                    ERROR,
                    ("tom", target),
                    a.va_start,
                    a.va_end,
                    target,
                    target + 4096,
                    _render_tom,
                    [path],
                    detail=a.detail,
                    diag=diag,
                    root_missing=not a.path,
                )
            )
        elif a.kind == "reserved-bits":
            res0 = "RES0" in a.detail
            out.append(
                ctx.pending(
                    "reserved-bits",
                    WARNING if res0 else ERROR,
                    ("rsv", res0, a.detail),
                    a.va_start,
                    a.va_end,
                    None,
                    None,
                    _render_reserved,
                    [path],
                    detail=a.detail,
                    fault=FAULT_WORDS.get(ctx.arch, FAULT_WORDS["x86_64"]),
                )
            )
            if not res0:
                out += _faulting_pointers(ctx, a, diag)
        elif a.kind == "recursive-map":
            out.append(
                ctx.pending(
                    "recursive-map",
                    INFO,
                    ("rec", path[-1].index if path else None),
                    a.va_start,
                    a.va_end,
                    a.table_pa,
                    None if a.table_pa is None else a.table_pa + 4096,
                    _render_simple,
                    [path],
                    detail=a.detail,
                    lead="A self-referencing (recursive) entry maps the page tables into the address space",
                )
            )
        elif a.kind == "cycle":
            out.append(
                ctx.pending(
                    "table-cycle",
                    WARNING,
                    ("cyc",),
                    a.va_start,
                    a.va_end,
                    a.table_pa,
                    None,
                    _render_simple,
                    [path],
                    detail=a.detail,
                    lead="A table points back to a table above it on its own path",
                )
            )
        elif a.kind == "limit":
            out.append(
                ctx.pending(
                    "walk-limit",
                    WARNING,
                    ("lim",),
                    a.va_start,
                    a.va_end,
                    None,
                    None,
                    _render_simple,
                    [path],
                    detail=a.detail,
                    lead="The walk stopped early",
                )
            )
    out += _identity(ctx)
    return out


# -- table-outside-memory and the virt_to_phys diagnosis ---------------------------------------------------
class VirtToPhysDiagnosis:
    """Recognise a table address that is a kernel-image VA converted with the PMO rule."""

    def __init__(self, ctx: CheckContext) -> None:
        self.ctx = ctx
        pmo = ctx.profile.regions_of("pmo")
        img = ctx.profile.regions_of("image")
        self.pmo = pmo[0] if pmo else None
        self.img = img[0] if img else None
        self.base_name = (
            "PHYS_OFFSET"
            if self.pmo is not None and ctx.profile.facts.get("PHYS_OFFSET") == self.pmo.va_start
            else (f"{self.pmo.va_start:#x}" if self.pmo else "")
        )

    def explain(self, path: EntryPath) -> str | None:
        if self.pmo is None or self.img is None or not path:
            return None
        last = path[-1]
        addr = entry_address(self.ctx.arch, last.entry)
        va = (addr - self.pmo.pa_base + self.pmo.va_start) & U64
        hi = self.img.va_end if self.img.va_end is not None else self.img.va_start + GiB
        if not self.img.va_start <= va < hi:
            return None
        pa = self.img.pa_of(va)
        if not self.ctx.mem.is_present(pa):
            return None
        parent = " → ".join(e.text() for e in path[:-1])
        child = last.name or f"L{last.level}"
        head = f"{parent} → {child} entry {last.index}" if parent else f"{child} entry {last.index}"
        return (
            f"{head} points at {addr:#x}, which is kernel VA {va:#x} minus {self.base_name}: virt_to_phys "
            f"checked the PMO range before the kernel-image range; the table is at PA {pa:#x}"
        )


def _render_tom(p: Pending) -> tuple[str, str | None, str | None]:
    n = (p.va_end or 0) - (p.va_start or 0)
    if p.data["root_missing"]:
        return (
            f"The top-level table at PA {p.pa_start:#x} is not in the dump: nothing can be checked.",
            "the top table in the dump",
            "absent",
        )
    diag: VirtToPhysDiagnosis = p.data["diag"]
    lines = []
    diagnosed = []
    for path in p.paths:
        d = diag.explain(path)
        if d:
            diagnosed.append(d)
    first = p.paths[0] if p.paths else ()
    what = f"{path_text(first, values=False)} = {first[-1].entry:#x}" if first else "an entry"
    more = f" (and {p.count - 1} more such entries)" if p.count > 1 else ""
    lines.append(
        f"{what}{more} points at a table at PA {p.pa_start:#x}, which is not in memory: every mapping "
        f"below it, VA {p.va_start:#x}-{p.va_end:#x} ({size_text(n)}), vanishes, and a hardware walk "
        "there faults."
    )
    if diagnosed:
        lines.append(
            "This is the seed design's virt_to_phys trap (docs/seed-design.md): " + "; ".join(diagnosed) + ". "
            "Test the kernel-image range (va >= KERNEL_VIRT_BASE) first."
        )
    return " ".join(lines), "a table inside RAM", f"PA {p.pa_start:#x} (not in the dump)"


def _faulting_pointers(ctx: CheckContext, a: Any, diag: VirtToPhysDiagnosis) -> list[Pending]:
    """A reserved-bit fault on a table pointer whose address is outside the dump is also table-outside-memory
    (with --maxphyaddr below the pointer's bits the walker reports only the fault)."""
    if not a.path:
        return []
    last = a.path[-1]
    try:
        view = ctx.space.table(last.table_pa, last.level)
    except (KeyError, ValueError):
        return []
    if not view.backed:
        return []
    row = view.row
    if not row.table_ok:
        return []
    out = []
    first_idx = last.index
    count = max(1, (a.va_end - a.va_start) // row.span)
    for i in range(first_idx, min(len(view), first_idx + count)):
        if view.kind_of(i) != "fault":
            continue
        e = int(view.raw[i])
        if row.leaf_mask and row.is_leaf(e):
            continue  # a leaf, not a pointer
        addr = entry_address(ctx.arch, e)
        if ctx.mem.is_present(addr):
            continue
        refs = list(a.path[:-1]) + [type(last)(last.level, i, e, last.table_pa)]
        va0 = a.va_start + (i - first_idx) * row.span
        out.append(
            ctx.pending(
                "table-outside-memory",
                ERROR,
                ("tom", addr),
                va0,
                va0 + row.span,
                addr,
                addr + 4096,
                _render_tom,
                [ctx.path(refs)],
                detail="",
                diag=diag,
                root_missing=False,
            )
        )
    return out


# What the MMU raises on an access through a reserved encoding, in each manual's words.
FAULT_WORDS = {
    "x86_64": "#PF with RSVD",
    "aarch64": "a translation fault",
    "riscv64": "a page fault (scause 12, 13 or 15: fetch, load, store)",
}


def _render_reserved(p: Pending) -> tuple[str, str | None, str | None]:
    first = p.paths[0] if p.paths else ()
    where = f"{path_text(first, values=False)} = {first[-1].entry:#x}" if first else "an entry"
    n = (p.va_end or 0) - (p.va_start or 0)
    if "RES0" in p.data["detail"]:
        msg = f"{where}: {p.data['detail']} (VA {p.va_start:#x}-{p.va_end:#x})."
    else:
        msg = (
            f"{where} has reserved bits set: {p.data['detail']}. The MMU raises {p.data['fault']} for any access to VA "
            f"{p.va_start:#x}-{p.va_end:#x} ({size_text(n)})."
        )
    return msg, "reserved bits clear", p.data["detail"]


def _render_simple(p: Pending) -> tuple[str, str | None, str | None]:
    first = p.paths[0] if p.paths else ()
    where = f" ({path_text(first, values=False)} = {first[-1].entry:#x})" if first else ""
    return f"{p.data['lead']}{where}: {p.data['detail']}.", None, None


# -- identity-map-leftover -----------------------------------------------------------------------------
def _identity(ctx: CheckContext) -> list[Pending]:
    out: list[Pending] = []
    half = ctx.profile.profile.kernel_half
    for m in ctx.maps_where(0, half, lambda c: (c.va_start == c.pa_start) & ~c.attr("user")):
        if m.va_start == m.pa_start and not m.flags.user:
            ctx.sink.add(
                ctx.pending(
                    "identity-map-leftover",
                    INFO,
                    "id",
                    m.va_start,
                    m.va_end,
                    m.pa_start,
                    m.pa_end,
                    _render_identity,
                    [m.va_start],
                    wx=m.flags.writable and not m.flags.nx,
                )
            )
    return out


def _render_identity(p: Pending) -> tuple[str, str | None, str | None]:
    n = (p.va_end or 0) - (p.va_start or 0)
    first = p.paths[0] if p.paths else ()
    where = f" through {path_text(first[:1], values=False)} = {first[0].entry:#x}" if first else ""
    msg = (
        f"An identity map (VA = PA) of {p.va_start:#x}-{p.va_end:#x} ({size_text(n)}) is still present in the "
        f"user half{where}, supervisor-only. Boot code needs it only until the jump to the higher half; left in "
        "place, NULL-ish kernel pointers hit real memory instead of faulting."
    )
    if p.data.get("wx"):
        msg += " It is also writable and executable."
    return msg, "removed after boot", "present"

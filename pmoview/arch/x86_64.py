"""x86_64 4-level and 5-level paging as rows (Intel SDM Vol. 3A 4.5; AMD APM Vol. 2 5.3).

Masks come from the Construct layouts in ``parsers.x86_64_entry``. What the MMU faults on (#PF with
RSVD set): address bits at or above MAXPHYADDR in any present entry; bit 63 when EFER.NXE = 0; PS = 1
in a PML5E/PML4E (and in a PDPTE without 1-GByte page support); bits 29:13 of a 1-GByte PDPTE and
20:13 of a 2-MByte PDE (bit 12 there is PAT).
"""

from __future__ import annotations

from parsers.x86_64_entry import pde_2m, pdpte_1g, pte_4k, table_entry
from pmoview.arch.layout import bit, field_layout, mask
from pmoview.arch.mode import FlagRule, LevelRow, PagingMode, Term

T = field_layout(table_entry)
L1G = field_layout(pdpte_1g)
L2M = field_layout(pde_2m)
L4K = field_layout(pte_4k)

# PAT MSR entry encodings (SDM Table 11-10) and two common settings of the MSR.
PAT_TYPES = {0: "UC", 1: "WC", 4: "WT", 5: "WP", 6: "WB", 7: "UC-"}
PAT_POWER_ON = 0x0007040600070406  # WB WT UC- UC WB WT UC- UC
PAT_LINUX = 0x0407050600070106  # WB WC UC- UC WB WP UC- WT (arch/x86/mm/pat/memtype.c)

# (level, name, VA shift, leaf size allowed, layout of a leaf here)
LEVELS = (
    (5, "PML5", 48, None),
    (4, "PML4", 39, None),
    (3, "PDPT", 30, L1G),
    (2, "PD", 21, L2M),
    (1, "PT", 12, L4K),
)
MODES = {"x86_64-4level": 4, "x86_64-5level": 5}


def pat_names(pat: int | None) -> tuple[str, ...]:
    """Memory type per PAT index (PWT + 2*PCD + 4*PAT). Unknown MSR: the name only where the power-on
    value and Linux's agree (0 WB, 2 UC-, 3 UC, 4 WB, 6 UC-), else ``PATn``."""
    if pat is not None:
        return tuple(PAT_TYPES.get((pat >> (8 * i)) & 0xFF, f"PAT{i}?") for i in range(8))
    out = []
    for i in range(8):
        a = PAT_TYPES[(PAT_POWER_ON >> (8 * i)) & 0xFF]
        b = PAT_TYPES[(PAT_LINUX >> (8 * i)) & 0xFF]
        out.append(a if a == b else f"PAT{i}")
    return tuple(out)


def _leaf_keys(layout: dict[str, tuple[int, int]]) -> int:
    names = [n for n in ("xd", "pk", "g", "ps", "pat", "d", "a", "pcd", "pwt", "us", "rw", "p") if n in layout]
    return mask(layout, *names)


def x86_mode(
    mode: str, maxphyaddr: int = 52, nxe: bool = True, page_1g: bool = True, pat: int | None = None
) -> PagingMode:
    if mode not in MODES:
        raise ValueError(f"unknown x86_64 paging mode {mode!r}; known: {sorted(MODES)}")
    if not 32 <= maxphyaddr <= 52:
        raise ValueError(f"MAXPHYADDR {maxphyaddr} outside 32..52")
    depth = MODES[mode]
    phys = (1 << maxphyaddr) - 1
    xd = 1 << bit(T, "xd")
    nx_fault = 0 if nxe else xd  # without EFER.NXE bit 63 is reserved in every paging-structure entry
    rows = []
    for level, name, shift, leaf_layout in LEVELS[5 - depth :]:
        table_addr = mask(T, "address")
        if leaf_layout is None:  # PML5/PML4: no pages here; PS (bit 7) is reserved
            leaf_mask, leaf_value, leaf_ok, table_ok = 1 << bit(T, "ps"), 1 << bit(T, "ps"), False, True
            leaf_addr = leaf_fault = key = 0
            attr: tuple[int, ...] = ()
        else:
            leaf_addr_full = mask(leaf_layout, "address")
            leaf_addr = leaf_addr_full & phys
            rsvd = [n for n in leaf_layout if n.startswith("rsvd_")]
            leaf_fault = (leaf_addr_full & ~phys) | (mask(leaf_layout, *rsvd) if rsvd else 0) | nx_fault
            key = _leaf_keys(leaf_layout)
            attr = (bit(leaf_layout, "pwt"), bit(leaf_layout, "pcd"), bit(leaf_layout, "pat"))
            if level == 1:  # PT: every present entry maps a page
                leaf_mask = leaf_value = 0
                leaf_ok, table_ok = True, False
            else:
                leaf_mask = leaf_value = 1 << bit(T, "ps")
                leaf_ok, table_ok = (page_1g if level == 3 else True), True
        rows.append(
            LevelRow(
                level=level,
                name=name,
                shift=shift,
                index_bits=9,
                valid_mask=1 << bit(T, "p"),
                leaf_mask=leaf_mask,
                leaf_value=leaf_value,
                leaf_ok=leaf_ok,
                table_ok=table_ok,
                table_addr_mask=table_addr & phys,
                leaf_addr_mask=leaf_addr,
                table_fault_mask=(table_addr & ~phys) | nx_fault,
                leaf_fault_mask=leaf_fault,
                table_res0_mask=0,
                leaf_res0_mask=0,
                leaf_key_mask=key,
                attr_bits=attr,
                fault_text=f"reserved bits set (PS=1 in a {name}E)",
            )
        )
    va_bits = 12 + 9 * depth

    def leaf(name: str) -> Term:
        return Term("leaf", bit(L4K, name))  # same bit in every leaf layout for these names

    def acc(name: str) -> Term:
        return Term("acc", bit(T, name))

    nx_terms = (leaf("xd"), acc("xd")) if nxe else ()
    pk_lsb, pk_width = L4K["pk"]
    rules = (
        FlagRule("writable", "all", (leaf("rw"), acc("rw"))),
        FlagRule("user", "all", (leaf("us"), acc("us"))),
        FlagRule("nx", "any", nx_terms),
        FlagRule("user_nx", "any", nx_terms),
        FlagRule("global_", "all", (leaf("g"),)),
        FlagRule("accessed", "all", (leaf("a"),)),
        FlagRule("dirty", "all", (leaf("d"),)),
        FlagRule("pkey", "value", (Term("leaf", pk_lsb, pk_width),)),
    )
    and_mask = mask(T, "rw", "us")
    return PagingMode(
        name=mode,
        arch="x86_64",
        levels=tuple(rows),
        va_bits=va_bits,
        split=1 << (va_bits - 1),
        upper_add=(1 << 64) - (1 << va_bits),
        acc_init=and_mask,
        acc_and_mask=and_mask,
        acc_or_mask=xd if nxe else 0,
        rules=rules,
        cache_names=pat_names(pat),
    )

"""RISC-V Sv39, Sv48 and Sv57 (RV64 supervisor address translation) as rows.

Masks come from the Construct layouts in ``parsers.riscv_pte``. One PTE format for the three modes;
they differ in depth (3, 4, 5 levels of 512 entries) and so in VA width (39, 48, 57 bits). Levels are
numbered as the privileged spec numbers them: ``LEVELS - 1`` at the root down to 0 (4 KiB pages).

What the MMU does, as encoded here (privileged spec 20211203, 4.3.2 "Virtual Address Translation
Process", steps 3 to 6):
- V = 0: not mapped (the other bits are free for software).
- any of R, W, X set: a leaf, at any level; at level ``i > 0`` a superpage whose PPN's low ``9 * i``
  bits must be zero (a misaligned superpage faults);
- R = W = X = 0: a pointer to the next table; at level 0 there is no next table, so it faults;
- W = 1 with R = 0 (with or without X) is a reserved encoding: it faults;
- bits 60:54 are reserved; N (bit 63) needs Svnapot and PBMT (62:61) Svpbmt; a non-leaf entry must
  have D, A, U, N and PBMT clear. All of these fault ("reserved for future standard use").
  With Svpbmt, PBMT = 3 is reserved too. Svnapot's 64 KiB NAPOT leaves are not decoded: N is
  treated as reserved (QEMU 7.2's CPUs have Svnapot off unless asked for).
- VAs must be canonical: bits 63:VA_BITS equal to bit VA_BITS - 1.
- G on a non-leaf entry makes every mapping below it global (``acc`` ORs it down).
- Permissions: the supervisor never executes a U page; it reads or writes one only with
  sstatus.SUM = 1; with sstatus.MXR = 1 an X page is also readable. U mode sees only U pages.
"""

from __future__ import annotations

from parsers.riscv_pte import PAGE_SHIFT, PBMT_NAMES, PPN_LSB, pte, table_pte
from pmoview.arch.layout import bit, field_layout, mask
from pmoview.arch.mode import FlagRule, LevelRow, PagingMode, Term

T = field_layout(table_pte)
MODES = {"riscv64-sv39": 3, "riscv64-sv48": 4, "riscv64-sv57": 5}
SATP_MODE_NAMES = {8: "riscv64-sv39", 9: "riscv64-sv48", 10: "riscv64-sv57"}
ADDR_SHIFT = PAGE_SHIFT - PPN_LSB  # PPN at bit 10 names a frame at bit 12

RWX_NAMES = ("r", "w", "x")


def riscv_mode(
    mode: str,
    svpbmt: bool = False,
    mxr: bool | None = None,
) -> PagingMode:
    """The rows for ``mode``. ``svpbmt``: the CPU implements Svpbmt (PBMT 0..2 allowed in leaves).
    ``mxr``: sstatus.MXR (None: not known, taken as 0: X-only pages are not readable)."""
    if mode not in MODES:
        raise ValueError(f"unknown RISC-V paging mode {mode!r}; known: {sorted(MODES)}")
    depth = MODES[mode]
    rwx = mask(T, *RWX_NAMES)
    r_bit, w_bit = 1 << bit(T, "r"), 1 << bit(T, "w")
    n_pbmt = mask(T, "n", "pbmt")
    table_fault = mask(T, "rsvd_60_54", "d", "a", "u") | n_pbmt
    rows = []
    for level in range(depth - 1, -1, -1):
        ld = field_layout(pte(level))
        leaf_fault = mask(ld, "rsvd_60_54") | mask(ld, "n") | (0 if svpbmt else mask(ld, "pbmt"))
        what = ["bits 60:54 reserved", "N without Svnapot"] + ([] if svpbmt else ["PBMT without Svpbmt"])
        if "ppn_low" in ld:
            leaf_fault |= mask(ld, "ppn_low")
            what.append(f"PPN[{level - 1}:0] not zero: misaligned superpage")
        patterns: list[tuple[int, int, str]] = [(r_bit | w_bit, w_bit, "W=1 with R=0")]
        if svpbmt:
            patterns.append((mask(ld, "pbmt"), mask(ld, "pbmt"), "PBMT=3"))
        shift = PAGE_SHIFT + 9 * level
        rows.append(
            LevelRow(
                level=level,
                name=f"L{level}",
                shift=shift,
                index_bits=9,
                valid_mask=1 << bit(T, "v"),
                leaf_mask=rwx,
                leaf_value=0,
                leaf_ok=True,
                table_ok=level > 0,
                table_addr_mask=mask(T, "ppn"),
                leaf_addr_mask=mask(ld, "ppn"),
                table_fault_mask=table_fault,
                leaf_fault_mask=leaf_fault,
                table_res0_mask=0,
                leaf_res0_mask=0,
                leaf_key_mask=mask(ld, "n", "pbmt", "d", "a", "g", "u", "x", "w", "r", "v"),
                attr_bits=(ld["pbmt"][0], ld["pbmt"][0] + 1),
                fault_text="R=W=X=0 at level 0: a pointer with no next level",
                addr_shift=ADDR_SHIFT,
                leaf_any=True,
                leaf_fault_patterns=tuple(patterns),
                table_fault_text="D, A, U, N, PBMT or bits 60:54 set in a non-leaf entry",
                leaf_fault_text=", ".join(what),
            )
        )

    def leaf(name: str, invert: bool = False) -> Term:
        return Term("leaf", bit(T, name), 1, invert)

    readable = (leaf("r"), leaf("x")) if mxr else (leaf("r"),)
    rules = (
        FlagRule("readable", "any", readable),
        FlagRule("writable", "all", (leaf("w"),)),
        FlagRule("user", "all", (leaf("u"),)),
        # The supervisor never executes a user page (whatever SUM says); U mode only user pages.
        FlagRule("nx", "any", (leaf("x", True), leaf("u"))),
        FlagRule("user_nx", "any", (leaf("x", True), leaf("u", True))),
        FlagRule("global_", "any", (leaf("g"), Term("acc", bit(T, "g")))),
        FlagRule("accessed", "all", (leaf("a"),)),
        FlagRule("dirty", "all", (leaf("d"),)),
    )
    va_bits = PAGE_SHIFT + 9 * depth
    notes: list[str] = []
    if mxr is None:
        notes.append("sstatus.MXR is not known (QEMU dumps do not record it): execute-only pages read as unreadable")
    return PagingMode(
        name=mode,
        arch="riscv64",
        levels=tuple(rows),
        va_bits=va_bits,
        split=1 << (va_bits - 1),
        upper_add=(1 << 64) - (1 << va_bits),
        acc_init=0,
        acc_and_mask=0,
        acc_or_mask=1 << bit(T, "g"),
        rules=rules,
        cache_names=PBMT_NAMES,
        notes=tuple(notes),
    )


def decode_satp(satp: int) -> tuple[str | None, int, int]:
    """(mode name or None for Bare/unknown, ASID, root table PA) of an RV64 satp value."""
    mode = SATP_MODE_NAMES.get((satp >> 60) & 0xF)
    asid = (satp >> 44) & 0xFFFF
    ppn = satp & ((1 << 44) - 1)
    return mode, asid, ppn << PAGE_SHIFT

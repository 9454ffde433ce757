"""AArch64 stage 1 (EL1&0) translation as rows: the granule is one more row of ``GRANULES``.

Masks come from ``parsers.aarch64_desc``. Levels follow from the granule and VA_BITS = 64 - TnSZ
(Arm ARM D8.2, "the initial lookup level"). The TTBR1 half holds VAs with the top 64 - VA_BITS bits
set: VA - (2**64 - 2**VA_BITS) indexes its tables.

MMU behaviour encoded here:
- bits[1:0] = 0b01 is a block only where the granule allows one (4 KiB: levels 1 and 2), a
  translation fault elsewhere (level 0; and level 3, where 0b01 is a reserved encoding);
- OA bits at or above the PA size (``Root.maxphyaddr``, capped at 48 for this descriptor format) make
  an Address size fault; other RES0 bits (51:48, the block's 29:17 / 20:17, 15:12) are reported and
  ignored;
- APTable[1] removes write access, APTable[0] EL0 access, UXNTable/PXNTable execution, for every
  level below (ignored with TCR_ELx.HPDn = 1, ``Root.hpd``);
- a region writable at EL0 is never executable at EL1 (implicit PXN);
- AttrIndx selects a MAIR_EL1 byte; names need ``Root.mair`` (``LINUX_MAIR`` is Linux 6.1's value).
"""

from __future__ import annotations

from dataclasses import dataclass

from parsers.aarch64_desc import OA_TOP, block_descriptor, page_descriptor, table_descriptor
from pmoview.arch.layout import bit, field_layout, mask
from pmoview.arch.mode import FlagRule, LevelRow, PagingMode, Term


@dataclass(frozen=True)
class Granule:
    shift: int  # page size 1 << shift
    index_bits: int  # (shift - 3): entries per full table = page size / 8
    block_levels: tuple[int, ...]  # levels where a block descriptor is allowed (48-bit OA)


GRANULES = {
    "aarch64-4k": Granule(12, 9, (1, 2)),  # 1 GiB and 2 MiB blocks
    "aarch64-16k": Granule(14, 11, (2,)),  # 32 MiB blocks
    "aarch64-64k": Granule(16, 13, (2,)),  # 512 MiB blocks
}

# Linux 6.1 arch/arm64/include/asm/memory.h: MT_NORMAL 0, MT_NORMAL_TAGGED 1, MT_NORMAL_NC 2,
# MT_DEVICE_nGnRnE 3, MT_DEVICE_nGnRE 4; MAIR_EL1_SET in asm/sysreg.h (index 1 is Normal until
# __cpu_setup finds MTE and makes it 0xf0).
LINUX_MAIR = 0xFF | (0xFF << 8) | (0x44 << 16) | (0x00 << 24) | (0x04 << 32)

_DEVICE = {0x00: "Device-nGnRnE", 0x04: "Device-nGnRE", 0x08: "Device-nGRE", 0x0C: "Device-GRE"}
_NORMAL = {0xFF: "Normal-WB", 0x44: "Normal-NC", 0xBB: "Normal-WT", 0xF0: "Normal-Tagged"}


def mair_name(attr: int) -> str:
    if attr in _DEVICE:
        return _DEVICE[attr]
    if attr in _NORMAL:
        return _NORMAL[attr]
    return f"Normal(o={attr >> 4:#x},i={attr & 15:#x})" if attr >> 4 and attr & 15 else f"MAIR?{attr:#04x}"


def mair_names(mair: int | None) -> tuple[str, ...]:
    if mair is None:
        return tuple(f"AttrIndx{i}" for i in range(8))
    return tuple(mair_name((mair >> (8 * i)) & 0xFF) for i in range(8))


def start_level(granule: Granule, va_bits: int) -> int:
    """First lookup level for VA_BITS (4 KiB: 48 -> 0, 39 -> 1; 52 would be -1 with LPA2)."""
    per_level = granule.index_bits
    levels = -(-(va_bits - granule.shift) // per_level)
    return 4 - levels


def aarch64_mode(
    mode: str = "aarch64-4k",
    va_bits: int = 48,
    half: str = "ttbr1",
    maxphyaddr: int = 48,
    mair: int | None = None,
    hpd: bool = False,
    want_start: int | None = None,
) -> PagingMode:
    if mode not in GRANULES:
        raise ValueError(f"unknown AArch64 mode {mode!r}; known: {sorted(GRANULES)}")
    if half not in ("ttbr0", "ttbr1"):
        raise ValueError(f"half must be 'ttbr0' or 'ttbr1', not {half!r}")
    g = GRANULES[mode]
    if not g.shift + g.index_bits <= va_bits <= OA_TOP:
        # 52-bit VAs need the LPA2 descriptor variant (OA[51:50] in bits 9:8) and level -1: not yet.
        raise ValueError(f"VA_BITS {va_bits} not supported with {mode} (supported: {g.shift + g.index_bits}..48)")
    first = start_level(g, va_bits)
    if want_start is not None and want_start != first:
        raise ValueError(f"start level {want_start} does not match VA_BITS {va_bits} with {mode} (level {first})")
    oa = (1 << min(maxphyaddr, OA_TOP)) - 1
    td = field_layout(table_descriptor(g.shift))
    tres0 = [n for n in td if n.startswith("res0")]
    rows = []
    for level in range(first, 4):
        shift = g.shift + (3 - level) * g.index_bits
        index_bits = min(g.index_bits, va_bits - shift)
        last = level == 3
        if last:
            ld = field_layout(page_descriptor(g.shift))
        elif level in g.block_levels:
            ld = field_layout(block_descriptor(shift))
        else:
            ld = {}
        if ld:
            oa_full = mask(ld, "OA")
            leaf_addr, leaf_fault = oa_full & oa, oa_full & ~oa
            leaf_res0 = mask(ld, *[n for n in ld if n.startswith("res0")])
            key = mask(
                ld, "UXN", "PXN", "Contiguous", "DBM", "GP", "nG", "AF", "SH", "AP", "NS", "AttrIndx", "type", "valid"
            )
            attr = tuple(range(ld["AttrIndx"][0], ld["AttrIndx"][0] + 3))
        else:
            leaf_addr = leaf_fault = leaf_res0 = key = 0
            attr = ()
        type_bit = 1 << bit(td, "type")
        rows.append(
            LevelRow(
                level=level,
                name=f"L{level}",
                shift=shift,
                index_bits=index_bits,
                valid_mask=1 << bit(td, "valid"),
                leaf_mask=type_bit,
                leaf_value=type_bit if last else 0,
                leaf_ok=bool(ld),
                table_ok=not last,
                table_addr_mask=mask(td, "next_level") & oa,
                leaf_addr_mask=leaf_addr,
                table_fault_mask=mask(td, "next_level") & ~oa,
                leaf_fault_mask=leaf_fault,
                table_res0_mask=mask(td, *tres0),
                leaf_res0_mask=leaf_res0,
                leaf_key_mask=key,
                attr_bits=attr,
                fault_text=(
                    "reserved bits set (descriptor type 0b01 is reserved at level 3)"
                    if last
                    else f"reserved bits set (no block descriptor at level {level} with {mode})"
                ),
            )
        )
    pd = field_layout(page_descriptor(g.shift))
    ap_lsb = pd["AP"][0]  # AP[1] = ap_lsb (EL0 access), AP[2] = ap_lsb + 1 (read-only)
    apt_lsb = td["APTable"][0]  # APTable[0] (no EL0), APTable[1] (no write)
    carried = 0 if hpd else mask(td, "APTable", "UXNTable", "PXNTable")

    def acc(lsb: int, invert: bool = False) -> tuple[Term, ...]:
        return () if hpd else (Term("acc", lsb, 1, invert),)

    rules = (
        FlagRule("writable", "all", (Term("leaf", ap_lsb + 1, 1, True), *acc(apt_lsb + 1, True))),
        FlagRule("user", "all", (Term("leaf", ap_lsb), *acc(apt_lsb, True))),
        FlagRule("nx", "any", (Term("leaf", bit(pd, "PXN")), *acc(bit(td, "PXNTable")))),
        FlagRule("user_nx", "any", (Term("leaf", bit(pd, "UXN")), *acc(bit(td, "UXNTable")))),
        FlagRule("global_", "all", (Term("leaf", bit(pd, "nG"), 1, True),)),
        FlagRule("accessed", "all", (Term("leaf", bit(pd, "AF")),)),
        # Hardware dirty state (FEAT_HAFDBS): DBM set and AP[2] cleared by a write.
        FlagRule("dirty", "all", (Term("leaf", bit(pd, "DBM")), Term("leaf", ap_lsb + 1, 1, True))),
        FlagRule("contiguous", "all", (Term("leaf", bit(pd, "Contiguous")),)),
        FlagRule("shareability", "value", (Term("leaf", pd["SH"][0], 2),)),
    )
    top = (1 << 64) - (1 << va_bits)
    return PagingMode(
        name=mode,
        arch="aarch64",
        levels=tuple(rows),
        va_bits=va_bits,
        split=0 if half == "ttbr1" else 1 << va_bits,
        upper_add=top if half == "ttbr1" else 0,
        acc_init=0,
        acc_and_mask=0,
        acc_or_mask=carried,
        rules=rules,
        cache_names=mair_names(mair),
        el0_writable_implies_pxn=True,
    )

"""AArch64 stage 1 (EL1&0) translation as rows: the granule is one more row of ``GRANULES``.

Masks come from ``parsers.aarch64_desc``. The geometry follows from the granule and VA_BITS = 64 - TnSZ
for every combination (Arm ARM D8.2, "the initial lookup level"): each level resolves granule_shift - 3
VA bits, the start level is the one that leaves at most that many for the top table, and the top table
holds only the entries its VA bits need (a 52-bit VA gives 16 KiB a 32-entry level 0 table and 4 KiB a
16-entry level -1 table). The TTBR1 half holds VAs with the top 64 - VA_BITS bits set:
VA - (2**64 - 2**VA_BITS) indexes its tables.

Output addresses: 48 bits, or 52 with FEAT_LPA2 (TCR_EL1.DS = 1, 4/16 KiB granules: OA[51:50] in
descriptor bits 9:8, OA[49:48] in place) or FEAT_LPA (64 KiB granule with a 52-bit PA size: OA[51:48]
in bits 15:12). The 52-bit formats also allow bigger blocks (4 KiB: 512 GiB at level 0; 16 KiB: 64 GiB
at level 1; 64 KiB: 4 TiB at level 1).

MMU behaviour encoded here:
- bits[1:0] = 0b01 is a block only where the granule and format allow one, a translation fault
  elsewhere (and at level 3, where 0b01 is a reserved encoding);
- OA bits at or above the PA size (``Root.maxphyaddr``, TCR_EL1.IPS) make an Address size fault;
  other RES0 bits are reported and ignored;
- APTable[1] removes write access, APTable[0] EL0 access, UXNTable/PXNTable execution, for every
  level below (ignored with TCR_ELx.HPDn = 1, ``Root.hpd``);
- a region writable at EL0 is never executable at EL1 (implicit PXN);
- AttrIndx selects a MAIR_EL1 byte; names need ``Root.mair`` (``LINUX_MAIR`` is Linux 6.1's value).
"""

from __future__ import annotations

from dataclasses import dataclass

from parsers.aarch64_desc import OA_HIGH_BITS, OAFormat, block_descriptor, page_descriptor, table_descriptor
from parsers.aarch64_sysreg import IPS_BITS, TG0_GRANULE, TG1_GRANULE, tcr_el1
from pmoview.arch.layout import bit, field_layout, get_field, mask
from pmoview.arch.mode import FlagRule, LevelRow, PagingMode, Term, UnsupportedPaging


@dataclass(frozen=True)
class Granule:
    """What one AArch64 translation granule (4, 16 or 64 KiB) fixes: index width, block levels, 52-bit OA format."""

    shift: int  # page size 1 << shift
    index_bits: int  # (shift - 3): entries per full table = page size / 8
    block_levels: tuple[int, ...]  # levels where a block descriptor is allowed (48-bit OA)
    block_levels_52: tuple[int, ...]  # ... with the 52-bit OA format (LPA2 for 4/16 KiB, LPA for 64 KiB)
    oa52: OAFormat  # the 52-bit output address format of this granule


GRANULES = {
    "aarch64-4k": Granule(12, 9, (1, 2), (0, 1, 2), "lpa2"),  # 1 GiB and 2 MiB blocks (+ 512 GiB)
    "aarch64-16k": Granule(14, 11, (2,), (1, 2), "lpa2"),  # 32 MiB blocks (+ 64 GiB)
    "aarch64-64k": Granule(16, 13, (2,), (1, 2), "lpa"),  # 512 MiB blocks (+ 4 TiB)
}
MODE_OF_PAGE_SIZE = {1 << g.shift: name for name, g in GRANULES.items()}
MIN_VA_BITS = 16  # TnSZ at most 48 (FEAT_TTST); smaller VA sizes are not a translation regime


def granule_mode(page_size: int) -> str:
    """The mode name of a granule (bytes), e.g. 16384 -> "aarch64-16k"."""
    if page_size not in MODE_OF_PAGE_SIZE:
        raise UnsupportedPaging(
            f"no AArch64 translation granule of {page_size} bytes (AArch64 has 4096, 16384 and 65536)"
        )
    return MODE_OF_PAGE_SIZE[page_size]


@dataclass(frozen=True)
class TcrHalf:
    """What TCR_EL1 says about one half (TTBR0: T0SZ/TG0/..., TTBR1: T1SZ/TG1/...)."""

    mode: str  # granule as a mode name
    va_bits: int  # 64 - TnSZ
    hpd: bool  # HPDn: hierarchical permissions disabled
    tbi: bool  # TBIn: top byte ignored
    epd: bool  # EPDn: walks through this TTBR disabled (a TLB miss faults)


@dataclass(frozen=True)
class Tcr:
    """TCR_EL1 decoded: per half, plus the regime-wide fields."""

    value: int
    ttbr0: TcrHalf
    ttbr1: TcrHalf
    pa_bits: int  # IPS
    ds: bool  # FEAT_LPA2 52-bit descriptors (4/16 KiB)
    ha: bool  # hardware Access flag updates
    hd: bool  # hardware dirty state (DBM)

    def half(self, name: str) -> TcrHalf:
        return self.ttbr0 if name == "ttbr0" else self.ttbr1

    def to_json(self) -> dict[str, object]:
        return {
            "value": hex(self.value),
            "ttbr0": {"mode": self.ttbr0.mode, "va_bits": self.ttbr0.va_bits, "hpd": self.ttbr0.hpd},
            "ttbr1": {"mode": self.ttbr1.mode, "va_bits": self.ttbr1.va_bits, "hpd": self.ttbr1.hpd},
            "pa_bits": self.pa_bits,
            "ds": self.ds,
            "ha": self.ha,
            "hd": self.hd,
            "tbi0": self.ttbr0.tbi,
            "tbi1": self.ttbr1.tbi,
        }


def decode_tcr(value: int) -> Tcr:
    """TCR_EL1 -> Tcr. Reserved TG/IPS encodings are UnsupportedPaging naming the field."""
    lay = field_layout(tcr_el1)

    def f(name: str) -> int:
        return get_field(lay, value, name)

    tg0, tg1, ips = f("TG0"), f("TG1"), f("IPS")
    if tg0 not in TG0_GRANULE:
        raise UnsupportedPaging(f"TCR_EL1 {value:#x}: TG0 = {tg0:#04b} is a reserved granule encoding")
    if tg1 not in TG1_GRANULE:
        raise UnsupportedPaging(f"TCR_EL1 {value:#x}: TG1 = {tg1:#04b} is a reserved granule encoding")
    if ips not in IPS_BITS:
        raise UnsupportedPaging(f"TCR_EL1 {value:#x}: IPS = {ips:#05b} is a reserved PA size encoding")

    def half(n: int, granule: int) -> TcrHalf:
        return TcrHalf(
            granule_mode(granule), 64 - f(f"T{n}SZ"), bool(f(f"HPD{n}")), bool(f(f"TBI{n}")), bool(f(f"EPD{n}"))
        )

    return Tcr(
        value,
        half(0, TG0_GRANULE[tg0]),
        half(1, TG1_GRANULE[tg1]),
        IPS_BITS[ips],
        bool(f("DS")),
        bool(f("HA")),
        bool(f("HD")),
    )


def ttbr_table_address(ttbr: int, mode: PagingMode) -> int:
    """The top table's PA in a TTBRn_EL1 value: ASID (63:48) and CnP (bit 0) masked, BADDR[51:48]
    taken from bits 5:2 with a 52-bit output address, and aligned to the top table's size only, which
    can be as small as 64 bytes (a 4 KiB level -1 table; Linux's slab-allocated user pgds): never to a
    page."""
    base = ttbr & ((1 << 48) - 1) & ~1
    if mode.oa_bits > 48:
        base = (base & ~0x3C) | ((ttbr >> 2) & 0xF) << 48
        align = max(mode.top_table_bytes, 64)
    else:
        align = mode.top_table_bytes
    return base & ~(align - 1)


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
    """First lookup level for VA_BITS (4 KiB: 48 -> 0, 39 -> 1, 52 -> -1; 16 KiB: 52 -> 0, 47 -> 1)."""
    per_level = granule.index_bits
    levels = -(-(va_bits - granule.shift) // per_level)
    return 4 - levels


def oa_format(mode: str, maxphyaddr: int, ds: bool) -> OAFormat:
    """The descriptor format: LPA2 with DS = 1 (4/16 KiB), LPA with 64 KiB and a 52-bit PA size."""
    g = GRANULES[mode]
    if g.oa52 == "lpa":
        return "lpa" if maxphyaddr >= 52 else "48"
    return "lpa2" if ds else "48"


def aarch64_mode(
    mode: str = "aarch64-4k",
    va_bits: int = 48,
    half: str = "ttbr1",
    maxphyaddr: int = 48,
    mair: int | None = None,
    hpd: bool = False,
    want_start: int | None = None,
    ds: bool | None = None,
) -> PagingMode:
    """Rows for one half. ``ds`` is TCR_EL1.DS; None infers it: a VA wider than 48 bits with a 4 or
    16 KiB granule exists only with DS = 1 (FEAT_LPA2). ``maxphyaddr`` is the PA size (IPS)."""
    if mode not in GRANULES:
        raise UnsupportedPaging(f"unknown AArch64 mode {mode!r}; known: {sorted(GRANULES)}")
    if half not in ("ttbr0", "ttbr1"):
        raise UnsupportedPaging(f"half must be 'ttbr0' or 'ttbr1', not {half!r}")
    g = GRANULES[mode]
    inferred = ds is None and g.oa52 == "lpa2" and va_bits > 48
    if ds is None:
        ds = inferred
    ds = ds and g.oa52 == "lpa2"  # DS is RES0 with 64 KiB
    fmt = oa_format(mode, maxphyaddr, ds)
    max_va = 52 if fmt == "lpa2" or g.oa52 == "lpa" else 48
    if not MIN_VA_BITS <= va_bits <= max_va or va_bits <= g.shift:
        need = " (more than 48 bits needs TCR_EL1.DS = 1, FEAT_LPA2)" if va_bits > 48 and max_va == 48 else ""
        raise UnsupportedPaging(
            f"VA_BITS {va_bits} (TnSZ {64 - va_bits}) is not a {mode} translation regime: "
            f"{max(MIN_VA_BITS, g.shift + 1)}..{max_va} bits{need}"
        )
    first = start_level(g, va_bits)
    if want_start is not None and want_start != first:
        raise UnsupportedPaging(
            f"start level {want_start} does not match VA_BITS {va_bits} with {mode} (level {first})"
        )
    pa_bits = min(maxphyaddr, 52 if fmt != "48" else 48)
    oa = (1 << pa_bits) - 1
    hi_src, hi_width, hi_dst = OA_HIGH_BITS[fmt]
    hi_ok = max(0, min(hi_width, pa_bits - hi_dst))  # moved address bits below the PA size
    hi_fault = (((1 << hi_width) - 1) & ~((1 << hi_ok) - 1)) << hi_src  # moved bits at or above it
    blocks = g.block_levels_52 if fmt != "48" else g.block_levels
    td = field_layout(table_descriptor(g.shift, fmt))
    tres0 = [n for n in td if n.startswith("res0")]
    table_hi = mask(td, "next_level_hi") if "next_level_hi" in td else 0
    rows = []
    for level in range(first, 4):
        shift = g.shift + (3 - level) * g.index_bits
        index_bits = min(g.index_bits, va_bits - shift)
        last = level == 3
        if last:
            ld = field_layout(page_descriptor(g.shift, fmt))
        elif level in blocks:
            ld = field_layout(block_descriptor(shift, fmt))
        else:
            ld = {}
        if ld:
            oa_full = mask(ld, "OA")
            leaf_addr, leaf_fault = oa_full & oa, (oa_full & ~oa) | hi_fault
            leaf_res0 = mask(ld, *[n for n in ld if n.startswith("res0")])
            attrs = ["UXN", "PXN", "Contiguous", "DBM", "GP", "nG", "AF", "AP", "NS", "AttrIndx", "type", "valid"]
            key = mask(ld, *attrs, *(["SH"] if "SH" in ld else []))
            attr = tuple(range(ld["AttrIndx"][0], ld["AttrIndx"][0] + 3))
        else:
            leaf_addr = leaf_fault = leaf_res0 = key = 0
            attr = ()
        type_bit = 1 << bit(td, "type")
        why_no_block = f"no block descriptor at level {level} with {mode}" + (
            "" if fmt != "48" or level not in g.block_levels_52 else " and a 48-bit output address"
        )
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
                table_fault_mask=(mask(td, "next_level") & ~oa) | (hi_fault if table_hi else 0),
                leaf_fault_mask=leaf_fault,
                table_res0_mask=mask(td, *tres0),
                leaf_res0_mask=leaf_res0,
                leaf_key_mask=key,
                attr_bits=attr,
                fault_text=(
                    "reserved bits set (descriptor type 0b01 is reserved at level 3)"
                    if last
                    else f"reserved bits set ({why_no_block})"
                ),
                addr_hi=(hi_src, hi_ok, hi_dst),
            )
        )
    pd = field_layout(page_descriptor(g.shift, fmt))
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
        # With LPA2 bits 9:8 are address bits and shareability comes from TCR_EL1.SHn (not modelled).
        *([FlagRule("shareability", "value", (Term("leaf", pd["SH"][0], 2),))] if "SH" in pd else []),
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
        oa_bits=pa_bits,
        notes=(
            (f"TCR_EL1.DS = 1 assumed: a {va_bits}-bit VA with {mode} exists only with FEAT_LPA2",) if inferred else ()
        ),
    )

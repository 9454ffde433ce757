"""Profiles: the expected layout of a kernel's address space, as data.

A profile names regions of the kernel half (the PMO / direct map / linear map, the kernel image),
each with a VA range, a rule giving the PA of every VA (``PA = VA - va_start + pa_base``), the
attributes its pages must have and must not have, the page sizes allowed, and for a physical-memory
map the RAM types it must cover. Values may be expressions over *facts* (``"page_offset_base"``,
``"PHYS_OFFSET + 0x1000"``): some are constants of the design, some are read from the dump
(VMCOREINFO, a variable read through the kernel mapping), and each resolved fact says where it
came from.

Built in: ``seed`` (docs/seed-design.md), ``linux-x86_64`` and ``linux-arm64``. A user's TOML spec
declares regions the same way and may ``extends`` a profile (regions with the same name are
overridden field by field, ``remove = true`` drops one, ``replace_regions = true`` drops them all).
"""

from __future__ import annotations

import contextlib
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from parsers.errors import DumpFormatError
from pmoview import vmcoreinfo as vmci

U64 = (1 << 64) - 1
KiB, MiB, GiB = 1 << 10, 1 << 20, 1 << 30

ATTRS = ("present", "writable", "readonly", "nx", "exec", "supervisor", "user", "global", "cacheable")
PAGE_SIZE_NAMES = {
    "4K": 4 * KiB,
    "4KiB": 4 * KiB,
    "2M": 2 * MiB,
    "2MiB": 2 * MiB,
    "1G": GiB,
    "1GiB": GiB,
    "16K": 16 * KiB,
    "64K": 64 * KiB,
    "32M": 32 * MiB,
    "512M": 512 * MiB,
}
ROLES = ("pmo", "image", "window")

Expr = int | str


@dataclass(frozen=True)
class Exempt:
    """Inside [pa_start, pa_end) the listed required/forbidden ``attrs`` are not enforced (reported as info)."""

    pa_start: Expr
    pa_end: Expr
    attrs: tuple[str, ...]
    reason: str


@dataclass(frozen=True)
class Allowed:
    """A range where a finding that would otherwise be a warning or error is expected (info)."""

    start: Expr
    end: Expr
    reason: str


@dataclass(frozen=True)
class Region:
    """A region of a profile (PMO, kernel image, a window of rules) as written, its bounds still expressions."""

    name: str
    role: str  # "pmo": maps physical memory and must cover RAM; "image": the kernel image; "window": rules only
    va_start: Expr
    va_end: Expr | None = None  # None: "pmo" -> up to the top of RAM; "image" -> probe va_start only
    pa_base: Expr = 0  # PA of va_start
    required: tuple[str, ...] = ()
    forbidden: tuple[str, ...] = ()
    page_sizes: tuple[int, ...] | None = None
    cover_types: tuple[int, ...] | None = None  # None: the profile's ram_required_types
    note_types: tuple[int, ...] | None = None
    exempt: tuple[Exempt, ...] = ()
    extra_ok: tuple[Allowed, ...] = ()  # PA ranges outside RAM this region may map (pmo-extra at info)
    must_not_reach: tuple[str, ...] = ()  # names of regions this one must not overlap (pmo-overlap)
    description: str = ""
    rule_text: str = ""  # the PA rule in the design's words


@dataclass(frozen=True)
class StackRule:
    """``count`` kernel stacks of ``size`` bytes, the i-th at ``top - (i + 1) * stride``, each with the
    ``stride - size`` bytes below it unmapped (the guard page that turns an overflow into a fault)."""

    top: Expr
    stride: int
    size: int
    count: int
    description: str = ""


@dataclass(frozen=True)
class Profile:
    """A layout the checks hold a dump to (seed design, Linux, xv6, a TOML spec), as written."""

    name: str
    arch: str
    description: str
    regions: tuple[Region, ...]
    facts: Mapping[str, Expr] = field(default_factory=dict)  # constants of the design
    ram_required_types: tuple[int, ...] = (1, 3)
    ram_noted_types: tuple[int, ...] = ()
    user_ok: tuple[Allowed, ...] = ()  # kernel-half VA ranges that may be user-accessible
    one_gib_feature: str | None = "pdpe1gb"  # CPU feature 1 GiB pages need (x86); None: always allowed
    cache_names: Mapping[int, str] = field(default_factory=dict)  # memory-type index -> name if MAIR unknown
    source: str = "built-in"
    kernel_half: int = 1 << 63
    stacks: StackRule | None = None  # kernel stacks, each with an unmapped guard page below it

    def region(self, name: str) -> Region | None:
        for r in self.regions:
            if r.name == name:
                return r
        return None


# -- the built-in profiles ---------------------------------------------------------------------------
SEED = Profile(
    name="seed",
    arch="x86_64",
    description=(
        "the seed design (docs/seed-design.md): PMO at 0xFFFF800000000000 through PML4[256], "
        "kernel image at 0xFFFFFFFF80000000"
    ),
    facts={"PHYS_OFFSET": 0xFFFF_8000_0000_0000, "KERNEL_VIRT_BASE": 0xFFFF_FFFF_8000_0000},
    ram_required_types=(1, 3),
    ram_noted_types=(4,),
    regions=(
        Region(
            name="pmo",
            role="pmo",
            va_start="PHYS_OFFSET",
            va_end=None,
            pa_base=0,
            required=("present", "writable", "nx", "supervisor"),
            forbidden=("user",),
            page_sizes=(2 * MiB, GiB),
            extra_ok=(
                Allowed(
                    0,
                    GiB,
                    "boot.S maps the whole first GiB by design (docs/seed-design.md), holes and firmware "
                    "ranges included",
                ),
            ),
            must_not_reach=("kernel-image",),
            description="PMO",
            rule_text="phys_to_virt(pa) = pa + PHYS_OFFSET",
        ),
        Region(
            name="kernel-image",
            role="image",
            va_start="KERNEL_VIRT_BASE",
            va_end="KERNEL_VIRT_BASE + 0x40000000",
            pa_base=0,
            forbidden=("user",),
            description="kernel image",
            rule_text="virt_to_phys(va) = va - KERNEL_VIRT_BASE",
        ),
    ),
)

LINUX_X86_64 = Profile(
    name="linux-x86_64",
    arch="x86_64",
    description="Linux x86_64: direct map at page_offset_base, kernel text mapping at __START_KERNEL_map "
    "(Documentation/arch/x86/x86_64/mm.rst)",
    facts={"__START_KERNEL_map": 0xFFFF_FFFF_8000_0000, "KERNEL_IMAGE_SIZE": GiB},
    ram_required_types=(1, 3),
    regions=(
        Region(
            name="direct-map",
            role="pmo",
            va_start="page_offset_base",
            va_end=None,
            pa_base=0,
            required=("present", "nx", "supervisor"),
            forbidden=("user",),
            page_sizes=(4 * KiB, 2 * MiB, GiB),
            exempt=(
                Exempt(
                    0,
                    0x100000,
                    ("nx",),
                    "the real-mode trampoline below 1 MiB is made executable (arch/x86/realmode/init.c: set_memory_x)",
                ),
            ),
            extra_ok=(
                Allowed(
                    0,
                    0x100000,
                    "Linux maps the whole first MiB (ISA range) in the direct map "
                    "(arch/x86/mm/init.c: init_memory_mapping(0, ISA_END_ADDRESS))",
                ),
            ),
            must_not_reach=("kernel-text",),
            description="direct map",
            rule_text="__va(pa) = pa + PAGE_OFFSET (page_offset_base)",
        ),
        Region(
            name="kernel-text",
            role="image",
            va_start="__START_KERNEL_map",
            va_end="__START_KERNEL_map + KERNEL_IMAGE_SIZE",
            pa_base="phys_base",
            forbidden=("user",),
            description="kernel text mapping",
            rule_text="__pa_symbol(va) = va - __START_KERNEL_map + phys_base",
        ),
    ),
    user_ok=(
        Allowed(
            0xFFFF_FFFF_FF60_0000,
            0xFFFF_FFFF_FF60_1000,
            "the legacy vsyscall page is user-readable by design (arch/x86/entry/vsyscall)",
        ),
    ),
)

LINUX_ARM64 = Profile(
    name="linux-arm64",
    arch="aarch64",
    description="Linux arm64 (6.1): linear map in the lower half of the TTBR1 range from PAGE_OFFSET = "
    "-(1 << VA_BITS), kernel image at KIMAGE_VADDR + KASLR offset (arch/arm64/include/asm/memory.h)",
    ram_required_types=(1, 3),
    regions=(
        Region(
            name="linear-map",
            role="pmo",
            va_start="PAGE_OFFSET",
            va_end=None,
            pa_base="PHYS_OFFSET",
            required=("present", "nx", "supervisor"),
            forbidden=("user",),
            # Every page and block size of the three granules (and their contiguous runs, which Linux
            # uses for the linear map): 4K: 4K, 64K, 2M, 32M, 1G; 16K: 16K, 2M, 32M, 1G, 64G (LPA2);
            # 64K: 64K, 2M, 512M, 16G, 4T (LPA). The walker yields only the sizes the granule has.
            page_sizes=(4 * KiB, 16 * KiB, 64 * KiB, 2 * MiB, 32 * MiB, 512 * MiB, GiB, 16 * GiB, 64 * GiB, 4096 * GiB),
            must_not_reach=("kernel-image",),
            description="linear map",
            rule_text="__phys_to_virt(pa) = pa - PHYS_OFFSET + PAGE_OFFSET",
        ),
        Region(
            name="kernel-image",
            role="image",
            va_start="SYMBOL(_stext)",
            va_end=None,
            pa_base="SYMBOL(_stext) - kimage_voffset",
            forbidden=("user",),
            description="kernel image",
            rule_text="__kimg_to_phys(va) = va - kimage_voffset",
        ),
    ),
    one_gib_feature=None,
    # Linux 6.1 MAIR_EL1 (arch/arm64/include/asm/memory.h MT_*): used when the dump has no MAIR
    cache_names={0: "Normal", 1: "Normal-Tagged", 2: "Normal-NC", 3: "Device-nGnRnE", 4: "Device-nGnRE"},
)

XV6_MAXVA = 1 << 38  # kernel/riscv.h: one bit less than Sv39's 39, to avoid sign-extending VAs

XV6_RISCV = Profile(
    name="xv6-riscv",
    arch="riscv64",
    description="xv6-riscv (kernel/memlayout.h, kernel/vm.c kvmmake): the kernel page table maps RAM "
    "KERNBASE..PHYSTOP at the same VA, the trampoline page at MAXVA - PGSIZE, and the kernel stacks "
    "below it, each with an unmapped guard page",
    facts={
        "KERNBASE": 0x8000_0000,
        "PHYSTOP": 0x8800_0000,
        "MAXVA": XV6_MAXVA,
        "TRAMPOLINE": XV6_MAXVA - 4 * KiB,
    },
    ram_required_types=(1,),
    regions=(
        Region(
            name="direct-map",
            role="pmo",
            va_start="KERNBASE",
            va_end="PHYSTOP",
            pa_base="KERNBASE",
            required=("present", "supervisor"),
            forbidden=("user",),
            exempt=(
                Exempt(
                    "KERNBASE",
                    "SYMBOL(etext)",
                    ("nx",),
                    "kernel text is mapped R-X (kvmmap(kpgtbl, KERNBASE, KERNBASE, etext-KERNBASE, PTE_R | PTE_X))",
                ),
            ),
            description="direct map",
            rule_text="identity: VA = PA for KERNBASE <= PA < PHYSTOP (kernel/vm.c kvmmake)",
        ),
        Region(
            name="kernel-text",
            role="image",
            va_start="KERNBASE",
            va_end="SYMBOL(etext)",
            pa_base="KERNBASE",
            required=("present", "exec", "supervisor"),
            forbidden=("user", "writable"),
            description="kernel text",
            rule_text="identity, read and execute only",
        ),
        Region(
            name="trampoline",
            role="window",
            va_start="TRAMPOLINE",
            va_end="MAXVA",
            pa_base="SYMBOL(trampoline)",
            required=("present", "exec", "supervisor"),
            forbidden=("user", "writable"),
            description="trampoline page",
            rule_text="TRAMPOLINE = MAXVA - PGSIZE maps the trampoline code (kernel/trampoline.S)",
        ),
    ),
    user_ok=(),
    one_gib_feature=None,
    kernel_half=0,  # the kernel has a page table of its own: nothing in it may be user-accessible
    stacks=StackRule(
        top="TRAMPOLINE",
        stride=8 * KiB,
        size=4 * KiB,
        count=64,
        description="kernel stacks: KSTACK(p) = TRAMPOLINE - (p + 1) * 2 * PGSIZE for NPROC = 64 (kernel/memlayout.h)",
    ),
)

LINUX_RISCV64 = Profile(
    name="linux-riscv64",
    arch="riscv64",
    description="Linux riscv64 (6.x): linear map at PAGE_OFFSET (Sv39 0xffffffd600000000, Sv48 "
    "0xffffaf8000000000, Sv57 0xff60000000000000) from phys_ram_base, kernel image at KERNEL_LINK_ADDR "
    "(arch/riscv/include/asm/page.h, pgtable.h)",
    facts={"KERNEL_LINK_ADDR": 0xFFFF_FFFF_8000_0000},
    ram_required_types=(1,),
    regions=(
        Region(
            name="linear-map",
            role="pmo",
            va_start="PAGE_OFFSET",
            va_end=None,
            pa_base="phys_ram_base",
            required=("present", "nx", "supervisor"),
            forbidden=("user",),
            page_sizes=(4 * KiB, 2 * MiB, GiB, 512 * GiB),
            must_not_reach=("kernel-image",),
            description="linear map",
            rule_text="__va(pa) = pa - phys_ram_base + PAGE_OFFSET",
        ),
        Region(
            name="kernel-image",
            role="image",
            va_start="KERNEL_LINK_ADDR",
            va_end=None,
            pa_base="kernel_pa",
            forbidden=("user",),
            description="kernel image",
            rule_text="__pa_symbol(va) = va - KERNEL_LINK_ADDR + load address",
        ),
    ),
    one_gib_feature=None,
)

# An AArch64 dump without VMCOREINFO: no kernel layout is known (the seed design is x86_64's), so no PMO or
# image regions; the structural and W+X checks still run, and a layout spec (--spec) adds regions.
AARCH64_GENERIC = Profile(
    name="aarch64-generic",
    arch="aarch64",
    description="AArch64 kernel of unknown layout: page-table structure and W+X only (--spec describes a layout)",
    regions=(),
    one_gib_feature=None,
)

BUILTIN: dict[str, Profile] = {
    p.name: p for p in (SEED, LINUX_X86_64, LINUX_ARM64, XV6_RISCV, LINUX_RISCV64, AARCH64_GENERIC)
}


def builtin(name: str) -> Profile:
    try:
        return BUILTIN[name]
    except KeyError:
        raise DumpFormatError("--profile", None, f"one of {', '.join(BUILTIN)}", repr(name)) from None


def pick_profile(arch: str | None, vmcoreinfo: Mapping[str, str] | None) -> tuple[str, str]:
    """The profile name for a dump, and why: VMCOREINFO means Linux, otherwise the seed design (x86_64),
    xv6 (riscv64; ``resolve_profile`` turns it into linux-riscv64 when the upper half is mapped) or no
    layout at all (aarch64)."""
    rel = vmcoreinfo.get("OSRELEASE", "?") if vmcoreinfo else "?"
    if arch == "riscv64":
        if vmcoreinfo:
            return "linux-riscv64", f"the dump carries VMCOREINFO (Linux {rel}, riscv64)"
        return "xv6-riscv", "riscv64 without VMCOREINFO: the xv6-riscv design"
    if arch == "aarch64" and not vmcoreinfo:
        return "aarch64-generic", "aarch64 without VMCOREINFO: no known kernel layout (structure and W+X only)"
    if vmcoreinfo:
        if arch == "aarch64":
            return "linux-arm64", f"the dump carries VMCOREINFO (Linux {rel}, arm64)"
        return "linux-x86_64", f"the dump carries VMCOREINFO (Linux {rel}, x86_64)"
    return "seed", "no VMCOREINFO in the dump: the seed kernel design (docs/seed-design.md)"


# -- expressions over facts --------------------------------------------------------------------------
_TOKEN = re.compile(r"\s*(?:(0[xX][0-9a-fA-F_]+|\d[\d_]*)|([A-Za-z_][A-Za-z0-9_()]*)|([+-]))")


class FactMissing(LookupError):
    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(name)


def evaluate(expr: Expr, facts: Mapping[str, int]) -> int:
    """``expr`` is an int or ``term (+|- term)*`` with terms hex/decimal numbers or fact names."""
    if isinstance(expr, bool):
        raise ValueError("a boolean is not an address")  # noqa: TRY004 - callers catch ValueError
    if isinstance(expr, int):
        return expr & U64
    pos, total, sign, want_term = 0, 0, 1, True
    text = expr.strip()
    if not text:
        raise ValueError("empty expression")
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise ValueError(f"cannot read {text[pos:]!r} in {expr!r}")
        pos = m.end()
        num, name, op = m.groups()
        if op:
            if want_term and op == "-":
                sign = -sign
                continue
            if want_term:
                raise ValueError(f"operator where a value belongs in {expr!r}")
            sign, want_term = (1 if op == "+" else -1), True
            continue
        if not want_term:
            raise ValueError(f"two values without an operator in {expr!r}")
        if num is not None:
            value = int(num.replace("_", ""), 0)
        else:
            assert name is not None
            if name not in facts:
                raise FactMissing(name)
            value = facts[name]
        total += sign * value
        sign, want_term = 1, False
    if want_term:
        raise ValueError(f"expression ends with an operator: {expr!r}")
    return total & U64


# -- resolved profile --------------------------------------------------------------------------------
@dataclass(frozen=True)
class ResolvedExempt:
    """``Exempt`` resolved to numbers: inside [pa_start, pa_end) the listed ``attrs`` are not enforced."""

    pa_start: int
    pa_end: int
    attrs: frozenset[str]
    reason: str


@dataclass(frozen=True)
class ResolvedAllowed:
    """A VA range where a rule is allowed to be broken, and why, resolved to numbers."""

    start: int
    end: int
    reason: str


@dataclass(frozen=True)
class ResolvedRegion:
    """A profile region with its bounds evaluated against this dump's facts."""

    name: str
    role: str
    va_start: int
    va_end: int | None
    pa_base: int
    required: frozenset[str]
    forbidden: frozenset[str]
    page_sizes: tuple[int, ...] | None
    cover_types: tuple[int, ...]
    note_types: tuple[int, ...]
    exempt: tuple[ResolvedExempt, ...]
    extra_ok: tuple[ResolvedAllowed, ...]
    must_not_reach: tuple[str, ...]
    description: str
    rule_text: str

    def pa_of(self, va: int) -> int:
        return (va - self.va_start + self.pa_base) & U64

    def va_of(self, pa: int) -> int:
        return (pa - self.pa_base + self.va_start) & U64

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "role": self.role,
            "va_start": hex(self.va_start),
            "va_end": None if self.va_end is None else hex(self.va_end),
            "pa_base": hex(self.pa_base),
            "required": sorted(self.required),
            "forbidden": sorted(self.forbidden),
            "page_sizes": list(self.page_sizes) if self.page_sizes else None,
            "rule": self.rule_text,
        }


@dataclass
class ResolvedProfile:
    """A profile with its expressions evaluated against this dump's facts, and where each fact came from."""

    profile: Profile
    regions: list[ResolvedRegion]
    facts: dict[str, int]
    fact_sources: dict[str, str]
    unresolved: list[str]  # regions dropped because a fact was missing, with the reason
    why: str = ""  # why this profile was picked
    user_ok: tuple[ResolvedAllowed, ...] = ()

    @property
    def name(self) -> str:
        return self.profile.name

    def region(self, name: str) -> ResolvedRegion | None:
        for r in self.regions:
            if r.name == name:
                return r
        return None

    def regions_of(self, role: str) -> list[ResolvedRegion]:
        return [r for r in self.regions if r.role == role]

    def used_facts(self) -> list[str]:
        """Facts the profile's expressions refer to (not every VMCOREINFO key), in a stable order."""
        names: set[str] = set()
        exprs: list[Any] = list(self.profile.facts.values())
        for r in self.profile.regions:
            exprs += [r.va_start, r.va_end, r.pa_base]
        for e in exprs:
            if isinstance(e, str):
                names.update(t for t in re.findall(r"[A-Za-z_][A-Za-z0-9_()]*", e))
        names.update(k for k in self.profile.facts)
        return [k for k in self.facts if k in names]

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "source": self.profile.source,
            "why": self.why,
            "facts": {
                k: {"value": hex(self.facts[k]), "source": self.fact_sources.get(k, "")} for k in self.used_facts()
            },
            "regions": [r.to_json() for r in self.regions],
            "unresolved": self.unresolved,
        }


def resolve(profile: Profile, facts: Mapping[str, int], sources: Mapping[str, str], why: str = "") -> ResolvedProfile:
    all_facts = dict(facts)
    all_sources = dict(sources)
    for k, v in profile.facts.items():
        if k not in all_facts:
            try:
                all_facts[k] = evaluate(v, all_facts)
                all_sources.setdefault(k, f"{profile.name} profile constant")
            except (FactMissing, ValueError):
                pass
    regions: list[ResolvedRegion] = []
    unresolved: list[str] = []
    for r in profile.regions:
        try:

            def ev(e: Expr) -> int:
                return evaluate(e, all_facts)

            regions.append(
                ResolvedRegion(
                    name=r.name,
                    role=r.role,
                    va_start=ev(r.va_start),
                    va_end=None if r.va_end is None else ev(r.va_end),
                    pa_base=ev(r.pa_base),
                    required=frozenset(r.required),
                    forbidden=frozenset(r.forbidden),
                    page_sizes=r.page_sizes,
                    cover_types=r.cover_types if r.cover_types is not None else profile.ram_required_types,
                    note_types=r.note_types if r.note_types is not None else profile.ram_noted_types,
                    exempt=tuple(
                        ResolvedExempt(ev(x.pa_start), ev(x.pa_end), frozenset(x.attrs), x.reason) for x in r.exempt
                    ),
                    extra_ok=tuple(ResolvedAllowed(ev(a.start), ev(a.end), a.reason) for a in r.extra_ok),
                    must_not_reach=r.must_not_reach,
                    description=r.description or r.name,
                    rule_text=r.rule_text or f"PA = VA - {r.va_start} + {r.pa_base}",
                )
            )
        except FactMissing as exc:
            unresolved.append(f"region {r.name}: {exc.name} is not known for this dump")
    user_ok = []
    for a in profile.user_ok:
        with contextlib.suppress(FactMissing):
            user_ok.append(ResolvedAllowed(evaluate(a.start, all_facts), evaluate(a.end, all_facts), a.reason))
    return ResolvedProfile(profile, regions, all_facts, all_sources, unresolved, why, tuple(user_ok))


# -- TOML layout specs -------------------------------------------------------------------------------
def _expr(v: Any, path: str, where: str) -> Expr:
    if isinstance(v, bool) or not isinstance(v, (int, str)):
        raise DumpFormatError(
            path, None, f'{where}: an address (integer, "0x..." or an expression over facts)', repr(v)
        )
    if isinstance(v, str):
        try:
            evaluate(v, _AnyFacts())
        except ValueError as exc:
            raise DumpFormatError(path, None, f'{where}: an expression like "PHYS_OFFSET + 0x1000"', str(exc)) from None
    return v


class _AnyFacts(dict):  # type: ignore[type-arg]
    """Syntax check only: every name is a fact worth 0."""

    def __contains__(self, key: object) -> bool:
        return True

    def __getitem__(self, key: Any) -> int:
        return 0


def _page_sizes(v: Any, path: str, where: str) -> tuple[int, ...]:
    if not isinstance(v, list):
        raise DumpFormatError(path, None, f'{where}: a list like ["4K", "2M", "1G"]', repr(v))
    out = []
    for s in v:
        if isinstance(s, int) and not isinstance(s, bool):
            out.append(s)
        elif isinstance(s, str) and s in PAGE_SIZE_NAMES:
            out.append(PAGE_SIZE_NAMES[s])
        else:
            raise DumpFormatError(
                path, None, f"{where}: page sizes among {', '.join(PAGE_SIZE_NAMES)} or bytes", repr(s)
            )
    return tuple(out)


def _attrs(v: Any, path: str, where: str) -> tuple[str, ...]:
    if not isinstance(v, list) or not all(isinstance(a, str) and a in ATTRS for a in v):
        raise DumpFormatError(path, None, f"{where}: a list of attributes among {', '.join(ATTRS)}", repr(v))
    return tuple(v)


def _types(v: Any, path: str, where: str) -> tuple[int, ...]:
    if not isinstance(v, list) or not all(isinstance(t, int) and not isinstance(t, bool) for t in v):
        raise DumpFormatError(path, None, f"{where}: a list of memory type numbers (1 = RAM, 3 = ACPI, ...)", repr(v))
    return tuple(v)


def _str(v: Any, path: str, where: str) -> str:
    if not isinstance(v, str):
        raise DumpFormatError(path, None, f"{where}: a string", repr(v))
    return v


REGION_KEYS = {
    "name",
    "role",
    "va_start",
    "va_end",
    "pa_base",
    "required",
    "forbidden",
    "page_sizes",
    "cover_types",
    "note_types",
    "exempt",
    "extra_ok",
    "must_not_reach",
    "description",
    "rule",
    "remove",
}
TOP_KEYS = {"name", "extends", "arch", "description", "facts", "ram", "regions", "replace_regions", "user_ok"}


def _allowed_list(v: Any, path: str, where: str) -> tuple[Allowed, ...]:
    if not isinstance(v, list):
        raise DumpFormatError(path, None, f"{where}: an array of tables with start, end, reason", repr(v))
    out = []
    for i, a in enumerate(v):
        w = f"{where}[{i}]"
        if not isinstance(a, dict) or "start" not in a or "end" not in a:
            raise DumpFormatError(path, None, f"{w}: a table with start and end", repr(a))
        out.append(
            Allowed(
                _expr(a["start"], path, w + ".start"),
                _expr(a["end"], path, w + ".end"),
                _str(a.get("reason", ""), path, w + ".reason"),
            )
        )
    return tuple(out)


def _region_fields(d: dict[str, Any], path: str, where: str) -> dict[str, Any]:
    unknown = set(d) - REGION_KEYS
    if unknown:
        raise DumpFormatError(
            path, None, f"{where}: keys among {', '.join(sorted(REGION_KEYS))}", ", ".join(sorted(unknown))
        )
    out: dict[str, Any] = {}
    if "role" in d:
        if d["role"] not in ROLES:
            raise DumpFormatError(path, None, f"{where}.role: one of {', '.join(ROLES)}", repr(d["role"]))
        out["role"] = d["role"]
    for k in ("va_start", "pa_base"):
        if k in d:
            out[k] = _expr(d[k], path, f"{where}.{k}")
    if "va_end" in d:
        out["va_end"] = None if d["va_end"] in ("", "none") else _expr(d["va_end"], path, f"{where}.va_end")
    for k in ("required", "forbidden"):
        if k in d:
            out[k] = _attrs(d[k], path, f"{where}.{k}")
    if "page_sizes" in d:
        out["page_sizes"] = _page_sizes(d["page_sizes"], path, f"{where}.page_sizes")
    for k in ("cover_types", "note_types"):
        if k in d:
            out[k] = _types(d[k], path, f"{where}.{k}")
    if "must_not_reach" in d:
        v = d["must_not_reach"]
        if not isinstance(v, list) or not all(isinstance(s, str) for s in v):
            raise DumpFormatError(path, None, f"{where}.must_not_reach: a list of region names", repr(v))
        out["must_not_reach"] = tuple(v)
    if "exempt" in d:
        ex = []
        if not isinstance(d["exempt"], list):
            raise DumpFormatError(path, None, f"{where}.exempt: an array of tables", repr(d["exempt"]))
        for i, x in enumerate(d["exempt"]):
            w = f"{where}.exempt[{i}]"
            if not isinstance(x, dict) or not {"pa_start", "pa_end", "attrs"} <= set(x):
                raise DumpFormatError(path, None, f"{w}: a table with pa_start, pa_end, attrs, reason", repr(x))
            ex.append(
                Exempt(
                    _expr(x["pa_start"], path, w),
                    _expr(x["pa_end"], path, w),
                    _attrs(x["attrs"], path, w),
                    _str(x.get("reason", ""), path, w),
                )
            )
        out["exempt"] = tuple(ex)
    if "extra_ok" in d:
        out["extra_ok"] = _allowed_list(d["extra_ok"], path, f"{where}.extra_ok")
    if "description" in d:
        out["description"] = _str(d["description"], path, f"{where}.description")
    if "rule" in d:
        out["rule_text"] = _str(d["rule"], path, f"{where}.rule")
    return out


def load_spec(path: str, base: Profile | None = None) -> Profile:
    """A profile from a TOML layout spec. ``extends = "seed"`` (or ``base``, the profile picked from the
    dump, when the spec names none and does not set ``replace_regions``) supplies what it does not say."""
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except OSError as exc:
        raise DumpFormatError(path, None, "a readable TOML layout spec", exc.strerror or str(exc)) from None
    except tomllib.TOMLDecodeError as exc:
        raise DumpFormatError(path, None, "valid TOML", str(exc)) from None
    unknown = set(data) - TOP_KEYS
    if unknown:
        raise DumpFormatError(
            path, None, f"top-level keys among {', '.join(sorted(TOP_KEYS))}", ", ".join(sorted(unknown))
        )
    parent: Profile | None = base
    if "extends" in data:
        parent = builtin(_str(data["extends"], path, "extends"))
    replace_regions = bool(data.get("replace_regions", False))
    if parent is None:
        if "arch" not in data:
            raise DumpFormatError(path, None, 'extends = "<profile>" or an arch for a standalone spec', "neither")
        parent = Profile(
            name="spec",
            arch=_str(data["arch"], path, "arch"),
            description="",
            regions=(),
            one_gib_feature="pdpe1gb" if data["arch"] == "x86_64" else None,
        )
    facts = dict(parent.facts)
    if "facts" in data:
        if not isinstance(data["facts"], dict):
            raise DumpFormatError(path, None, "[facts]: a table of name = value", repr(data["facts"]))
        for k, v in data["facts"].items():
            facts[k] = _expr(v, path, f"facts.{k}")
    regions: list[Region] = [] if replace_regions else list(parent.regions)
    raw_regions = data.get("regions", [])
    if not isinstance(raw_regions, list):
        raise DumpFormatError(path, None, "[[regions]]: an array of tables", repr(raw_regions))
    for i, d in enumerate(raw_regions):
        where = f"regions[{i}]"
        if not isinstance(d, dict) or "name" not in d:
            raise DumpFormatError(path, None, f"{where}: a table with a name", repr(d))
        name = _str(d["name"], path, f"{where}.name")
        existing = next((j for j, r in enumerate(regions) if r.name == name), None)
        if d.get("remove"):
            if existing is not None:
                regions.pop(existing)
            continue
        fields = _region_fields(d, path, where)
        if existing is not None:
            regions[existing] = replace(regions[existing], **fields)
        else:
            if "role" not in fields or "va_start" not in fields:
                raise DumpFormatError(path, None, f"{where}: a new region needs role and va_start", name)
            regions.append(Region(name=name, **fields))
    ram = data.get("ram", {})
    if not isinstance(ram, dict):
        raise DumpFormatError(path, None, "[ram]: a table", repr(ram))
    required_types = (
        _types(ram["required_types"], path, "ram.required_types")
        if "required_types" in ram
        else parent.ram_required_types
    )
    noted_types = (
        _types(ram["noted_types"], path, "ram.noted_types") if "noted_types" in ram else parent.ram_noted_types
    )
    user_ok = parent.user_ok + (_allowed_list(data["user_ok"], path, "user_ok") if "user_ok" in data else ())
    name = _str(data.get("name", f"{parent.name}+spec" if parent.regions else "spec"), path, "name")
    return replace(
        parent,
        name=name,
        description=_str(data.get("description", parent.description), path, "description"),
        regions=tuple(regions),
        facts=facts,
        ram_required_types=required_types,
        ram_noted_types=noted_types,
        user_ok=user_ok,
        source=path,
    )


# -- facts from the dump -----------------------------------------------------------------------------
def vmcoreinfo_facts(info: Mapping[str, str] | None) -> tuple[dict[str, int], dict[str, str]]:
    """Every SYMBOL(x) as ``SYMBOL(x)`` (an address) and NUMBER(x) as ``x`` (a value), plus KERNELOFFSET,
    with their sources."""
    facts: dict[str, int] = {}
    sources: dict[str, str] = {}
    if not info:
        return facts, sources
    for key in info:
        m = re.fullmatch(r"(SYMBOL|NUMBER)\((\w+)\)", key)
        if not m:
            continue
        # SYMBOL(x) is the address of x, kept under its own name; NUMBER(x) is a value, kept as x
        v = vmci.symbol(info, m.group(2)) if m.group(1) == "SYMBOL" else vmci.number(info, m.group(2))
        name = key if m.group(1) == "SYMBOL" else m.group(2)
        if v is not None:
            facts[name] = v & U64
            sources[name] = f"VMCOREINFO {key}"
    off = vmci.kernel_offset(info)
    if off is not None:
        facts["KERNELOFFSET"] = off
        sources["KERNELOFFSET"] = "VMCOREINFO KERNELOFFSET"
    return facts, sources

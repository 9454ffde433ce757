"""Names for the parts of a kernel address space, as the kernel's own page-table dump (ptdump) prints
them: ``---[ Direct map ]---``, ``vmalloc() Area``, ``Vmemmap``, ``CPU entry Area``, ``ESPfix Area``,
``High Kernel Mapping``, ``Modules``, ``Fixmap Area``; the seed design's PMO and kernel image.

Where a region starts comes, in order of trust, from the profile the checks resolve (the direct map's
``page_offset_base`` read or inferred, the kernel image), then from the architecture's fixed layout
(Linux ``Documentation/arch/x86/x86_64/mm.rst``, ``arch/arm64/include/asm/memory.h``). Linux x86_64
with KASLR moves vmalloc and vmemmap by a random offset the dump does not record: the mappings found
between the direct map and the CPU entry area are then named by their order (vmalloc below vmemmap)
and the name says it was inferred.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from itertools import chain

from pmoview.checks.profiles import ResolvedProfile

TIB = 1 << 40
U64 = (1 << 64) - 1


@dataclass(frozen=True)
class Region:
    """VA ``[start, end)`` (``end`` exclusive, at most 2**64) and its ptdump name."""

    start: int
    end: int
    name: str


# Linux x86_64, 4-level and 5-level paging: the parts that KASLR does not move.
_X86_FIXED_TOP = (
    (0xFFFF_FE00_0000_0000, 0xFFFF_FE80_0000_0000, "CPU entry Area"),
    (0xFFFF_FF00_0000_0000, 0xFFFF_FF80_0000_0000, "ESPfix Area"),
    (0xFFFF_FFEF_0000_0000, 0xFFFF_FFFF_0000_0000, "EFI Runtime Services"),
    (0xFFFF_FFFF_FF00_0000, 1 << 64, "Fixmap Area"),
)


@dataclass(frozen=True)
class _X86Layout:
    """Linux x86_64's fixed layout for one paging depth (``Documentation/arch/x86/x86_64/mm.rst``)."""

    user_end: int
    ldt: tuple[int, int]
    page_offset: int  # the direct map's start without KASLR
    vmalloc: tuple[int, int]  # start without KASLR, size
    vmemmap: tuple[int, int]
    kasan: tuple[int, int]


_X86_4L = _X86Layout(
    0x0000_8000_0000_0000,
    (0xFFFF_8800_0000_0000, 0xFFFF_8880_0000_0000),
    0xFFFF_8880_0000_0000,
    (0xFFFF_C900_0000_0000, 32 * TIB),
    (0xFFFF_EA00_0000_0000, 1 * TIB),
    (0xFFFF_EC00_0000_0000, 0xFFFF_FC00_0000_0000),
)
_X86_5L = _X86Layout(
    0x0100_0000_0000_0000,
    (0xFF10_0000_0000_0000, 0xFF11_0000_0000_0000),
    0xFF11_0000_0000_0000,
    (0xFFA0_0000_0000_0000, 12800 * TIB),
    (0xFFD4_0000_0000_0000, 512 * TIB),
    (0xFFDF_0000_0000_0000, 0xFFFF_FC00_0000_0000),
)
START_KERNEL_MAP = 0xFFFF_FFFF_8000_0000
MODULES_END = 0xFFFF_FFFF_FF00_0000


def _profile_region(profile: ResolvedProfile | None, role: str) -> tuple[int, int | None] | None:
    if profile is None:
        return None
    found = profile.regions_of(role)
    return (found[0].va_start, found[0].va_end) if found else None


def layout_regions(
    arch: str,
    mode: str,
    profile: ResolvedProfile | None,
    mapped: Callable[[], Iterable[tuple[int, int]]] = lambda: (),
) -> list[Region]:
    """The named regions of the kernel half (and the user half), sorted, not overlapping. ``mapped``
    (VA start/end of each mapping, ascending; called only when needed) places what KASLR moved and the
    dump does not say."""
    name = profile.name if profile is not None else ""
    if name == "seed" or (profile is not None and not name.startswith("linux")):
        return _from_profile(profile, {"pmo": "PMO (direct map)", "image": "Kernel image"})
    if arch == "x86_64":
        return _linux_x86(mode, profile, mapped)
    if arch == "aarch64":
        return _linux_arm64(profile)
    return _from_profile(profile, {"pmo": "Direct map", "image": "Kernel image"})


def _from_profile(profile: ResolvedProfile | None, names: dict[str, str]) -> list[Region]:
    out = []
    for role, label in names.items():
        r = _profile_region(profile, role)
        if r is not None:
            start, end = r
            out.append(Region(start, end if end is not None else _next_tb(start), label))
    return _clean(out)


def _next_tb(va: int) -> int:
    """A PMO's end when the profile leaves it open (up to the top of RAM): the next 512 GiB boundary
    above its start, the span of one top-level entry."""
    return min((va | ((1 << 39) - 1)) + 1, 1 << 64)


def _linux_x86(
    mode: str, profile: ResolvedProfile | None, mapped: Callable[[], Iterable[tuple[int, int]]]
) -> list[Region]:
    lay = _X86_5L if "5level" in mode else _X86_4L
    kasan0, kasan1 = lay.kasan
    out = [Region(0, lay.user_end, "User Space"), Region(*lay.ldt, "LDT remap")]
    direct = _profile_region(profile, "pmo")
    page_offset = direct[0] if direct is not None else lay.page_offset
    image = _profile_region(profile, "image")
    image_end = image[1] if image is not None and image[1] is not None else START_KERNEL_MAP + (1 << 30)
    (vmalloc0, vmalloc_size), (vmemmap0, vmemmap_size) = lay.vmalloc, lay.vmemmap
    if page_offset == lay.page_offset:  # no KASLR: the documented layout
        out += [
            Region(page_offset, vmalloc0 - TIB, "Direct map"),
            Region(vmalloc0, vmalloc0 + vmalloc_size, "vmalloc() Area"),
            Region(vmemmap0, vmemmap0 + vmemmap_size, "Vmemmap"),
        ]
        out += [Region(kasan0, kasan1, "KASAN shadow")]
    else:  # KASLR: the randomized regions may reach up to the CPU entry area (Debian: no KASAN)
        out += _kaslr_regions(page_offset, lay, _X86_FIXED_TOP[0][0], mapped())
    out += [Region(a, b, n) for a, b, n in _X86_FIXED_TOP]
    out += [Region(START_KERNEL_MAP, image_end, "High Kernel Mapping"), Region(image_end, MODULES_END, "Modules")]
    return _clean(out)


def _kaslr_regions(page_offset: int, lay: _X86Layout, limit: int, mapped: Iterable[tuple[int, int]]) -> list[Region]:
    """KASLR keeps the order direct map < vmalloc < vmemmap, each moved by a random multiple of 1 GiB
    (``arch/x86/mm/kaslr.c``). The direct map is the profile's; vmalloc starts at the 1 GiB below the
    first mapping above the direct map and spans its fixed size; vmemmap starts at the 1 GiB below
    the first mapping after that. ``mapped`` is read in one pass and only as far as the vmemmap's first
    mapping: a stream of a huge tree's mappings is never held."""
    gib = (1 << 30) - 1
    direct_end = page_offset
    rest = iter(mapped)
    for start, end in rest:  # the direct map's own mappings: contiguous from page_offset_base
        if start < page_offset:
            continue
        if start >= page_offset + 64 * TIB or start - direct_end >= TIB:
            rest = chain([(start, end)], rest)  # ascending: no later mapping can extend the direct map
            break
        direct_end = end
    direct_end = (direct_end + gib) & ~gib
    out = [Region(page_offset, direct_end, "Direct map")]
    above = (start for start, _ in rest if direct_end <= start < limit)
    first = next(above, None)
    if first is None:
        return out
    vmalloc0 = first & ~gib
    vmalloc1 = min(vmalloc0 + lay.vmalloc[1], limit)
    out.append(Region(vmalloc0, vmalloc1, "vmalloc() Area (KASLR base inferred)"))
    after = next((start for start in chain([first], above) if start >= vmalloc1), None)
    if after is not None:
        vmemmap0 = after & ~gib
        out.append(Region(vmemmap0, min(vmemmap0 + lay.vmemmap[1], limit), "Vmemmap (KASLR base inferred)"))
    return out


def _linux_arm64(profile: ResolvedProfile | None) -> list[Region]:
    """arm64 with 48-bit VAs and 4 KiB pages (Debian's kernels): ``arch/arm64/include/asm/memory.h``."""
    linear = _profile_region(profile, "pmo")
    page_offset = linear[0] if linear is not None else 0xFFFF_0000_0000_0000
    linear_end = 0xFFFF_8000_0000_0000
    modules_end = linear_end + (2 << 30)
    vmemmap = 0xFFFF_FC00_0000_0000
    out = [
        Region(0, 1 << 48, "User Space"),
        Region(page_offset, linear_end, "Linear Mapping"),
        Region(linear_end, modules_end, "Modules"),
        Region(modules_end, 0xFFFF_FBFF_FDC0_0000, "vmalloc() area"),
        Region(0xFFFF_FBFF_FDC0_0000, 0xFFFF_FBFF_FE80_0000, "Fixmap"),
        Region(0xFFFF_FBFF_FE80_0000, 0xFFFF_FBFF_FF80_0000, "PCI I/O"),
        Region(vmemmap, vmemmap + (2 << 40), "vmemmap"),
    ]
    image = _profile_region(profile, "image")
    if image is not None:
        start = image[0] & ~((2 << 20) - 1)
        end = image[1] if image[1] is not None else start + (64 << 20)
        out.append(Region(start, end, "Kernel image"))
    return _clean(out)


def _clean(regions: list[Region]) -> list[Region]:
    """Sorted by start; a region that starts inside an earlier one cuts that one short (the more
    specific, later-listed region wins: the kernel image inside vmalloc on arm64)."""
    regions = sorted((r for r in regions if r.end > r.start), key=lambda r: r.start)
    out: list[Region] = []
    for r in regions:
        while out and out[-1].end > r.start:
            prev = out.pop()
            if prev.start < r.start:
                out.append(Region(prev.start, r.start, prev.name))
            if prev.end > r.end:
                out.append(r)
                r = Region(r.end, prev.end, prev.name)
                break
        out.append(r)
    return sorted(out, key=lambda r: r.start)


def region_of(regions: list[Region], va: int) -> Region | None:
    """The region holding ``va`` (``regions`` from ``layout_regions``)."""
    lo, hi = 0, len(regions)
    while lo < hi:
        mid = (lo + hi) // 2
        if regions[mid].end <= va:
            lo = mid + 1
        else:
            hi = mid
    if lo < len(regions) and regions[lo].start <= va:
        return regions[lo]
    return None

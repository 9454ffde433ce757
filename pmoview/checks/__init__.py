"""Checks: judge an address space against a profile and a RAM map, and report findings.

``run_checks(space_or_spaces, mem, profile=None, kernel=None, ram=None, options=None) -> Report``

- ``profile``: a built-in name (``seed``, ``linux-x86_64``, ``linux-arm64``), a ``Profile``, or None to
  pick from the dump (VMCOREINFO -> linux-*, else seed); ``spec`` (a TOML path) extends or overrides it.
- ``ram``: a ``RamMap``, a list of (start, end) ranges, or None to find one (``ram.find_ram``).
- ``options``: ``CheckOptions`` (CPU features, 1 GiB pages, marks, where to look for the RAM map).

Modules, one job each: ``findings`` (Finding, severities, merging), ``profiles`` (profiles as data,
TOML specs), ``ram`` (the RAM map and its source), ``pmo``, ``kernel_image``, ``wx``, ``structure``,
``stacks`` (the check families), ``marks`` (user marks -> findings), ``report`` (text, JSON, SARIF, JUnit).
Nothing here imports Textual.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from types import ModuleType

from parsers.errors import DumpFormatError
from pmoview.checks import kernel_image, pmo, pti, stacks, structure, wx
from pmoview.checks.context import CheckContext, CheckOptions
from pmoview.checks.coverage import CoverageRange, PmoCoverage
from pmoview.checks.facts import gather_facts
from pmoview.checks.findings import (
    ERROR,
    INFO,
    WARNING,
    Finding,
    cap_findings,
    group_across_roots,
    merge_pending,
    sort_findings,
)
from pmoview.checks.marks import apply_marks
from pmoview.checks.profiles import BUILTIN, Profile, ResolvedProfile, builtin, load_spec, pick_profile, resolve
from pmoview.checks.ram import RamMap, RamRange, find_ram
from pmoview.checks.report import Report
from pmoview.kernel import KernelImage
from pmoview.marks import Mark
from pmoview.memory import PhysicalMemory
from pmoview.space import AddressSpace

__all__ = [
    "BUILTIN",
    "ERROR",
    "INFO",
    "WARNING",
    "CheckOptions",
    "CoverageRange",
    "Finding",
    "PmoCoverage",
    "Profile",
    "RamMap",
    "RamRange",
    "Report",
    "ResolvedProfile",
    "load_spec",
    "resolve_profile",
    "run_checks",
]

FAMILIES = (pmo, kernel_image, wx, structure, stacks)
# A root that is not the kernel's view (a PTI user PGD, a TTBR0 or user-only table) is judged by
# what that kind must hold, never by the PMO or kernel-image rules (pmoview.rootkind).
USER_ROOT_FAMILIES = (pti, structure)


def _families(space: AddressSpace) -> tuple[ModuleType, ...]:
    return USER_ROOT_FAMILIES if space.root.kind in ("pti-user", "user") else FAMILIES


def resolve_profile(
    space: AddressSpace,
    mem: PhysicalMemory,
    profile: str | Profile | ResolvedProfile | None = None,
    kernel: KernelImage | None = None,
    spec: str | None = None,
) -> ResolvedProfile:
    if isinstance(profile, ResolvedProfile):
        return profile
    arch = space.root.arch or mem.arch
    if isinstance(profile, Profile):
        base, why = profile, "given"
    elif profile:
        base, why = builtin(profile), "--profile"
        if arch and base.arch != arch:  # a layout of another architecture judges nothing: say so, not "0 errors"
            raise DumpFormatError("--profile", None, f"a profile for {arch} dumps", f"{base.name} (for {base.arch})")
    else:
        name, why = pick_profile(arch, mem.vmcoreinfo)
        # the whole upper half is walked (leaf chunks, nothing kept), as the walks that follow expect
        if name == "xv6-riscv" and sum(len(c) for c in space.chunks(1 << 63, 1 << 64)) > 0:
            # xv6 maps nothing in the upper half; Linux maps its kernel and linear map there
            name, why = "linux-riscv64", "riscv64 without VMCOREINFO, upper half mapped: a Linux layout"
        base = builtin(name)
    if spec:
        base = load_spec(spec, base)
        why += f"; extended by {spec}"
    facts, sources = gather_facts(mem, space, kernel, base)
    return resolve(base, facts, sources, why)


def run_checks(
    space_or_spaces: AddressSpace | Sequence[AddressSpace],
    mem: PhysicalMemory,
    profile: str | Profile | ResolvedProfile | None = None,
    kernel: KernelImage | None = None,
    ram: RamMap | Sequence[tuple[int, int]] | None = None,
    options: CheckOptions | None = None,
    *,
    spec: str | None = None,
    marks: Iterable[Mark] | None = None,
) -> Report:
    spaces = [space_or_spaces] if isinstance(space_or_spaces, AddressSpace) else list(space_or_spaces)
    if not spaces:
        raise ValueError("run_checks needs at least one AddressSpace")
    opts = options or CheckOptions()
    if marks is not None:
        opts.marks = marks
    # facts (PMO base, kernel image) and the RAM map come from the first kernel root
    lead = next((s for s in spaces if s.root.kind not in ("pti-user", "user")), spaces[0])
    resolved = resolve_profile(lead, mem, profile, kernel, spec)
    if isinstance(ram, RamMap):
        ram_map = ram
    else:
        ranges = list(ram) if ram else opts.ram
        linux = resolved.name.startswith("linux")
        scan = opts.scan_ram and not linux
        e820 = opts.scan_ram and linux and resolved.profile.arch == "x86_64"
        ram_map = find_ram(mem, lead, kernel, ranges, opts.mb2_info, scan=scan, e820=e820)
    findings: list[Finding] = []
    suppressed: list[Finding] = []
    notes: list[str] = []
    skipped: dict[str, str] = {}
    coverage: list[PmoCoverage] = []
    for space in spaces:
        ctx = CheckContext(space, mem, resolved, ram_map, kernel, opts)
        for family in _families(space):
            ctx.sink.extend(family.check(ctx))
        got = merge_pending(ctx.sink)
        if opts.marks is not None:
            got, sup = apply_marks(ctx, got, opts.marks)
            suppressed += sup
        findings += got
        notes += [n for n in ctx.notes if n not in notes]
        for a in space.assumptions:
            if a not in notes:
                notes.append(a)
        skipped.update(ctx.skipped)
        coverage += ctx.coverage
    if not ram_map.authoritative:
        notes.insert(0, "RAM map: " + ram_map.detail)
    for why in resolved.unresolved:
        notes.append(f"profile {resolved.name}: {why}; that region was not checked")
    return Report(
        profile=resolved,
        ram=ram_map,
        findings=sort_findings(cap_findings(group_across_roots(findings))),  # the cap holds for the report
        suppressed=suppressed,
        roots=[s.root for s in spaces],
        dump=mem,
        notes=notes,
        skipped=skipped,
        coverage=coverage,
        cpu_features=opts.cpu_features,
        kernel=kernel,
    )

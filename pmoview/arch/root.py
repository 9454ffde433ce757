"""Where a translation starts (the top table and the paging mode), and the mode row it selects."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from pmoview.arch.mode import PagingMode, UnsupportedPaging
from pmoview.arch.x86_64 import MODES as X86_MODES
from pmoview.arch.x86_64 import x86_mode

if TYPE_CHECKING:
    from pmoview.arch.aarch64 import Granule


@dataclass(frozen=True)
class Root:
    """``table`` is the top table's physical address; ``source`` says where it came from in words.

    x86_64: ``nxe`` is EFER.NXE (None: not in the dump; the walk then reads bit 63 as XD and says so
    in ``AddressSpace.assumptions``), ``maxphyaddr`` the CPU's physical address width, ``page_1g``
    CPUID.pdpe1gb (False makes PS=1 in a PDPTE a reserved-bit fault), ``pat`` the IA32_PAT MSR.
    aarch64: ``mode`` names the granule (``aarch64-4k``, ``-16k``, ``-64k``), ``va_bits`` = 64 - TnSZ
    (default 48), ``start_level`` (checked against ``va_bits``), ``half`` "ttbr0" or "ttbr1" (default
    "ttbr1": the kernel half), ``mair`` MAIR_EL1, ``hpd`` TCR_EL1.HPDn, ``ds`` TCR_EL1.DS (None: a VA
    wider than 48 bits implies it); ``maxphyaddr`` is the PA size (TCR_EL1.IPS), capped at 48 bits
    unless the descriptors have a 52-bit format (LPA2 with DS = 1, LPA with 64 KiB). ``tcr`` is the
    TCR_EL1 value the parameters came from, when one did; ``tbi`` its TBIn (translate() then ignores a
    VA's top byte).
    riscv64: ``mode`` riscv64-sv39/sv48/sv57 (satp.MODE), ``asid`` satp.ASID, ``sum``/``mxr`` the
    sstatus bits (None: not known), ``svpbmt`` whether PBMT is implemented (else reserved).
    ``kind`` says what the root is for (``kernel``, ``pti-user``, ``user``: ``pmoview.rootkind``) and
    ``twin`` is a PTI user root's kernel PGD.
    """

    arch: str
    mode: str
    table: int
    source: str = ""
    nxe: bool | None = None
    maxphyaddr: int = 52
    va_bits: int | None = None
    start_level: int | None = None
    half: str | None = None
    mair: int | None = None
    cpu: int | None = None
    pat: int | None = None
    page_1g: bool = True
    hpd: bool = False
    ds: bool | None = None
    tcr: int | None = None
    tbi: bool = False  # AArch64 TCR_EL1.TBIn of this half: translate() ignores a VA's top byte (a tag)
    asid: int | None = None
    sum: bool | None = None
    mxr: bool | None = None
    svpbmt: bool = False
    kind: str | None = None  # "kernel", "pti-user", "user" (pmoview.rootkind); None: not classified
    twin: int | None = None  # a PTI user root's kernel PGD (PA)

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {"arch": self.arch, "mode": self.mode, "table": hex(self.table), "source": self.source}
        for name in ("nxe", "va_bits", "half", "cpu", "asid", "sum", "mxr"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        if self.mair is not None:
            out["mair"] = hex(self.mair)
        granule = _granule(self.mode) if self.arch == "aarch64" else None
        if granule is not None:
            out["granule"] = 1 << granule.shift
            out["va_bits"] = self.va_bits or 48
            try:
                mode = paging_mode(self)
            except UnsupportedPaging as exc:
                out["unsupported"] = str(exc)
            else:
                out["start_level"] = mode.levels[0].level
                out["top_table_entries"] = mode.levels[0].entries
                out["pa_bits"] = mode.oa_bits
                out["ds"] = granule.oa52 == "lpa2" and (self.ds if self.ds is not None else (self.va_bits or 48) > 48)
            if self.tcr is not None:
                out["tcr"] = hex(self.tcr)
                out["tbi"] = self.tbi
        if self.kind is not None:
            out["kind"] = self.kind
        if self.twin is not None:
            out["kernel_twin"] = hex(self.twin)
        return out


def _granule(mode: str) -> Granule | None:
    # The AArch64 and RISC-V rows are imported for roots of theirs only: an x86 command does not pay for them.
    from pmoview.arch.aarch64 import GRANULES

    return GRANULES.get(mode)


def paging_mode(root: Root) -> PagingMode:
    """The rows for this root. Raises UnsupportedPaging (a ValueError) for a mode or parameter the
    walker does not know, naming it."""
    if root.arch == "x86_64" and root.mode in X86_MODES:
        return x86_mode(
            root.mode, root.maxphyaddr, nxe=True if root.nxe is None else root.nxe, page_1g=root.page_1g, pat=root.pat
        )
    if root.arch == "aarch64":
        from pmoview.arch.aarch64 import GRANULES, aarch64_mode

        if root.mode not in GRANULES:
            raise UnsupportedPaging(f"no paging mode {root.mode!r} for arch {root.arch!r}")
        return aarch64_mode(
            root.mode,
            root.va_bits or 48,
            root.half or "ttbr1",
            root.maxphyaddr,
            root.mair,
            root.hpd,
            root.start_level,
            root.ds,
        )
    if root.arch == "riscv64":
        from pmoview.arch.riscv import MODES as RISCV_MODES
        from pmoview.arch.riscv import riscv_mode

        if root.mode in RISCV_MODES:
            return riscv_mode(root.mode, svpbmt=root.svpbmt, mxr=root.mxr)
    raise UnsupportedPaging(f"no paging mode {root.mode!r} for arch {root.arch!r}")

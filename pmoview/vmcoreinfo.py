"""Typed reading of VMCOREINFO. Encodings differ per key (field notes): ``SYMBOL()`` and
``KERNELOFFSET`` are hex without ``0x``; most ``NUMBER()`` values are decimal, a few arm64 ones
carry ``0x``, and ``phys_base`` can be negative under KASLR."""

from __future__ import annotations

from collections.abc import Mapping

HIGHLIGHTS = (
    "OSRELEASE",
    "SYMBOL(init_top_pgt)",
    "SYMBOL(swapper_pg_dir)",
    "NUMBER(phys_base)",
    "KERNELOFFSET",
    "NUMBER(pgtable_l5_enabled)",
    "NUMBER(VA_BITS)",
    "NUMBER(kimage_voffset)",
    "NUMBER(PHYS_OFFSET)",
    "NUMBER(TCR_EL1_T1SZ)",
    "SYMBOL(page_offset_base)",
    "PAGESIZE",
)


def _parse(value: str, default_base: int) -> int | None:
    v = value.strip()
    neg = v.startswith("-")
    if neg:
        v = v[1:]
    try:
        n = int(v, 16) if v.lower().startswith("0x") else int(v, default_base)
    except ValueError:
        return None
    return -n if neg else n


def symbol(vmci: Mapping[str, str] | None, name: str) -> int | None:
    if not vmci or f"SYMBOL({name})" not in vmci:
        return None
    return _parse(vmci[f"SYMBOL({name})"], 16)


def number(vmci: Mapping[str, str] | None, name: str) -> int | None:
    if not vmci or f"NUMBER({name})" not in vmci:
        return None
    return _parse(vmci[f"NUMBER({name})"], 10)


def plain_number(vmci: Mapping[str, str] | None, key: str) -> int | None:
    """A bare decimal key such as ``PAGESIZE``."""
    if not vmci or key not in vmci:
        return None
    return _parse(vmci[key], 10)


def kernel_offset(vmci: Mapping[str, str] | None) -> int | None:
    if not vmci or "KERNELOFFSET" not in vmci:
        return None
    return _parse(vmci["KERNELOFFSET"], 16)


def highlights(vmci: Mapping[str, str] | None) -> dict[str, str]:
    if not vmci:
        return {}
    return {k: vmci[k] for k in HIGHLIGHTS if k in vmci}

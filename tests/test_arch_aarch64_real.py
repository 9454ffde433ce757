"""A real arm64 Linux guest (QEMU virt, 6.1, 4 KiB granule, 48-bit VA, KASLR) walked from VMCOREINFO.

QEMU has no ``info tlb`` for arm and its dumps hold no TTBR: the kernel half is walked from
``swapper_pg_dir - kimage_voffset`` and checked against what the kernel itself says: the image at
``VA - kimage_voffset``, the linear map at ``PAGE_OFFSET + (PA - PHYS_OFFSET)``, /proc/kcore's segments.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pmoview.arch import Root
from pmoview.arch.aarch64 import LINUX_MAIR
from pmoview.memory import open_dump
from pmoview.space import AddressSpace

SAMPLE = Path(__file__).resolve().parent.parent / "sample_dumps" / "linux-arm64"


@pytest.fixture(scope="module")
def guest() -> tuple[AddressSpace, dict[str, Any], dict[str, str]]:
    if not (SAMPLE / "truth.json").exists():
        pytest.skip("no arm64 sample yet")
    truth = json.loads((SAMPLE / "truth.json").read_text())
    name = truth.get("dumps", {}).get("kdump")
    if not name or not (SAMPLE / name).exists():
        pytest.skip("arm64 sample has no kdump")
    mem = open_dump(str(SAMPLE / name))
    vi = mem.vmcoreinfo
    if not vi or "SYMBOL(swapper_pg_dir)" not in vi:
        pytest.skip("no VMCOREINFO swapper_pg_dir")
    kv = int(vi["NUMBER(kimage_voffset)"], 16)
    va_bits = int(vi.get("NUMBER(VA_BITS)", "48"))
    root = Root(
        "aarch64",
        "aarch64-4k",
        int(vi["SYMBOL(swapper_pg_dir)"], 16) - kv,
        "VMCOREINFO swapper_pg_dir",
        va_bits=va_bits,
        half="ttbr1",
        mair=LINUX_MAIR,
    )
    return AddressSpace(mem, root), truth, vi


def test_walk_is_clean(guest: tuple[AddressSpace, dict[str, Any], dict[str, str]]) -> None:
    space, _, _ = guest
    assert space.walk()
    assert not {a.kind for a in space.anomalies} & {
        "reserved-bits",
        "cycle",
        "recursive-map",
        "limit",
        "table-outside-memory",
    }


def test_kernel_text_is_at_va_minus_kimage_voffset(guest: tuple[AddressSpace, dict[str, Any], dict[str, str]]) -> None:
    space, truth, vi = guest
    kv = int(vi["NUMBER(kimage_voffset)"], 16)
    stext, etext = (int(truth["symbols"][k], 16) for k in ("_stext", "_etext"))
    for va in range(stext, etext, 0x10000):
        r = space.translate(va)
        assert r.pa == va - kv, hex(va)
        assert r.flags is not None and not r.flags.writable and not r.flags.nx and r.flags.user_nx
        assert r.flags.cache == "Normal-WB" and r.backed


def test_linear_map_covers_ram_at_phys_offset(guest: tuple[AddressSpace, dict[str, Any], dict[str, str]]) -> None:
    space, truth, vi = guest
    va_bits = int(vi.get("NUMBER(VA_BITS)", "48"))
    page_offset = (1 << 64) - (1 << va_bits)
    phys = int(vi["NUMBER(PHYS_OFFSET)"], 16)
    ram = int(truth["ram_bytes"])
    covered = 0
    for ch in space.chunks(page_offset, page_offset + ram):
        assert ((ch.pa - ch.va) == (phys - page_offset) % (1 << 64)).all()
        covered += len(ch) * ch.size
    assert covered >= ram * 0.99
    r = space.translate(page_offset + 0x1234)
    assert r.pa == phys + 0x1234 and r.flags is not None and r.flags.writable and r.flags.nx


def test_kcore_ram_segments_translate(guest: tuple[AddressSpace, dict[str, Any], dict[str, str]]) -> None:
    space, truth, _ = guest
    checked = 0
    for seg in truth.get("kcore_load_segments", []):
        va, pa, size = (int(seg[k], 16) for k in ("vaddr", "paddr", "memsz"))
        if pa == (1 << 64) - 1:
            continue  # vmalloc/modules/vmemmap: no fixed PA
        for off in range(0, size, max(size // 64, 0x1000) & ~0xFFF):
            r = space.translate(va + off)
            if r.pa is not None:
                assert r.pa == pa + off, hex(va + off)
                checked += 1
    assert checked > 64

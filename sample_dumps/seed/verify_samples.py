#!/usr/bin/env python3
"""Check the seed-* samples against their truth.json, reading the dumps themselves.

    verify_samples.py [FOLDER ...]      (default: every sample_dumps/seed-*/)

Standard library only, independent of pmoview: a small makedumpfile-flattened kdump reader, a small
ELF core reader and a 4-level page-table walker. For every folder it checks that the files named in
truth.json exist, that the kdump is a flattened makedumpfile stream, and that the page tables found in
the dump (from CR3 in truth.json) show the variant's defect - or none for the correct builds. Where an
ELF dump exists the same checks run on it, and ELF and kdump must agree on the page-table pages.
"""

from __future__ import annotations

import bisect
import json
import lzma
import mmap
import re
import struct
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path

SAMPLES = Path(__file__).resolve().parent.parent
PHYS_OFFSET = 0xFFFF800000000000
KERNEL_VIRT_BASE = 0xFFFFFFFF80000000
ADDR = 0x000FFFFFFFFFF000
P, RW, US, PS = 1, 2, 4, 0x80
XD = 1 << 63
MAXPHYADDR = 40  # qemu64


def open_maybe_xz(path: Path):
    return lzma.open(path, "rb") if path.suffix == ".xz" else open(path, "rb")


# ---------------------------------------------------------------- kdump (flattened)
class FlatKdump:
    """makedumpfile flattened stream -> diskdump image kept sparse in memory."""

    def __init__(self, path: Path) -> None:
        with open_maybe_xz(path) as f:
            head = f.read(4096)
            if not head.startswith(b"makedumpfile\0"):
                raise ValueError(f"{path}: no makedumpfile flattened signature")
            self.flat_type, self.flat_version = struct.unpack_from(">qq", head, 16)
            chunks: list[tuple[int, bytes]] = []
            while True:
                rec = f.read(16)
                if len(rec) < 16:
                    raise ValueError("truncated flattened stream")
                off, size = struct.unpack(">qq", rec)
                if off == -1 and size == -1:
                    break
                chunks.append((off, f.read(size)))
        chunks.sort()
        self.starts = [c[0] for c in chunks]
        self.chunks = chunks
        hdr = self.read(0, 464)
        if hdr[:8] != b"KDUMP   ":
            raise ValueError(f"{path}: diskdump signature {hdr[:8]!r}")
        self.header_version = struct.unpack_from("<i", hdr, 8)[0]
        (self.status, self.block_size, self.sub_hdr_size, self.bitmap_blocks, self.max_mapnr) = struct.unpack_from(
            "<IiiII", hdr, 424
        )
        bs = self.block_size
        if self.header_version >= 6:
            # kdump_sub_header: phys_base, dump_level, split, start_pfn, end_pfn, offset_vmcoreinfo,
            # size_vmcoreinfo, offset_note, size_note, offset_eraseinfo, size_eraseinfo,
            # start_pfn_64, end_pfn_64, max_mapnr_64
            sub = self.read(bs, 8 * 16)
            self.max_mapnr = struct.unpack_from("<Q", sub, 96)[0] or self.max_mapnr
        bitmap_off = (1 + self.sub_hdr_size) * bs
        half = self.bitmap_blocks * bs // 2
        self.bitmap2 = self.read(bitmap_off + half, half)
        self.desc_off = (1 + self.sub_hdr_size + self.bitmap_blocks) * bs
        words = len(self.bitmap2) // 8
        self.rank = [0] * (words + 1)
        ints = struct.unpack_from(f"<{words}Q", self.bitmap2)
        acc = 0
        for i, w in enumerate(ints):
            self.rank[i] = acc
            acc += w.bit_count()
        self.rank[words] = acc
        self.words = ints

    def read(self, off: int, size: int) -> bytes:
        out = bytearray(size)
        i = bisect.bisect_right(self.starts, off) - 1
        i = max(i, 0)
        while i < len(self.chunks) and self.chunks[i][0] < off + size:
            c_off, data = self.chunks[i]
            lo, hi = max(off, c_off), min(off + size, c_off + len(data))
            if lo < hi:
                out[lo - off : hi - off] = data[lo - c_off : hi - c_off]
            i += 1
        return bytes(out)

    def page(self, pfn: int) -> bytes | None:
        w, b = divmod(pfn, 64)
        if w >= len(self.words) or not (self.words[w] >> b) & 1:
            return None
        idx = self.rank[w] + (self.words[w] & ((1 << b) - 1)).bit_count()
        off, size, flags, _ = struct.unpack("<QIIQ", self.read(self.desc_off + 24 * idx, 24))
        data = self.read(off, size)
        if flags & 1:
            data = zlib.decompress(data)
        elif flags:
            raise ValueError(f"unsupported kdump page compression flags {flags:#x}")
        return data

    def read_pa(self, pa: int, size: int) -> bytes | None:
        out = b""
        while size:
            n = min(size, self.block_size - pa % self.block_size)
            pg = self.page(pa // self.block_size)
            if pg is None:
                return None
            out += pg[pa % self.block_size : pa % self.block_size + n]
            pa += n
            size -= n
        return out


# ---------------------------------------------------------------- ELF core
class ElfCore:
    def __init__(self, path: Path) -> None:
        self.tmp = tempfile.NamedTemporaryFile(prefix="verify-", suffix=".elf")  # noqa: SIM115 (closed in close())
        with open_maybe_xz(path) as src:  # sparse copy: most of a guest is zeros
            while True:
                buf = src.read(1 << 20)
                if not buf:
                    break
                if buf.count(0) == len(buf):
                    self.tmp.seek(len(buf), 1)
                else:
                    self.tmp.write(buf)
            self.tmp.truncate()
            self.tmp.flush()
        self.path = Path(self.tmp.name)
        self.map = mmap.mmap(self.tmp.fileno(), 0, access=mmap.ACCESS_READ)
        m = self.map
        if m[:4] != b"\x7fELF" or m[4] != 2:
            raise ValueError(f"{path}: not an ELF64 file")
        (e_phoff,) = struct.unpack_from("<Q", m, 0x20)
        e_phentsize, e_phnum = struct.unpack_from("<HH", m, 0x36)
        self.loads = []
        self.notes = []
        for i in range(e_phnum):
            p_type, _, off, _vaddr, paddr, filesz, _memsz, _ = struct.unpack_from(
                "<IIQQQQQQ", m, e_phoff + i * e_phentsize
            )
            if p_type == 1:
                self.loads.append((paddr, filesz, off))
            elif p_type == 4:
                self.notes.append((off, filesz))

    def note_names(self) -> list[tuple[str, int]]:
        out = []
        for off, size in self.notes:
            pos = off
            while pos < off + size:
                namesz, descsz, ntype = struct.unpack_from("<III", self.map, pos)
                name = self.map[pos + 12 : pos + 12 + namesz].rstrip(b"\0").decode()
                out.append((name, ntype))
                pos += 12 + (namesz + 3) // 4 * 4 + (descsz + 3) // 4 * 4
        return out

    def read_pa(self, pa: int, size: int) -> bytes | None:
        for base, filesz, off in self.loads:
            if base <= pa and pa + size <= base + filesz:
                return self.map[off + pa - base : off + pa - base + size]
        return None

    def close(self) -> None:
        self.map.close()
        self.tmp.close()


# ---------------------------------------------------------------- page-table walk
def entry(mem, table_pa: int, idx: int) -> int | None:
    raw = mem.read_pa(table_pa + 8 * idx, 8)
    return None if raw is None else struct.unpack("<Q", raw)[0]


def walk(mem, cr3: int, va: int):
    """-> (pa, [entries], 'ok' | reason)."""
    table = cr3 & ADDR
    entries = []
    for level, shift in (("pml4", 39), ("pdpt", 30), ("pd", 21), ("pt", 12)):
        e = entry(mem, table, (va >> shift) & 511)
        if e is None:
            return None, entries, f"{level} table at {table:#x} not in the dump"
        entries.append(e)
        if not e & P:
            return None, entries, f"{level} entry not present"
        if e & ADDR >> MAXPHYADDR << MAXPHYADDR:
            return None, entries, f"{level} entry {e:#x} has bits above MAXPHYADDR"
        if level in ("pdpt", "pd") and e & PS:
            size = 1 << shift
            return (e & ADDR & ~(size - 1)) | (va & (size - 1)), entries, "ok"
        if level == "pt":
            return (e & ADDR) | (va & 0xFFF), entries, "ok"
        table = e & ADDR
    raise AssertionError


# ---------------------------------------------------------------- checks
class Failed(Exception):
    pass


def check(cond: bool, msg: str) -> None:
    if not cond:
        raise Failed(msg)


def pmo_sample_pas(truth) -> list[int]:
    pas = []
    for r in truth["ram_map"]:
        if r["type"] != 1:
            continue
        s, e = int(r["start"], 16), int(r["end"], 16)
        pas += list(range((s + 0x1FFFFF) & ~0x1FFFFF, e, 0x200000)) + [s, e - 8]
    return sorted(set(pas))


def check_dump(name: str, truth: dict, mem, label: str) -> list[str]:
    sym = {k: int(v, 16) for k, v in truth["symbols"].items()}
    cr3 = int(truth["cpus"][0]["cr3"], 16)
    out = []

    def kpa(s):
        return sym[s] - KERNEL_VIRT_BASE

    check(cr3 & ADDR == kpa("boot_pml4"), f"CR3 {cr3:#x} is not boot_pml4")
    # kernel image: every page maps VA - KERNEL_VIRT_BASE with per-section rights
    for va in range(sym["__kernel_start"], sym["__kernel_end"], 0x1000):
        pa, ents, why = walk(mem, cr3, va)
        check(pa == va - KERNEL_VIRT_BASE, f"kernel VA {va:#x}: {why} pa={pa}")
        leaf = ents[-1]
        if va < sym["__text_end"]:
            want_rw = name == "seed-wx"
            check(bool(leaf & RW) == want_rw and not leaf & XD, f".text PTE {leaf:#x}")
        elif va < sym["__rodata_end"]:
            check(not leaf & RW and leaf & XD, f".rodata PTE {leaf:#x}")
        else:
            check(leaf & RW and leaf & XD, f".data/.bss PTE {leaf:#x}")
    out.append("kernel image mapped as expected")

    pml4_256 = entry(mem, cr3 & ADDR, 256)
    if name == "seed-no-pml4-256":
        check(pml4_256 == 0, f"PML4[256] = {pml4_256:#x}, expected empty")
        check(entry(mem, cr3 & ADDR, 0) & P, "identity map PML4[0] expected present")
        out.append("PML4[256] empty, identity map kept")
        return [f"{label}: {o}" for o in out]
    check(entry(mem, cr3 & ADDR, 0) == 0, "PML4[0] (boot identity map) should be removed")

    missing, wrong, flags = [], [], set()
    for pa in pmo_sample_pas(truth):
        got, ents, why = walk(mem, cr3, PHYS_OFFSET + pa)
        if got is None:
            missing.append((pa, why))
        elif got != pa:
            wrong.append((pa, got))
        else:
            leaf = ents[-1]
            flags.add(
                ("xd" if leaf & XD else "x")
                + ("-user" if all(e & US for e in ents) else "")
                + ("-1g" if len(ents) == 2 else "-2m" if len(ents) == 3 else "-4k")
            )
    first_gib_ok = all(pa >= 1 << 30 for pa, _ in missing)
    check(first_gib_ok or name == "seed-hole", f"first GiB of the PMO incomplete: {missing[:3]}")
    if name in ("seed-correct", "seed-1g-pages", "seed-1g-nopdpe1gb", "seed-wx", "seed-user-pmo"):
        check(not missing and not wrong, f"PMO incomplete: missing={missing[:3]} wrong={wrong[:3]}")
        # self-test markers written through the PMO
        for r in truth["ram_map"]:
            end = int(r["end"], 16)
            if r["type"] == 1 and end > 1 << 30:
                check(mem.read_pa(end - 8, 8) == b"PMOVIEW!", f"marker at {end - 8:#x} missing")
        out.append(f"PMO covers all RAM ({len(pmo_sample_pas(truth))} samples), markers present")
    if name == "seed-no-extension" or name == "seed-literal-virt-to-phys":
        check(missing and all(pa >= 1 << 30 for pa, _ in missing), "expected RAM above 1 GiB missing")
        check(not wrong, f"unexpected wrong targets {wrong[:3]}")
        out.append(f"{len(missing)} PMO samples above 1 GiB missing: {missing[0][1]}")
    if name == "seed-wrong-frame":
        check(wrong == [(0xC800000, 0xCA00000)], f"wrong targets {wrong}")
        out.append("PMO VA 0xffff80000c800000 -> PA 0xca00000")
    if name == "seed-hole":
        check([pa for pa, _ in missing] == [0x48000000], f"missing {missing}")
        out.append("PMO hole exactly at PA 0x48000000")
    want = {
        "seed-wx": {"x-2m"},
        "seed-user-pmo": {"xd-user-2m"},
        "seed-1g-pages": {"xd-2m", "xd-1g"},
        "seed-1g-nopdpe1gb": {"xd-2m", "xd-1g"},
    }.get(name, {"xd-2m"})
    check(flags == want, f"PMO leaf kinds {flags}, expected {want}")
    out.append(f"PMO leaf kinds {sorted(flags)}")
    if name == "seed-literal-virt-to-phys":
        pdpt = entry(mem, cr3 & ADDR, 256) & ADDR
        bad = []
        for i in range(512):
            e = entry(mem, pdpt, i)
            if e and (e & ADDR) >> MAXPHYADDR:
                kva = (e & ADDR) + PHYS_OFFSET
                check(
                    sym["pt_pool"] <= kva < sym["pt_pool"] + 16 * 4096,
                    f"bad entry {e:#x} is not pt_pool VA - PHYS_OFFSET",
                )
                # the PD itself (reached at its real PA) is correct
                pd_pa = kva - KERNEL_VIRT_BASE
                first = entry(mem, pd_pa, 0)
                check(first & ADDR == i << 30, f"pt_pool PD {pd_pa:#x}[0] = {first:#x}")
                bad.append(f"boot_pmo_pdpt[{i}]={e:#x}")
        check(bad, "no bad PDPT entries found")
        check(all(b.split("=")[0] in truth["defect"] for b in bad), "defect text does not name the entries")
        out.append("bad pointers in the dump: " + ", ".join(bad))
    return [f"{label}: {o}" for o in out]


def verify(folder: Path) -> list[str]:
    truth = json.loads((folder / "truth.json").read_text())
    name = truth["name"]
    check(name == folder.name, "name differs from the folder")
    for key in (
        "name",
        "arch",
        "kind",
        "qemu",
        "qemu_cmdline",
        "ram_bytes",
        "cpu_model",
        "cpu_features",
        "cpus",
        "paging",
        "ram_map",
        "dumps",
        "symbols",
        "vmcoreinfo",
        "kaslr",
        "defect",
        "expected_findings",
        "notes",
    ):
        check(key in truth, f"truth.json lacks {key}")
    d = truth["dumps"]
    files = [
        d.get("kdump"),
        d.get("elf"),
        d["raw"]["file"] if "raw" in d else None,
        "kernel.elf",
        "serial.log",
        "info-registers.txt",
    ]
    for f in filter(None, files):
        check((folder / f).is_file(), f"missing {f}")
    for c in truth["cpus"]:
        check((folder / f"info-tlb-cpu{c['index']}.txt").is_file(), f"missing info-tlb-cpu{c['index']}.txt")
    out = []
    kd = FlatKdump(folder / d["kdump"])
    check(kd.block_size == 4096, f"kdump block size {kd.block_size}")
    out.append(
        f"kdump: flattened makedumpfile v{kd.flat_version}, diskdump header v{kd.header_version}, "
        f"max_mapnr {kd.max_mapnr:#x}"
    )
    out += check_dump(name, truth, kd, "kdump")
    if "elf" in d:
        elf = ElfCore(folder / d["elf"])
        try:
            notes = elf.note_names()
            check(sum(1 for n in notes if n == ("QEMU", 0)) == len(truth["cpus"]), f"QEMU notes {notes}")
            check(sum(1 for n in notes if n == ("CORE", 1)) == len(truth["cpus"]), "NT_PRSTATUS notes")
            out.append(f"elf: {len(elf.loads)} PT_LOAD, notes {sorted(set(notes))}")
            out += check_dump(name, truth, elf, "elf")
            for s in ("boot_pml4", "boot_pmo_pdpt", "boot_pmo_pd0", "boot_pt_hi", "pt_pool"):
                pa = int(truth["symbols"][s], 16) - KERNEL_VIRT_BASE
                check(elf.read_pa(pa, 4096) == kd.read_pa(pa, 4096), f"ELF and kdump differ at {s}")
            out.append("elf and kdump agree on the page-table pages")
            try:
                r = subprocess.run(["readelf", "-n", str(elf.path)], capture_output=True, text=True, check=False)
                kinds = sorted(set(re.findall(r"^\s+(CORE|QEMU)\s+0x\w+\s+(.+?)\s*$", r.stdout, re.MULTILINE)))
                out.append("readelf -n: " + ", ".join(f"{o} {t}" for o, t in kinds))
            except FileNotFoundError:
                pass
        finally:
            elf.close()
    if "raw" in d:
        base = int(d["raw"]["base"], 16)
        with open_maybe_xz(folder / d["raw"]["file"]) as f:
            f.seek(int(truth["symbols"]["boot_pml4"], 16) - KERNEL_VIRT_BASE - base)
            page = f.read(4096)
        check(
            page == kd.read_pa(int(truth["symbols"]["boot_pml4"], 16) - KERNEL_VIRT_BASE, 4096),
            "raw image and kdump differ at boot_pml4",
        )
        out.append("raw image agrees with the kdump at boot_pml4")
    if name == "seed-correct":
        tlb = (folder / "info-tlb-cpu0.txt").read_text()
        check(
            "ffff800000000000: 0000000000000000" in tlb and "ffff80017fe00000: 000000017fe00000" in tlb,
            "info tlb: PMO does not cover RAM",
        )
        check("ffffffff80100000: 0000000000100000" in tlb, "info tlb: kernel not at ffffffff80100000")
        out.append("info tlb: PMO 0..6 GiB and kernel at ffffffff80100000")
    return out


def main(argv: list[str]) -> int:
    folders = [Path(a) for a in argv] or sorted(p for p in SAMPLES.glob("seed-*") if p.is_dir())
    bad = 0
    for folder in folders:
        try:
            lines = verify(folder)
            print(f"OK   {folder.name}")
            for line in lines:
                print(f"       {line}")
        except (Failed, ValueError, OSError) as e:
            bad += 1
            print(f"FAIL {folder.name}: {e}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

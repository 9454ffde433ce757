#!/usr/bin/env python3
"""Build the seed kernel variants, boot each under QEMU (TCG), capture it, write truth.json.

    make_seed_samples.py [--only NAME[,NAME...]] [--no-build] [--jobs N]

Run from anywhere; writes sample_dumps/seed-*/ next to this script's parent folder.
Python standard library plus binutils' nm; capture.py does the QEMU/QMP part.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SAMPLES = HERE.parent
SRC = HERE / "src"
sys.path.insert(0, str(HERE))  # capture.py sits beside this script
import capture  # noqa: E402

PHYS_OFFSET = 0xFFFF800000000000
KERNEL_VIRT_BASE = 0xFFFFFFFF80000000
GiB = 1 << 30
READY = r"PMOVIEW-READY variant=\S+"

# folder name -> how to build, boot and keep it, and what is wrong with it
VARIANTS: list[dict] = [
    {
        "name": "seed-correct",
        "build": "correct",
        "mem": "5G",
        "cpu": "qemu64,+nx",
        "smp": 2,
        "keep": ("elf", "kdump", "raw"),
        "raw": (0, GiB),
        "defect": None,
        "expected": [],
    },
    {
        "name": "seed-1g-pages",
        "build": "1g-pages",
        "mem": "5G",
        "cpu": "qemu64,+pdpe1gb,+nx",
        "smp": 2,
        "keep": ("elf", "kdump"),
        "defect": None,
        "expected": [],
        "notes_extra": "The PMO beyond the first GiB uses 1 GiB pages (PDPT leaf entries, PS=1) on a CPU "
        "that has pdpe1gb: valid. The first GiB is still boot.S's 512 x 2 MiB pages.",
    },
    {
        "name": "seed-1g-nopdpe1gb",
        "build": "1g-pages",
        "mem": "5G",
        "cpu": "qemu64,+nx,-pdpe1gb",
        "smp": 1,
        "keep": ("kdump",),
        "notes_extra": "Same kernel.elf as seed-1g-pages; the guest's own CPUID line on serial.log shows "
        "pdpe1gb=0. TCG walked the 1 GiB entries anyway (the self-test markers above 1 GiB "
        "were written through them).",
        "defect": "The PMO beyond the first GiB uses 1 GiB pages (boot_pmo_pdpt[1], [2], [4], [5] have PS=1) "
        "but the CPU does not report CPUID.80000001H:EDX.Page1GB (pdpe1gb): real hardware would "
        "fault on these entries (PS=1 in a PDPTE is reserved there). QEMU TCG does not enforce it, "
        "so the guest ran.",
        "expected": ["pmo-page-size"],
    },
    {
        "name": "seed-no-extension",
        "build": "no-extension",
        "mem": "1536M",
        "cpu": "qemu64,+nx",
        "smp": 1,
        "keep": ("kdump",),
        "defect": "kernel_main never extends the PMO: only the first 1 GiB of physical memory is mapped at "
        "0xffff800000000000 (boot.S), RAM 0x40000000-0x5ffe0000 has no PMO mapping "
        "(boot_pmo_pdpt[1] is empty).",
        "expected": ["pmo-missing"],
    },
    {
        "name": "seed-wrong-frame",
        "build": "wrong-frame",
        "mem": "1536M",
        "cpu": "qemu64,+nx",
        "smp": 1,
        "keep": ("kdump",),
        "defect": "boot_pmo_pd0[100] maps PMO VA 0xffff80000c800000 to PA 0xca00000 instead of 0xc800000 "
        "(2 MiB page; PA 0xca00000 is then mapped twice, PA 0xc800000 not at all in the PMO).",
        "expected": ["pmo-wrong-target"],
    },
    {
        "name": "seed-hole",
        "build": "hole",
        "mem": "1536M",
        "cpu": "qemu64,+nx",
        "smp": 1,
        "keep": ("kdump",),
        "defect": "The PMO 2 MiB entry for PA 0x48000000 (VA 0xffff800048000000) is cleared: index 64 of the "
        "extension PD at PA {hole_pd} (a pt_pool page, boot_pmo_pdpt[1]) is 0, so RAM "
        "0x48000000-0x48200000 is missing from the PMO.",
        "expected": ["pmo-missing"],
    },
    {
        "name": "seed-wx",
        "build": "wx",
        "mem": "1536M",
        "cpu": "qemu64,+nx",
        "smp": 1,
        "keep": ("elf", "kdump"),
        "defect": ".text (0xffffffff80100000-0xffffffff80101000) is mapped writable and executable "
        "(boot_pt_hi entries RW=1, XD=0), and every PMO leaf entry (boot_pmo_pd0 and the extension PD) "
        "lacks XD, so all of physical memory is executable through the PMO.",
        "expected": ["wx", "pmo-flags", "kernel-segment-perms"],
    },
    {
        "name": "seed-user-pmo",
        "build": "user-pmo",
        "mem": "1536M",
        "cpu": "qemu64,+nx",
        "smp": 1,
        "keep": ("kdump",),
        "defect": "Every PMO entry carries U/S=1 (boot_pml4[256], boot_pmo_pdpt[0..1], all PMO PD leaves): "
        "all of physical memory is user-accessible at 0xffff800000000000.",
        "expected": ["user-kernel", "pmo-flags"],
    },
    # small guest (no extension happens anyway): its kdump is kept as QEMU wrote it (SCHEMA's dump.kdump)
    {
        "name": "seed-no-pml4-256",
        "build": "no-pml4-256",
        "mem": "256M",
        "cpu": "qemu64,+nx",
        "smp": 1,
        "keep": ("kdump",),
        "xz": ("elf", "raw"),
        "defect": "boot_pml4[256] is empty: there is no PMO at all. boot.S still filled boot_pmo_pdpt and "
        "boot_pmo_pd0 but never linked them; kernel_main reads physical memory through the "
        "identity map (boot_pml4[0], kept) and skips the extension.",
        "expected": ["pmo-root-missing"],
    },
    {
        "name": "seed-literal-virt-to-phys",
        "build": "literal-virt-to-phys",
        "mem": "5G",
        "cpu": "qemu64,+nx",
        "smp": 2,
        "keep": ("elf", "kdump"),
        "defect": "virt_to_phys is implemented literally as in pmo-design.md (va >= PHYS_OFFSET tested first), "
        "so the PMO extension PDs, which live in pt_pool inside the kernel image, were linked with "
        "kernel-image VA - 0xffff800000000000 instead of VA - 0xffffffff80000000: {bad}. These "
        "addresses are far beyond RAM and have bits above MAXPHYADDR (40) set; every PMO mapping "
        "above 1 GiB vanishes. The PDs themselves (pt_pool) hold correct 2 MiB entries.",
        "expected": ["pmo-missing", "table-outside-memory"],
        "notes_extra": "The guest kept running: phys_to_virt(literal virt_to_phys(kva)) == kva, so kernel_main "
        "still reads and fills its PDs through the kernel image mapping, and nothing touches "
        "the PMO above 1 GiB afterwards (the self-test is compiled out in this build). Only "
        "the hardware walk is broken; a walk through boot_pmo_pdpt[1] faults with RSVD set.",
    },
    # Faulting kernels: seed-correct's PMO, then one bad access with an empty IDT, so the #PF escalates
    # to a triple fault. QEMU runs with -no-reboot and -action shutdown=pause: the machine stops in run
    # state "shutdown" with the CPU as it was at the fault, and is dumped from there. "fault" is what
    # the design makes the MMU stop on; the truth's vector, error code, CR2 and RIP come from QEMU.
    {
        "name": "seed-fault-unmapped-read",
        "build": "fault-unmapped-read",
        "mem": "1536M",
        "cpu": "qemu64,+nx",
        "smp": 1,
        "keep": ("kdump",),
        "action": "shutdown=pause",
        "defect": "After boot the kernel reads PMO VA 0xffff800070001238 (PA 0x70001238, above the 1536 MiB "
        "of RAM): the extension PD (boot_pmo_pdpt[1]) has no entry 384, the read faults (#PF, not "
        "present) and, with an empty IDT, the CPU triple-faults.",
        "expected": [],
        "fault": {
            "access": "read",
            "mode": "kernel",
            "va": "0xffff800070001238",
            "reason": "not-present",
            "level": 2,
            "index": 384,
        },
    },
    {
        "name": "seed-fault-ro-write",
        "build": "fault-ro-write",
        "mem": "1536M",
        "cpu": "qemu64,+nx",
        "smp": 1,
        "keep": ("kdump",),
        "action": "shutdown=pause",
        "defect": "After boot the kernel clears R/W in boot_pmo_pd0[32] (the 2 MiB PMO page of PA "
        "0x4000000) and writes to PMO VA 0xffff800004005670 with CR0.WP=1: #PF (protection, write), "
        "then a triple fault (empty IDT). The read-only PMO page is itself a PMO flags defect.",
        "expected": ["pmo-flags"],
        "fault": {
            "access": "write",
            "mode": "kernel",
            "va": "0xffff800004005670",
            "reason": "read-only",
            "level": 2,
            "index": 32,
        },
    },
    {
        "name": "seed-fault-nx-fetch",
        "build": "fault-nx-fetch",
        "mem": "1536M",
        "cpu": "qemu64,+nx",
        "smp": 1,
        "keep": ("kdump",),
        "action": "shutdown=pause",
        "defect": "After boot the kernel calls fault_target through its PMO alias (PMO leaves carry XD): the "
        "instruction fetch faults (#PF, protection, instruction fetch) in the 2 MiB PMO page "
        "boot_pmo_pd0[0], then a triple fault (empty IDT).",
        "expected": [],
        "fault": {
            "access": "exec",
            "mode": "kernel",
            "va": "phys_to_virt(fault_target)",
            "reason": "no-execute",
            "level": 2,
            "index": 0,
        },
    },
]

SYMBOLS = [
    "_start",
    "kernel_main",
    "__kernel_start",
    "__kernel_end",
    "__text_start",
    "__text_end",
    "__rodata_start",
    "__rodata_end",
    "__data_start",
    "__data_end",
    "__bss_start",
    "__bss_end",
    "boot_pml4",
    "boot_pdpt_lo",
    "boot_pd_lo",
    "boot_pmo_pdpt",
    "boot_pmo_pd0",
    "boot_pdpt_hi",
    "boot_pd_hi",
    "boot_pt_hi",
    "boot_stack_top",
    "pt_pool",
    "pt_pool_used",
    "mb2_mmap_copy",
    "mb2_mmap_count",
]


def mem_bytes(spec: str) -> int:
    units = {"M": 1 << 20, "G": 1 << 30}
    return int(spec[:-1]) * units[spec[-1]]


def nm_symbols(elf: Path) -> dict[str, str]:
    out = subprocess.run(["nm", str(elf)], check=True, capture_output=True, text=True).stdout
    table = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3:
            table[parts[2]] = parts[0]
    missing = [s for s in SYMBOLS if s not in table]
    if missing:
        raise RuntimeError(f"{elf}: symbols missing: {missing}")
    return {s: hex(int(table[s], 16)) for s in SYMBOLS}


def parse_registers(text: str) -> list[dict]:
    cpus = []
    parts = re.split(r"^CPU#(\d+)\s*$", text, flags=re.MULTILINE)
    for idx, body in zip(parts[1::2], parts[2::2], strict=False):
        regs = {"index": int(idx)}
        for reg in ("CR0", "CR2", "CR3", "CR4", "EFER", "RIP"):
            m = re.search(rf"\b{reg}=([0-9a-fA-F]+)", body)
            regs[reg.lower()] = hex(int(m.group(1), 16)) if m else None
        cpus.append(regs)
    return cpus


def parse_serial(text: str) -> dict:
    ram_map = [
        {"start": hex(int(a, 16)), "end": hex(int(b, 16)), "type": int(t)}
        for a, b, t in re.findall(r"^MMAP (0x[0-9a-f]+) (0x[0-9a-f]+) (\d+)", text, re.MULTILINE)
    ]
    feats = {}
    m = re.search(r"^CPUID (.*)$", text, re.MULTILINE)
    if m:
        feats = {k: int(v) for k, v in re.findall(r"(\w+)=(\d)", m.group(1))}
    ptes = [
        (t, int(i), int(v, 16)) for t, i, v in re.findall(r"^PTE (\w+)\[(\d+)\] = (0x[0-9a-f]+)", text, re.MULTILINE)
    ]
    marks = re.findall(r"^MARK (0x[0-9a-f]+) (\w+)", text, re.MULTILINE)
    return {"ram_map": ram_map, "features": feats, "ptes": ptes, "marks": marks}


def parse_int_log(text: str) -> dict:
    """The exception sequence QEMU logged with -d int: each vector with its error code, IP and CR2,
    and whether it ended in a triple fault."""
    events = [
        {
            "vector": int(v, 16),
            "error_code": int(e, 16),
            "cpl": int(c),
            "ip": hex(int(ip, 16)),
            "cr2": hex(int(cr2, 16)),
        }
        for v, e, c, ip, cr2 in re.findall(
            r"v=([0-9a-f]+) e=([0-9a-f]+) i=\d+ cpl=(\d+) IP=[0-9a-f]+:([0-9a-f]+) pc=[0-9a-f]+ "
            r"SP=[0-9a-f]+:[0-9a-f]+ (?:env->regs\[R_EAX\]=[0-9a-f]+ )?CR2=([0-9a-f]+)",
            text,
        )
    ]
    pairs = [
        (int(o, 16), int(n, 16)) for o, n in re.findall(r"check_exception old: 0x([0-9a-f]+) new 0x([0-9a-f]+)", text)
    ]
    chain = [n for _, n in pairs]
    # QEMU (target/i386/tcg/excp_helper.c check_exception): a contributory fault or #PF while
    # delivering #DF (old 0x8) is the triple fault; it resets (here: shuts down) the machine
    triple = bool(pairs) and pairs[-1][0] == 8 and pairs[-1][1] in (0, 10, 11, 12, 13, 14)
    return {"exceptions": events, "check_exception_chain": chain, "triple_fault": triple}


def fault_truth(v: dict, out: Path, regs: list[dict], symbols: dict) -> dict:
    """What faulted, from QEMU (int-log.txt, info registers) and the design (the entry that denies)."""
    design = dict(v["fault"])
    log = parse_int_log((out / "int-log.txt").read_text())
    pf = next((e for e in log["exceptions"] if e["vector"] == 14), None)
    if pf is None:
        raise RuntimeError(f"{v['name']}: no #PF in int-log.txt")
    if design["va"].startswith("phys_to_virt("):
        sym = design["va"][len("phys_to_virt(") : -1]
        listing = subprocess.run(["nm", str(out / "kernel.elf")], check=True, capture_output=True, text=True).stdout
        addr = next(
            int(a, 16)
            for a, _, n in (line.split() for line in listing.splitlines() if line.count(" ") == 2)
            if n == sym
        )
        design["va"] = hex(addr - KERNEL_VIRT_BASE + PHYS_OFFSET)
    if int(pf["cr2"], 16) != int(design["va"], 16):
        raise RuntimeError(f"{v['name']}: QEMU's CR2 {pf['cr2']} is not the designed VA {design['va']}")
    ec = pf["error_code"]
    return {
        **design,
        "qemu_pf": pf,
        "error_code_bits": {
            "P": ec & 1,
            "W/R": ec >> 1 & 1,
            "U/S": ec >> 2 & 1,
            "RSVD": ec >> 3 & 1,
            "I/D": ec >> 4 & 1,
        },
        "check_exception_chain": log["check_exception_chain"],
        "triple_fault": log["triple_fault"],
        "cr2_info_registers": regs[0]["cr2"],
        "rip_info_registers": regs[0]["rip"],
    }


def build(variants: list[str]) -> None:
    subprocess.run(
        ["make", "-C", str(SRC), f"-j{os.cpu_count() or 2}", "VARIANTS=" + " ".join(sorted(set(variants)))],
        check=True,
        stdout=subprocess.DEVNULL,
    )


def run_variant(v: dict) -> str:
    out = SAMPLES / v["name"]
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    iso = SRC / "build" / v["build"] / "seed.iso"
    elf = SRC / "build" / v["build"] / "kernel.elf"
    qemu_args = (
        f"-machine pc -accel tcg -m {v['mem']} -smp {v['smp']} -cpu {v['cpu']} -cdrom {os.path.relpath(iso, SAMPLES)}"
    )
    if v.get("action"):
        qemu_args += f" -action {v['action']}"
    keep = v["keep"]
    formats = tuple(f for f in ("elf", "kdump") if f in keep)

    def log(m):
        print(m, file=sys.stderr, flush=True)

    # QEMU runs in sample_dumps/ so the recorded command line has a short relative ISO path
    meta = capture.capture(
        v["name"],
        out,
        qemu_args,
        READY,
        arch="x86_64",
        raw=v.get("raw"),
        formats=formats,
        xz=v.get("xz", ("elf", "kdump", "raw")),
        timeout=120,
        cwd=SAMPLES,
        log=log,
        wait_shutdown="fault" in v,
        int_log="fault" in v,
    )
    shutil.copy2(elf, out / "kernel.elf")
    (out / "kernel.elf").chmod(0o644)
    files = meta["files"]
    dumps: dict = {}
    if "kdump" in files:
        dumps["kdump"] = files["kdump"]
    if "elf" in files:
        dumps["elf"] = files["elf"]
    if "raw" in files:
        dumps["raw"] = {"file": files["raw"], "base": meta["raw"]["base"], "length": meta["raw"]["length"]}
    write_truth(v, out, meta["qemu"], meta["qemu_cmdline"], dumps)
    return v["name"]


def write_truth(v: dict, out: Path, qemu_version: str, qemu_cmdline: str, dumps: dict) -> None:
    elf = out / "kernel.elf"

    serial = parse_serial((out / "serial.log").read_text(errors="replace"))
    regs = parse_registers((out / "info-registers.txt").read_text())
    symbols = nm_symbols(elf)
    features = [f for f in ("pdpe1gb", "la57", "nx") if serial["features"].get(f)]

    defect = v["defect"]
    if defect and "{bad}" in defect:
        ram_end = max(int(r["end"], 16) for r in serial["ram_map"] if r["type"] == 1)
        bad = [
            f"boot_pmo_pdpt[{i}] = {val:#x} (pt_pool page VA {(val & 0xFFFFFFFFFF000) + PHYS_OFFSET:#x}, "
            f"correct PA {(val & 0xFFFFFFFFFF000) + PHYS_OFFSET - KERNEL_VIRT_BASE:#x})"
            for t, i, val in serial["ptes"]
            if t == "boot_pmo_pdpt" and (val & 0xFFFFFFFFFF000) >= ram_end
        ]
        if not bad:
            raise RuntimeError(f"{v['name']}: no bad entries seen on the serial log")
        defect = defect.format(bad="; ".join(bad))
    if defect and "{hole_pd}" in defect:
        pd = next(val for t, i, val in serial["ptes"] if t == "boot_pmo_pdpt" and i == 1)
        defect = defect.format(hole_pd=hex(pd & 0xFFFFFFFFFF000))

    ap_note = ""
    for c in regs:
        if c["index"] != 0:
            ap_note += (
                f" CPU {c['index']} is an AP that was never started by the kernel: SeaBIOS left it "
                f"halted in 32-bit protected mode (CR0={c['cr0']}, CR3={c['cr3']}, paging off); "
                f"info tlb/info mem print 'PG disabled' for it."
            )
    marks = ", ".join(f"{int(m[0], 16):#x} ({m[1]})" for m in serial["marks"])
    notes = (
        f"Seed kernel build '{v['build']}'. "
        + (v.get("notes_extra", "") + " " if v.get("notes_extra") else "")
        + "kernel_main removes the boot identity map (boot_pml4[0]=0) unless the variant has no PMO; "
        "boot_pdpt_lo/boot_pd_lo stay in memory unlinked. "
        + (f"Self-test: the bytes 'PMOVIEW!' were written through the PMO at PA {marks}. " if marks else "")
        + "mb2_mmap_copy holds the Multiboot2 entries verbatim (u64 base, u64 length, u32 type, u32 0), "
        "mb2_mmap_count of them. The firmware map also lists a reserved range "
        "0xfd00000000-0x10000000000 (QEMU's AMD HyperTransport hole) far above RAM. "
        "EFER is from HMP info registers (the ELF dump's QEMU note has no EFER). " + ap_note.strip()
    )
    if dumps.get("kdump", "").endswith(".xz"):
        notes += (
            " dump.kdump.xz is QEMU's kdump-zlib output (makedumpfile flattened stream) compressed with "
            "xz for the repository: QEMU writes a 24-byte page descriptor for every guest page, zero "
            "or not, so the raw file is about ram_bytes/170 (33 MB for 5 GiB)."
        )
    truth = {
        "name": v["name"],
        "arch": "x86_64",
        "kind": "seed",
        "qemu": qemu_version,
        "qemu_cmdline": qemu_cmdline,
        "ram_bytes": mem_bytes(v["mem"]),
        "cpu_model": v["cpu"],
        "cpu_features": features,
        "cpus": regs,
        "paging": "4-level",
        "ram_map": serial["ram_map"],
        "dumps": dumps,
        "symbols": symbols,
        "vmcoreinfo": False,
        "kaslr": False,
        "defect": defect,
        "expected_findings": v["expected"],
        "notes": notes,
    }
    if "fault" in v:
        truth["fault"] = fault_truth(v, out, regs, symbols)
        truth["notes"] += (
            " The guest triple-faulted (-d int log: int-log.txt); QEMU ran with -no-reboot and -action "
            "shutdown=pause, so it was dumped in run state 'shutdown' with the CPU state of the fault. "
            "fault.level/index name the entry that denies the access (x86 levels: 4 PML4 .. 1 PT)."
        )
    (out / "truth.json").write_text(json.dumps(truth, indent=2) + "\n")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", help="comma list of folder names (default: all)")
    ap.add_argument("--no-build", action="store_true")
    ap.add_argument(
        "--truth-only",
        action="store_true",
        help="rewrite truth.json from the files already in each folder (no QEMU run)",
    )
    ap.add_argument("--jobs", type=int, default=1, help="variants captured in parallel (TCG: 1 per core)")
    a = ap.parse_args()
    chosen = VARIANTS
    if a.only:
        names = set(a.only.split(","))
        chosen = [v for v in VARIANTS if v["name"] in names]
        unknown = names - {v["name"] for v in chosen}
        if unknown:
            ap.error(f"unknown variants: {sorted(unknown)}")
    if a.truth_only:
        for v in chosen:
            out = SAMPLES / v["name"]
            old = json.loads((out / "truth.json").read_text())
            write_truth(v, out, old["qemu"], old["qemu_cmdline"], old["dumps"])
            print(f"truth rewritten: {v['name']}", file=sys.stderr)
        return 0
    if not a.no_build:
        build([v["build"] for v in chosen])
    with concurrent.futures.ThreadPoolExecutor(max_workers=a.jobs) as pool:
        for name in pool.map(run_variant, chosen):
            print(f"done: {name}", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Build the bare-metal 64 KiB-granule kernel, boot it under QEMU (TCG, -cpu max), stop it on its ready
line, dump it and verify every mapping it printed three ways; write ../aarch64-64k-lpa/.

Standard library only (plus the cross compiler and gdb-multiarch):

    apt-get install gcc-aarch64-linux-gnu gdb-multiarch qemu-system-arm xz-utils
    python3 sample_dumps/bare64k/capture_bare64k.py [--out DIR] [--work DIR]

The kernel (kernel.c, boot.S, linker.ld) prints ``PMOVIEW-MAP va pa size what`` for every block and page
it maps and ``PMOVIEW-UNMAPPED va`` for addresses it left unmapped: its own arithmetic. After the dump,
QEMU's gva2gpa (HMP, through the gdbstub) and the gdbstub's virtual-vs-physical reads are asked about
each (../linux/gdb_translate.py). A dump has no TTBR/TCR for arm: truth.json ``root_options`` holds the
register values (read from the gdbstub) a user passes as ``--ttbr0/--ttbr1/--tcr``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "linux"))
from capture_linux import QMP, free_port, qemu_version  # noqa: E402

NAME = "aarch64-64k-lpa"
READY = "PMOVIEW-READY"
REGISTERS = ["TTBR0_EL1", "TTBR1_EL1", "TCR_EL1", "MAIR_EL1", "SCTLR_EL1", "ID_AA64MMFR0_EL1", "ID_AA64MMFR2_EL1"]


def build(work: str) -> str:
    elf = os.path.join(work, "kernel.elf")
    subprocess.run(
        [
            "aarch64-linux-gnu-gcc",
            "-O2",
            "-ffreestanding",
            "-nostdlib",
            "-mgeneral-regs-only",
            "-fno-pic",
            "-static",
            "-Wall",
            "-Wextra",
            "-T",
            os.path.join(HERE, "linker.ld"),
            "-Wl,--build-id=none",
            "-o",
            elf,
            os.path.join(HERE, "boot.S"),
            os.path.join(HERE, "kernel.c"),
        ],
        check=True,
    )
    return elf


def queries(serial: str) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for m in re.finditer(r"^PMOVIEW-MAP (0x[0-9a-f]+) (0x[0-9a-f]+) (0x[0-9a-f]+) (\S+)\s*$", serial, re.M):
        va, pa, size, what = int(m.group(1), 16), int(m.group(2), 16), int(m.group(3), 16), m.group(4)
        half = "ttbr1" if va >> 63 else "ttbr0"
        for off in sorted({0, 0x18, size // 2 + 0x1238, size - 16}):
            rows.append({"cpu": 0, "half": half, "va": hex(va + off), "kernel_pa": hex(pa + off), "what": what})
    for m in re.finditer(r"^PMOVIEW-UNMAPPED (0x[0-9a-f]+)\s*$", serial, re.M):
        va = int(m.group(1), 16)
        half = "ttbr1" if va >> 63 else "ttbr0"
        rows.append({"cpu": 0, "half": half, "va": hex(va), "kernel_pa": None, "what": "unmapped"})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(HERE, "..", NAME))
    ap.add_argument("--work", default="/tmp/pmoview-bare64k")
    ap.add_argument("--timeout", type=int, default=120)
    a = ap.parse_args()
    out, work = os.path.abspath(a.out), os.path.abspath(a.work)
    os.makedirs(out, exist_ok=True)
    os.makedirs(work, exist_ok=True)
    elf = build(work)
    serial_path = os.path.join(out, "serial.log")
    qmp_path = os.path.join(work, "qmp.sock")
    for p in (serial_path, qmp_path):
        if os.path.exists(p):
            os.unlink(p)
    port = free_port()
    argv = [
        "qemu-system-aarch64",
        "-M",
        "virt",
        "-accel",
        "tcg",
        "-cpu",
        "max",
        "-m",
        "256M",
        "-smp",
        "1",
        "-kernel",
        elf,
        "-display",
        "none",
        "-nic",
        "none",
        "-serial",
        "file:" + serial_path,
        "-monitor",
        "none",
        "-qmp",
        f"unix:{qmp_path},server=on,wait=off",
        "-gdb",
        f"tcp:127.0.0.1:{port}",
        "-no-reboot",
    ]
    printable = " ".join(argv).replace(elf, "kernel.elf")
    proc = subprocess.Popen(["timeout", str(a.timeout)] + argv, stdin=subprocess.DEVNULL)
    t0 = time.time()
    try:
        while not os.path.exists(qmp_path):
            if proc.poll() is not None:
                raise RuntimeError(f"QEMU exited early: {proc.returncode}")
            time.sleep(0.1)
        time.sleep(0.2)
        q = QMP(qmp_path, timeout=120)
        while True:
            with open(serial_path, errors="replace") as f:
                if READY in f.read():
                    break
            if proc.poll() is not None or time.time() - t0 > a.timeout:
                raise RuntimeError("no ready line")
            time.sleep(0.2)
        q.cmd("stop")
        kdump = os.path.join(out, "dump.kdump")
        if os.path.exists(kdump):
            os.unlink(kdump)
        q.cmd("dump-guest-memory", paging=False, protocol="file:" + kdump, format="kdump-zlib")
        os.chmod(kdump, 0o644)
        with open(serial_path, errors="replace") as f:
            serial = f.read()
        rows = queries(serial)
        req = {"port": port, "cpus": [0], "registers": REGISTERS, "reads": [{"cpu": 0, "va": r["va"]} for r in rows]}
        req_path, res_path = os.path.join(work, "gdb-request.json"), os.path.join(work, "gdb-result.json")
        with open(req_path, "w") as f:
            json.dump(req, f)
        env = dict(os.environ, PMOVIEW_GDB_REQUEST=req_path, PMOVIEW_GDB_RESULT=res_path)
        subprocess.run(
            ["gdb-multiarch", "-batch", "-nx", "-x", os.path.join(HERE, "..", "linux", "gdb_translate.py")],
            env=env,
            check=True,
            timeout=300,
            stdout=subprocess.DEVNULL,
        )
        with contextlib.suppress(Exception):
            q.cmd("quit")
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    with open(res_path) as f:
        res = json.load(f)
    bad = 0
    for r, g in zip(rows, res["reads"], strict=True):
        virt, phys = g["virtual_bytes"], g["physical_bytes"]
        r["gva2gpa"] = g["gva2gpa"]
        r["gdb_virtual_readable"] = virt is not None
        r["gdb_virtual_equals_physical"] = None if virt is None or phys is None else virt == phys
        if r["kernel_pa"] is None:
            r["verdict"] = "unmapped" if g["gva2gpa"] is None and virt is None else "disagree"
        elif g["gva2gpa"] == r["kernel_pa"] and r["gdb_virtual_equals_physical"] is not False:
            # above 2**48 there is no memory: gdb cannot read it, gva2gpa and the kernel still agree
            r["verdict"] = "mapped"
        else:
            r["verdict"] = "disagree"
        bad += r["verdict"] == "disagree"
    regs = res["registers"]["0"]
    reg_lines = dict(re.findall(r"^PMOVIEW-REG (\S+) (0x[0-9a-f]+)\s*$", serial, re.M))
    if int(regs["tcr_el1"], 16) != int(reg_lines["TCR_EL1"], 16):
        bad += 1
        print("WARNING: the gdbstub's TCR_EL1 is not the one the kernel wrote", file=sys.stderr)
    truth = {
        "name": NAME,
        "arch": "aarch64",
        "kind": "bare-metal",
        "qemu": qemu_version("qemu-system-aarch64"),
        "qemu_cmdline": printable,
        "ram_bytes": 256 << 20,
        "cpu_model": "max",
        "paging": "aarch64-64k",
        "ram_map": [{"start": "0x40000000", "end": "0x50000000", "type": 1}],  # QEMU virt: RAM at 1 GiB
        "dumps": {"kdump": "dump.kdump"},
        "spec": "layout.toml",  # the kernel's own design, for pmoview check --spec (committed, not generated)
        "cpus": [{"index": 0, **regs}],
        "root_options": {
            "ttbr0": regs["ttbr0_el1"],
            "ttbr1": regs["ttbr1_el1"],
            "tcr": regs["tcr_el1"],
            "why": "a QEMU dump of an arm guest holds no TTBR/TCR and this kernel has no VMCOREINFO: "
            "pass these as --ttbr0/--ttbr1/--tcr (values read from QEMU's gdbstub)",
        },
        "translations": rows,
        "translations_source": "the kernel's own PMOVIEW-MAP / PMOVIEW-UNMAPPED lines; QEMU's gva2gpa through the "
        "gdbstub; gdbstub 16-byte reads at the VA and at gva2gpa's PA (Qqemu.PhyMemMode:1); no memory exists above "
        "2**48, so those PAs are checked by gva2gpa and the kernel only",
        "vmcoreinfo": False,
        "defect": None,
        "expected_findings": [],
        "notes": "Bare-metal kernel (sample_dumps/bare64k): 64 KiB granule, TTBR1 52-bit VA (FEAT_LVA, start level "
        "1, an 8 KiB top table 8 KiB into a 64 KiB page), TTBR0 47-bit VA (a 256-byte top table at a 256-byte "
        "offset, ASID 0x42, CnP), IPS 52 bits with FEAT_LPA descriptors (OA[51:48] in bits 15:12): 4 TiB level 1 "
        "blocks, 512 MiB level 2 blocks, 64 KiB pages, PAs above 2**48. Regenerate: "
        "python3 sample_dumps/bare64k/capture_bare64k.py",
    }
    with open(os.path.join(out, "truth.json"), "w") as f:
        json.dump(truth, f, indent=2)
        f.write("\n")
    mapped = sum(r["verdict"] == "mapped" for r in rows)
    print(f"[{NAME}] {mapped} mapped, {len(rows) - mapped - bad} unmapped, {bad} disagreeing; {kdump}")
    if bad:
        sys.exit(1)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Build, boot and capture the RISC-V samples; write their truth.json.

    make_riscv_samples.py [--only rvseed-sv39,rvseed-sv48,rvseed-sv57,linux-riscv64]

rvseed-sv39/sv48/sv57: rvseed/ (ours) built three times with Debian's riscv64-linux-gnu-gcc; each
    builds one page table with 4 KiB, 2 MiB, 1 GiB (and from Sv48 on 512 GiB) leaves plus planted
    reserved encodings, probes every planted VA in S-mode and prints what the MMU did.

Each folder gets dump.elf.xz, kernel.elf, info-registers.txt, info-mem-cpuN.txt (QEMU's walk of
each hart's satp: the truth), serial.log and truth.json. Needs: qemu-system-riscv64 (7.2),
gcc-riscv64-linux-gnu, xz. Python standard library only.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
SAMPLES = HERE.parent
NAMES = ("rvseed-sv39", "rvseed-sv48", "rvseed-sv57", "linux-riscv64")
DEBIAN_SUITE = "trixie"  # Debian 12 (bookworm) has no riscv64 port; Debian 13 has linux-image-riscv64
DEBIAN_MIRROR = "http://deb.debian.org/debian"
PLANT = 0x4000_0000
GiB = 1 << 30
# rvseed's planted reserved encodings (kernel.c: build()) and the VA range each makes fault.
PLANTED = [
    ("w-without-r", PLANT, PLANT + 0x1000),
    ("wx-without-r", PLANT + 0x1000, PLANT + 0x2000),
    ("bit54", PLANT + 0x2000, PLANT + 0x3000),
    ("n-without-svnapot", PLANT + 0x3000, PLANT + 0x4000),
    ("pbmt-without-svpbmt", PLANT + 0x4000, PLANT + 0x5000),
    ("nonleaf-a", PLANT + 0x200000, PLANT + 0x400000),
    ("nonleaf-u", PLANT + 0x400000, PLANT + 0x600000),
    ("misaligned-2m", PLANT + 0x600000, PLANT + 0x800000),
    ("level0-pointer", PLANT + 0x800000, PLANT + 0x801000),
    ("nonleaf-d", PLANT + 0xA00000, PLANT + 0xC00000),
    ("misaligned-1g", 3 * GiB, 4 * GiB),
]


def run(cmd: list[str], cwd: Path | None = None, timeout: int = 900) -> None:
    print("+", " ".join(cmd), file=sys.stderr, flush=True)
    subprocess.run(["nice", "-n", "10", *cmd], cwd=cwd, check=True, timeout=timeout)


def capture(name: str, out: Path, qemu_args: str, ready: str, send: list[str], cwd: Path, settle: float) -> dict:
    cmd = [sys.executable, str(HERE / "capture_riscv.py"), "--name", name, "--out", str(out)]
    cmd += ["--qemu-args", qemu_args, "--ready-regex", ready, "--settle", str(settle), "--cwd", str(cwd)]
    for line in send:
        cmd += ["--send", line]
    run(cmd, timeout=600)
    meta: dict = json.loads((out / "capture.json").read_text())
    (out / "capture.json").unlink()
    return meta


def harts(meta: dict) -> list[dict]:
    out = []
    for h in meta["harts"]:
        satp = int(h.get("satp", "0x0"), 16)
        mstatus = int(h.get("mstatus", "0x0"), 16)
        mode = {8: "sv39", 9: "sv48", 10: "sv57"}.get(satp >> 60)
        out.append(
            {
                "index": int(h["index"]),
                "pc": h.get("pc"),
                "satp": hex(satp),
                "mode": mode,
                "asid": (satp >> 44) & 0xFFFF,
                "root": hex((satp & ((1 << 44) - 1)) << 12) if mode else None,
                "mstatus": hex(mstatus),
                "sum": bool(mstatus >> 18 & 1),
                "mxr": bool(mstatus >> 19 & 1),
                "info_mem": f"info-mem-cpu{h['index']}.txt",
            }
        )
    return out


def symbols(elf: Path, names: tuple[str, ...]) -> dict[str, str]:
    text = subprocess.run(["riscv64-linux-gnu-nm", str(elf)], capture_output=True, text=True, check=True).stdout
    out = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[2] in names:
            out[parts[2]] = hex(int(parts[0], 16))
    return out


def rvseed(name: str) -> None:
    mode = name.split("-")[1]
    src = HERE / "rvseed"
    run(["make", "-C", str(src), f"MODES={mode}"])
    out = SAMPLES / name
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()
    kernel = out / "kernel.elf"
    shutil.copy(src / "build" / mode / "kernel.elf", kernel)
    qemu = "-machine virt -bios none -kernel kernel.elf -m 128M -smp 2"
    meta = capture(name, out, qemu, r"PMOVIEW-READY variant=\S+", [], out, 0.5)
    serial = (out / "serial.log").read_text()
    probes = [
        {"name": m[0], "va": hex(int(m[1], 16)), "fault": m[2] != "", "scause": int(m[2]) if m[2] else None}
        for m in re.findall(r"probe (\S+) va=(0x[0-9a-f]+) (?:fault scause=(\d+)|ok)", serial)
    ]
    faulted = {p["name"] for p in probes if p["fault"]}
    missing = [n for n, _, _ in PLANTED if n not in faulted]
    if missing:
        raise SystemExit(f"{name}: the MMU did not fault on planted {missing}: see {out / 'serial.log'}")
    truth = {
        "name": name,
        "arch": "riscv64",
        "kind": "rvseed",
        "qemu": meta["qemu"],
        "qemu_cmdline": meta["qemu_cmdline"],
        "paging": mode,
        "ram_bytes": 128 << 20,
        "ram_map": [{"start": "0x80000000", "end": "0x88000000", "type": 1}],
        "harts": harts(meta),
        "dumps": {"elf": "dump.elf.xz"},
        "symbols": symbols(kernel, ("_start", "smain", "probe")),
        "probes": probes,
        "planted": [{"name": n, "start": hex(s), "end": hex(e)} for n, s, e in PLANTED],
        "defect": "planted reserved encodings (each faults in the probe run: scause 13)",
        "expected_findings": ["reserved-bits"],
        "notes": "QEMU's info mem does not validate entries: it lists the planted leaves (with PPNs that "
        "include reserved bits) although the MMU faults on them; the truth excludes the planted ranges.",
    }
    (out / "truth.json").write_text(json.dumps(truth, indent=2) + "\n")


def linux(rootfs: Path | None) -> None:
    """Debian 13's riscv64 kernel and busybox (mmdebstrap --variant=extract), our init, 2 harts, 256 MiB;
    QEMU's OpenSBI (-bios default). The dump is cut to its page tables (cut_riscv.py)."""
    work = Path(tempfile.mkdtemp(prefix="linux-riscv64-"))
    try:
        if rootfs is None:
            rootfs = work / "rootfs"
            run(
                ["mmdebstrap", "--arch=riscv64", "--variant=extract", "--include=linux-image-riscv64,busybox-static"]
                + [DEBIAN_SUITE, str(rootfs), DEBIAN_MIRROR],
                timeout=1800,
            )
        kernel = sorted((rootfs / "boot").glob("vmlinux-*"))[-1]
        initramfs = work / "initramfs"
        for d in ("bin", "dev", "proc", "sys"):
            (initramfs / d).mkdir(parents=True)
        shutil.copy(rootfs / "usr" / "bin" / "busybox", initramfs / "bin" / "busybox")
        shutil.copy(HERE / "linux" / "init", initramfs / "init")
        (initramfs / "init").chmod(0o755)
        files = sorted(str(p.relative_to(initramfs)) for p in initramfs.rglob("*"))
        cpio = subprocess.run(
            ["cpio", "-o", "-H", "newc"],
            input="\n".join(files).encode(),
            cwd=initramfs,
            capture_output=True,
            check=True,
        )
        (work / "initrd").write_bytes(cpio.stdout)
        out = SAMPLES / "linux-riscv64"
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir()
        qemu = f"-machine virt -m 256M -smp 2 -kernel {kernel} -initrd initrd -append 'console=ttyS0 earlycon=sbi'"
        meta = capture("linux-riscv64", out, qemu, r"PMOVIEW-READY .*", [], work, 3.0)
        meta["qemu_cmdline"] = meta["qemu_cmdline"].replace(str(kernel), kernel.name)
        serial = (out / "serial.log").read_text()
        ready = re.search(r"PMOVIEW-READY (\S+) (.*)", serial)
        truth = {
            "name": "linux-riscv64",
            "arch": "riscv64",
            "kind": "linux",
            "kernel": {"package": "linux-image-riscv64", "suite": DEBIAN_SUITE, "file": kernel.name},
            "release": ready.group(1) if ready else None,
            "cpuinfo_mmu": ready.group(2).strip() if ready else None,
            "qemu": meta["qemu"],
            "qemu_cmdline": meta["qemu_cmdline"],
            "paging": next((h["mode"] for h in harts(meta) if h["mode"]), None),
            "ram_bytes": 256 << 20,
            "ram_map": [{"start": "0x80000000", "end": "0x90000000", "type": 1}],
            "harts": harts(meta),
            "dumps": {"elf": "dump.elf.xz"},
            "vmcoreinfo": False,
            "defect": None,
            "expected_findings": [],
            "notes": "No kernel ELF with symbols (Debian ships the EFI Image; the -dbg package is large): roots "
            "come from the harts' satp (truth) or pmoview's validated scan. No VMCOREINFO: the fw_cfg "
            "driver that would hand it to QEMU is a module, not loaded by this init.",
        }
        (out / "truth.json").write_text(json.dumps(truth, indent=2) + "\n")
        run([sys.executable, str(HERE / "cut_riscv.py"), str(out / "dump.elf.xz")], timeout=1800)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", default=",".join(NAMES))
    ap.add_argument("--linux-rootfs", type=Path, help="a tree with Debian's riscv64 kernel and busybox-static")
    a = ap.parse_args(argv)
    for name in a.only.split(","):
        if name not in NAMES:
            raise SystemExit(f"unknown sample {name!r}; known: {', '.join(NAMES)}")
        if name == "linux-riscv64":
            linux(a.linux_rootfs)
        else:
            rvseed(name)
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Boot the kdump guest (PTI on, crashkernel=, kexec -p loaded), snapshot it with both CPUs in user
mode, then panic it and collect what its capture kernel saved. Standard library only.

  capture_kdump.py --kernel K --initrd I --work W --out-pti DIR --out-panic DIR [--mem 512M]

1. Boot; on PMOVIEW-READY, QMP stop until `info registers -a` shows CPL=3 on every CPU (each CPU
   runs a busy loop in user mode; stop/cont is retried until both are caught there).
2. HMP `info registers -a`, `info tlb`/`info mem` per CPU; `dump-guest-memory` ELF and kdump-zlib.
3. cont, write "crash" to the serial console: /init runs `echo c > /proc/sysrq-trigger`, the kernel
   panics and kexecs the capture kernel, whose /init copies /proc/vmcore to virtio disk 0 and streams
   `makedumpfile -F -l -d 31` and `-F -c -d 31` to disks 1 and 2, then powers off.
4. The host cuts the ELF copy to its size, reassembles the flattened streams with makedumpfile -R,
   and runs Debian's makedumpfile over QEMU's ELF dump (program headers moved after the ELF
   header first: makedumpfile 1.7.2 expects them there, QEMU 7.2 writes a section header first).
Dumps land in WORK; make_kdump_sample.sh cuts them into the sample folders.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import struct
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from capture_linux import QMP, elf_notes, parse_vmcoreinfo, parse_x86_regs, qemu_version, ram_map_x86  # noqa: E402

READY = "PMOVIEW-READY"
DONE = "PMOVIEW-CAPTURE-DONE"


def wait_for(path: str, text: str, proc: subprocess.Popen, timeout: float) -> str:
    t0 = time.time()
    while True:
        with open(path, errors="replace") as f:
            serial = f.read()
        if text in serial:
            return serial
        if proc.poll() is not None:
            raise RuntimeError(f"QEMU exited ({proc.returncode}) before {text}")
        if time.time() - t0 > timeout:
            raise RuntimeError(f"no {text} within {timeout:.0f}s")
        time.sleep(0.5)


def cpls(regs: str) -> list[int]:
    return [int(m) for m in re.findall(r"\bCPL=(\d)", regs)]


def elf_phdrs_first(src: str, dst: str) -> None:
    """Copy ELF64 core src to dst with its program headers right after the ELF header (and no
    section headers): the layout makedumpfile 1.7.2 assumes. Segment data is copied unchanged,
    shifted by a page-aligned delta that is added to every p_offset."""
    with open(src, "rb") as f:
        eh = bytearray(f.read(64))
        (phoff,) = struct.unpack_from("<Q", eh, 0x20)
        phentsize, phnum = struct.unpack_from("<HH", eh, 0x36)
        if phnum == 0xFFFF:
            raise RuntimeError("PN_XNUM core: not handled")
        f.seek(phoff)
        ph = bytearray(f.read(phentsize * phnum))
        delta = (64 + len(ph) + 4095) & ~4095
        for i in range(phnum):
            (off,) = struct.unpack_from("<Q", ph, i * phentsize + 8)
            struct.pack_into("<Q", ph, i * phentsize + 8, off + delta)
        struct.pack_into("<Q", eh, 0x20, 64)  # e_phoff
        struct.pack_into("<Q", eh, 0x28, 0)  # e_shoff
        struct.pack_into("<HHH", eh, 0x3A, 0, 0, 0)  # e_shentsize, e_shnum, e_shstrndx
        f.seek(0)
        with open(dst, "wb") as o:
            o.write(eh + ph)
            o.write(b"\0" * (delta - 64 - len(ph)))
            while chunk := f.read(1 << 24):
                o.write(chunk)


def reassemble(flat: str, out: str) -> None:
    with open(flat, "rb") as src:
        subprocess.run(["makedumpfile", "-R", out], stdin=src, check=True, stdout=subprocess.DEVNULL)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--kernel", required=True)
    ap.add_argument("--initrd", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--out-pti", required=True)
    ap.add_argument("--out-panic", required=True)
    ap.add_argument("--mem", default="512M")
    ap.add_argument("--crashkernel", default="192M")
    ap.add_argument("--cpu", default="max,-la57")
    ap.add_argument("--boot-timeout", type=int, default=300)
    a = ap.parse_args()
    work = os.path.abspath(a.work)
    os.makedirs(work, exist_ok=True)
    for d in (a.out_pti, a.out_panic):
        os.makedirs(d, exist_ok=True)
    serial_path = os.path.join(work, "serial.log")
    qmp_path = os.path.join(work, "qmp.sock")
    for p in (qmp_path, serial_path):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(p)
    disks = [os.path.join(work, f"disk{i}.img") for i in range(3)]
    for path, size in zip(disks, (512 << 20, 128 << 20, 128 << 20), strict=True):
        with open(path, "wb") as f:
            f.truncate(size)
    append = f"console=ttyS0 pti=on crashkernel={a.crashkernel} init_on_free=1"
    argv = ["qemu-system-x86_64", "-accel", "tcg", "-cpu", a.cpu, "-m", a.mem, "-smp", "2"]
    argv += ["-kernel", a.kernel, "-initrd", a.initrd, "-append", append, "-device", "vmcoreinfo"]
    argv += ["-display", "none", "-nic", "none", "-monitor", "none", "-no-reboot"]
    argv += ["-chardev", "stdio,id=ser0,signal=off", "-serial", "chardev:ser0"]
    argv += ["-qmp", f"unix:{qmp_path},server=on,wait=off"]
    for d in disks:
        argv += ["-drive", f"file={d},format=raw,if=virtio"]
    printable = " ".join((f"'{x}'" if " " in x else x) for x in argv)
    print(printable, flush=True)
    t0 = time.time()
    with open(serial_path, "wb") as serial_out:
        proc = subprocess.Popen(["timeout", "900"] + argv, stdin=subprocess.PIPE, stdout=serial_out)
    assert proc.stdin is not None
    try:
        while not os.path.exists(qmp_path):
            if proc.poll() is not None:
                raise RuntimeError(f"QEMU exited early: {proc.returncode}")
            time.sleep(0.1)
        time.sleep(0.2)
        q = QMP(qmp_path)
        wait_for(serial_path, READY, proc, a.boot_timeout)
        boot_s = time.time() - t0
        print(f"ready after {boot_s:.0f}s", flush=True)
        time.sleep(3)  # let the busy loops settle on their CPUs
        for attempt in range(200):
            q.cmd("stop")
            regs = q.hmp("info registers -a")
            if cpls(regs) == [3, 3]:
                break
            q.cmd("cont")
            time.sleep(0.05 + (attempt % 7) * 0.03)
        else:
            raise RuntimeError("could not catch both CPUs in user mode")
        print(f"both CPUs in user mode after {attempt + 1} stops", flush=True)
        with open(os.path.join(a.out_pti, "info-registers.txt"), "w") as f:
            f.write(regs)
        for n in range(2):
            for what in ("tlb", "mem"):
                with open(os.path.join(a.out_pti, f"info-{what}-cpu{n}.txt"), "w") as f:
                    f.write(q.hmp("info " + what, cpu=n))
        qemu_elf = os.path.join(work, "qemu.elf")
        qemu_kdump = os.path.join(work, "qemu.kdump-zlib")
        for p in (qemu_elf, qemu_kdump):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(p)
        q.cmd("dump-guest-memory", paging=False, protocol="file:" + qemu_elf, format="elf")
        q.cmd("dump-guest-memory", paging=False, protocol="file:" + qemu_kdump, format="kdump-zlib")
        q.cmd("cont")
        time.sleep(1)
        proc.stdin.write(b"crash\n")
        proc.stdin.flush()
        serial = wait_for(serial_path, DONE, proc, 600)
        print(f"capture kernel done after {time.time() - t0:.0f}s", flush=True)
        with contextlib.suppress(Exception):
            proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

    m = re.search(r"PMOVIEW-VMCORE-SIZE (\d+)", serial)
    if not m:
        raise RuntimeError("no PMOVIEW-VMCORE-SIZE line")
    for rc_line in ("ELF-COPY", "MAKEDUMPFILE-LZO", "MAKEDUMPFILE-ZLIB"):
        mm = re.search(rf"PMOVIEW-{rc_line} rc=(\d+)", serial)
        if not mm or mm.group(1) != "0":
            raise RuntimeError(f"capture kernel step {rc_line} failed: {mm.group(0) if mm else 'no line'}")
    with open(disks[0], "r+b") as f:
        f.truncate(int(m.group(1)))
    os.replace(disks[0], os.path.join(work, "vmcore.elf"))
    reassemble(disks[1], os.path.join(work, "vmcore.lzo.kdump"))
    reassemble(disks[2], os.path.join(work, "vmcore.zlib.kdump"))
    # Debian's makedumpfile over QEMU's ELF dump of the PTI snapshot (headers rewritten first)
    fixed = os.path.join(work, "qemu-phdrs-first.elf")
    elf_phdrs_first(qemu_elf, fixed)
    for flag, name in (("-l", "qemu-md.lzo.kdump"), ("-c", "qemu-md.zlib.kdump")):
        out = os.path.join(work, name)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(out)
        subprocess.run(["makedumpfile", flag, "-d", "31", fixed, out], check=True)
    os.unlink(fixed)

    vmci: dict[str, str] = {}
    for name, _t, desc in elf_notes(qemu_elf):
        if name == "VMCOREINFO":
            vmci = parse_vmcoreinfo(desc.rstrip(b"\0").decode("latin-1"))
    ksyms = {
        mm.group(3): f"0x{int(mm.group(1), 16):x}"
        for mm in re.finditer(r"^PMOVIEW-KSYM ([0-9a-f]+) (\S) (\S+)\s*$", serial, re.M)
    }
    first_kernel = serial.split("PMOVIEW-PANIC", 1)[0]
    common = {
        "arch": "x86_64",
        "kind": "linux",
        "qemu": qemu_version("qemu-system-x86_64"),
        "qemu_cmdline": printable,
        "cpu_model": a.cpu,
        "paging": "4-level",
        "kernel_release": vmci.get("OSRELEASE"),
        "kaslr": int(vmci.get("KERNELOFFSET", "0"), 16) != 0,
        "pti": re.search(r"PMOVIEW-PTI (.*)", serial).group(1).strip(),  # type: ignore[union-attr]
        "ram_map": ram_map_x86(first_kernel),
        "symbols": ksyms,
        "system_map_symbols": ksyms,
        "vmcoreinfo": bool(vmci),
        "vmcoreinfo_expect": vmci,
        "boot_seconds": round(boot_s),
    }
    pti = {"cpus": parse_x86_regs(regs), "user_mode_stops": attempt + 1, **common}
    Path(work, "truth-pti.json").write_text(json.dumps(pti, indent=2) + "\n")
    Path(work, "truth-panic.json").write_text(json.dumps(common, indent=2) + "\n")
    with open(os.path.join(a.out_pti, "serial.log"), "w") as f:
        f.write(first_kernel)
    with open(os.path.join(a.out_panic, "serial.log"), "w") as f:
        f.write(serial)


if __name__ == "__main__":
    main()

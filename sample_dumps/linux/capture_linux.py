#!/usr/bin/env python3
"""Boot one Linux guest under QEMU (TCG), wait for the initramfs ready line, stop it and
capture dumps plus HMP views, then write truth.json (see ../SCHEMA.md).

Standard library only. Called by make_linux_samples.sh, one guest at a time:

  capture_linux.py --name linux-x86_64-4l-kaslr --arch x86_64 --kernel K --initrd I \
      --mem 512M --smp 2 --cpu max,-la57 --append "console=ttyS0" --out DIR \
      [--elf] [--raw 0x0:0x20000000] [--boot-timeout 240]
"""

import argparse
import contextlib
import json
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time

READY = "PMOVIEW-READY"


# ---------------------------------------------------------------- QMP client
class QMP:
    def __init__(self, path, timeout=600):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.buf = b""
        self.events = []
        greeting = self._read()
        if "QMP" not in greeting:
            raise RuntimeError(f"no QMP greeting: {greeting!r}")
        self.cmd("qmp_capabilities")

    def _read(self):
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise RuntimeError("QMP connection closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def cmd(self, name, **args):
        msg = {"execute": name}
        if args:
            msg["arguments"] = args
        self.sock.sendall(json.dumps(msg).encode() + b"\n")
        while True:
            r = self._read()
            if "event" in r:
                self.events.append(r)
                continue
            if "error" in r:
                raise RuntimeError("QMP {} failed: {}".format(name, r["error"]))
            return r.get("return")

    def hmp(self, line, cpu=None):
        args = {"command-line": line}
        if cpu is not None:
            args["cpu-index"] = cpu
        return self.cmd("human-monitor-command", **args)


# ---------------------------------------------------------------- helpers
def parse_size(s):
    m = re.fullmatch(r"(\d+)([KMG]?)", s)
    mult = {"": 1 << 20, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}[m.group(2)]
    return int(m.group(1)) * mult


def qemu_version(binary):
    out = subprocess.run([binary, "--version"], capture_output=True, text=True).stdout
    m = re.search(r"version (\S+)", out)
    return m.group(1) if m else out.strip()


def elf_notes(path):
    """Yield (name, type, desc) of every note in the PT_NOTE segments of an ELF64 LE file."""
    with open(path, "rb") as f:
        hdr = f.read(64)
        assert hdr[:4] == b"\x7fELF" and hdr[4] == 2, "not ELF64"
        (phoff,) = struct.unpack_from("<Q", hdr, 0x20)
        phentsize, phnum = struct.unpack_from("<HH", hdr, 0x36)
        if phnum == 0xFFFF:  # PN_XNUM: real count in section 0's sh_info
            (shoff,) = struct.unpack_from("<Q", hdr, 0x28)
            f.seek(shoff)
            sh = f.read(64)
            (phnum,) = struct.unpack_from("<I", sh, 0x2C)
        f.seek(phoff)
        phdrs = f.read(phentsize * phnum)
        for i in range(phnum):
            p_type, _fl, off, _va, _pa, filesz = struct.unpack_from("<IIQQQQ", phdrs, i * phentsize)
            if p_type != 4:
                continue
            f.seek(off)
            data = f.read(filesz)
            pos = 0
            while pos + 12 <= len(data):
                namesz, descsz, ntype = struct.unpack_from("<III", data, pos)
                pos += 12
                name = data[pos : pos + namesz].rstrip(b"\0").decode("latin-1")
                pos += (namesz + 3) & ~3
                desc = data[pos : pos + descsz]
                pos += (descsz + 3) & ~3
                yield name, ntype, desc


def parse_vmcoreinfo(text):
    d = {}
    for line in text.splitlines():
        if "=" in line:
            k, v = line.split("=", 1)
            d[k] = v
    return d


def kdump_check(path):
    """Reassemble the flattened kdump with makedumpfile -R into a temp file; return the
    VMCOREINFO text found in it (the sub-header's offset/size), or None."""
    with open(path, "rb") as f:
        sig = f.read(16)
    if not sig.startswith(b"makedumpfile"):
        raise RuntimeError(f"{path}: no makedumpfile flattened signature")
    tmp = os.path.join(tempfile.mkdtemp(prefix="pmoview-kd-"), "reassembled")
    try:
        with open(path, "rb") as src:
            subprocess.run(["makedumpfile", "-R", tmp], stdin=src, check=True, stdout=subprocess.DEVNULL)
        with open(tmp, "rb") as f:
            disk = f.read(4096)
            assert disk[:8] == b"KDUMP   ", f"not a diskdump after -R: {disk[:8]!r}"
            (block_size,) = struct.unpack_from("<i", disk, 428)  # sig, version, utsname, pad, timestamp, status
            assert block_size in (4096, 16384, 65536), block_size
            # sub header is at block 1
            f.seek(block_size)
            sub = f.read(4096)
            phys_base, dump_level, split, start_pfn, end_pfn, off_vmci, size_vmci = struct.unpack_from(
                "<QiiQQQQ", sub, 0
            )
            info = {"block_size": block_size, "subheader_phys_base": f"0x{phys_base:x}"}
            if size_vmci:
                f.seek(off_vmci)
                return f.read(size_vmci).decode("latin-1"), info
        return None, info
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
        os.rmdir(os.path.dirname(tmp))


LIME_MAGIC = 0x4C694D45


def lime_extract(disk, dst):
    """Walk LiME range headers (magic, version 1, s_addr, e_addr inclusive, 8 reserved bytes)
    from the start of the disk image; copy the LiME stream to dst. Returns ([ranges], length)."""
    ranges = []
    with open(disk, "rb") as f, open(dst, "wb") as o:
        pos = 0
        while True:
            f.seek(pos)
            hdr = f.read(32)
            if len(hdr) < 32:
                break
            magic, version, s_addr, e_addr = struct.unpack_from("<IIQQ", hdr, 0)
            if magic != LIME_MAGIC or version != 1 or e_addr < s_addr:
                break
            size = e_addr - s_addr + 1
            ranges.append({"start": hex(s_addr), "end": hex(e_addr + 1), "file_offset": hex(pos)})
            o.write(hdr)
            left = size
            while left:
                chunk = f.read(min(left, 1 << 24))
                if not chunk:
                    raise RuntimeError("LiME image truncated")
                o.write(chunk)
                left -= len(chunk)
            pos += 32 + size
    if not ranges:
        os.unlink(dst)
    return ranges, pos


E820_TYPES = {
    "usable": 1,
    "reserved": 2,
    "ACPI data": 3,
    "ACPI NVS": 4,
    "unusable": 5,
    "persistent (type 7)": 7,
    "persistent": 7,
    "soft reserved": 0xEFFFFFFF,
}


def ram_map_x86(serial):
    out = []
    for m in re.finditer(r"BIOS-e820: \[mem 0x([0-9a-f]+)-0x([0-9a-f]+)\] (.+?)\s*$", serial, re.M):
        start, end, typ = int(m.group(1), 16), int(m.group(2), 16) + 1, m.group(3).strip()
        t = E820_TYPES.get(typ)
        if t is None:
            mt = re.search(r"type (\d+)", typ)
            t = int(mt.group(1)) if mt else -1
        out.append({"start": hex(start), "end": hex(end), "type": t})
    return out


def ram_map_iomem(serial):
    """From /proc/iomem top-level 'System RAM' lines printed by the initramfs (arm64)."""
    out = []
    for m in re.finditer(r"^PMOVIEW-IOMEM ([0-9a-f]+)-([0-9a-f]+) : System RAM\s*$", serial, re.M):
        out.append({"start": hex(int(m.group(1), 16)), "end": hex(int(m.group(2), 16) + 1), "type": 1})
    return out


def kcore_segments(serial):
    hexdata = "".join(re.findall(r"^PMOVIEW-KCOREHDR ([0-9a-f]+)\s*$", serial, re.M))
    data = bytes.fromhex(hexdata)
    if len(data) < 64 or data[:4] != b"\x7fELF":
        return []
    (phoff,) = struct.unpack_from("<Q", data, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    segs = []
    for i in range(phnum):
        o = phoff + i * phentsize
        if o + 56 > len(data):
            break
        p_type, _fl, off, va, pa, filesz, memsz = struct.unpack_from("<IIQQQQQ", data, o)
        if p_type == 1:
            segs.append({"vaddr": hex(va), "paddr": hex(pa), "memsz": hex(memsz)})
    return segs


def parse_x86_regs(text):
    cpus = []
    for i, block in enumerate(re.split(r"(?m)^CPU#\d+\s*$", text)[1:]):

        def g(name, block=block):
            m = re.search(rf"\b{name}=([0-9a-fA-F]+)", block)
            return f"0x{int(m.group(1), 16):x}" if m else None

        cpus.append(
            {
                "index": i,
                "cr0": g("CR0"),
                "cr2": g("CR2"),
                "cr3": g("CR3"),
                "cr4": g("CR4"),
                "efer": g("EFER"),
                "rip": g("RIP"),
            }
        )
    return cpus


def parse_arm_regs(text):
    cpus = []
    for i, block in enumerate(re.split(r"(?m)^CPU#\d+\s*$", text)[1:]):
        c = {"index": i}
        for key in ("TTBR0_EL1", "TTBR1_EL1", "TCR_EL1", "SCTLR_EL1", "PC"):
            m = re.search(rf"\b{key}\s*[=:]\s*([0-9a-fA-F]+)", block)
            if m:
                c[key.lower()] = f"0x{int(m.group(1), 16):x}"
        cpus.append(c)
    return cpus


# ---------------------------------------------------------------- translations, three ways
def free_port():
    import random

    for _ in range(50):
        port = random.randint(20000, 60000)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free TCP port for the gdbstub")


ARM_REGISTERS = ["TTBR0_EL1", "TTBR1_EL1", "TCR_EL1", "MAIR_EL1", "SCTLR_EL1", "ID_AA64MMFR0_EL1"]


def translation_queries(serial, vmci):
    """(va, kernel_pa, how the kernel computes it, half) for kernel VAs, and per spinner pid the user
    VAs with their /proc/PID/pagemap PA. kernel_pa None: the kernel says nothing (checked by the
    other two ways only)."""
    segs = kcore_segments(serial)
    ksyms = {
        m.group(3): int(m.group(1), 16) for m in re.finditer(r"^PMOVIEW-KSYM ([0-9a-f]+) (\S) (\S+)\s*$", serial, re.M)
    }
    kvo = int(vmci.get("NUMBER(kimage_voffset)", "0"), 16)
    kernel = []
    for name in ("_text", "_stext", "_etext", "swapper_pg_dir", "reserved_pg_dir", "_sdata", "init_mm", "_edata"):
        if name in ksyms:
            kernel.append((ksyms[name], ksyms[name] - kvo, f"{name} - kimage_voffset"))
    if "_end" in ksyms:
        kernel.append((ksyms["_end"] - 16, ksyms["_end"] - 16 - kvo, "_end - 16 - kimage_voffset"))
    for s in segs:
        va, pa, size = int(s["vaddr"], 16), int(s["paddr"], 16), int(s["memsz"], 16)
        if pa >= 1 << 52:
            continue
        for off in (0, 0x1234, size // 2 + 0x808, size - 16):
            kernel.append((va + off, pa + off, f"/proc/kcore PT_LOAD {s['vaddr']} -> {s['paddr']}"))
        kernel.append((va + size + (1 << 30), None, "past a /proc/kcore RAM segment"))
    for m in re.finditer(r"^PMOVIEW-MODULE (\S+) .* (0x[0-9a-f]+)\s*$", serial, re.M):
        kernel.append((int(m.group(2), 16), None, f"module {m.group(1)} (/proc/modules)"))
    if "NUMBER(VMEMMAP_START)" in vmci:
        vs = int(vmci["NUMBER(VMEMMAP_START)"], 16)
        kernel.append((vs, None, "VMEMMAP_START"))
    if "NUMBER(VMALLOC_START)" in vmci:
        kernel.append((int(vmci["NUMBER(VMALLOC_START)"], 16), None, "VMALLOC_START"))
    user = []
    for m in re.finditer(r"^PMOVIEW-PAGEMAP (\d+) ([0-9a-f]+) ([0-9a-f]{16})\s*$", serial, re.M):
        pid, va = int(m.group(1)), int(m.group(2), 16)
        entry = int.from_bytes(bytes.fromhex(m.group(3)), "little")
        psz = int(re.search(rf"^PMOVIEW-SPIN {pid} pagesize (\d+)", serial, re.M).group(1))
        present = entry >> 63 & 1
        pfn = entry & ((1 << 55) - 1)
        user.append((va, pfn * psz + va % psz if present and pfn else None, f"/proc/{pid}/pagemap"))
        if present and pfn:
            user.append((va + 0x238, pfn * psz + (va + 0x238) % psz, f"/proc/{pid}/pagemap"))
    for va in (0x0, 0x10000, 0x100000000000, 0x7FFFFFFF0000, 0xFFFFFFFFF000):
        user.append((va, None, "an address no spinner maps"))
    return kernel, user


def judge_translations(rows, smp):
    """Verdict per row: 'mapped' when QEMU's translation and the gdbstub's virtual-vs-physical read agree
    (and, for kernel VAs, the kernel's arithmetic too), 'unmapped' when neither QEMU way can reach the VA,
    else 'disagree'. User VAs carry the pagemap PA of some spinner; each CPU runs one of them, so a user
    row's ``kernel_agrees`` is judged against the process this CPU runs (``user_pid``, the pid whose every
    present pagemap entry matches this CPU's translation). Returns {cpu: pid or None}."""
    pids = {}
    for r in rows:
        m = re.match(r"/proc/(\d+)/pagemap", r["kernel_source"])
        r["pid"] = int(m.group(1)) if m else None
    for cpu in range(smp):
        ok = {}
        for r in rows:
            if r["cpu"] == cpu and r["half"] == "ttbr0" and r["pid"] is not None and r["kernel_pa"] is not None:
                ok[r["pid"]] = ok.get(r["pid"], True) and r["kernel_pa"] == r["gva2gpa"]
        running = [pid for pid, good in ok.items() if good]
        pids[cpu] = running[0] if len(running) == 1 else None
    for r in rows:
        virt_ok = r["gdb_virtual_equals_physical"]
        if r["gva2gpa"] is None and not r["gdb_virtual_readable"]:
            r["verdict"] = "unmapped" if r["kernel_pa"] is None or r["half"] == "ttbr0" else "disagree"
        elif (
            r["gva2gpa"] is None
            or not virt_ok
            or r["half"] == "ttbr1"
            and r["kernel_pa"] is not None
            and r["kernel_pa"] != r["gva2gpa"]
        ):
            r["verdict"] = "disagree"
        else:
            r["verdict"] = "mapped"
        if (
            r["half"] == "ttbr0"
            and r["kernel_pa"] is not None
            and r["pid"] == pids[r["cpu"]]
            or r["half"] == "ttbr1"
            and r["kernel_pa"] is not None
        ):
            r["kernel_agrees"] = r["kernel_pa"] == r["gva2gpa"]
    return pids


def verify_translations(port, elf, serial_path, smp, work):
    with open(serial_path, errors="replace") as f:
        serial = f.read()
    vmci = {}
    for name, _t, desc in elf_notes(elf):
        if name == "VMCOREINFO":
            vmci = parse_vmcoreinfo(desc.rstrip(b"\0").decode("latin-1"))
    kernel, user = translation_queries(serial, vmci)
    rows = []
    for cpu in range(smp):
        for group, half in ((kernel, "ttbr1"), (user, "ttbr0")):
            if half == "ttbr1" and cpu:
                continue  # one TTBR1 for every CPU: asked of CPU 0
            for va, kpa, how in group:
                rows.append(
                    {
                        "cpu": cpu,
                        "half": half,
                        "va": hex(va),
                        "kernel_pa": hex(kpa) if kpa is not None else None,
                        "kernel_source": how,
                    }
                )
    req = {
        "port": port,
        "cpus": list(range(smp)),
        "registers": ARM_REGISTERS,
        "reads": [{"cpu": r["cpu"], "va": r["va"]} for r in rows],
    }
    req_path, res_path = os.path.join(work, "gdb-request.json"), os.path.join(work, "gdb-result.json")
    with open(req_path, "w") as f:
        json.dump(req, f)
    env = dict(os.environ, PMOVIEW_GDB_REQUEST=req_path, PMOVIEW_GDB_RESULT=res_path)
    here = os.path.dirname(os.path.abspath(__file__))
    subprocess.run(
        ["gdb-multiarch", "-batch", "-nx", "-x", os.path.join(here, "gdb_translate.py")],
        env=env,
        check=True,
        timeout=600,
        stdout=subprocess.DEVNULL,
    )
    with open(res_path) as f:
        res = json.load(f)
    out = []
    for r, g in zip(rows, res["reads"], strict=True):
        virt, phys = g["virtual_bytes"], g["physical_bytes"]
        r["gva2gpa"] = g["gva2gpa"]
        if g["gva2gpa"] is None:
            r["gva2gpa_text"] = g["gva2gpa_text"]
        r["gdb_virtual_equals_physical"] = None if virt is None or phys is None else virt == phys
        r["gdb_virtual_readable"] = virt is not None
        out.append(r)
    user_pids = judge_translations(out, smp)
    for r in out:
        if r["verdict"] == "disagree" or r.get("kernel_agrees") is False:
            print(f"WARNING: translation ways disagree: {r}", file=sys.stderr)
    for cpu, pid in user_pids.items():
        if pid is None:
            print(f"WARNING: no spinner's pagemap matches CPU {cpu}'s TTBR0 translations", file=sys.stderr)
    regs = [res["registers"][str(c)] for c in range(smp)]
    return {
        "translations": out,
        "translations_source": "QEMU's debug translation (HMP gva2gpa through the gdbstub, per CPU); QEMU gdbstub "
        "16-byte reads at the VA (that CPU's MMU) and at gva2gpa's PA (Qqemu.PhyMemMode:1); the kernel's arithmetic "
        "(kimage_voffset, /proc/kcore segments, /proc/PID/pagemap). Done after the dumps; PSTATE.PAN was cleared "
        "first on CPUs stopped at EL1 with it set (cpu_registers pstate is the value at the stop). A user VA's "
        "verdict 'unmapped' means unmapped in that CPU's TTBR0 (its process may run on the other CPU).",
        "cpu_registers": regs,
        "user_pid_per_cpu": {str(c): p for c, p in user_pids.items()},
    }


# ---------------------------------------------------------------- main
def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--name", required=True)
    ap.add_argument("--arch", choices=["x86_64", "aarch64"], required=True)
    ap.add_argument("--kernel", required=True)
    ap.add_argument("--initrd", required=True)
    ap.add_argument("--mem", required=True)
    ap.add_argument("--smp", type=int, default=2)
    ap.add_argument("--cpu", required=True)
    ap.add_argument("--append", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--work", default=None, help="scratch dir for the uncompressed ELF")
    ap.add_argument("--elf", action="store_true", help="store dump.elf.xz")
    ap.add_argument("--raw", default=None, help="BASE:LENGTH for pmemsave -> dump.raw.xz")
    ap.add_argument(
        "--stash",
        default=None,
        help="write dump.elf.xz / dump.raw.xz to STASH/<name>/ instead of --out "
        "(kept out of the repository for size); truth.json lists them under "
        "dumps_not_committed",
    )
    ap.add_argument(
        "--lime-disk",
        default=None,
        metavar="SIZE",
        help="attach a raw virtio disk of SIZE (e.g. 640M) for the guest's LiME module; "
        "the LiME image found on it is stored as dump.lime.xz",
    )
    ap.add_argument(
        "--verify-translations",
        action="store_true",
        help="aarch64: after the dumps, translate kernel and user VAs three ways (QMP gva2gpa per CPU, "
        "QEMU gdbstub virtual vs physical reads, the kernel's own arithmetic) into truth.json "
        "'translations', and read TTBR0/TTBR1/TCR/MAIR per CPU from the gdbstub",
    )
    ap.add_argument("--extra", default="", help="extra QEMU arguments (space separated)")
    ap.add_argument("--boot-timeout", type=int, default=240)
    ap.add_argument("--qemu-timeout", type=int, default=300, help="QEMU runs under timeout(1) with this many seconds")
    ap.add_argument("--notes", default="")
    a = ap.parse_args()

    out = os.path.abspath(a.out)
    os.makedirs(out, exist_ok=True)
    work = os.path.abspath(a.work or tempfile.mkdtemp(prefix="pmoview-"))
    os.makedirs(work, exist_ok=True)
    qmp_path = os.path.join(work, "qmp.sock")
    serial_path = os.path.join(out, "serial.log")
    for p in (qmp_path, serial_path):
        if os.path.exists(p):
            os.unlink(p)

    binary = "qemu-system-x86_64" if a.arch == "x86_64" else "qemu-system-aarch64"
    argv = [binary]
    if a.arch == "aarch64":
        argv += ["-M", "virt"]
    argv += [
        "-accel",
        "tcg",
        "-cpu",
        a.cpu,
        "-m",
        a.mem,
        "-smp",
        str(a.smp),
        "-kernel",
        a.kernel,
        "-initrd",
        a.initrd,
        "-append",
        a.append,
        "-device",
        "vmcoreinfo",
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
        "-no-reboot",
    ]
    lime_img = None
    if a.lime_disk:
        lime_img = os.path.join(work, a.name + ".lime-disk.img")
        with open(lime_img, "wb") as f:
            f.truncate(parse_size(a.lime_disk))
        argv += ["-drive", f"file={lime_img},format=raw,if=virtio"]
    gdb_port = free_port() if a.verify_translations else None
    if gdb_port:
        argv += ["-gdb", f"tcp:127.0.0.1:{gdb_port}"]
    argv += a.extra.split()
    printable = " ".join((f"'{x}'" if " " in x else x) for x in argv)
    print(f"[{a.name}] {printable}", flush=True)
    t0 = time.time()
    proc = subprocess.Popen(["timeout", str(a.qemu_timeout)] + argv, stdin=subprocess.DEVNULL)
    try:
        while not os.path.exists(qmp_path):
            if proc.poll() is not None:
                raise RuntimeError(f"QEMU exited early: {proc.returncode}")
            time.sleep(0.1)
        time.sleep(0.2)
        q = QMP(qmp_path)
        while True:
            if proc.poll() is not None:
                raise RuntimeError("QEMU exited before ready")
            with open(serial_path, errors="replace") as f:
                if READY in f.read():
                    break
            if time.time() - t0 > a.boot_timeout:
                raise RuntimeError(f"no {READY} within {a.boot_timeout}s")
            time.sleep(1)
        boot_s = time.time() - t0
        print(f"[{a.name}] ready after {boot_s:.0f}s", flush=True)
        q.cmd("stop")

        regs = q.hmp("info registers -a")
        with open(os.path.join(out, "info-registers.txt"), "w") as f:
            f.write(regs)
        for n in range(a.smp):
            for what in ("tlb", "mem"):
                txt = q.hmp("info " + what, cpu=n)
                with open(os.path.join(out, f"info-{what}-cpu{n}.txt"), "w") as f:
                    f.write(txt)

        kdump = os.path.join(out, "dump.kdump")
        for p in (kdump,):
            if os.path.exists(p):
                os.unlink(p)
        q.cmd("dump-guest-memory", paging=False, protocol="file:" + kdump, format="kdump-zlib")
        os.chmod(kdump, 0o644)

        elf = os.path.join(work, a.name + ".elf")
        if os.path.exists(elf):
            os.unlink(elf)
        q.cmd("dump-guest-memory", paging=False, protocol="file:" + elf, format="elf")
        os.chmod(elf, 0o644)

        raw_info = None
        if a.raw:
            base, length = (int(x, 0) for x in a.raw.split(":"))
            raw = os.path.join(work, a.name + ".raw")
            if os.path.exists(raw):
                os.unlink(raw)
            q.cmd("pmemsave", val=base, size=length, filename=raw)
            os.chmod(raw, 0o644)
            raw_info = (raw, base, length)
        verified = None
        if gdb_port:
            # Only now, after every dump: gdb's detach at the end lets QEMU resume the guest.
            verified = verify_translations(gdb_port, elf, serial_path, a.smp, work)
        with contextlib.suppress(Exception):
            q.cmd("quit")
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

    # ------------------------------------------------------------ verify + compress
    notes = list(elf_notes(elf))
    vmci_text = None
    note_names = sorted({n for n, _, _ in notes})
    for name, _t, desc in notes:
        if name == "VMCOREINFO":
            vmci_text = desc.rstrip(b"\0").decode("latin-1")
    readelf = subprocess.run(["readelf", "-n", elf], capture_output=True, text=True).stdout
    if "VMCOREINFO" not in readelf:
        print(f"[{a.name}] WARNING: readelf -n shows no VMCOREINFO note", file=sys.stderr)
    kd_vmci, kd_info = kdump_check(kdump)

    dumps = {"kdump": "dump.kdump"}
    stashed = {}
    big_dir = os.path.join(os.path.abspath(a.stash), a.name) if a.stash else out
    os.makedirs(big_dir, exist_ok=True)
    target = stashed if a.stash else dumps
    if a.elf:
        subprocess.run(["xz", "-9", "-T2", "-f", "-k", elf], check=True)
        shutil.move(elf + ".xz", os.path.join(big_dir, "dump.elf.xz"))
        target["elf"] = "dump.elf.xz"
    if raw_info:
        raw, base, length = raw_info
        subprocess.run(["xz", "-9", "-T2", "-f", raw], check=True)
        shutil.move(raw + ".xz", os.path.join(big_dir, "dump.raw.xz"))
        target["raw"] = {"file": "dump.raw.xz", "base": hex(base), "length": hex(length)}

    lime_ranges = None
    if lime_img:
        lime_ranges, lime_len = lime_extract(lime_img, os.path.join(work, a.name + ".lime"))
        os.unlink(lime_img)
        if lime_ranges:
            subprocess.run(["xz", "-9", "-T2", "-f", os.path.join(work, a.name + ".lime")], check=True)
            shutil.move(os.path.join(work, a.name + ".lime.xz"), os.path.join(big_dir, "dump.lime.xz"))
            target["lime"] = "dump.lime.xz"
        else:
            print(f"[{a.name}] WARNING: no LiME image on the disk", file=sys.stderr)

    # ------------------------------------------------------------ truth.json
    with open(serial_path, errors="replace") as f:
        serial = f.read()
    ksyms = {}
    for m in re.finditer(r"^PMOVIEW-KSYM ([0-9a-f]+) (\S) (\S+)\s*$", serial, re.M):
        ksyms[m.group(3)] = f"0x{int(m.group(1), 16):x}"
    segs = kcore_segments(serial)
    uname = re.search(r"^PMOVIEW-UNAME (\S+)", serial, re.M)
    flags_m = re.search(r"^PMOVIEW-CPUFLAGS \S+\s*:\s*(.*)$", serial, re.M)
    flags = set(flags_m.group(1).split()) if flags_m else set()
    vmci = parse_vmcoreinfo(vmci_text or "")

    if a.arch == "x86_64":
        cpus = parse_x86_regs(regs)
        cr4 = int(cpus[0]["cr4"], 16)
        paging = "5-level" if cr4 & (1 << 12) else "4-level"
        ram_map = ram_map_x86(serial)
        rel = ["pdpe1gb", "la57", "nx", "pse", "pge", "pat", "pcid", "smep", "smap", "pku"]
        feats = [x for x in rel if x in flags]
        # RAM segments of /proc/kcore: p_vaddr - p_paddr == page_offset_base
        direct = sorted(
            {
                int(s["vaddr"], 16) - int(s["paddr"], 16)
                for s in segs
                if int(s["paddr"], 16) not in (0xFFFFFFFFFFFFFFFF,)
                and int(s["vaddr"], 16) < 0xFFFFFFFF80000000
                and int(s["paddr"], 16) < (1 << 52)
            }
        )
    else:
        cpus = parse_arm_regs(regs)
        if verified:  # QEMU 7.2's "info registers" has no TTBR/TCR; the gdbstub has them
            for c in cpus:
                c.update({k: v for k, v in verified["cpu_registers"][c["index"]].items() if v is not None})
        psize = int(vmci.get("PAGESIZE", "4096"))
        paging = {4096: "aarch64-4k", 16384: "aarch64-16k", 65536: "aarch64-64k"}.get(psize, f"aarch64-{psize}")
        ram_map = ram_map_iomem(serial)
        feats = sorted(flags)
        # RAM segments of /proc/kcore (the kernel-image segment has vaddr - paddr == kimage_voffset)
        kvo = int(vmci.get("NUMBER(kimage_voffset)", "0"), 16)
        direct = sorted(
            {
                int(s["vaddr"], 16) - int(s["paddr"], 16)
                for s in segs
                if int(s["paddr"], 16) < (1 << 52) and int(s["vaddr"], 16) - int(s["paddr"], 16) != kvo
            }
        )
    if a.arch == "x86_64":
        for n in range(a.smp):
            with open(os.path.join(out, f"info-tlb-cpu{n}.txt")) as f:
                if not f.read().strip():
                    print(f"[{a.name}] WARNING: info tlb for CPU {n} is empty", file=sys.stderr)
        want57 = "-la57" not in a.cpu and a.cpu.startswith("max")
        if want57 != (paging == "5-level"):
            print(f"[{a.name}] WARNING: paging {paging} with -cpu {a.cpu}", file=sys.stderr)
    kaslr = "nokaslr" not in a.append and int(vmci.get("KERNELOFFSET", "0"), 16) != 0

    truth = {
        "name": a.name,
        "arch": a.arch,
        "kind": "linux",
        "qemu": qemu_version(binary),
        "qemu_cmdline": printable,
        "ram_bytes": parse_size(a.mem),
        "cpu_model": a.cpu,
        "cpu_features": feats,
        "cpus": [{k: v for k, v in c.items() if v is not None} for c in cpus],
        "paging": paging,
        "ram_map": ram_map,
        "dumps": dumps,
        **(
            {
                "dumps_not_committed": dict(
                    stashed, regenerate=f"KEEP_ALL=1 sample_dumps/linux/make_linux_samples.sh {a.name}"
                )
            }
            if stashed
            else {}
        ),
        "symbols": dict(ksyms),
        "system_map_symbols": dict(ksyms),
        "kernel_release": uname.group(1) if uname else vmci.get("OSRELEASE"),
        "vmcoreinfo": bool(vmci_text),
        "vmcoreinfo_in_kdump": bool(kd_vmci),
        "vmcoreinfo_expect": vmci,
        "kcore_load_segments": segs,
        # VA at which PA 0 would sit in the direct (linear) map, from /proc/kcore RAM segments;
        # on x86_64 this is the value of page_offset_base.
        "direct_map_base": hex(direct[0]) if len(direct) == 1 else [hex(x) for x in direct],
        "direct_map_source": "/proc/kcore PT_LOAD RAM segments: p_vaddr - p_paddr",
        **({"page_offset_base_value": hex(direct[0])} if a.arch == "x86_64" and len(direct) == 1 else {}),
        "linear_map_start": (
            min(
                (
                    s["vaddr"]
                    for s in segs
                    if int(s["paddr"], 16) < (1 << 52) and int(s["vaddr"], 16) - int(s["paddr"], 16) in direct
                ),
                key=lambda x: int(x, 16),
                default=None,
            )
        ),
        "kdump_block_size": kd_info["block_size"],
        # QEMU's own guess, written into the kdump sub-header; differs from VMCOREINFO's
        # NUMBER(phys_base) under KASLR (makedumpfile trusts it and then fails): prefer VMCOREINFO.
        "kdump_subheader_phys_base": kd_info["subheader_phys_base"],
        **({"lime_ranges": lime_ranges} if lime_ranges else {}),
        "elf_note_names": note_names,
        "kaslr": kaslr,
        **(verified or {}),
        "defect": None,
        "expected_findings": [],
        "notes": a.notes,
    }
    with open(os.path.join(out, "truth.json"), "w") as f:
        json.dump(truth, f, indent=2)
        f.write("\n")
    os.unlink(elf)
    print(
        "[{}] done: boot {:.0f}s, paging {}, kaslr {}, vmcoreinfo {}/{}, KERNELOFFSET {}".format(
            a.name, boot_s, paging, kaslr, bool(vmci_text), bool(kd_vmci), vmci.get("KERNELOFFSET")
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()

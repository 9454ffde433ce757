#!/usr/bin/env python3
"""Turn what capture_kdump.py left in WORK into the two committed sample folders (cut, xz'd, with
truth.json). Needs pmoview importable (PYTHONPATH=. or PYTHON=.venv/bin/python).

    finish_kdump_samples.py WORK PTI_DIR PANIC_DIR
"""

from __future__ import annotations

import json
import lzma
import re
import shutil
import subprocess
import sys
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[2]), str(Path(__file__).resolve().parent)]

import cut_elf  # noqa: E402
import cut_kdump  # noqa: E402


def xz(src: Path, dst: Path) -> None:
    with open(src, "rb") as fin, lzma.open(dst, "wb", preset=9) as fout:
        shutil.copyfileobj(fin, fout)


def cut_to(kind: str, src: Path, dst: Path, scratch: Path) -> dict[str, object]:
    tmp = scratch / (dst.name.removesuffix(".xz"))
    record = cut_kdump.cut(str(src), str(tmp), True) if kind == "kdump" else cut_elf.cut(str(src), str(tmp))
    xz(tmp, dst)
    tmp.unlink()
    return record


def full_dump_mappings(elf: Path) -> dict[str, int]:
    """Merged mappings per root, counted on QEMU's uncut ELF dump: a cut (filtered) dump must list the
    same ones (mappings are not split where the dump lacks frames)."""
    from pmoview.memory import open_dump
    from pmoview.roots import find_roots
    from pmoview.space import AddressSpace

    mem = open_dump(str(elf))
    out = {hex(r.table): len(AddressSpace(mem, r).mappings()) for r in find_roots(mem)}
    mem.close()
    return out


def crash_gaps(serial: str) -> list[dict[str, str]]:
    """RAM the capture kernel's /proc/vmcore leaves out: the crashkernel reservation (boot log) and
    what kexec-tools keeps for itself below 1 MiB (the first page, the top of the low 640 KiB)."""
    m = re.search(r"Reserving (\d+)MB of memory at (\d+)MB for crashkernel", serial)
    assert m, "no crashkernel reservation in serial.log"
    size, at = int(m.group(1)) << 20, int(m.group(2)) << 20
    return [
        {"start": "0x0", "end": "0x1000", "why": "page 0: not in /proc/vmcore"},
        {"start": "0x9f000", "end": "0x9fc00", "why": "below the EBDA: kexec-tools' backup region"},
        {"start": hex(at), "end": hex(at + size), "why": "crashkernel= reservation (the capture kernel's memory)"},
    ]


def main(work: Path, pti: Path, panic: Path) -> None:
    scratch = work / "cut"
    scratch.mkdir(exist_ok=True)
    flat = work / "qemu.kdump-zlib"
    plain = work / "qemu-zlib.kdump"
    if plain.exists():
        plain.unlink()
    with open(flat, "rb") as src:
        subprocess.run(["makedumpfile", "-R", str(plain)], stdin=src, check=True, stdout=subprocess.DEVNULL)

    t_pti = json.loads((work / "truth-pti.json").read_text())
    cuts = {
        "dump.kdump.xz": cut_to("kdump", work / "qemu-md.lzo.kdump", pti / "dump.kdump.xz", scratch),
        "dump-makedumpfile-zlib.kdump.xz": cut_to(
            "kdump", work / "qemu-md.zlib.kdump", pti / "dump-makedumpfile-zlib.kdump.xz", scratch
        ),
        "dump-qemu-zlib.kdump.xz": cut_to("kdump", plain, pti / "dump-qemu-zlib.kdump.xz", scratch),
    }
    for p in sorted(pti.glob("info-*.txt")):
        if p.stat().st_size > 1 << 20:
            xz(p, p.with_name(p.name + ".xz"))
            p.unlink()
    cr3s = [int(c["cr3"], 16) for c in t_pti["cpus"]]
    t_pti.update(
        name=pti.name,
        ram_bytes=512 << 20,
        dumps={
            "kdump": "dump.kdump.xz",
            "kdump_makedumpfile_zlib": "dump-makedumpfile-zlib.kdump.xz",
            "kdump_qemu_zlib": "dump-qemu-zlib.kdump.xz",
        },
        cuts=cuts,
        cut=cuts["dump.kdump.xz"],
        # PTI: each CPU was caught in user mode, so CR3 is the user PGD (PCID in bits 0-11, bit 12 set);
        # its kernel twin is 4 KiB below.
        pti_user_roots=[hex(c & ~0xFFF) for c in cr3s],
        kernel_twins=[hex((c & ~0xFFF) - 0x1000) for c in cr3s],
        mappings_in_full_dump=full_dump_mappings(work / "qemu.elf"),
        defect=None,
        expected_findings=[],
        notes=(
            "Debian 6.1 guest booted with pti=on, one busybox busy loop pinned per CPU; QMP stop was retried "
            "until info registers showed CPL=3 on both CPUs. dump.kdump.xz is Debian's makedumpfile 1.7.2 "
            "-l -d 31 (LZO) over QEMU's ELF dump, whose program headers were first moved after the ELF header "
            "(capture_kdump.py elf_phdrs_first: makedumpfile 1.7.2 expects them there); "
            "dump-makedumpfile-zlib is -c -d 31 of the same; dump-qemu-zlib is QEMU's own kdump-zlib "
            "(makedumpfile -R). QEMU 7.2 (Debian) offers only elf, kdump-zlib and win-dmp: no kdump-lzo, "
            "-snappy or -zstd. All three are cut by cut_kdump.py, the compressed page bytes unchanged. "
            "info tlb/mem were taken on the user CR3, so they show the PTI user view."
        ),
    )
    (pti / "truth.json").write_text(json.dumps(t_pti, indent=2) + "\n")

    t_panic = json.loads((work / "truth-panic.json").read_text())
    serial = (panic / "serial.log").read_text(errors="replace")
    cpu = re.search(r"CPU: (\d+) PID: (\d+) Comm: (\S+)", serial.split("sysrq: Trigger a crash", 1)[1])
    assert cpu, "no CPU: line after the sysrq crash in serial.log"
    panic_cuts = {
        "vmcore.lzo.kdump.xz": cut_to("kdump", work / "vmcore.lzo.kdump", panic / "vmcore.lzo.kdump.xz", scratch),
        "vmcore.zlib.kdump.xz": cut_to("kdump", work / "vmcore.zlib.kdump", panic / "vmcore.zlib.kdump.xz", scratch),
        "vmcore.elf.xz": cut_to("elf", work / "vmcore.elf", panic / "vmcore.elf.xz", scratch),
    }
    t_panic.update(
        name=panic.name,
        ram_bytes=512 << 20,
        dumps={"kdump": "vmcore.lzo.kdump.xz", "kdump_zlib": "vmcore.zlib.kdump.xz", "elf": "vmcore.elf.xz"},
        cuts=panic_cuts,
        cut=panic_cuts["vmcore.lzo.kdump.xz"],
        # CPU state is NT_PRSTATUS (general registers only): no CR0/CR3/CR4 to compare
        cpus=[{"index": i, "source": "NT_PRSTATUS"} for i in range(2)],
        ram_not_in_dump=crash_gaps(serial),
        panic={
            "message": "sysrq triggered crash",
            "log_line": "Kernel panic - not syncing: sysrq triggered crash",
            "cpu": int(cpu.group(1)),
            "pid": int(cpu.group(2)),
            "comm": cpu.group(3),
            "source": "serial.log (the console), independent of the dump",
        },
        defect=None,
        expected_findings=[],
        notes=(
            "The same guest as linux-x86_64-pti-user, resumed after that snapshot: /init wrote c to "
            "/proc/sysrq-trigger; the kernel panicked and kexec'd the capture kernel Debian's kexec-tools had "
            "loaded (kexec -p, crashkernel=192M). The capture kernel's /init copied /proc/vmcore to a virtio disk "
            "(vmcore.elf: CPU state in NT_PRSTATUS notes, no QEMU note, no CR3) and streamed makedumpfile -F -l -d 31 "
            "and -F -c -d 31 to two more (reassembled on the host with makedumpfile -R). Cut by cut_kdump.py / "
            "cut_elf.py to the page tables, the kernel log and the first 1 MiB."
        ),
    )
    (panic / "truth.json").write_text(json.dumps(t_panic, indent=2) + "\n")
    shutil.rmtree(scratch)


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]))

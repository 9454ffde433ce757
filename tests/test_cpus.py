"""``pmoview cpus``: per-CPU records from real dumps; the faulting seed kernels' faults named from the dump
alone and checked against QEMU's -d int record (vector 14, error code, CR2)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pmoview.access.insn import decode_x86_64
from pmoview.cli import main
from pmoview.cpus import cpu_views
from pmoview.memory import open_dump
from pmoview.roots import find_roots

SAMPLES = Path(__file__).resolve().parent.parent / "sample_dumps"
FAULT_SAMPLES = sorted(d.name for d in SAMPLES.glob("seed-fault-*") if (d / "truth.json").exists())


def cpus_json(capsys: pytest.CaptureFixture[str], dump: Path) -> list[dict[str, object]]:
    assert main(["cpus", str(dump), "--json"]) == 0
    out: list[dict[str, object]] = json.loads(capsys.readouterr().out)
    return out


@pytest.mark.parametrize("name", FAULT_SAMPLES)
def test_fault_named_from_the_dump_alone(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    truth = json.loads((SAMPLES / name / "truth.json").read_text())
    fault_truth = truth["fault"]
    bits = fault_truth["error_code_bits"]  # QEMU's #PF error code: what the hardware said the access was
    access = "exec" if bits["I/D"] else "write" if bits["W/R"] else "read"
    (cpu,) = cpus_json(capsys, SAMPLES / name / truth["dumps"]["kdump"])
    assert cpu["pc"] == fault_truth["qemu_pf"]["ip"] and cpu["mode"] == "kernel"
    assert cpu["registers"]["cr2"] == fault_truth["qemu_pf"]["cr2"]  # type: ignore[index]
    fault = cpu["fault"]
    assert isinstance(fault, dict)
    assert (fault["va"], fault["access"], fault["allowed"], fault["at_pc"]) == (
        fault_truth["qemu_pf"]["cr2"],
        access,
        False,
        True,
    )
    assert (fault["reason"], fault["level"], fault["index"]) == (
        fault_truth["reason"],
        fault_truth["level"],
        fault_truth["index"],
    )
    assert set(fault) >= {"va", "access", "mode", "allowed", "pa", "reason", "level", "index", "entry", "path"}


def test_idle_cpus_and_cpu_without_paging(capsys: pytest.CaptureFixture[str]) -> None:
    cpus = cpus_json(capsys, SAMPLES / "seed-correct" / "dump.kdump.xz")
    assert [c["cpu"] for c in cpus] == [0, 1]
    assert cpus[0]["fault"] is None and cpus[0]["registers"]["cr2"] == "0x0"  # type: ignore[index]
    assert cpus[0]["pc_instruction"] and cpus[0]["root"]["source"] == "CPU 0 CR3"  # type: ignore[index]
    assert cpus[1]["root"] is None and cpus[1]["pc_translation"] is None and "paging is off" in str(cpus[1]["notes"])


def test_linux_cpu_stale_cr2_is_not_claimed_as_the_stopping_fault(capsys: pytest.CaptureFixture[str]) -> None:
    """An idle Linux CPU still holds the address of its last (handled) #PF in CR2: reported, with at_pc
    False because the instruction at RIP does not touch it."""
    d = SAMPLES / "linux-x86_64-5l-kaslr"
    cpus = cpus_json(capsys, d / "dump.kdump")
    regs = {c["index"]: c for c in json.loads((d / "truth.json").read_text()).get("cpus", []) if "index" in c}
    for c in cpus:
        assert c["mode"] == "kernel" and c["pc_instruction"]
        t = c["pc_translation"]
        assert isinstance(t, dict) and t["pa"] is not None and t["flags"]["nx"] is False
        fault = c["fault"]
        assert isinstance(fault, dict) and fault["at_pc"] is False and fault["source"] == "CR2"
        if c["cpu"] in regs and regs[c["cpu"]].get("cr2"):
            assert int(str(fault["va"]), 16) == int(regs[c["cpu"]]["cr2"], 16)


def test_a_stale_user_half_cr2_is_judged_as_the_user_access_it_most_likely_was(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Both idle CPUs of the 4-level guest hold a user-half CR2 while in the kernel. Judged with the CPU's
    present mode (kernel, RFLAGS.AC=0) that read looked like an SMAP violation; the earlier fault's mode
    is not recorded, so it is judged as a user access, and the kernel verdict is said beside it."""
    cpus = cpus_json(capsys, SAMPLES / "linux-x86_64-4l-nokaslr" / "dump.kdump")
    cpu0 = cpus[0]["fault"]
    assert isinstance(cpu0, dict) and cpu0["at_pc"] is False and int(str(cpu0["va"]), 16) < 1 << 47
    assert (cpu0["mode"], cpu0["access"], cpu0["allowed"]) == ("user", "read", True)
    assert "judged as a user access" in str(cpu0["access_from"])
    assert "a kernel read there would be denied (smap)" in str(cpu0["access_from"])


def test_arm64_cpus_say_what_the_dump_lacks(capsys: pytest.CaptureFixture[str]) -> None:
    cpus = cpus_json(capsys, SAMPLES / "linux-arm64" / "dump.kdump")
    assert len(cpus) == 2
    for c in cpus:
        assert c["mode"] == "kernel" and c["fault"] is None
        assert any("FAR_EL1" in n for n in c["notes"])  # type: ignore[attr-defined]
        assert c["pc_translation"]["pa"] is not None  # type: ignore[index]


def test_instruction_accesses_compute_addresses_from_registers() -> None:
    regs = {"rax": 0x1000, "rbx": 0x20, "rsp": 0x8000, "fs_base": 0x7000_0000}
    d = decode_x86_64(bytes.fromhex("48891498"), 0x400000, regs)  # mov [rax+rbx*4], rdx
    assert d is not None and [(a.address, a.access, a.size) for a in d.accesses] == [(0x1080, "write", 8)]
    d = decode_x86_64(bytes.fromhex("488b0510000000"), 0x400000, regs)  # mov rax, [rip+0x10]
    assert d is not None and [(a.address, a.access) for a in d.accesses] == [(0x400000 + 7 + 0x10, "read")]
    d = decode_x86_64(bytes.fromhex("64488b042528000000"), 0, regs)  # mov rax, fs:[0x28]
    assert d is not None and d.accesses[0].address == 0x7000_0028
    d = decode_x86_64(bytes.fromhex("e800000000"), 0, regs)  # call: pushes the return address
    assert d is not None and [(a.address, a.access) for a in d.accesses] == [(0x7FF8, "write")]
    d = decode_x86_64(bytes.fromhex("49890b"), 0, regs)  # mov [r11], rcx: r11 unknown
    assert d is not None and d.accesses == () and d.unresolved == ("write",)
    d = decode_x86_64(bytes.fromhex("488d0498"), 0, regs)  # lea touches no memory
    assert d is not None and d.accesses == ()
    assert decode_x86_64(b"", 0, regs) is None


def test_riscv_harts_are_listed_with_what_the_dump_lacks(capsys: pytest.CaptureFixture[str]) -> None:
    d = SAMPLES / "rvseed-sv39"
    dumps = sorted(p for p in d.glob("dump*") if p.is_file())
    if not dumps:
        pytest.skip("sample_dumps/rvseed-sv39 is not here")
    cpus = cpus_json(capsys, dumps[0])
    assert len(cpus) >= 1 and all(c["arch"] == "riscv64" for c in cpus)
    for c in cpus:
        assert c["fault"] is None and set(c["registers"]) == {"satp", "sstatus", "stval", "scause", "sepc"}  # type: ignore[arg-type]
        assert c["pc_translation"]["pa"] is not None  # type: ignore[index]
        assert any("stval/scause" in n for n in c["notes"])  # type: ignore[attr-defined]


OOPS_SAMPLES = sorted(d.name for d in SAMPLES.glob("linux-x86_64-oops-*") if (d / "truth.json").exists())


@pytest.mark.parametrize("name", OOPS_SAMPLES)
def test_linux_oops_named_from_the_dump_alone(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Debian's kernel took an unhandled page fault in a module and panicked (oops=panic). The dump's
    kernel log holds the oops (source "oops"); without the log, the oopsing CPU's CR2 still holds the
    address and the walk gives the access (RIP is in panic(): at_pc False). The console's oops and the
    kernel's own lookup_address() are the truth."""
    truth = json.loads((SAMPLES / name / "truth.json").read_text())
    want = truth["fault"]
    dump = SAMPLES / name / truth["dumps"]["kdump"]
    cpus = {c["cpu"]: c for c in cpus_json(capsys, dump)}
    fault = cpus[want["cpu"]]["fault"]
    assert isinstance(fault, dict) and fault["source"] == "oops" and "CR2 agrees" in str(fault["access_from"])
    assert (fault["va"], fault["access"], fault["mode"], fault["allowed"]) == (
        want["va"],
        want["access"],
        "kernel",
        False,
    )
    assert (fault["reason"], fault["level"], fault["index"]) == (want["reason"], want["level"], want["index"])

    mem = open_dump(str(dump))
    by_cr2 = {v.index: v for v in cpu_views(mem, find_roots(mem), read_log=False)}[want["cpu"]].fault
    assert by_cr2 is not None and by_cr2.source == "CR2" and by_cr2.at_pc is False
    e = by_cr2.explanation
    assert (hex(by_cr2.va), by_cr2.access, e.reason, e.level, e.index) == (
        want["va"],
        want["access"],
        want["reason"],
        want["level"],
        want["index"],
    )

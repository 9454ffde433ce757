"""``explain``: every reason kind on synthetic trees built entry by entry (x86_64 and AArch64), and the
real faulting seed kernels against QEMU's own record of the fault."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from synth import PAGE, Arm64Tree, MiB, X86Tree, x86_leaf

from pmoview.access import REASONS, control_for, explain
from pmoview.access.model import ControlBit, ControlState
from pmoview.cli import main
from pmoview.memory import open_dump
from pmoview.roots import find_roots
from pmoview.space import AddressSpace

SAMPLES = Path(__file__).resolve().parent.parent / "sample_dumps"
K = 0xFFFF_8880_0000_0000  # kernel half
U = 0x0000_7F00_0000_0000  # user half


def x86_ctl(**values: int) -> ControlState:
    base = {"wp": 1, "smep": 0, "smap": 0, "pke": 0, "ac": 0, "nxe": 1, "pkru": 0}
    base.update(values)
    return ControlState("x86_64", {n: ControlBit(v, "test") for n, v in base.items()})


def arm_ctl(**values: int) -> ControlState:
    base = {"pan": 0, "hpd": 0, "ha": 1, "hd": 1}
    base.update(values)
    return ControlState("aarch64", {n: ControlBit(v, "test") for n, v in base.items()})


@pytest.fixture
def x86() -> AddressSpace:
    t = X86Tree()
    t.map(K, 0x20_0000, PAGE, rw=1, xd=1)  # kernel data
    t.map(K + PAGE, 0x20_1000, PAGE, rw=0)  # kernel text: read-only, executable
    t.map(K + 2048 * MiB, 0x40_0000, 2 * MiB, rw=1, table_fields={"rw": 0})  # PDE writable, the new PDPTE not
    t.map(U, 0x30_0000, PAGE, rw=1, us=1)  # user page
    t.map(U + PAGE, 0x30_1000, PAGE, rw=1, us=1, pk=3)  # user page, protection key 3
    t.map(U + 2 * PAGE, 0x30_2000, PAGE, rw=1, us=0)  # supervisor page in the user half
    t.set_entry(K + 3 * PAGE, 1, x86_leaf(0x20_3000) | (1 << 51))  # reserved bit (MAXPHYADDR 40)
    t.set_entry(K + 1024 * MiB, 3, (0x7F_0000_0000 << 0) | 0x3)  # PDPTE to a table not in the dump
    return AddressSpace(t.mem, t.root_obj(maxphyaddr=40, nxe=True))


def why(space: AddressSpace, va: int, access: str, mode: str, ctl: ControlState) -> tuple[str, int | None, int | None]:
    e = explain(space, va, access, mode, ctl)  # type: ignore[arg-type]
    assert e.allowed == (e.reason == "ok")
    return e.reason, e.level, e.index


def test_x86_allowed_accesses_are_ok(x86: AddressSpace) -> None:
    assert why(x86, K + 8, "write", "kernel", x86_ctl()) == ("ok", 1, 0)
    assert why(x86, K + PAGE, "exec", "kernel", x86_ctl()) == ("ok", 1, 1)
    assert why(x86, U, "write", "user", x86_ctl()) == ("ok", 1, 0)


def test_x86_not_present_names_the_empty_entry(x86: AddressSpace) -> None:
    assert why(x86, K + 5 * PAGE, "read", "kernel", x86_ctl()) == ("not-present", 1, 5)
    assert why(x86, 0xFFFF_FF00_0000_0000, "read", "kernel", x86_ctl()) == ("not-present", 4, 510)


def test_x86_read_only_depends_on_cr0_wp_and_names_the_upper_entry(x86: AddressSpace) -> None:
    assert why(x86, K + PAGE, "write", "kernel", x86_ctl()) == ("read-only", 1, 1)
    assert why(x86, K + PAGE, "write", "kernel", x86_ctl(wp=0)) == ("ok", 1, 1)
    assert why(x86, K + PAGE, "write", "user", x86_ctl(wp=0))[0] == "supervisor-only"
    # R/W=0 in the PDPTE above a writable 2 MiB PDE: the PDPTE denies
    assert why(x86, K + 2048 * MiB, "write", "kernel", x86_ctl()) == ("read-only", 3, 2)


def test_x86_no_execute_smep_smap(x86: AddressSpace) -> None:
    assert why(x86, K, "exec", "kernel", x86_ctl()) == ("no-execute", 1, 0)
    assert why(x86, U, "exec", "kernel", x86_ctl(smep=1)) == ("smep", 1, 0)
    assert why(x86, U, "exec", "kernel", x86_ctl(smep=0))[0] == "ok"
    assert why(x86, U, "read", "kernel", x86_ctl(smap=1)) == ("smap", 1, 0)
    assert why(x86, U, "read", "kernel", x86_ctl(smap=1, ac=1))[0] == "ok"


def test_x86_supervisor_only_and_pkey(x86: AddressSpace) -> None:
    assert why(x86, U + 2 * PAGE, "read", "user", x86_ctl()) == ("supervisor-only", 1, 2)
    assert why(x86, K, "read", "user", x86_ctl())[0] == "supervisor-only"
    ad3, wd3 = 1 << 6, 1 << 7
    assert why(x86, U + PAGE, "read", "user", x86_ctl(pke=1, pkru=ad3)) == ("pkey", 1, 1)
    assert why(x86, U + PAGE, "read", "user", x86_ctl(pke=1, pkru=wd3))[0] == "ok"
    assert why(x86, U + PAGE, "write", "user", x86_ctl(pke=1, pkru=wd3))[0] == "pkey"
    assert why(x86, U + PAGE, "write", "user", x86_ctl(pke=0, pkru=wd3))[0] == "ok"
    assert why(x86, U, "write", "user", x86_ctl(pke=1, pkru=wd3))[0] == "ok"  # key 0


def test_x86_reserved_bit_table_outside_memory_non_canonical(x86: AddressSpace) -> None:
    assert why(x86, K + 3 * PAGE, "read", "kernel", x86_ctl()) == ("reserved-bit", 1, 3)
    assert why(x86, K + 1024 * MiB, "read", "kernel", x86_ctl()) == ("table-outside-memory", 3, 1)
    e = explain(x86, 0x0000_8000_0000_0000, "read", "kernel", x86_ctl())
    assert (e.reason, e.level, e.index, e.path) == ("non-canonical", None, None, ())


def test_x86_assumptions_are_named_only_when_consulted(x86: AddressSpace) -> None:
    ctl = control_for(x86.root)  # no CPU: everything assumed
    read = explain(x86, K + 8, "read", "kernel", ctl)
    assert not any(a.startswith("wp=") for a in read.assumptions)
    write = explain(x86, K + PAGE, "write", "kernel", ctl)
    assert write.reason == "read-only" and any(a.startswith("wp=1 assumed") for a in write.assumptions)


@pytest.fixture
def arm() -> AddressSpace:
    lin, kimg = 0xFFFF_0000_0000_0000, 0xFFFF_8000_0800_0000
    t = Arm64Tree()
    t.map(lin, 0x4000_0000, 2 * MiB, AP=0, PXN=1, UXN=1)  # kernel data block
    t.map(kimg, 0x4020_0000, PAGE, AP=2, UXN=1)  # kernel text: read-only, EL1-executable
    t.map(kimg + PAGE, 0x4020_1000, PAGE, AP=1, PXN=1, UXN=1)  # EL0 read-write
    t.map(kimg + 2 * PAGE, 0x4020_2000, PAGE, AP=1)  # EL0 read-write, PXN clear: implicit PXN
    t.map(kimg + 3 * PAGE, 0x4020_3000, PAGE, AP=3, DBM=1, PXN=1)  # EL0 read-only with DBM
    t.map(kimg + 4 * PAGE, 0x4020_4000, PAGE, AP=0, AF=0, PXN=1)  # access flag clear
    t.map(0xFFFF_C000_0000_0000, 0x5000_0000, PAGE, AP=1, table_fields={"APTable": 3, "UXNTable": 1, "PXNTable": 1})
    return AddressSpace(t.mem, t.root_obj())


def test_arm_permissions(arm: AddressSpace) -> None:
    kimg = 0xFFFF_8000_0800_0000
    assert why(arm, 0xFFFF_0000_0000_0010, "write", "kernel", arm_ctl())[0] == "ok"
    assert why(arm, 0xFFFF_0000_0000_0010, "exec", "kernel", arm_ctl()) == ("no-execute", 2, 0)
    assert why(arm, kimg, "write", "kernel", arm_ctl()) == ("read-only", 3, 0)
    assert why(arm, kimg, "exec", "kernel", arm_ctl())[0] == "ok"
    assert why(arm, kimg, "read", "user", arm_ctl()) == ("supervisor-only", 3, 0)
    assert why(arm, kimg, "exec", "user", arm_ctl()) == ("no-execute", 3, 0)
    assert why(arm, kimg + PAGE, "write", "user", arm_ctl())[0] == "ok"
    assert why(arm, kimg + PAGE, "read", "kernel", arm_ctl(pan=1)) == ("pan", 3, 1)
    assert why(arm, kimg + PAGE, "read", "kernel", arm_ctl(pan=0))[0] == "ok"
    e = explain(arm, kimg + 2 * PAGE, "exec", "kernel", arm_ctl())
    assert e.reason == "no-execute" and "implicit PXN" in e.message
    assert why(arm, kimg + 3 * PAGE, "write", "user", arm_ctl(hd=1))[0] == "ok"
    assert why(arm, kimg + 3 * PAGE, "write", "user", arm_ctl(hd=0)) == ("read-only", 3, 3)
    assert why(arm, kimg + 4 * PAGE, "read", "kernel", arm_ctl(ha=0)) == ("access-flag", 3, 4)
    assert why(arm, kimg + 4 * PAGE, "read", "kernel", arm_ctl(ha=1))[0] == "ok"


def test_arm_table_bits_deny_below_them_unless_hpd(arm: AddressSpace) -> None:
    va = 0xFFFF_C000_0000_0000
    assert why(arm, va, "write", "user", arm_ctl()) == ("supervisor-only", 0, 384)
    assert why(arm, va, "write", "kernel", arm_ctl()) == ("read-only", 0, 384)
    assert why(arm, va, "exec", "user", arm_ctl()) == ("no-execute", 0, 384)
    assert why(arm, va, "write", "user", arm_ctl(hpd=1))[0] == "ok"
    assert why(arm, 0xFFFF_0000_0020_0000, "read", "kernel", arm_ctl()) == ("not-present", 2, 1)
    assert why(arm, 0x0000_0000_1000_0000, "read", "kernel", arm_ctl())[0] == "non-canonical"


def test_reason_kinds_are_the_contract() -> None:
    contract = [
        "ok",
        "not-present",
        "reserved-bit",
        "read-only",
        "no-execute",
        "supervisor-only",
        "smep",
        "smap",
        "pkey",
        "permission",
        "non-canonical",
        "table-outside-memory",
    ]
    assert REASONS[: len(contract)] == tuple(contract)


FAULT_SAMPLES = sorted(d.name for d in SAMPLES.glob("seed-fault-*") if (d / "truth.json").exists())


@pytest.mark.parametrize("name", FAULT_SAMPLES)
def test_real_fault_explained_from_the_dump_matches_qemu(name: str) -> None:
    """The access QEMU's #PF error code names, at the VA in CR2, faults for the reason the error code
    implies, on the entry the design made wrong."""
    truth = json.loads((SAMPLES / name / "truth.json").read_text())["fault"]
    bits = truth["error_code_bits"]
    access = "exec" if bits["I/D"] else "write" if bits["W/R"] else "read"
    expected = "no-execute" if bits["I/D"] else "read-only" if bits["P"] else "not-present"
    mem = open_dump(str(SAMPLES / name / truth_dump(name)))
    root = find_roots(mem)[0]
    cpu = mem.cpus[0]
    assert cpu.regs["cr2"] == int(truth["qemu_pf"]["cr2"], 16)
    e = explain(AddressSpace(mem, root), cpu.regs["cr2"], access, "kernel", control_for(root, cpu))  # type: ignore[arg-type]
    assert (e.allowed, e.reason, e.level, e.index) == (False, expected, truth["level"], truth["index"])
    assert e.reason == truth["reason"]


def truth_dump(name: str) -> str:
    return json.loads((SAMPLES / name / "truth.json").read_text())["dumps"]["kdump"]


def test_cli_explain_json_and_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    dump = str(SAMPLES / "seed-fault-ro-write" / "dump.kdump.xz")
    assert main(["explain", dump, "0xffff800004005670", "--access", "write", "--json"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert set(out) >= {"va", "access", "mode", "allowed", "pa", "reason", "level", "index", "entry", "path", "message"}
    assert (out["reason"], out["level"], out["index"], out["entry"]) == ("read-only", 2, 32, "0x8000000004000081")
    assert main(["explain", dump, "0xffff800004005670", "--access", "write", "--control", "wp=0"]) == 0
    assert "allowed" in capsys.readouterr().out
    assert main(["explain", dump, "0x1000", "--control", "bogus=1"]) == 2
    assert "unknown control setting" in capsys.readouterr().err
    assert main(["explain", dump, "0x1000", "--cpu", "7"]) == 2
    assert "no CPU 7" in capsys.readouterr().err


def test_cli_explain_real_linux_kernel_text_is_read_only(capsys: pytest.CaptureFixture[str]) -> None:
    """Linux maps its text read-only and executable (x86_64: _stext at the kernel map's 16 MiB)."""
    d = SAMPLES / "linux-x86_64-4l-nokaslr"
    assert main(["explain", str(d / "dump.kdump"), "0xffffffff81000000", "--access", "write", "--json"]) == 1
    w = json.loads(capsys.readouterr().out)
    assert w["reason"] == "read-only" and w["mode"] == "kernel"
    assert main(["explain", str(d / "dump.kdump"), "0xffffffff81000000", "--access", "exec", "--json"]) == 0


def test_arm_control_bits_come_from_tcr_el1_when_the_root_has_it() -> None:
    """A root opened with TCR_EL1 (a live gdbstub, a CPU's registers, --tcr) gives HPD, HA and HD as read,
    not as Linux's defaults: here HA=1, HD=0, HPD1=1."""
    from pmoview.access.aarch64 import control
    from pmoview.arch.root import Root

    tcr = (16 << 16) | 16 | (0b10 << 30) | (0b101 << 32) | (1 << 39) | (1 << 42)  # T1SZ, T0SZ 16; TG1 4K; IPS 48
    root = Root(arch="aarch64", mode="aarch64-4k", table=0, half="ttbr1", va_bits=48, hpd=True, tcr=tcr)
    bits = control(None, root, None).bits
    assert (bits["hpd"].value, bits["ha"].value, bits["hd"].value) == (1, 1, 0)
    assert not any(bits[name].assumed for name in ("hpd", "ha", "hd"))
    assert bits["hd"].source == f"TCR_EL1.HD from TCR_EL1 {tcr:#x}"
    assumed = control(None, Root(arch="aarch64", mode="aarch64-4k", table=0), None).bits
    assert (assumed["ha"].value, assumed["hd"].value) == (1, 1) and assumed["hd"].assumed

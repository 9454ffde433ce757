"""Options shared by every command: how to open the dump and where the page tables start.

``add_dump_options``/``add_root_options`` declare the flags; ``input_options`` turns them into the
model's ``InputOptions``, the one place where a flag becomes an input option.
"""

from __future__ import annotations

import argparse

from pmoview.arch import WalkLimits
from pmoview.inputs import InputOptions
from pmoview.roots import DEFAULT_ROOT_SYMBOLS, RootOptions


class OptionError(Exception):
    pass


def parse_int(text: str) -> int:
    try:
        return int(text.replace("_", ""), 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r} (use 0x... for hex)") from None


def parse_positive(text: str) -> int:
    n = parse_int(text)
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text!r}")
    return n


def parse_register(text: str) -> int:
    """A 64-bit register value (CR3, TTBRn_EL1, TCR_EL1, MAIR_EL1)."""
    n = parse_int(text)
    if not 0 <= n < 1 << 64:
        raise argparse.ArgumentTypeError(f"a 64-bit register value is 0 .. 0xffffffffffffffff, got {text!r}")
    return n


def parse_satp(text: str) -> int:
    """An RV64 satp value; MODE must name a paging mode (Bare means translation is off)."""
    value = parse_int(text)
    mode = (value >> 60) & 0xF
    if not 0 <= value < 1 << 64 or mode not in (8, 9, 10):
        raise argparse.ArgumentTypeError(
            f"satp {text!r}: MODE (bits 63:60) is {mode}, expected 8 (Sv39), 9 (Sv48) or 10 (Sv57)"
        )
    return value


def parse_va_range(text: str) -> tuple[int, int]:
    start, sep, end = text.partition("-")
    if not sep:
        raise argparse.ArgumentTypeError(f"expected START-END, got {text!r}")
    a, b = parse_int(start), parse_int(end)
    if b <= a:
        raise argparse.ArgumentTypeError(f"range end {b:#x} must be above start {a:#x}")
    return a, b


def add_dump_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "dump",
        metavar="DUMP",
        help="dump file: kdump, flattened kdump, ELF core, LiME, raw (--dump-format raw), or a kernel ELF; "
        "or a live QEMU: gdb://HOST:PORT (gdbstub), qmp:PATH or qmp://HOST:PORT (QMP)",
    )
    g = p.add_argument_group("dump")
    g.add_argument(
        "--dump-format",
        dest="dump_format",
        default="auto",
        choices=("auto", "raw", "kdump", "elf", "lime"),
        help="dump format (default: detected from content; raw is never guessed)",
    )
    g.add_argument(
        "--base", type=parse_int, default=None, help="PA of the first byte of a raw image (implies --dump-format raw)"
    )
    g.add_argument(
        "--stop",
        action="store_true",
        help="live target: stop a running guest to read it (default: refuse, and leave it running)",
    )
    g.add_argument(
        "--live-timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help="live target: longest wait for any answer from QEMU (default 5 for gdb://, 10 for qmp)",
    )


def add_root_options(p: argparse.ArgumentParser) -> None:
    """The roots' options, and ``--kernel ELF``: the kernel ELF on every command."""
    g = p.add_argument_group("page-table root (default: best candidate found in the dump)")
    g.add_argument("--arch", choices=("x86_64", "aarch64", "riscv64"), help="architecture when the dump does not say")
    g.add_argument("--cr3", type=parse_register, help="x86_64: PA of the top table (CR3; low 12 bits ignored)")
    g.add_argument("--la57", action="store_true", default=None, help="x86_64: 5-level paging (CR4.LA57)")
    g.add_argument(
        "--nxe",
        choices=("on", "off", "auto"),
        default="auto",
        help="x86_64: EFER.NXE (not in QEMU dumps; auto infers it from XD bits in use)",
    )
    g.add_argument(
        "--maxphyaddr", type=parse_int, default=52, help="physical address bits for reserved-bit checks (default 52)"
    )
    g.add_argument("--ttbr0", type=parse_register, help="aarch64: TTBR0_EL1")
    g.add_argument("--ttbr1", type=parse_register, help="aarch64: TTBR1_EL1")
    g.add_argument("--tcr", type=parse_register, help="aarch64: TCR_EL1 (T0SZ/T1SZ, granule)")
    g.add_argument("--mair", type=parse_register, help="aarch64: MAIR_EL1 to resolve AttrIndx")
    g.add_argument(
        "--satp", type=parse_satp, help="riscv64: the satp CSR (MODE Sv39/Sv48/Sv57, ASID, root PPN) of a hart"
    )
    g.add_argument(
        "--riscv-mode",
        dest="riscv_mode",
        choices=("riscv64-sv39", "riscv64-sv48", "riscv64-sv57"),
        help="riscv64: paging mode for --root-symbol and scanned roots (default: the one the harts' pc confirm)",
    )
    g.add_argument(
        "--sum",
        choices=("on", "off", "auto"),
        default="auto",
        help="riscv64: sstatus.SUM, supervisor access to user pages (not in QEMU dumps; auto: off)",
    )
    g.add_argument(
        "--mxr",
        choices=("on", "off", "auto"),
        default="auto",
        help="riscv64: sstatus.MXR, execute-only pages readable (not in QEMU dumps; auto: off)",
    )
    g.add_argument(
        "--svpbmt",
        action="store_true",
        help="riscv64: the CPU implements Svpbmt (PBMT 1 NC, 2 IO in leaves; otherwise PBMT is reserved)",
    )
    g.add_argument("--cpu", type=int, help="use this CPU's registers from the dump")
    g.add_argument(
        "--root-kind",
        choices=("kernel", "pti-user", "user"),
        default=None,
        help="which kind of root to use first (default kernel: a PTI user CR3's kernel twin before the CR3 itself)",
    )
    g.add_argument(
        "--kernel", dest="kernel", metavar="ELF", help="kernel ELF: symbols, segments (and page tables in .data)"
    )
    g.add_argument("--system-map", metavar="FILE", help="System.map or kallsyms for symbols")
    g.add_argument(
        "--root-symbol",
        action="append",
        default=[],
        metavar="NAME",
        help="kernel symbol naming the top table, or (8-byte symbol) a pointer to it "
        "(default: boot_pml4, init_top_pgt, swapper_pg_dir, kernel_pagetable)",
    )
    g.add_argument(
        "--max-tables",
        type=parse_positive,
        default=None,
        help="cap on page-table pages visited per walk (default 2097152)",
    )
    g.add_argument(
        "--max-revisits",
        type=parse_positive,
        default=None,
        help="cap on visits of tables a walk has visited before (shared tables; default 65536)",
    )


NXE = {"on": True, "off": False, "auto": None}
# The built-in profiles' names (pmoview.checks.profiles.BUILTIN, which a test holds this to): listed here so
# that parsing --profile does not import the checks.
PROFILES = ("seed", "linux-x86_64", "linux-arm64", "xv6-riscv", "linux-riscv64", "aarch64-generic")


def input_options(args: argparse.Namespace) -> InputOptions:
    """The model's options from the flags of ``add_dump_options`` and ``add_root_options``."""
    roots = RootOptions(
        arch=args.arch,
        cr3=args.cr3,
        la57=args.la57,
        nxe=NXE[args.nxe],
        maxphyaddr=args.maxphyaddr,
        ttbr0=args.ttbr0,
        ttbr1=args.ttbr1,
        tcr=args.tcr,
        mair=args.mair,
        cpu=args.cpu,
        symbols=tuple(args.root_symbol) or DEFAULT_ROOT_SYMBOLS,
        satp=args.satp,
        riscv_mode=args.riscv_mode,
        sum=NXE[args.sum],
        mxr=NXE[args.mxr],
        svpbmt=args.svpbmt,
        kind=args.root_kind,
    )
    given = {"max_tables": args.max_tables, "max_revisits": getattr(args, "max_revisits", None)}
    limits = WalkLimits(**{k: v for k, v in given.items() if v is not None})
    return InputOptions(
        dump=args.dump,
        dump_format=args.dump_format,
        base=args.base,
        kernel=args.kernel,
        system_map=args.system_map,
        roots=roots,
        limits=limits,
        stop=getattr(args, "stop", False),
        live_timeout=getattr(args, "live_timeout", None),
    )

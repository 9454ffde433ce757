"""Opening what a user names: the dump, the kernel ELF, the page-table roots and the walk limits.

One options object (``InputOptions``, frozen) and one function (``open_inputs``) serve every front end:
the CLI builds the options from its flags (``pmoview.cli.options.input_options``), the TUI receives
them from the CLI, tests and scripts write them directly. Neither front end opens anything itself.

Adding an input option (a live target, a root kind, a register):
1. a field with a default here (or in ``RootOptions`` when it only changes where roots come from, or in
   ``WalkLimits`` when it bounds a walk), so every existing caller keeps working;
2. its use in ``open_inputs`` (or ``find_roots``); unusable values raise ``DumpFormatError`` naming
   the input, so both front ends report them the same way (one line on stderr / a notification);
3. the flag in ``pmoview.cli.options`` (``add_dump_options``/``add_root_options`` and ``input_options``);
4. ``docs/model-api.md``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from parsers.errors import DumpFormatError
from pmoview.arch import Root, WalkLimits
from pmoview.arch.mode import UnsupportedPaging
from pmoview.live.target import is_live, open_live
from pmoview.memory import PhysicalMemory, open_dump
from pmoview.memory.container import UnpackProgress
from pmoview.roots import EXPLICIT_SOURCES, RootOptions, find_roots, judge_explicit_root
from pmoview.space import AddressSpace

if TYPE_CHECKING:
    from pmoview.kernel import KernelImage

Progress = Callable[[str], None]
"""Told what is being opened, before each step (the TUI's status line)."""

NO_ROOT = (
    "a page-table root (CPU state, VMCOREINFO, a kernel symbol, or a table found by scanning); "
    "give --cr3, --ttbr1 or --satp"
)


@dataclass(frozen=True)
class InputOptions:
    """What to open and how. Only ``dump`` is required; every default is what the CLI's defaults give."""

    dump: str  # a dump file (kdump, ELF core, LiME, raw, kernel ELF; compressed or not), or a live QEMU
    # (gdb://HOST:PORT, qmp:PATH, qmp://HOST:PORT: pmoview.live)
    dump_format: str = "auto"  # one of pmoview.memory.FORMATS; "raw" is never guessed
    base: int | None = None  # PA of a raw image's first byte (implies raw)
    kernel: str | None = None  # kernel ELF: symbols, segments, static tables
    system_map: str | None = None  # System.map or kallsyms, with or without a kernel ELF
    roots: RootOptions = field(default_factory=RootOptions)  # where the page tables start
    limits: WalkLimits = field(default_factory=WalkLimits)  # bounds every walk of every root
    stop: bool = False  # live target: stop a running guest (otherwise it is refused and left running)
    live_timeout: float | None = None  # live target: longest wait for one answer (None: the backend's default)


@dataclass
class Inputs:
    """The opened inputs. ``roots`` are every candidate, best first (see ``pmoview.roots``);
    ``left_out`` says which candidates from the dump were dropped because pmoview cannot walk their
    paging mode (an AArch64 granule or VA size no CPU has), and why."""

    options: InputOptions
    mem: PhysicalMemory
    kernel: KernelImage | None
    roots: list[Root]
    left_out: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # roots the user named that look like no page table

    @property
    def path(self) -> str:
        return self.options.dump

    def space(self, root: Root) -> AddressSpace:
        """The address space of ``root``, walked within the options' limits."""
        return AddressSpace(self.mem, root, limits=self.options.limits)

    def close(self) -> None:
        self.mem.close()


def open_kernel(options: InputOptions, mem: PhysicalMemory) -> KernelImage | None:
    if not options.kernel and not options.system_map:
        return None
    from pmoview.kernel import KernelImage, load_system_map  # with a kernel only: its ELF reader is lazy too

    if options.kernel:
        return KernelImage.open(options.kernel, options.system_map)
    if options.system_map:
        # Symbols without an ELF: no segments, so roots from symbols need the load address a dump gives.
        return KernelImage(options.system_map, mem.arch or "x86_64", 0, [], load_system_map(options.system_map))
    return None


def open_inputs(
    options: InputOptions,
    progress: Progress | None = None,
    *,
    require_root: bool = True,
    unpack: UnpackProgress | None = None,
) -> Inputs:
    """Open the dump and the kernel and find the roots. Unusable input raises ``DumpFormatError``
    (file, offset, what was expected), also when no root is found unless ``require_root`` is False
    (``pmoview info`` lists what there is, even nothing), and when a root the options name is not in
    the dump; one that looks like no page table is a warning in ``Inputs.warnings``. ``unpack`` hears
    how far the decompression of a compressed dump is (it can take a while, once)."""
    say = progress or (lambda text: None)
    say(f"opening {options.dump}")
    if is_live(options.dump):
        if options.dump_format != "auto" or options.base is not None:
            raise DumpFormatError(options.dump, None, "no --dump-format or --base with a live target")
        mem = open_live(options.dump, stop=options.stop, timeout=options.live_timeout)
    else:
        mem = open_dump(options.dump, fmt=options.dump_format, base=options.base, progress=unpack)
    try:
        kernel = open_kernel(options, mem)
        say("finding page-table roots")
        left_out: list[str] = []
        try:
            roots = find_roots(mem, kernel, options.roots, left_out)
        except UnsupportedPaging as exc:  # from the root options themselves (--tcr, --ttbr1, ...)
            raise DumpFormatError(options.dump, None, "a paging mode pmoview can walk", str(exc)) from exc
        if require_root and not roots:
            found = "none" if not left_out else "only roots pmoview cannot walk: " + "; ".join(left_out)
            raise DumpFormatError(options.dump, None, NO_ROOT, found)
        warnings = [w for r in roots if r.source in EXPLICIT_SOURCES and (w := judge_explicit_root(mem, r))]
    except BaseException:
        mem.close()
        raise
    return Inputs(options, mem, kernel, roots, left_out, warnings)

"""What each page-table root is for: ``kernel`` (a top table whose kernel half is the kernel's own
view), ``pti-user`` (an x86_64 page-table-isolation user PGD: what user code runs on), ``user`` (an
AArch64 TTBR0 root: the user half only).

Linux with PTI allocates each PGD as two pages (order 1): the kernel PGD, and 4 KiB above it the
user PGD (``kernel_to_user_pgdp``: PA | 0x1000). Their user halves hold the same entries; the user
PGD's kernel half holds only what the entry code needs (``pti_clone_*``: cpu_entry_area, the entry
text and the read-only kernel text it may clone, espfix). A CPU snapshotted in user mode has CR3 =
the user PGD (with its PCID in bits 0-11), so its kernel twin is added as a root of its own and
kernel work starts from a kernel root.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from pmoview.arch.root import Root
from pmoview.memory import PhysicalMemory

KERNEL, PTI_USER, USER = "kernel", "pti-user", "user"
KINDS = (KERNEL, PTI_USER, USER)
PTI_USER_OFFSET = 0x1000  # PTI_PGTABLE_SWITCH_BIT (bit 12): user PGD = kernel PGD + 4 KiB
_HALF = 256  # x86_64 top tables: entries 256-511 map the kernel half, 4- and 5-level alike


def _present(mem: PhysicalMemory, table: int) -> np.ndarray | None:
    page = mem.read_page(table)
    if page is None:
        return None
    return np.asarray((np.frombuffer(page, dtype="<u8") & 1) == 1)


def pti_twin(mem: PhysicalMemory, table: int) -> int | None:
    """The kernel PGD whose PTI user PGD is at ``table``, or None when ``table`` is not one.

    Evidence required: bit 12 set; the page 4 KiB below is in the dump; every kernel-half entry
    present in the user PGD is also present in the candidate; the candidate's kernel half holds
    more (the direct map, vmalloc, modules...); and the user halves present the same entries."""
    if not table & PTI_USER_OFFSET:
        return None
    twin = table - PTI_USER_OFFSET
    user, kern = _present(mem, table), _present(mem, twin)
    if user is None or kern is None:
        return None
    uk, kk = user[_HALF:], kern[_HALF:]
    if (uk & ~kk).any() or int(kk.sum()) <= int(uk.sum()):
        return None
    if not np.array_equal(user[:_HALF], kern[:_HALF]):
        return None
    return twin


def classify(mem: PhysicalMemory, roots: list[Root], prefer: str = KERNEL) -> list[Root]:
    """Each root with its kind; a PTI user root's kernel twin added (same CPU) when no other root
    has that table. Explicit options first, then roots of kind ``prefer`` (kernel unless
    ``--root-kind`` says), then the others; stable, so CPU order is kept."""
    out: list[Root] = []
    tables = {r.table for r in roots}
    for root in roots:
        if root.kind is not None:
            out.append(root)
        elif root.arch == "aarch64":
            out.append(replace(root, kind=USER if root.half == "ttbr0" else KERNEL))
        elif root.arch == "x86_64" and (twin := pti_twin(mem, root.table)) is not None:
            out.append(replace(root, kind=PTI_USER, twin=twin))
        else:
            # Any other x86_64 root, and a RISC-V satp root, is the kernel's view: with PTI off a
            # process PGD holds the kernel half too, and a kernel whose tables lack their kernel half
            # must be judged as a kernel (pmo-root-missing), not excused as "user".
            out.append(replace(root, kind=KERNEL))
    with_twins: list[Root] = []
    for root in out:
        if root.kind == PTI_USER and root.twin is not None and root.twin not in tables:
            tables.add(root.twin)
            source = f"kernel twin of {root.source} (PTI: user PGD - 0x1000)"
            with_twins.append(replace(root, table=root.twin, kind=KERNEL, twin=None, source=source))
        with_twins.append(root)
    out = with_twins
    explicit = [r for r in out if r.source.startswith("--")]
    rest = [r for r in out if not r.source.startswith("--")]
    rest.sort(key=lambda r: r.kind != prefer)
    return explicit + rest

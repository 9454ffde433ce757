"""GDB target descriptions: the XML a stub sends (``qXfer:features:read``) names every register,
its number and width. QEMU's x86_64 description carries CR0-CR4, CR8 and EFER beside the general
registers; its AArch64 one adds a generated ``system-registers.xml`` with one entry per system
register (TTBR0_EL1, TCR_EL1, ...). Registers are numbered in document order, includes expanded,
unless a ``regnum`` attribute restarts the count."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass

MAX_XML_BYTES = 4 << 20  # a stub's descriptions are a few hundred KiB at most (AArch64 sysregs)
MAX_INCLUDES = 64


class TargetDescriptionError(ValueError):
    pass


@dataclass(frozen=True)
class Register:
    """One register of a gdbstub's target description: name, number and width."""

    name: str  # lowercase, as pmoview's CpuState keys
    number: int
    bits: int
    feature: str


@dataclass(frozen=True)
class TargetDescription:
    """A gdbstub's target description: the architecture and its registers in ``g`` packet order."""

    architecture: str
    registers: tuple[Register, ...]

    def by_name(self) -> dict[str, Register]:
        return {r.name: r for r in self.registers}

    @property
    def arch(self) -> str | None:
        """pmoview's architecture name for the description's ``<architecture>``."""
        a = self.architecture.lower()
        if "x86-64" in a or "x86_64" in a:
            return "x86_64"
        if a.startswith("aarch64"):
            return "aarch64"
        if a.startswith("riscv:rv64"):
            return "riscv64"
        return None


def _parse(text: str, name: str) -> ET.Element:
    # The stub's own DOCTYPE names a DTD we do not have; expat ignores external DTDs by default.
    # QEMU writes ``xi:include`` without declaring the ``xi`` namespace.
    text = text.replace("<xi:include", "<include")
    try:
        return ET.fromstring(text)
    except ET.ParseError as exc:
        raise TargetDescriptionError(f"{name} is not XML ({exc})") from None


class _Reader:
    def __init__(self, fetch: Callable[[str], str]) -> None:
        self.fetch = fetch
        self.next = 0
        self.includes = 0
        self.architecture = ""
        self.registers: list[Register] = []

    def root(self, root: ET.Element, feature: str) -> None:
        if root.tag.rsplit("}", 1)[-1] == "feature":
            feature = root.get("name", "")
        self.children(root, feature)

    def children(self, elem: ET.Element, feature: str) -> None:
        for child in elem:
            tag = child.tag.rsplit("}", 1)[-1]
            if tag == "architecture" and child.text:
                self.architecture = child.text.strip()
            elif tag == "include":
                href = child.get("href", "")
                self.includes += 1
                if not href or self.includes > MAX_INCLUDES:
                    raise TargetDescriptionError(f"bad or too many includes ({href!r})")
                self.root(_parse(self.fetch(href), href), feature)
            elif tag == "feature":
                self.children(child, child.get("name", ""))
            elif tag == "reg":
                self.register(child, feature)
            else:
                self.children(child, feature)

    def register(self, elem: ET.Element, feature: str) -> None:
        name = elem.get("name", "").lower()
        try:
            if elem.get("regnum") is not None:
                self.next = int(elem.get("regnum", ""))
            bits = int(elem.get("bitsize", ""))
        except ValueError:
            raise TargetDescriptionError(f"register {name!r} has no number or bit size") from None
        self.registers.append(Register(name, self.next, bits, feature))
        self.next += 1


def parse_target(fetch: Callable[[str], str], annex: str = "target.xml") -> TargetDescription:
    """Read ``annex`` and everything it includes through ``fetch`` (annex name -> XML text)."""
    reader = _Reader(fetch)
    reader.root(_parse(fetch(annex), annex), "")
    return TargetDescription(reader.architecture, tuple(reader.registers))

"""The layer rules of ARCHITECTURE.md, enforced: import-linter contracts and a clean headless import."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_import_linter_contracts_hold() -> None:
    exe = shutil.which("lint-imports", path=os.path.dirname(sys.executable)) or shutil.which("lint-imports")
    if exe is None:
        pytest.skip("import-linter not installed")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [exe, "--config", str(ROOT / "pyproject.toml")], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout[-2000:]


@pytest.mark.parametrize("module", ["pmoview.checks", "pmoview.space", "pmoview.cli.check_cmd", "pmoview.marks"])
def test_model_imports_leave_textual_out(module: str) -> None:
    code = f"import sys, {module}; sys.exit(1 if any(m.split('.')[0] == 'textual' for m in sys.modules) else 0)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]


X86_KDUMP = ROOT / "sample_dumps" / "linux-x86_64-4l-nokaslr" / "dump.kdump"
# What an x86 command on a zlib kdump with no kernel ELF must not load: the TUI, the ELF and disassembly
# libraries, the codecs it does not use, the other architectures' rows, the checks (docs: fast start).
NOT_FOR_X86_KDUMP = (
    "textual",
    "elftools",
    "capstone",
    "zstandard",
    "cramjam",
    "lzallright",
    "pmoview.tui",
    "pmoview.checks",
    "pmoview.kernel",
    "pmoview.arch.aarch64",
    "pmoview.arch.riscv",
)


@pytest.mark.parametrize(
    "argv",
    [
        ["mappings", "--json", str(X86_KDUMP)],
        ["translate", str(X86_KDUMP), "ffffffff81000000"],
        ["info", str(X86_KDUMP)],
    ],
    ids=["mappings", "translate", "info"],
)
def test_headless_x86_commands_import_only_what_they_use(argv: list[str]) -> None:
    code = (
        "import io, sys, pmoview.main; sys.stdout = io.StringIO(); code = pmoview.main.main(sys.argv[1:]); "
        "sys.stdout = sys.__stdout__; print(code, *sorted(m for m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, timeout=120, cwd=ROOT)
    exit_code, *modules = done.stdout.split()
    assert exit_code == "0", done.stderr[-2000:]
    loaded = sorted(m for m in modules if m.startswith(NOT_FOR_X86_KDUMP))
    assert not loaded, f"{argv[0]} loaded {loaded}"

"""The functions every fuzzer (atheris, hypothesis, regression replay, the campaign) drives.

- ``exercise_bytes(data, path)``: the dump backends only (open, ranges, CPUs, page reads).
- ``exercise_model(path)``: backends, roots, and for each root an ``AddressSpace``: translate
  probe VAs, walk everything, reverse, lazy table views.
- ``exercise_cli(path)``: ``pmoview info / translate / mappings`` (and ``check`` once it is more than
  a placeholder) in-process through ``pmoview.cli.main``, checking the exit-code contract.

The contract: every input ends in a result or one ``DumpFormatError`` (``AbsentMemoryError`` from
``read`` is a result: the dump lacks that address). Anything else raised is a bug and escapes, so
the fuzzer records the input. CLI: exit 0, 1 or 2, never 3 (internal error); on 2 the last stderr
line is the one-line error and the lines before it are ``pmoview: `` notes.
"""

from __future__ import annotations

import contextlib
import io
import signal
import threading
from collections.abc import Iterator, Sequence

from parsers.errors import DumpFormatError
from pmoview.memory import AbsentMemoryError, open_dump

# Probe addresses: user, x86 direct map / kernel text / fixmap, arm linear map / kimage, non-canonical.
PROBE_VAS = (
    0x0,
    0x1000,
    0x40_0000,
    0x7FFF_FFFF_F000,
    0x8000_0000_0000,
    0xFFFF_8000_0000_0000,
    0xFFFF_8880_0000_0000,
    0xFFFF_8880_0010_0000,
    0xFFFF_FFFF_8000_0000,
    0xFFFF_FFFF_8100_0000,
    0xFFFF_FFFF_FF60_0000,
    0xFFFF_0000_0000_0000,
    0xFFFF_8000_0800_0000,
    0xFFFF_FFFF_FFFF_F000,
    0xFF00_0000_0000_0000,
    0x0000_0000_8000_0000,
)
DEFAULT_MAX_TABLES = 20_000


class ContractError(AssertionError):
    """The CLI broke its exit-code / stderr contract."""


class Hang(BaseException):
    """An input ran past its time limit (BaseException: the CLI's ``except Exception`` must not eat it)."""


@contextlib.contextmanager
def time_limit(seconds: float, what: str = "input") -> Iterator[None]:
    """Raise ``Hang`` if the body runs longer than ``seconds`` (SIGALRM; main thread only, else no limit)."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        yield
        return

    def fire(signum: int, frame: object) -> None:
        raise Hang(f"{what} ran longer than {seconds} s")

    old = signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def exercise_bytes(data: bytes, path: str, model: bool = False, cli: bool = False) -> None:
    with open(path, "wb") as fh:
        fh.write(data)
    exercise_backend(path)
    if model:
        exercise_model(path)
    if cli:
        exercise_cli(path)


def exercise_backend(path: str) -> None:
    try:
        mem = open_dump(path)
    except DumpFormatError:
        return
    try:
        ranges = mem.ranges()
        _ = [c.regs for c in mem.cpus], mem.vmcoreinfo
        for r in ranges[:8]:
            for pa in (r.start, max(r.start, r.end - 4096)):
                with contextlib.suppress(AbsentMemoryError):
                    mem.read(pa & ~0xFFF, 4096)
    except DumpFormatError:
        pass
    finally:
        mem.close()


def exercise_model(path: str, max_tables: int = DEFAULT_MAX_TABLES, roots_max: int = 3) -> dict[str, int]:
    """Open, find roots, and walk each; returns counts (for the campaign's statistics)."""
    from pmoview.roots import find_roots
    from pmoview.space import AddressSpace, WalkLimits

    stats = {"roots": 0, "mappings": 0, "tables": 0, "anomalies": 0, "error": 0}
    try:
        mem = open_dump(path)
    except DumpFormatError:
        stats["error"] = 1
        return stats
    try:
        exercise_backend_mem(mem)
        roots = find_roots(mem)
        stats["roots"] = len(roots)
        for root in roots[:roots_max]:
            space = AddressSpace(mem, root, WalkLimits(max_tables=max_tables))
            for va in PROBE_VAS:
                t = space.translate(va)
                assert (t.pa is None) == (t.reason is not None), t
            maps = space.walk()
            stats["mappings"] += len(maps)
            stats["tables"] += space.stats.tables_visited
            stats["anomalies"] += len(space.anomalies)
            assert all(
                a.kind in ("table-outside-memory", "reserved-bits", "recursive-map", "shared-table", "cycle", "limit")
                for a in space.anomalies
            )
            for m in maps[:3] + maps[-3:]:
                space.translate(m.va_start)
                space.reverse(m.pa_start)
            view = space.root_table()
            for i in view.present()[:4]:
                child = space.children(view, i)
                if child is not None:
                    for j in child.present()[:2]:
                        space.children(child, j)
    except DumpFormatError:
        stats["error"] = 1
    finally:
        mem.close()
    return stats


def exercise_backend_mem(mem: object) -> None:
    ranges = mem.ranges()  # type: ignore[attr-defined]
    _ = [c.regs for c in mem.cpus], mem.vmcoreinfo  # type: ignore[attr-defined]
    for r in ranges[:4]:
        with contextlib.suppress(AbsentMemoryError):
            mem.read(r.start & ~0xFFF, 4096)  # type: ignore[attr-defined]


def has_check() -> bool:
    """``pmoview check`` exists once check_cmd registers a subcommand (it is a placeholder until then)."""
    from pmoview import cli

    parser = cli._build_parser()
    sub = next((a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction"), None)
    return sub is not None and "check" in getattr(sub, "choices", {})


def cli_commands(path: str, max_tables: int = DEFAULT_MAX_TABLES, check: bool | None = None) -> list[list[str]]:
    vas = [hex(v) for v in PROBE_VAS]
    cmds = [
        ["info", path],
        ["info", path, "--json"],
        ["translate", path, *vas],
        ["translate", path, "--json", *vas[:4]],
        ["mappings", path, "--max-tables", str(max_tables)],
        [
            "mappings",
            path,
            "--json",
            "--max-tables",
            str(max_tables),
            "--range",
            "0xffff800000000000-0xffffffffffffffff",
        ],
    ]
    if has_check() if check is None else check:
        cmds.append(["check", path, "--max-tables", str(max_tables)])
    cmds += [
        ["explain", path, vas[0], "--access", "write", "--json", "--max-tables", str(max_tables)],
        ["cpus", path, "--json", "--max-tables", str(max_tables)],
        ["diff", path, path, "--max-tables", str(max_tables)],
    ]
    return cmds


def run_cli(argv: Sequence[str]) -> tuple[int, str, str]:
    from pmoview.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(argv))
        except SystemExit as exc:  # argparse: a usage error is exit 2 by contract too
            code = exc.code if isinstance(exc.code, int) else 2
    return code, out.getvalue(), err.getvalue()


def check_cli_result(argv: Sequence[str], code: int, out: str, err: str) -> None:
    where = " ".join(argv)
    if code not in (0, 1, 2):
        raise ContractError(f"`pmoview {where}` exited {code}: {err.strip()[-400:]}")
    lines = err.splitlines()
    if "Traceback" in err or "internal error" in err:
        raise ContractError(f"`pmoview {where}` printed a traceback / internal error: {err.strip()[-400:]}")
    if code == 2:
        if not lines or not lines[-1].startswith("pmoview: "):
            raise ContractError(f"`pmoview {where}` exited 2 without a one-line error: {err!r}")
        if any(not line.startswith("pmoview: ") for line in lines):
            raise ContractError(f"`pmoview {where}` exited 2 with a multi-line error: {err!r}")


def exercise_cli(path: str, max_tables: int = DEFAULT_MAX_TABLES, commands: list[list[str]] | None = None) -> list[int]:
    """Run every headless command on ``path``; raise ContractError on a broken contract."""
    codes = []
    for argv in commands or cli_commands(path, max_tables):
        code, out, err = run_cli(argv)
        check_cli_result(argv, code, out, err)
        codes.append(code)
    return codes

"""The ``pmoview`` command: the CLI's commands, and the TUI for ``pmoview DUMP`` / ``pmoview tui DUMP``.

``pmoview.cli`` and ``pmoview.tui`` are independent front ends over the same model; this module is the
one place that knows both. Textual is imported only when the TUI runs."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

# pmoview does no linear algebra, yet importing numpy starts OpenBLAS's thread pool, one thread per core:
# ~0.05-0.09 s of CPU and wall time in a command that takes 0.2 s. Set before the first numpy import
# (pmoview.cli's); a user's own setting wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import gc  # noqa: E402

from pmoview import cli  # noqa: E402
from pmoview.inputs import InputOptions  # noqa: E402

# What the imports made (classes, functions, numpy's and Construct's tables) lives as long as the process:
# moved out of the collector's sight, no later collection scans it, nor the last one at exit (~20 ms of
# a 0.22 s `mappings --json`, measured), and the TUI's full collections skip it.
gc.freeze()


def run_tui(
    inputs: InputOptions,
    *,
    profile: str | None,
    spec: str | None,
    marks: str | None,
    diff: InputOptions | None = None,
) -> int:
    # The dump, kernel and roots are opened before the screen starts: unusable input is one line on
    # stderr and exit 2 (raised to ``cli.main``), as for every other command, not an empty screen.
    from pmoview.cli.common import UnpackReport
    from pmoview.tui.session import SessionOptions, open_session

    report = UnpackReport(inputs.dump)
    try:
        session = open_session(SessionOptions(inputs, profile, spec, marks, diff), unpack=report)
    finally:
        report.finish()
    from pmoview.tui.app import make_app

    result = make_app(inputs, profile=profile, spec=spec, marks=marks, diff=diff, session=session).run()
    return int(result or 0)


def main(argv: Sequence[str] | None = None) -> int:
    return cli.main(argv, tui_runner=run_tui)


if __name__ == "__main__":
    sys.exit(main())

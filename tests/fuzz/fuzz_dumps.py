"""Coverage-guided fuzzing of every dump backend with atheris (run by hand, not in CI).

    pip install atheris
    python tests/fuzz/fuzz_dumps.py -atheris_runs=200000 -rss_limit_mb=1024 -max_len=65536 tests/fuzz/corpus

Seeds are the synthetic dumps of tests/dumpsynth.py plus the heads of the real samples. Any
exception other than DumpFormatError / AbsentMemoryError is a bug: the input lands in
crash-*; copy it into tests/fuzz/regressions/ so test_fuzz_regressions.py replays it forever.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE.parent.parent)]

import atheris  # noqa: E402

with atheris.instrument_imports():
    from fuzz_target import exercise_bytes  # noqa: E402


def _seed_corpus(corpus: Path) -> None:
    import dumpsynth as synth

    corpus.mkdir(parents=True, exist_ok=True)
    page = bytes(range(256)) * 16
    notes = synth.prstatus_note() + synth.qemu_note(cr3=0x1000) + synth.vmcoreinfo_note("OSRELEASE=6.1\n")
    plain = synth.kdump({0: page, 3: page[::-1]}, notes=notes)
    seeds = {
        "kdump": plain,
        "flat": synth.flatten(plain, 1000),
        "elf": synth.elf_core([(0x1000, page)], notes),
        "lime": synth.lime([(0x1000, page)]),
    }
    for name, data in seeds.items():
        (corpus / f"seed-{name}").write_bytes(data)


def main() -> None:
    corpus = [a for a in sys.argv[1:] if not a.startswith("-")]
    if corpus:
        _seed_corpus(Path(corpus[0]))
    fd, tmp_name = tempfile.mkstemp(prefix="pmoview-fuzz-")
    os.close(fd)

    def one(data: bytes) -> None:
        exercise_bytes(data, tmp_name)

    atheris.Setup(sys.argv, one)
    try:
        atheris.Fuzz()
    finally:
        os.unlink(tmp_name)


if __name__ == "__main__":
    main()

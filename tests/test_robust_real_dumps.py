"""Damaged *real* dumps end in a result or one located DumpFormatError, through the model and the CLI.

Seeds are the QEMU samples in ``sample_dumps/``: seed-correct as a flattened kdump (as QEMU and
makedumpfile write it), the same kdump reassembled plain, and its ELF core (5 GiB logical, sparse).
Each structure is found with the Construct definitions in ``parsers`` (tests/fuzz/realseeds.py) and
then damaged: truncated at every structure boundary, fields set to hostile values (0, all ones, the
file size, past the end, 2**63...), bits flipped in headers, notes, bitmaps and page descriptors.
Every input then goes through ``open_dump`` + roots + ``AddressSpace`` (translate, walk, reverse,
lazy views) and through ``pmoview info / translate / mappings`` (and ``check`` once it exists)
in-process: exit 0/1/2, never 3, one error line on 2, and no input may run past its time limit.

CI runs fixed, derandomized example budgets (a few seconds each). The long run:

    PYTHONPATH=. python -m pytest tests/test_robust_real_dumps.py -m slow -p no:randomly
    PYTHONPATH=. python tests/fuzz/campaign.py --minutes 10        # thousands of inputs, RSS and time
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).parent / "fuzz"))
import realseeds as rs
from fuzz_target import exercise_cli, exercise_model, has_check, time_limit

PER_INPUT_SECONDS = 60  # a hang, not a slow machine: the CI inputs take well under a second
MAX_TABLES = 20_000


Seed, SEED_SPECS, make_seed = rs.Seed, rs.SEED_SPECS, rs.make_seed
CI_SEEDS = ("seed-correct/flat", "seed-correct/plain", "seed-correct/elf")


class Seeds:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self._made: dict[str, Seed | None] = {}

    def get(self, name: str) -> Seed:
        if name not in self._made:
            self._made[name] = make_seed(name, self.workdir)
        seed = self._made[name]
        if seed is None:
            pytest.skip(f"sample for {name} not present")
        return seed


@pytest.fixture(scope="module")
def seeds(tmp_path_factory: pytest.TempPathFactory) -> Seeds:
    return Seeds(tmp_path_factory.mktemp("robust-real"))


def ci_commands(path: str) -> list[list[str]]:
    """The CI subset (each command opens the dump again; the campaign runs them all)."""
    cmds = [
        ["info", path, "--json"],
        ["translate", path, "0xffff888000000000", "0xffffffff80000000", "0x1000", "0x8000000000000000"],
        ["mappings", path, "--max-tables", str(MAX_TABLES)],
    ]
    if has_check():
        cmds.append(["check", path, "--max-tables", str(MAX_TABLES)])
    return cmds


def run_everything(path: Path, cli: str = "ci") -> None:
    with time_limit(PER_INPUT_SECONDS, f"{path.name}"):
        exercise_model(str(path), max_tables=MAX_TABLES)
        if cli == "ci":
            exercise_cli(str(path), MAX_TABLES, ci_commands(str(path)))
        elif cli == "all":
            exercise_cli(str(path), MAX_TABLES)


# -- every seed opens cleanly before it is damaged ----------------------------------------------------
@pytest.mark.parametrize("name", CI_SEEDS)
def test_undamaged_seed_walks(seeds: Seeds, name: str) -> None:
    seed = seeds.get(name)
    stats = exercise_model(str(seed.path))
    assert stats["error"] == 0 and stats["roots"] >= 1 and stats["mappings"] >= 1
    assert exercise_cli(str(seed.path), MAX_TABLES, ci_commands(str(seed.path)))[:3] == [0, 0, 0]
    assert len(seed.layout.fields) > 20 and seed.layout.regions and seed.layout.boundaries


# -- truncation at every structure boundary -----------------------------------------------------------
def _cases(names: tuple[str, ...]) -> list[tuple[str, str]]:
    # Boundaries depend on the sample, so they are enumerated inside the test; one case per seed.
    return [(n, "cut") for n in names]


@pytest.mark.parametrize("name,_", _cases(CI_SEEDS))
def test_truncated_at_every_structure_boundary(seeds: Seeds, name: str, _: str, tmp_path: Path) -> None:
    seed = seeds.get(name)
    for cut in seed.layout.boundaries:
        run_everything(rs.write_head(seed.path, cut, tmp_path / f"cut{cut}"), cli="info")
        exercise_cli(str(tmp_path / f"cut{cut}"), MAX_TABLES, [["info", str(tmp_path / f"cut{cut}")]])
        (tmp_path / f"cut{cut}").unlink()


def test_flattened_stream_cut_and_reterminated(seeds: Seeds, tmp_path: Path) -> None:
    """A flattened file ended properly after N records: the *reassembled* kdump is truncated."""
    seed = seeds.get("seed-correct/flat")
    assert seed.flat is not None
    n = len(seed.flat.records)
    for records in sorted({0, 1, 2, 3, 4, 5, n // 4, n // 2, n - 2, n - 1}):
        out = rs.flat_head_terminated(seed.path, seed.flat, records, tmp_path / f"r{records}")
        run_everything(out)
        out.unlink()


# -- hostile values in every header field ---------------------------------------------------------------
@st.composite
def field_damage(draw: st.DrawFn, layout: rs.Layout) -> list[rs.Patch]:
    patches = []
    for _ in range(draw(st.integers(1, 3))):
        f = draw(st.sampled_from(layout.fields))
        value = draw(
            st.one_of(st.sampled_from(rs.hostile_values(f, layout.size)), st.integers(0, (1 << (8 * f.width)) - 1))
        )
        patches.append(rs.field_patch(f, value))
    return patches


@pytest.mark.parametrize("name", CI_SEEDS)
@settings(
    max_examples=12,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_hostile_field_values(seeds: Seeds, name: str, data: st.DataObject) -> None:
    seed = seeds.get(name)
    patches = data.draw(field_damage(seed.layout), label="patches")
    with rs.patched(seed.path, patches) as path:
        run_everything(path)


@pytest.mark.parametrize("name", ["seed-correct/flat", "seed-correct/elf"])  # plain: its fields are in flat
def test_every_field_at_its_worst(seeds: Seeds, name: str) -> None:
    """Each field alone at 0 and at all ones, through the model (the CLI
    adds nothing per field; the hypothesis tests above take it through the CLI)."""
    seed = seeds.get(name)
    fields = [f for f in seed.layout.fields if not f.name.startswith("desc[") or f.name.startswith("desc[0]")]
    for f in fields:
        for value in (0, (1 << (8 * f.width)) - 1):
            with rs.patched(seed.path, [rs.field_patch(f, value)]) as path, time_limit(PER_INPUT_SECONDS, f.name):
                exercise_model(str(path), max_tables=MAX_TABLES)


# -- bit flips in headers, notes, bitmaps, descriptors --------------------------------------------------
@st.composite
def bit_flips(draw: st.DrawFn, layout: rs.Layout) -> list[rs.Patch]:
    patches = []
    region = draw(st.sampled_from(layout.regions))
    for _ in range(draw(st.integers(1, 8))):
        name, start, end = region
        at = draw(st.integers(start, max(start, end - 1)))
        bit = draw(st.integers(0, 7))
        patches.append(rs.Patch(at, bytes([1 << bit]), f"{name}: flip bit {bit} at {at:#x}"))
    return patches  # xor masks: ``flip`` turns them into bytes against the file


def flip(path: Path, patches: list[rs.Patch]) -> list[rs.Patch]:
    """Turn "xor mask" patches into "new byte" patches against the file's current bytes."""
    out = []
    with open(path, "rb") as fh:
        for p in patches:
            fh.seek(p.offset)
            old = fh.read(1)
            if old:
                out.append(rs.Patch(p.offset, bytes([old[0] ^ p.data[0]]), p.why))
    return out


@pytest.mark.parametrize("name", CI_SEEDS)
@settings(
    max_examples=12,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_bit_flips_in_structures(seeds: Seeds, name: str, data: st.DataObject) -> None:
    seed = seeds.get(name)
    patches = flip(seed.path, data.draw(bit_flips(seed.layout), label="flips"))
    with rs.patched(seed.path, patches) as path:
        run_everything(path)


# -- the long run ----------------------------------------------------------------------------------------
ALL_SEEDS = tuple(SEED_SPECS)


@pytest.mark.slow
@pytest.mark.parametrize("name", ALL_SEEDS)
def test_slow_truncation_all_seeds(seeds: Seeds, name: str, tmp_path: Path) -> None:
    seed = seeds.get(name)
    for cut in seed.layout.boundaries:
        out = rs.write_head(seed.path, cut, tmp_path / "cut")
        run_everything(out, cli="all")
        out.unlink()


@pytest.mark.slow
@pytest.mark.parametrize("name", ALL_SEEDS)
@settings(
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_slow_damage_all_seeds(seeds: Seeds, name: str, data: st.DataObject) -> None:
    seed = seeds.get(name)
    if data.draw(st.booleans(), label="fields?"):
        patches = data.draw(field_damage(seed.layout), label="patches")
    else:
        patches = flip(seed.path, data.draw(bit_flips(seed.layout), label="flips"))
    with rs.patched(seed.path, patches) as path:
        run_everything(path, cli="all")

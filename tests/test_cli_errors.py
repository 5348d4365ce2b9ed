"""Every bad-input path of ``kinmatch synth``, ``ingest`` and ``match``, as subprocesses.

The contract: exit code 2 for bad input, with a message naming file, line, sample and field
wherever they mean something, no traceback, no genotype of any record but the offending one,
and nothing half-written (a refused ingest leaves the store as it was, a refused match writes
no output, a refused synth writes no files). ``lr`` is covered in test_cli.py; a bad --out
suffix, an unknown relationship name, a too-small synth and an ingest rejection with and
without --skip-invalid in test_cli_pipeline.py.

Each case is one subprocess of about 0.3 s (the imports). To keep the file fast, the module
fixture ``outcomes`` starts the command of every selected case at once on a thread pool; a
test (decorated ``@runs(prepare)``) then checks its own outcome. ``prepare`` writes the case's
inputs into its directory and returns the command's arguments.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import pytest

from kinmatch.profiles import Profile
from kinmatch.store import ReferenceStore

CHINA = Path(__file__).parent.parent / "fixtures" / "freq_China_GBT37223.csv"

REFERENCES = """\
sample_id,role,case_id,sex,TH01,vWA,TPOX,CSF1PO
F1,father,K1,M,6.3/9,14/17,10.3/11,10.2/12
M1,mother,K1,F,7/9,15/16,8/8,11/13.2
U1,unknown-origin,,M,6/7,14/15,8/8,10/11
"""
QUERIES = (
    "sample_id,role,sex,TH01,vWA,TPOX,CSF1PO\nQ1,unknown-origin,F,8.3/9,16/17,8/10.3,12/13.2\n"
)
SECRETS = ("6.3", "8.3", "10.2", "10.3", "13.2")
"""Alleles only the good records carry (stored profiles, the queries file, the good row of
each bad file): no message may quote them. No offending text contains them."""

WIDE = "sample_id,role,sex,TH01,vWA\n"
LONG = "sample_id,locus,allele1,allele2\n"
GOOD = "G1,unknown-origin,F,8.3/10.3,15/16\n"  # line 2 of every wide case
GOOD_LONG = "G1,TH01,8.3,10.3\n"

Argv = list[str | Path]
Outcome = tuple[subprocess.CompletedProcess[str], Path]
Prepare = Callable[..., Argv]
Test = TypeVar("Test", bound=Callable[..., None])
COMMANDS: dict[str, Prepare] = {}


def runs(prepare: Prepare) -> Callable[[Test], Test]:
    """The test checks the outcome of ``prepare(case directory, world, **its parameters)``."""

    def register(test: Test) -> Test:
        COMMANDS[test.__name__] = prepare
        return test

    return register


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kinmatch", *map(str, args)],
                          capture_output=True, text=True, timeout=120, check=False)  # fmt: skip


def _outcome(prepare: Prepare, case: Path, world: Path, params: dict[str, Any]) -> Outcome:
    case.mkdir()
    return run(*prepare(case, world, **params)), case


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store of three profiles on four loci, built once by ``kinmatch ingest``."""
    root = tmp_path_factory.mktemp("errors")
    (root / "references.csv").write_text(REFERENCES)
    (root / "queries.csv").write_text(QUERIES)
    done = run("ingest", "--store", root / "store", root / "references.csv")
    assert done.returncode == 0, done.stderr
    return root


@pytest.fixture(scope="module")
def outcomes(
    request: pytest.FixtureRequest, world: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Future[Outcome]]]:
    """The commands of every selected test of this file, started at once, by node ID."""
    root = tmp_path_factory.mktemp("cases")
    futures: dict[str, Future[Outcome]] = {}
    pool = ThreadPoolExecutor(max_workers=os.cpu_count() or 2)
    try:
        for number, item in enumerate(request.session.items):
            if not isinstance(item, pytest.Function) or item.module is not request.module:
                continue
            callspec = getattr(item, "callspec", None)
            params = dict(callspec.params) if callspec is not None else {}
            futures[item.nodeid] = pool.submit(_outcome, COMMANDS[item.originalname],
                                               root / f"case{number}", world, params)  # fmt: skip
        yield futures
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


@pytest.fixture
def outcome(request: pytest.FixtureRequest, outcomes: dict[str, Future[Outcome]]) -> Outcome:
    """This test's finished command and its case directory."""
    return outcomes[request.node.nodeid].result()


def assert_refused(done: subprocess.CompletedProcess[str], fragments: Sequence[str]) -> None:
    """Exit 2, no traceback, every fragment named, no genotype of another record quoted."""
    output = done.stdout + done.stderr
    assert done.returncode == 2, output
    assert "Traceback" not in output, output
    for fragment in fragments:
        assert fragment in done.stderr, f"{fragment!r} missing from {done.stderr!r}"
    for secret in SECRETS:
        assert secret not in output, f"another record's allele {secret} quoted: {output!r}"


def snapshot(store_dir: Path) -> tuple[int, list[Profile], set[str]]:
    """What a store holds: generation, every profile, every file of its fragments directory."""
    store = ReferenceStore.open(store_dir)
    return store.generation, list(store.profiles()), set(os.listdir(store_dir / "fragments"))


def copy_store(world: Path, case: Path) -> Path:
    shutil.copytree(world / "store", case / "store")
    return case / "store"


def cases(table: Sequence[tuple[Any, ...]]) -> list[Any]:
    """pytest params of a case table, with the first item as the ID."""
    return [pytest.param(*case, id=case[0]) for case in table]


# ---------------------------------------------------------------------------------------------
# Profile files: read by ingest (references) and by match (queries).
# (id, file content, what the message must name besides the file name)

PROFILE_CASES: list[tuple[str, bytes, list[str]]] = [
    ("allele_double_dot", f"{WIDE}{GOOD}B2,unknown-origin,M,9..3/7,14/15\n".encode(),
     ["line 3", "sample 'B2'", "locus 'TH01'", "'9..3'"]),
    ("allele_letters", f"{WIDE}{GOOD}B2,unknown-origin,M,6/7,abc\n".encode(),
     ["line 3", "sample 'B2'", "locus 'vWA'", "'abc'"]),
    ("allele_negative", f"{WIDE}{GOOD}B2,unknown-origin,M,-6/7,14/15\n".encode(),
     ["line 3", "sample 'B2'", "locus 'TH01'", "'-6'"]),
    ("allele_off_ladder_long", f"{LONG}{GOOD_LONG}B2,vWA,14,OL\n".encode(),
     ["line 3", "sample 'B2'", "locus 'vWA'", "field 'allele2'", "off-ladder"]),
    ("allele_in_allele1_long", f"{LONG}{GOOD_LONG}B2,TH01,6/7,\n".encode(),
     ["line 3", "sample 'B2'", "locus 'TH01'", "field 'allele1'", "'6/7'"]),
    ("allele2_without_allele1_long", f"{LONG}{GOOD_LONG}B2,TH01,,7\n".encode(),
     ["line 3", "sample 'B2'", "locus 'TH01'", "field 'allele1'"]),
    ("three_alleles_wide", f"{WIDE}{GOOD}B2,unknown-origin,M,6/7/8,14/15\n".encode(),
     ["line 3", "sample 'B2'", "locus 'TH01'", "'6/7/8'"]),
    ("three_alleles_long_column", b"sample_id,locus,allele1,allele2,allele3\nG1,TH01,8.3,10.3,\n",
     ["line 1", "field 'allele3'", "at most two alleles"]),
    ("three_alleles_long_extra_field", f"{LONG}{GOOD_LONG}B2,TH01,6,7,8\n".encode(),
     ["line 3", "sample 'B2'", "5 fields but the header has 4"]),
    ("three_alleles_long_second_row", f"{LONG}{GOOD_LONG}B2,TH01,6,7\nB2,TH01,8,\n".encode(),
     ["line 4", "sample 'B2'", "locus 'TH01'", "given twice"]),
    ("unknown_locus_column", b"sample_id,TH01,D99S999\nG1,8.3/10.3,12\n",
     ["line 1", "field 'D99S999'", "unknown locus"]),
    ("unknown_locus_long", f"{LONG}{GOOD_LONG}B2,D99S999,6,7\n".encode(),
     ["line 3", "sample 'B2'", "field 'locus'", "unknown locus 'D99S999'"]),
    ("locus_column_twice", b"sample_id,vWA,VWA\nB2,14/15,14/15\n", ["line 1", "repeats locus"]),
    ("duplicate_sample_id", f"{WIDE}{GOOD}G1,unknown-origin,M,6/7,14/15\n".encode(),
     ["line 3", "sample 'G1'", "field 'sample_id'", "first seen on line 2"]),
    ("empty_sample_id", f"{WIDE}{GOOD},unknown-origin,M,6/7,14/15\n".encode(),
     ["line 3", "field 'sample_id'", "empty sample_id"]),
    ("no_sample_id_column", b"name,TH01\nB2,6/7\n", ["line 1", "'sample_id'"]),
    ("header_only", WIDE.encode(), ["line 1", "no records after the header"]),
    ("row_cut_mid_line", f"{WIDE}{GOOD}B2,unknown-origin,M,6/".encode(),
     ["line 3", "sample 'B2'", "truncated"]),
    ("missing_columns", f"{WIDE}{GOOD}B2,unknown-origin,M\n".encode(),
     ["line 3", "sample 'B2'", "3 fields but the header has 5"]),
    ("empty_file", b"", ["empty file"]),
    ("not_utf8", f"{WIDE}{GOOD}".encode() + b"B2,unknown-origin,M,6/7,14/15\xb0\n",
     ["line 3", "not UTF-8"]),
    ("unknown_role", f"{WIDE}{GOOD}B2,uncle,M,6/7,14/15\n".encode(),
     ["line 3", "sample 'B2'", "field 'role'", "'uncle'"]),
    ("unknown_sex", f"{WIDE}{GOOD}B2,unknown-origin,X,6/7,14/15\n".encode(),
     ["line 3", "sample 'B2'", "field 'sex'", "'X'"]),
    ("conflicting_role_long", b"sample_id,locus,allele1,allele2,role\nB2,TH01,6,7,father\n"
     b"B2,vWA,14,15,mother\n", ["line 3", "sample 'B2'", "field 'role'", "conflicting"]),
    ("bad_amelogenin", b"sample_id,Amelogenin,TH01\nG1,X/Y,8.3/10.3\nB2,X/Z,6/7\n",
     ["line 3", "sample 'B2'", "Amelogenin", "'X/Z'"]),
    ("no_typed_locus", f"{WIDE}{GOOD}B2,unknown-origin,M,,\n".encode(),
     ["line 3", "sample 'B2'", "no typed"]),
]  # fmt: skip


def ingest_a_file(case: Path, world: Path, name: str, content: bytes, **_: object) -> Argv:
    path = case / f"{name}.csv"
    path.write_bytes(content)
    return ["ingest", "--store", copy_store(world, case), path]


@runs(ingest_a_file)
@pytest.mark.parametrize(("name", "content", "fragments"), cases(PROFILE_CASES))
def test_ingest_refuses_a_bad_file(
    name: str, content: bytes, fragments: list[str], outcome: Outcome, world: Path
) -> None:
    done, case = outcome
    assert_refused(done, [f"{name}.csv", *fragments])
    assert "added" not in done.stdout
    assert snapshot(case / "store") == snapshot(world / "store")


def match_args(case: Path, world: Path, *args: str | Path) -> Argv:
    """``kinmatch match`` on the world, output in the case; ``args`` come last, so an option
    given there again overrides the default (click keeps the last value)."""
    return ["match", "--store", world / "store", "--frequencies", CHINA, "--queries",
            world / "queries.csv", "--relationship", "parent-child", "--out",
            case / "hits.csv", *args]  # fmt: skip


def match_queries(case: Path, world: Path, name: str, content: bytes, **_: object) -> Argv:
    path = case / f"{name}.csv"
    path.write_bytes(content)
    return match_args(case, world, "--queries", path)


@runs(match_queries)
@pytest.mark.parametrize(("name", "content", "fragments"), cases(PROFILE_CASES))
def test_match_refuses_a_bad_queries_file(
    name: str, content: bytes, fragments: list[str], outcome: Outcome
) -> None:
    done, case = outcome
    assert_refused(done, [f"{name}.csv", *fragments])
    assert not (case / "hits.csv").exists()


def ingest_a_stored_sample(case: Path, world: Path) -> Argv:
    (case / "again.csv").write_text(f"{WIDE}{GOOD}M1,mother,F,6/7,14/15\n")
    return ["ingest", "--store", copy_store(world, case), case / "again.csv"]


@runs(ingest_a_stored_sample)
def test_ingest_refuses_a_sample_already_stored(outcome: Outcome, world: Path) -> None:
    done, case = outcome
    assert_refused(done, ["again.csv line 3", "sample 'M1'", "field 'sample_id'",
                          "already in the store", "nothing was written"])  # fmt: skip
    assert snapshot(case / "store") == snapshot(world / "store")


def ingest_a_sample_twice(case: Path, world: Path) -> Argv:
    (case / "first.csv").write_text(f"{WIDE}{GOOD}")
    (case / "second.csv").write_text(
        f"{WIDE}B2,unknown-origin,M,6/7,14/15\nG1,unknown-origin,M,7/9,16/17\n"
    )
    return ["ingest", "--store", copy_store(world, case), case / "first.csv", case / "second.csv"]


@runs(ingest_a_sample_twice)
def test_ingest_refuses_a_sample_repeated_across_files(outcome: Outcome, world: Path) -> None:
    done, case = outcome
    assert_refused(done, ["second.csv line 3", "sample 'G1'", "field 'sample_id'",
                          "already in this batch"])  # fmt: skip
    assert snapshot(case / "store") == snapshot(world / "store")


def ingest_a_missing_file(case: Path, world: Path) -> Argv:
    (case / "good.csv").write_text(f"{WIDE}{GOOD}")
    return ["ingest", "--store", copy_store(world, case), case / "good.csv", case / "absent.csv"]


@runs(ingest_a_missing_file)
def test_ingest_refuses_a_missing_file(outcome: Outcome, world: Path) -> None:
    done, case = outcome
    assert_refused(done, ["absent.csv", "does not exist"])
    assert snapshot(case / "store") == snapshot(world / "store")


def ingest_into_a_new_directory(case: Path, world: Path) -> Argv:
    return ["ingest", "--store", case / "new" / "deeper" / "store", world / "references.csv"]


@runs(ingest_into_a_new_directory)
def test_ingest_creates_a_missing_store_directory(outcome: Outcome) -> None:
    """The CLI's definition: --store is created when missing, parents included."""
    done, case = outcome
    assert done.returncode == 0, done.stderr
    assert len(ReferenceStore.open(case / "new" / "deeper" / "store")) == 3


BLOCKER = "not a directory\n"


def ingest_into_a_file(case: Path, world: Path, where: str) -> Argv:
    (case / "plain-file").write_text(BLOCKER)
    store = case / "plain-file" if where == "store_is_a_file" else case / "plain-file" / "store"
    return ["ingest", "--store", store, world / "references.csv"]


@runs(ingest_into_a_file)
@pytest.mark.parametrize("where", ["store_is_a_file", "store_under_a_file"])
def test_ingest_refuses_a_store_path_it_cannot_create(where: str, outcome: Outcome) -> None:
    done, case = outcome
    fragment = "is a file" if where == "store_is_a_file" else "cannot create a store"
    assert_refused(done, ["plain-file", fragment])
    assert (case / "plain-file").read_text() == BLOCKER


def ingest_into_a_corrupted_store(case: Path, world: Path) -> Argv:
    manifest = copy_store(world, case) / "manifest.json"
    text = manifest.read_text()
    manifest.write_text(text[: len(text) // 2])
    return ["ingest", "--store", case / "store", world / "queries.csv"]


@runs(ingest_into_a_corrupted_store)
def test_ingest_refuses_a_corrupted_store_and_leaves_it(outcome: Outcome, world: Path) -> None:
    done, case = outcome
    assert_refused(done, ["manifest.json", "unreadable manifest"])
    text = (world / "store" / "manifest.json").read_text()
    assert (case / "store" / "manifest.json").read_text() == text[: len(text) // 2]


# ---------------------------------------------------------------------------------------------
# match: frequencies, mutation rates, options, stores, outputs.

FREQUENCY_CASES: list[tuple[str, bytes, list[str]]] = [
    ("non_numeric", b"locus,allele,frequency\nTH01,6,0.5\nTH01,7,abc\n",
     ["line 3", "locus 'TH01'", "field 'frequency'", "'abc'"]),
    ("not_a_number", b"locus,allele,frequency\nTH01,6,0.5\nTH01,7,nan\n",
     ["line 3", "locus 'TH01'", "field 'frequency'", "'nan'"]),
    ("negative", b"locus,allele,frequency\nTH01,6,0.5\nTH01,7,-0.5\n",
     ["line 3", "locus 'TH01'", "field 'frequency'", "'-0.5'"]),
    ("zero", b"locus,allele,frequency\nTH01,6,1\nTH01,7,0\n",
     ["line 3", "locus 'TH01'", "field 'frequency'", "(0, 1]"]),
    ("above_one", b"locus,allele,frequency\nTH01,6,1.5\n",
     ["line 2", "locus 'TH01'", "field 'frequency'", "'1.5'"]),
    ("not_summing_to_one", b"locus,allele,frequency\nTH01,6,0.5\nTH01,7,0.2\n",
     ["locus 'TH01'", "field 'frequency'", "sum to 0.700000"]),
    ("missing_column", b"locus,allele\nTH01,6\n", ["line 1", "locus,allele,frequency"]),
    ("unknown_column", b"locus,allele,frequency,source\nTH01,6,1,x\n",
     ["line 1", "locus,allele,frequency"]),
    ("row_cut_short", b"locus,allele,frequency\nTH01,6,0.5\nTH01,7\n",
     ["line 3", "2 fields but the header has 3"]),
    ("duplicate_allele_row", b"locus,allele,frequency\nTH01,6,0.5\nTH01,06,0.5\n",
     ["line 3", "locus 'TH01'", "field 'allele'", "listed twice"]),
    ("bad_allele", b"locus,allele,frequency\nTH01,6,0.5\nTH01,x,0.5\n",
     ["line 3", "locus 'TH01'", "field 'allele'", "'x'"]),
    ("unknown_locus", b"locus,allele,frequency\nD99S999,6,1\n",
     ["line 2", "field 'locus'", "unknown locus 'D99S999'"]),
    ("sex_marker", b"locus,allele,frequency\nAMEL,X,1\n", ["line 2", "sex marker"]),
    ("inconsistent_n", b"locus,allele,frequency,n\nTH01,6,0.5,200\nTH01,7,0.5,300\n",
     ["line 3", "locus 'TH01'", "field 'n'"]),
    ("header_only", b"locus,allele,frequency\n", ["no frequency rows"]),
    ("empty_file", b"", ["empty file"]),
    ("not_utf8", b"locus,allele,frequency\nTH01,6,0.5\nTH01,7\xb0,0.5\n",
     ["line 3", "not UTF-8"]),
]  # fmt: skip


RATE_CASES: list[tuple[str, bytes, list[str]]] = [
    ("rate_above_one", b"locus,rate\nTH01,1.5\n",
     ["line 2", "locus 'TH01'", "field 'rate'", "'1.5'"]),
    ("rate_negative", b"locus,rate\nTH01,-0.01\n",
     ["line 2", "locus 'TH01'", "field 'rate'", "'-0.01'"]),
    ("rate_non_numeric", b"locus,rate\nTH01,fast\n",
     ["line 2", "locus 'TH01'", "field 'rate'", "'fast'"]),
    ("maternal_rate_above_one", b"locus,rate,paternal_rate,maternal_rate\nTH01,0.001,,2\n",
     ["line 2", "locus 'TH01'", "field 'maternal_rate'", "'2'"]),
    ("unknown_locus", b"locus,rate\nTH01,0.001\nD99S999,0.001\n",
     ["line 3", "field 'locus'", "unknown locus 'D99S999'"]),
    ("locus_twice", b"locus,rate\nTH01,0.001\nTHO1,0.002\n",
     ["line 3", "locus 'TH01'", "listed twice"]),
    ("bad_header", b"locus,mu\nTH01,0.001\n", ["line 1", "locus,rate"]),
    ("row_cut_short", b"locus,rate,paternal_rate\nTH01,0.001\n",
     ["line 2", "2 fields but the header has 3"]),
    ("empty_file", b"", ["empty file"]),
]  # fmt: skip


def match_frequencies(case: Path, world: Path, name: str, content: bytes, **_: object) -> Argv:
    (case / f"{name}.csv").write_bytes(content)
    return match_args(case, world, "--frequencies", case / f"{name}.csv")


@runs(match_frequencies)
@pytest.mark.parametrize(("name", "content", "fragments"), cases(FREQUENCY_CASES))
def test_match_refuses_a_bad_frequency_table(
    name: str, content: bytes, fragments: list[str], outcome: Outcome
) -> None:
    done, case = outcome
    assert_refused(done, [f"{name}.csv", *fragments])
    assert not (case / "hits.csv").exists()


def match_rates(case: Path, world: Path, name: str, content: bytes, **_: object) -> Argv:
    (case / f"{name}.csv").write_bytes(content)
    return match_args(case, world, "--mutation-model", "stepwise", "--mutation-rates",
                      case / f"{name}.csv", "--default-mutation-rate", "0.002")  # fmt: skip


@runs(match_rates)
@pytest.mark.parametrize(("name", "content", "fragments"), cases(RATE_CASES))
def test_match_refuses_a_bad_mutation_rates_file(
    name: str, content: bytes, fragments: list[str], outcome: Outcome
) -> None:
    done, case = outcome
    assert_refused(done, [f"{name}.csv", *fragments])
    assert not (case / "hits.csv").exists()


def match_without_a_rate(case: Path, world: Path) -> Argv:
    (case / "rates.csv").write_text("locus,rate\nTH01,0.001\nvWA,0.002\n")
    return match_args(case, world, "--mutation-model", "stepwise", "--mutation-rates",
                      case / "rates.csv")  # fmt: skip


@runs(match_without_a_rate)
def test_match_refuses_a_compared_locus_without_rate(outcome: Outcome) -> None:
    """Checked before searching, as ``lr`` does: named at the query that compares it."""
    done, case = outcome
    assert_refused(done, ["queries.csv line 2", "sample 'Q1'", "locus 'CSF1PO'",
                          "no mutation rate", "--default-mutation-rate"])  # fmt: skip
    assert not (case / "hits.csv").exists()


OPTION_CASES: list[tuple[str, list[str], list[str]]] = [
    ("theta_above_one", ["--theta", "1.5"], ["--theta", "1.5"]),
    ("top_k_zero", ["--top-k", "0"], ["--top-k", "0"]),
    ("min_lr_negative", ["--min-lr", "-1"], ["--min-lr", "-1"]),
    ("max_inconsistent_negative", ["--max-inconsistent", "-1"], ["--max-inconsistent"]),
    ("min_frequency_zero", ["--min-frequency", "0"], ["--min-frequency"]),
    # unknown names are in test_cli_pipeline.py; this one is an lr relationship, not a search
    ("relationship_not_searchable", ["--relationship", "paternity-trio"],
     ["--relationship", "paternity-trio"]),
    ("model_without_rate", ["--mutation-model", "stepwise"],
     ["--mutation-model stepwise needs one of --mutation-rate, --mutation-rates"]),
    ("rate_without_model", ["--mutation-rate", "0.002"], ["--mutation-model is none"]),
    ("unknown_model", ["--mutation-model", "twostep"], ["--mutation-model", "twostep"]),
    ("mutation_rate_above_one", ["--mutation-model", "equal", "--mutation-rate", "1.5"],
     ["--mutation-rate", "1.5"]),
    ("default_rate_without_rates_file", ["--mutation-model", "equal", "--mutation-rate",
     "0.002", "--default-mutation-rate", "0.002"], ["--default-mutation-rate only applies"]),
]  # fmt: skip


def match_option(case: Path, world: Path, args: list[str], **_: object) -> Argv:
    return match_args(case, world, *args)


@runs(match_option)
@pytest.mark.parametrize(("name", "args", "fragments"), cases(OPTION_CASES))
def test_match_refuses_a_bad_option(
    name: str, args: list[str], fragments: list[str], outcome: Outcome
) -> None:
    done, case = outcome
    assert_refused(done, fragments)
    assert not (case / "hits.csv").exists()


def _write(name: str, text: str) -> Callable[[Path], object]:
    return lambda store: (store / name).write_text(text)


def _empty_directory(store: Path) -> None:
    shutil.rmtree(store)
    store.mkdir()


def _truncated_manifest(store: Path) -> None:
    text = (store / "manifest.json").read_text()
    (store / "manifest.json").write_text(text[: len(text) // 2])


def _fragments_deleted(store: Path) -> None:
    for fragment in (store / "fragments").iterdir():
        fragment.unlink()


STORE_CASES: list[tuple[str, Callable[[Path], object], list[str]]] = [
    ("empty_directory", _empty_directory, ["is not a kinmatch store", "no manifest.json"]),
    ("manifest_truncated", _truncated_manifest, ["manifest.json", "unreadable manifest"]),
    ("manifest_not_an_object", _write("manifest.json", "[1, 2]"),
     ["manifest.json", "not a manifest"]),
    ("manifest_wrong_types", _write("manifest.json", '{"format": 1, "generation": 1, '
                                    '"loci": 5, "alleles": [], "fragments": 3}'),
     ["manifest.json", "malformed manifest"]),
    ("manifest_missing_keys", _write("manifest.json", '{"format": 1}'),
     ["manifest.json", "malformed manifest"]),
    ("manifest_other_format", _write("manifest.json", '{"format": 99}'),
     ["manifest.json", "unsupported store format 99"]),
    ("manifest_not_utf8", lambda store: (store / "manifest.json").write_bytes(b'{"format": \xff}'),
     ["manifest.json", "unreadable manifest"]),
    ("fragment_missing", _fragments_deleted, ["fragments", "unreadable fragment"]),
]  # fmt: skip


def match_a_damaged_store(
    case: Path, world: Path, damage: Callable[[Path], object], **_: object
) -> Argv:
    damage(copy_store(world, case))
    return match_args(case, world, "--store", case / "store")


@runs(match_a_damaged_store)
@pytest.mark.parametrize(("name", "damage", "fragments"), cases(STORE_CASES))
def test_match_refuses_a_store_that_is_not_one(
    name: str, damage: Callable[[Path], object], fragments: list[str], outcome: Outcome
) -> None:
    done, case = outcome
    assert_refused(done, [str(case / "store"), *fragments])
    assert not (case / "hits.csv").exists()


def match_no_directory(case: Path, world: Path, where: str) -> Argv:
    if where == "a_file":
        (case / "store").write_text("")
    return match_args(case, world, "--store", case / "store")


@runs(match_no_directory)
@pytest.mark.parametrize("where", ["missing", "a_file"])
def test_match_refuses_a_store_path_that_is_no_directory(where: str, outcome: Outcome) -> None:
    done, case = outcome
    assert_refused(done, ["--store", "does not exist" if where == "missing" else "is a file"])
    assert not (case / "hits.csv").exists()


def match_elsewhere(case: Path, world: Path) -> Argv:
    (case / "elsewhere.csv").write_text("sample_id,FGA,D3S1358\nQ1,20/22,15/16\nQ2,21/23,16/17\n")
    return match_args(case, world, "--queries", case / "elsewhere.csv")


@runs(match_elsewhere)
def test_match_refuses_queries_without_a_locus_in_common(outcome: Outcome) -> None:
    done, case = outcome
    assert_refused(done, ["elsewhere.csv line 2", "sample 'Q1'", "no typed locus in common"])
    assert not (case / "hits.csv").exists()


def match_other_loci_table(case: Path, world: Path) -> Argv:
    (case / "fga-only.csv").write_text("locus,allele,frequency\nFGA,20,0.5\nFGA,21,0.5\n")
    return match_args(case, world, "--frequencies", case / "fga-only.csv")


@runs(match_other_loci_table)
def test_match_refuses_a_table_without_the_stored_loci(outcome: Outcome) -> None:
    done, case = outcome
    assert_refused(done, ["queries.csv line 2", "sample 'Q1'", "no typed locus in common"])
    assert not (case / "hits.csv").exists()


def match_unwritable(case: Path, world: Path, where: str) -> Argv:
    out = case / "absent" / "hits.csv" if where == "missing_directory" else case
    return match_args(case, world, "--min-lr", "0", "--out", out)


@runs(match_unwritable)
@pytest.mark.parametrize("where", ["missing_directory", "a_directory"])
def test_match_refuses_an_output_it_cannot_write(where: str, outcome: Outcome) -> None:
    """A bad suffix is in test_cli_pipeline.py."""
    done, case = outcome
    if where == "missing_directory":
        assert_refused(done, ["absent/hits.csv", "cannot write hits"])
    else:
        assert_refused(done, ["--out", "is a directory"])
    assert not (case / "absent").exists() and not (case / "hits.csv").exists()


def match_a_lone_parent(case: Path, world: Path) -> Argv:
    (case / "couple.csv").write_text("sample_id,role,case_id,sex,TH01,vWA\n"
                                     "Q1,,,F,8.3/9,16/17\nB2,father,K9,M,6/7,14/15\n")  # fmt: skip
    return match_args(case, world, "--queries", case / "couple.csv",
                      "--relationship", "parents-child")  # fmt: skip


@runs(match_a_lone_parent)
def test_match_names_the_query_a_search_refused(outcome: Outcome) -> None:
    """A registered father without his mother cannot search as a couple: his query gets an
    error located in the queries file; the other queries are answered (exit 2)."""
    done, case = outcome
    assert_refused(done, ["couple.csv line 3", "sample 'B2'"])
    assert (case / "hits.csv").exists()


# ---------------------------------------------------------------------------------------------
# synth


def synth_args(case: Path, *args: str | Path) -> Argv:
    return ["synth", "--frequencies", CHINA, "--references", "6", "--families", "1",
            "--loci", "TH01,vWA", "--out", case / "syn", *args]  # fmt: skip


def assert_no_synth_output(out: Path) -> None:
    for name in ("references.csv", "queries.csv", "truth.csv"):
        assert not (out / name).exists()


SYNTH_FREQUENCY_CASES = [
    case for case in FREQUENCY_CASES
    if case[0] in ("non_numeric", "not_summing_to_one")
]  # fmt: skip


def synth_frequencies(case: Path, world: Path, name: str, content: bytes, **_: object) -> Argv:
    (case / f"{name}.csv").write_bytes(content)
    return synth_args(case, "--frequencies", case / f"{name}.csv")


@runs(synth_frequencies)
@pytest.mark.parametrize(("name", "content", "fragments"), cases(SYNTH_FREQUENCY_CASES))
def test_synth_refuses_a_bad_frequency_table(
    name: str, content: bytes, fragments: list[str], outcome: Outcome
) -> None:
    done, case = outcome
    assert_refused(done, [f"{name}.csv", *fragments])
    assert_no_synth_output(case / "syn")


SYNTH_OPTION_CASES: list[tuple[str, list[str], list[str]]] = [
    ("references_zero", ["--references", "0"], ["--references", "0"]),
    ("families_negative", ["--families", "-1"], ["--families", "-1"]),
    ("loci_unknown", ["--loci", "TH01,D99S999"], ["field '--loci'", "unknown locus 'D99S999'"]),
    ("loci_not_in_the_table", ["--loci", "TH01,SE33"],
     [CHINA.name, "locus 'SE33'", "field '--loci'", "not in the frequency table"]),
    ("loci_twice", ["--loci", "TH01,vWA,THO1"], ["locus 'TH01'", "field '--loci'", "twice"]),
    ("theta_above_one", ["--theta", "1.5"], ["--theta", "1.5"]),
    ("model_without_rate", ["--mutation-model", "stepwise"], ["--mutation-model stepwise"]),
    ("unknown_layout", ["--layout", "tall"], ["--layout", "tall"]),
]  # fmt: skip


def synth_option(case: Path, world: Path, args: list[str], **_: object) -> Argv:
    return synth_args(case, *args)


@runs(synth_option)
@pytest.mark.parametrize(("name", "args", "fragments"), cases(SYNTH_OPTION_CASES))
def test_synth_refuses_a_bad_option(
    name: str, args: list[str], fragments: list[str], outcome: Outcome
) -> None:
    done, case = outcome
    assert_refused(done, fragments)
    assert_no_synth_output(case / "syn")


def synth_into_a_file(case: Path, world: Path, where: str) -> Argv:
    blocker = case / "plain-file"
    blocker.write_text(BLOCKER)
    args: dict[str, Argv] = {
        "out_is_a_file": ["--out", blocker],
        "out_under_a_file": ["--out", blocker / "syn"],
        "store_under_a_file": ["--store", blocker / "store"],
    }
    return synth_args(case, *args[where])


@runs(synth_into_a_file)
@pytest.mark.parametrize("where", ["out_is_a_file", "out_under_a_file", "store_under_a_file"])
def test_synth_refuses_a_path_it_cannot_create(where: str, outcome: Outcome) -> None:
    done, case = outcome
    fragment = {"out_is_a_file": "is a file", "out_under_a_file": "Not a directory",
                "store_under_a_file": "cannot create a store"}[where]  # fmt: skip
    assert_refused(done, ["plain-file", fragment])
    assert (case / "plain-file").read_text() == BLOCKER
    assert_no_synth_output(case / "syn")


def synth_twice(case: Path, world: Path) -> Argv:
    """The first synth fills the store (kept as ``before``); the second would repeat its IDs."""
    first = run(*synth_args(case, "--store", case / "store", "--out", case / "first"))
    assert first.returncode == 0, first.stderr
    shutil.copytree(case / "store", case / "before")
    return synth_args(case, "--store", case / "store")


@runs(synth_twice)
def test_synth_refuses_a_store_holding_its_sample_ids(outcome: Outcome) -> None:
    done, case = outcome
    assert_refused(done, [str(case / "store"), "sample 'C0'", "already in the store",
                          "nothing was written"])  # fmt: skip
    assert snapshot(case / "store") == snapshot(case / "before")
    assert_no_synth_output(case / "syn")

"""``kinmatch lr`` end to end, as a subprocess: outputs, exit codes, error messages."""

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from kinmatch import MutationModel, MutationRates, kinship_lr, load_frequencies, read_profiles
from kinmatch.cases import read_cases

ROOT = Path(__file__).parent.parent
EXAMPLES = ROOT / "fixtures" / "examples"
CHINA = ROOT / "fixtures" / "freq_China_GBT37223.csv"


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kinmatch", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def lines(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines()]


@pytest.fixture
def textbook(tmp_path: Path) -> dict[str, Path]:
    """One locus, p(10) = 0.1: a child 10/11 and an alleged father 10/12 give PI 1/(4 p)."""
    files = {
        "frequencies": "locus,allele,frequency\nvWA,10,0.1\nvWA,11,0.2\nvWA,12,0.3\nvWA,13,0.4\n",
        "profiles": "sample_id,sex,vWA\nC,M,10/11\nF,M,10/12\nX,F,12/13\nM,F,11/13\n",
        "cases": "case_id,relationship,child,parent,mother,father,person1,person2\n"
        "duo,parent-child,C,F,,,,\n"
        "excl,parent-child,C,X,,,,\n"
        "trio,paternity-trio,C,F,M,,,\n",
    }
    paths = {}
    for name, text in files.items():
        paths[name] = tmp_path / f"{name}.csv"
        paths[name].write_text(text)
    return paths


def test_textbook_values_from_the_command_line(textbook: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    done = run("lr", "--frequencies", textbook["frequencies"], "--profiles",
               textbook["profiles"], "--cases", textbook["cases"], "--out", out)  # fmt: skip
    assert done.returncode == 0, done.stderr
    results = {r["case_id"]: r for r in lines(out.read_text())}
    assert results["duo"]["lr"] == pytest.approx(1 / (4 * 0.1), rel=1e-12)
    assert results["trio"]["lr"] == pytest.approx(1 / (2 * 0.1), rel=1e-12)
    excl = results["excl"]
    assert excl["lr"] == 0 and excl["log10_lr"] is None and excl["verdict"] == "exclusion"
    assert excl["inconsistent_loci"] == ["vWA"]
    assert excl["loci"] == {"vWA": {"lr": 0.0, "compared": True, "consistent": False}}
    assert "duo" in done.stdout and "3 cases, 0 with errors" in done.stdout  # the table


def test_stdout_jsonl_has_the_contract_fields(textbook: dict[str, Path]) -> None:
    done = run("lr", "--frequencies", textbook["frequencies"], "--profiles",
               textbook["profiles"], "--cases", textbook["cases"], "--theta", "0.01")  # fmt: skip
    assert done.returncode == 0, done.stderr
    for record in lines(done.stdout):
        assert set(record) == {
            "case_id",
            "relationship",
            "lr",
            "log10_lr",
            "loci",
            "inconsistent_loci",
            "min_frequency_used",
            "verdict",
            "error",
        }
        assert record["error"] is None
        assert "NaN" not in json.dumps(record)


MODEL_ARGS = {
    "none": [],
    "equal": ["--mutation-model", "equal", "--mutation-rate", "0.002"],
    "proportional": ["--mutation-model", "proportional", "--mutation-rates",
                     str(ROOT / "fixtures" / "mutation_rates_STRBase_AABB.csv"),
                     "--default-mutation-rate", "0.002"],
    "stepwise": ["--mutation-model", "stepwise", "--mutation-rate", "0.002",
                 "--mutation-rate2", "0.0001", "--mutation-range", "0.3"],
}  # fmt: skip
MODELS = {
    "none": MutationModel(),
    "equal": MutationModel("equal", MutationRates.uniform(0.002)),
    "stepwise": MutationModel("stepwise", MutationRates.uniform(0.002), rate2=0.0001, range=0.3),
}


@pytest.mark.parametrize("model", list(MODEL_ARGS))
def test_every_relationship_and_model_matches_the_api(model: str, tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    done = run("lr", "--frequencies", CHINA, "--profiles", EXAMPLES / "profiles.csv",
               "--cases", EXAMPLES / "cases.csv", "--theta", "0.02", *MODEL_ARGS[model],
               "--out", out)  # fmt: skip
    assert done.returncode == 0, done.stderr
    records = lines(out.read_text())
    assert {r["relationship"] for r in records} == {
        "parent-child", "paternity-trio", "parents-child", "full-siblings", "half-siblings",
        "grandparent", "avuncular", "first-cousins",
    }  # fmt: skip
    if model not in MODELS:
        return
    profiles = read_profiles(EXAMPLES / "profiles.csv")
    frequencies = load_frequencies(CHINA)
    for case, record in zip(read_cases(EXAMPLES / "cases.csv", profiles), records, strict=True):
        expected = kinship_lr(case.relationship, case.persons(profiles), frequencies,
                              theta=0.02, mutation=MODELS[model])  # fmt: skip
        assert record["lr"] == pytest.approx(expected.lr, rel=1e-12)
        assert record["verdict"] == expected.verdict
        if record["log10_lr"] is not None:
            assert math.isclose(record["log10_lr"], math.log10(record["lr"]), abs_tol=1e-9)


@pytest.fixture(scope="module")
def integer_table(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The China table restricted to loci without microvariants, where onestep is defined."""
    table = load_frequencies(CHINA)
    path = tmp_path_factory.mktemp("integer") / "freq.csv"
    rows = ["locus,allele,frequency"]
    for locus in table.values():
        if not any("." in allele for allele in locus.alleles):
            pairs = zip(locus.alleles, locus.frequencies, strict=True)
            rows += [f"{locus.locus},{allele},{freq}" for allele, freq in pairs]
    path.write_text("\n".join(rows) + "\n")
    return path


@pytest.mark.parametrize("theta", [0.0, 0.03])
@pytest.mark.parametrize("kind", ["none", "equal", "proportional", "stepwise", "onestep"])
def test_every_model_and_theta_reachable(
    kind: str, theta: float, integer_table: Path, tmp_path: Path
) -> None:
    args = [] if kind == "none" else ["--mutation-model", kind, "--mutation-rate", "0.003"]
    out = tmp_path / "out.jsonl"
    done = run("lr", "--frequencies", integer_table, "--profiles", EXAMPLES / "profiles.csv",
               "--cases", EXAMPLES / "cases.csv", "--theta", str(theta), *args,
               "--mutation-rate2", "0.0002", "--mutation-range", "0.4", "--out", out)  # fmt: skip
    assert done.returncode == 0, done.stderr
    model = MutationModel(kind, None if kind == "none" else MutationRates.uniform(0.003),
                          rate2=0.0002, range=0.4)  # fmt: skip
    profiles = read_profiles(EXAMPLES / "profiles.csv")
    frequencies = load_frequencies(integer_table)
    records = lines(out.read_text())
    cases = read_cases(EXAMPLES / "cases.csv", profiles)
    assert len({case.relationship for case in cases}) == 8
    for case, record in zip(cases, records, strict=True):
        expected = kinship_lr(case.relationship, case.persons(profiles), frequencies,
                              theta=theta, mutation=model)  # fmt: skip
        assert record["lr"] == pytest.approx(expected.lr, rel=1e-12)
        assert record["loci"]["TH01"]["compared"] is False  # TH01 has 9.3: not in this table


def test_examples_show_rare_allele_untyped_locus_and_mutation(tmp_path: Path) -> None:
    done = run("lr", "--frequencies", CHINA, "--profiles", EXAMPLES / "profiles.csv",
               "--cases", EXAMPLES / "cases.csv", *MODEL_ARGS["stepwise"])  # fmt: skip
    results = {r["case_id"]: r for r in lines(done.stdout)}
    stranger = results["duo-P03-U01"]
    assert "TH01:13.3" in stranger["min_frequency_used"]
    assert stranger["loci"]["TPOX"]["compared"] is False
    mutated = results["duo-K02-mut"]
    assert len(mutated["inconsistent_loci"]) == 1 and mutated["lr"] > 0


def test_onestep_microvariant_locus_is_a_per_case_error(tmp_path: Path) -> None:
    done = run("lr", "--frequencies", CHINA, "--profiles", EXAMPLES / "profiles.csv",
               "--cases", EXAMPLES / "cases.csv", "--mutation-model", "onestep",
               "--mutation-rate", "0.002")  # fmt: skip
    assert done.returncode == 3
    records = lines(done.stdout)
    assert all(r["error"] and "onestep" in r["error"] for r in records)  # TH01 has 9.3
    assert all(r["lr"] is None for r in records)
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("target", "text", "fragments"),
    [
        ("profiles", "sample_id,sex,vWA\nC,M,10/OL\nF,M,10/12\nX,F,12\nM,F,11\n",
         ["profiles.csv line 2", "sample 'C'", "locus 'vWA'", "off-ladder"]),
        ("profiles", "sample_id,sex,vWA\nC,M,10/11\nC,M,10/12\n",
         ["profiles.csv line 3", "sample 'C'", "duplicate"]),
        ("cases", "case_id,relationship,child,parent,mother,father,person1,person2\n"
                  "c1,cousins,C,,,,,\n", ["cases.csv line 2", "'relationship'"]),
        ("cases", "case_id,relationship,child,parent,mother,father,person1,person2\n"
                  "c1,parent-child,C,NOPE,,,,\n", ["cases.csv line 2", "'parent'", "NOPE"]),
        ("cases", "case_id,relationship,child,parent,mother,father,person1,person2\n"
                  "c1,parent-child,C,F,M,,,\n", ["line 2", "'mother'", "does not use"]),
        ("frequencies", "locus,allele,frequency\nvWA,10,0.1\nvWA,11,0.2\n",
         ["frequencies.csv", "'vWA'", "sum to 0.3"]),
    ],
)  # fmt: skip
def test_bad_input_exits_2_without_traceback(
    textbook: dict[str, Path], target: str, text: str, fragments: list[str]
) -> None:
    textbook[target].write_text(text)
    done = run("lr", "--frequencies", textbook["frequencies"], "--profiles",
               textbook["profiles"], "--cases", textbook["cases"])  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    for fragment in fragments:
        assert fragment in done.stderr
    assert done.stdout == ""


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--mutation-model", "equal"], "needs one of"),
        (["--mutation-rate", "0.01"], "--mutation-model is none"),
        (["--mutation-model", "equal", "--mutation-rate", "0.01", "--default-mutation-rate",
          "0.01"], "only applies"),
        (["--theta", "1.5"], "theta"),
        (["--mutation-model", "equal", "--mutation-rates",
          str(ROOT / "fixtures" / "mutation_rates_STRBase_AABB.csv")], "no mutation rate"),
    ],
)  # fmt: skip
def test_bad_options_exit_2(textbook: dict[str, Path], args: list[str], fragment: str) -> None:
    textbook["frequencies"].write_text("locus,allele,frequency\nD1S1656,10,0.5\nD1S1656,11,0.5\n")
    textbook["profiles"].write_text("sample_id,D1S1656\nC,10\nF,10/11\n")
    textbook["cases"].write_text(
        "case_id,relationship,child,parent,mother,father,person1,person2\nc,parent-child,C,F,,,,\n"
    )
    done = run("lr", "--frequencies", textbook["frequencies"], "--profiles",
               textbook["profiles"], "--cases", textbook["cases"], *args)  # fmt: skip
    assert done.returncode == 2
    assert fragment in done.stderr
    assert "Traceback" not in done.stderr


def test_output_is_not_half_written_on_bad_input(textbook: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    out.write_text("previous results\n")
    textbook["profiles"].write_text("sample_id,vWA\nC,x\n")
    done = run("lr", "--frequencies", textbook["frequencies"], "--profiles",
               textbook["profiles"], "--cases", textbook["cases"], "--out", out)  # fmt: skip
    assert done.returncode == 2
    assert out.read_text() == "previous results\n"
    assert list(tmp_path.glob(".out.jsonl.*")) == []


def test_help_lists_every_option() -> None:
    done = run("lr", "--help")
    assert done.returncode == 0
    for option in (
        "--frequencies",
        "--profiles",
        "--cases",
        "--theta",
        "--mutation-model",
        "--mutation-rate",
        "--mutation-rates",
        "--default-mutation-rate",
        "--mutation-rate2",
        "--mutation-range",
        "--stationary-mutation",
        "--min-frequency",
        "--out",
    ):
        assert option in done.stdout  # fmt: skip

"""``kinmatch lr`` with registered families, as subprocesses: results and every refusal.

The contract of a refused family: exit code 2, a message naming the family and a person (and
the file and line where there is one), no traceback, and no genotype of anybody. The
subprocesses of the refusals start together on a thread pool (module fixture ``refusals``),
each about 0.4 s of imports.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from kinmatch import kinship_lr, load_frequencies, read_profiles
from kinmatch.families import MAX_PERSONS, read_families
from kinmatch.pedfile import write_ped
from kinmatch.peeling import MAX_URN_GENES

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "fixtures" / "examples"
TABLE = ROOT / "fixtures" / "freq_China_GBT37223.csv"
HEADER = "family_id,person_id,father,mother,sex,sample_id,missing\n"
K01 = "K01,father,,,M,K01-F,\nK01,mother,,,F,K01-M,\nK01,son,father,mother,M,,1\n"
CASES = "case_id,relationship,poi,family_id\nc1,family,U01,K01\n"


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "kinmatch", *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, check=False, timeout=300)


def lr(tmp: Path, families: str | None, cases: str = CASES, *extra: str | Path) -> list[str]:
    """The arguments of ``kinmatch lr`` on the example profiles with these files."""
    (tmp / "cases.csv").write_text(cases)
    args: list[str | Path] = ["lr", "--frequencies", TABLE, "--profiles",
                              EXAMPLES / "profiles.csv", "--cases", tmp / "cases.csv"]  # fmt: skip
    if families is not None:
        (tmp / "families.csv").write_text(HEADER + families)
        args += ["--families", tmp / "families.csv"]
    return [str(a) for a in (*args, *extra)]


def too_large() -> str:
    rows = ["K09,gf,,,M,K01-F,", "K09,gm,,,F,,"]
    rows += [f"K09,c{i},gf,gm,F,," for i in range(MAX_PERSONS - 2)]
    rows += ["K09,x,gf,gm,M,,1"]
    return "\n".join(rows) + "\n"


URN_TOO_LARGE = (
    "K10,gf,,,M,,\nK10,gm,,,F,,\nK10,mgf,,,M,,\nK10,mgm,,,F,,\nK10,father,gf,gm,M,,\n"
    "K10,uncle,gf,gm,M,,\nK10,mother,mgf,mgm,F,,\nK10,aunt,mgf,mgm,F,K04-S2,\n"
    "K10,wife,,,F,,\nK10,c1,uncle,wife,F,K04-HS,\nK10,c2,uncle,wife,M,K04-COUS,\n"
    "K10,son,father,mother,M,,1\n"
)
"""Twelve persons, 14 meioses: four untyped grandparents with two children each, the uncle's
untyped wife, the untyped uncle passing genes to both typed cousins (no compiled program)."""


def ped_with_bad_allele(tmp: Path) -> Path:
    path = tmp / "family.ped"
    path.write_text("id\tfid\tmid\tsex\tvWA\nfa\t0\t0\t1\t14/x\nmo\t0\t0\t2\t-/-\n"
                    "ch\tfa\tmo\t1\t-/-\n")  # fmt: skip
    return path


# name -> (families rows or None, cases text, extra arguments, texts the message must hold)
REFUSALS: dict[str, tuple[str | None, str, list[str], list[str]]] = {
    "unknown parent": (
        "K01,father,,,M,K01-F,\nK01,son,father,mum,M,,1\n",
        CASES,
        [],
        ["line 3", "'K01'", "'son'"],
    ),
    "own ancestor": (
        "K01,a,b,m,M,K01-F,\nK01,b,a,m,M,,\nK01,m,,,F,,\nK01,son,a,m,M,,1\n",
        CASES,
        [],
        ["'K01'", "ancestor"],
    ),
    "two missing": (
        K01.replace("K01,mother,,,F,K01-M,", "K01,mother,,,F,,1"),
        CASES,
        [],
        ["'K01'", "missing"],
    ),
    "no missing": (K01.replace("M,,1", "M,,"), CASES, [], ["'K01'", "missing"]),
    "father not male": (
        K01.replace("K01,father,,,M", "K01,father,,,F"),
        CASES,
        [],
        ["'K01'", "'father'"],
    ),
    "mother not female": (
        K01.replace("K01,mother,,,F", "K01,mother,,,M"),
        CASES,
        [],
        ["'K01'", "'mother'"],
    ),
    "typed without profile": (
        K01.replace("K01-M", "NOPE"),
        CASES,
        [],
        ["'K01'", "'mother'", "NOPE"],
    ),
    "disconnected": (K01 + "K01,stranger,,,M,K02-F,\n", CASES, [], ["'K01'", "'stranger'"]),
    "one sample in two roles": (
        K01 + "K01,sister,father,mother,F,K01-M,\n",
        CASES,
        [],
        ["'K01'", "K01-M"],
    ),
    "marriage loop": (
        K01 + "K01,sister,father,mother,F,,\nK01,inbred,son,sister,M,K02-F,\n",
        CASES,
        [],
        ["'K01'", "loop"],
    ),
    "too large": (too_large(), CASES.replace("K01", "K09"), [], ["'K09'", str(MAX_PERSONS)]),
    "sample swap": (
        "K05,mother,,,F,K01-M,\nK05,father,,,M,,\nK05,daughter,father,mother,F,"
        "K04-GF,\nK05,son,father,mother,M,,1\n",
        CASES.replace("K01", "K05"),
        [],
        ["'K05'", "'mother'", "'daughter'", "contradict"],
    ),
    "poi is a member": (K01, CASES.replace("U01", "K01-F"), [], ["line 2", "K01-F", "'K01'"]),
    "unknown family": (K01, CASES.replace("K01", "K77"), [], ["line 2", "'K77'"]),
    "family without --families": (None, CASES, [], ["line 2", "--families"]),
}


@pytest.fixture(scope="module")
def refusals(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[dict[str, tuple[subprocess.CompletedProcess[str], Path]]]:
    jobs = {}
    for name, (families, cases, extra, _) in REFUSALS.items():
        tmp = tmp_path_factory.mktemp(name.replace(" ", "-"))
        jobs[name] = (lr(tmp, families, cases, *extra), tmp)
    tmp = tmp_path_factory.mktemp("ped")
    jobs["ped bad allele"] = (lr(tmp, None, CASES, "--ped", ped_with_bad_allele(tmp),
                                 "--family-id", "K01", "--missing", "ch"), tmp)  # fmt: skip
    tmp = tmp_path_factory.mktemp("ped-args")
    jobs["ped without ids"] = (lr(tmp, None, CASES, "--ped", ped_with_bad_allele(tmp)), tmp)
    with ThreadPoolExecutor(2) as pool:
        futures = {name: pool.submit(run, *args) for name, (args, _) in jobs.items()}
        yield {name: (future.result(), jobs[name][1]) for name, future in futures.items()}


def genotypes_of_examples() -> set[str]:
    profiles = read_profiles(EXAMPLES / "profiles.csv")
    return {"/".join(g) for p in profiles.values() for g in p.genotypes.values()}


@pytest.mark.parametrize("name", [*REFUSALS, "ped bad allele", "ped without ids"])
def test_a_bad_family_is_refused_by_name(
    refusals: dict[str, tuple[subprocess.CompletedProcess[str], Path]], name: str
) -> None:
    done, tmp = refusals[name]
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr and done.stdout == ""
    wanted = REFUSALS[name][3] if name in REFUSALS else []
    if name == "ped bad allele":
        wanted = ["family.ped line 2", "'fa'", "vWA"]
    if name == "ped without ids":
        wanted = ["--family-id"]
    for text in wanted:
        assert text in done.stderr, (text, done.stderr)
    message = done.stderr.replace(str(tmp), "")
    quoted = {g for g in genotypes_of_examples() if re.search(rf"(?<![\d.]){re.escape(g)}(?![\d.])",
                                                               message)}  # fmt: skip
    assert not quoted, (quoted, done.stderr)


def test_too_many_untyped_founders_at_theta_is_a_case_error(tmp_path: Path) -> None:
    """At theta > 0 a family the compiled program does not cover and whose untyped founder
    genes exceed the limit is not computed: the case reports why (family, locus, the limit,
    what to do), exit 3, no traceback, no genotype; at theta 0 it is computed."""
    out = tmp_path / "out.jsonl"
    cases = CASES.replace("K01", "K10")
    done = run(*lr(tmp_path, URN_TOO_LARGE, cases, "--theta", "0.01", "--out", str(out)))
    assert done.returncode == 3, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    (record,) = [json.loads(line) for line in out.read_text().splitlines()]
    assert record["lr"] is None
    for text in ("family 'K10'", "locus", f"{MAX_URN_GENES + 2} untyped founder genes",
                 f"at most {MAX_URN_GENES}", "theta 0"):  # fmt: skip
        assert text in record["error"], record["error"]
    assert not {g for g in genotypes_of_examples() if g in record["error"] + done.stderr}
    done = run(*lr(tmp_path, URN_TOO_LARGE, cases, "--out", str(out)))
    assert done.returncode == 0, done.stderr
    assert json.loads(out.read_text())["lr"] > 0


def test_a_family_gives_the_trio_lr_and_names_its_family(tmp_path: Path) -> None:
    """K01's father and mother typed, their son missing: the family LR of U01 is the
    parents-child LR of the core, exactly; the verdict uses the parentage rule."""
    out = tmp_path / "out.jsonl"
    done = run(*lr(tmp_path, K01, CASES, "--out", str(out)))
    assert done.returncode == 0, done.stderr
    (record,) = [json.loads(line) for line in out.read_text().splitlines()]
    profiles = read_profiles(EXAMPLES / "profiles.csv")
    trio = kinship_lr("parents-child", {"child": profiles["U01"], "father": profiles["K01-F"],
                                        "mother": profiles["K01-M"]},
                      load_frequencies(TABLE))  # fmt: skip
    assert record["family_id"] == "K01" and record["relationship"] == "family"
    assert record["lr"] == pytest.approx(trio.lr, rel=1e-12)
    assert record["verdict"] == trio.verdict == "support"
    assert record["inconsistent_loci"] == list(trio.inconsistent_loci)


def test_a_ped_file_gives_the_same_lr_as_the_families_file(tmp_path: Path) -> None:
    """The K04 family of the examples written as pedtools writes it, its profiles inside."""
    profiles = read_profiles(EXAMPLES / "profiles.csv")
    family = read_families(EXAMPLES / "families.csv", profiles)["K04"]
    loci = sorted({locus for s in family.typed.values() for locus in profiles[s].genotypes})
    ped = tmp_path / "k04.ped"
    with ped.open("w") as handle:
        write_ped(handle, family, profiles, loci)
    cases = "case_id,relationship,poi,family_id\nc1,family,U04,K04\n"
    by_csv = tmp_path / "csv.jsonl"
    done = run("lr", "--frequencies", TABLE, "--profiles", EXAMPLES / "profiles.csv",
               "--families", EXAMPLES / "families.csv", "--cases", *_cases(tmp_path, cases),
               "--out", by_csv)  # fmt: skip
    assert done.returncode == 0, done.stderr
    only_poi = tmp_path / "poi.csv"
    only_poi.write_text("\n".join(
        line for line in (EXAMPLES / "profiles.csv").read_text().splitlines()
        if not line.startswith("K04")
    ) + "\n")  # fmt: skip
    by_ped = tmp_path / "ped.jsonl"
    done = run("lr", "--frequencies", TABLE, "--profiles", only_poi, "--ped", ped,
               "--family-id", "K04", "--missing", family.missing, "--cases",
               *_cases(tmp_path, cases), "--out", by_ped)  # fmt: skip
    assert done.returncode == 0, done.stderr
    first, second = (json.loads(path.read_text()) for path in (by_csv, by_ped))
    assert first["lr"] == pytest.approx(second["lr"], rel=1e-12) and first["lr"] > 1e6


def _cases(tmp: Path, text: str) -> list[Path]:
    path = tmp / "family-cases.csv"
    path.write_text(text)
    return [path]

"""Speed of the exact family LR: one POI against one family of each shape on 23 loci, stepwise
theta 0 (peeling), and with theta 0.01 both paternal grandparents (the compiled sum) and both
paternal grandparents + full sibling (peeling under the urn). The full table of shapes and
settings: ``benchmarks/family_lr.py``. Run: ``make bench``."""

from __future__ import annotations

from typing import Any

import pytest
from family_lr import KEYS, LOCI, SHAPES, TABLE, main, settings, simulate

from kinmatch import load_frequencies
from kinmatch.pedigree import Pedigree, pedigree_likelihood
from kinmatch.peeling import peeled_likelihood

FREQUENCIES = load_frequencies(TABLE)
SETTINGS = settings()
CASES = {name: simulate(name, rows, FREQUENCIES, LOCI, 1 + n)
         for n, (name, rows) in enumerate(SHAPES.items())}  # fmt: skip


@pytest.mark.parametrize("shape", list(SHAPES))
def test_family_lr_stepwise_23_loci(benchmark, shape: str) -> None:  # type: ignore[no-untyped-def]
    theta, mutation = SETTINGS["stepwise, theta 0"]
    result = benchmark(CASES[shape].lr, FREQUENCIES, theta, mutation)
    assert len(result.loci_compared) == 23 and result.lr > 1.0


def test_family_lr_stepwise_theta_23_loci(benchmark) -> None:  # type: ignore[no-untyped-def]
    theta, mutation = SETTINGS["stepwise, theta 0.01"]
    result = benchmark(CASES["both paternal grandparents"].lr, FREQUENCIES, theta, mutation)
    assert len(result.loci_compared) == 23 and result.lr > 1.0


def test_family_lr_branching_theta_23_loci(benchmark) -> None:  # type: ignore[no-untyped-def]
    theta, mutation = SETTINGS["stepwise, theta 0.01"]
    case = CASES["both paternal grandparents + full sibling"]
    assert case.theta_method(theta) == "peeled, 2 genes"
    result = benchmark(case.lr, FREQUENCIES, theta, mutation)
    assert len(result.loci_compared) == 23 and result.lr > 1.0


def test_family_lr_report_end_to_end(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--loci", "2", "--repeats", "1"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    values = dict(item.split("=") for item in lines[-1].split())
    assert list(values) == ["family_lr_ms_max", *KEYS]
    assert all(float(v) > 0 for v in values.values())
    rows = [line for line in lines if line.startswith("| ") and not line.startswith("| shape")]
    assert [row.split(" | ")[0][2:] for row in rows] == list(SHAPES)
    assert float(values["family_lr_ms_max"]) == max(float(values[key]) for key in KEYS)


def branching_locus(locus: str = "FGA") -> tuple[Pedigree, dict[str, tuple[int, int]], Any, Any]:
    """H1 of both paternal grandparents + full sibling at one locus, as the core takes it."""
    case = CASES["both paternal grandparents + full sibling"]
    people = {**{person: case.profiles[sample] for person, sample in case.family.typed.items()},
              "poi": case.poi}  # fmt: skip
    genotypes = {person: profile.genotypes[locus] for person, profile in people.items()}
    alleles = FREQUENCIES.locus_alleles(locus, (a for g in genotypes.values() for a in g))
    coded = {person: (alleles.index(g[0]), alleles.index(g[1])) for person, g in genotypes.items()}
    matrices = SETTINGS["stepwise, theta 0.01"][1].matrices(alleles)
    return case.family.pedigree(poi="poi"), coded, alleles.frequencies, matrices


@pytest.mark.benchmark(group="branching family: one locus, stepwise, theta 0.01")
@pytest.mark.parametrize("method", ["peeled", "core"])
def test_branching_family_one_locus(benchmark, method: str) -> None:  # type: ignore[no-untyped-def]
    """The ratio of the two is the gain of peeling under the urn over the core's 2^meioses
    sum on a family the compiled program does not cover (same run, same machine)."""
    pedigree, coded, p, matrices = branching_locus()
    compute = peeled_likelihood if method == "peeled" else pedigree_likelihood
    got = benchmark(compute, pedigree, coded, p, theta=0.01, matrices=matrices)
    assert got == pytest.approx(pedigree_likelihood(pedigree, coded, p, theta=0.01,
                                                    matrices=matrices), rel=1e-12)  # fmt: skip

"""``locus_lr`` against the brute-force twin in ``brute_force.py``, to 1e-12 relative.

The H1/H2 pedigrees below are written from the relationship definitions, independently of
:mod:`kinmatch.relationships`; typed persons carry their role names. H2 is the missing-person
H2: the person of interest (person2, the child, the trio's alleged father) unrelated, the
relatives with the ancestors H1 gives them.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest
from brute_force import Person, brute_force_consistent, brute_force_likelihood, polya_tensor
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from kinmatch import (
    AlleleFrequencies,
    CaseError,
    LocusLR,
    MutationModel,
    MutationModelError,
    MutationRates,
    locus_lr,
    mutation_matrix,
)
from kinmatch.alleles import make_genotype, sort_alleles
from kinmatch.pedigree import pedigree_likelihood_grid
from kinmatch.relationships import RELATIONSHIPS

LOCUS = "D8S1179"
KINDS = ("none", "equal", "proportional", "stepwise", "onestep")
Pedigrees = tuple[list[Person], list[Person]]


def other(sex: str) -> str:
    """The other sex."""
    return "F" if sex == "M" else "M"


def parent_child(sex: str = "M") -> Pedigrees:
    """H1: parent (sex ``sex``) and an untyped mate are the child's parents; H2: unrelated."""
    father, mother = ("parent", "mate") if sex == "M" else ("mate", "parent")
    h1 = [
        ("parent", sex, None, None),
        ("mate", other(sex), None, None),
        ("child", "M", father, mother),
    ]
    h2: list[Person] = [("parent", sex, None, None), ("child", "M", None, None)]
    return h1, h2


def paternity_trio(sex: str = "M") -> Pedigrees:
    """H1: parent (alleged father) and mother are the child's parents; H2: father untyped."""
    h1 = [
        ("parent", "M", None, None),
        ("mother", "F", None, None),
        ("child", "M", "parent", "mother"),
    ]
    h2 = [
        ("parent", "M", None, None),
        ("mother", "F", None, None),
        ("father", "M", None, None),
        ("child", "M", "father", "mother"),
    ]
    return h1, h2


def parents_child(sex: str = "M") -> Pedigrees:
    """H1: father and mother are the child's parents; H2: three unrelated founders."""
    h1 = [
        ("father", "M", None, None),
        ("mother", "F", None, None),
        ("child", "M", "father", "mother"),
    ]
    h2: list[Person] = [
        ("father", "M", None, None),
        ("mother", "F", None, None),
        ("child", "M", None, None),
    ]
    return h1, h2


UNRELATED: list[Person] = [("person1", "M", None, None), ("person2", "M", None, None)]


def full_siblings(sex: str = "M") -> Pedigrees:
    """Both persons are children of an untyped father and mother."""
    h1 = [
        ("father", "M", None, None),
        ("mother", "F", None, None),
        ("person1", "M", "father", "mother"),
        ("person2", "M", "father", "mother"),
    ]
    return h1, [*h1[:3], ("person2", "M", None, None)]


def half_siblings(sex: str = "M") -> Pedigrees:
    """Same untyped father, two different untyped mothers."""
    h1 = [
        ("father", "M", None, None),
        ("mother1", "F", None, None),
        ("mother2", "F", None, None),
        ("person1", "M", "father", "mother1"),
        ("person2", "M", "father", "mother2"),
    ]
    return h1, [h1[0], h1[1], h1[3], ("person2", "M", None, None)]


def grandparent(sex: str = "M") -> Pedigrees:
    """person1 is person2's paternal grandfather (person2's father and mother untyped)."""
    h1 = [
        ("person1", "M", None, None),
        ("grandmother", "F", None, None),
        ("father", "M", "person1", "grandmother"),
        ("mother", "F", None, None),
        ("person2", "M", "father", "mother"),
    ]
    return h1, list(UNRELATED)


def avuncular(sex: str = "M") -> Pedigrees:
    """person1 is a full brother of person2's untyped father."""
    h1 = [
        ("grandfather", "M", None, None),
        ("grandmother", "F", None, None),
        ("person1", "M", "grandfather", "grandmother"),
        ("father", "M", "grandfather", "grandmother"),
        ("mother", "F", None, None),
        ("person2", "M", "father", "mother"),
    ]
    return h1, [*h1[:3], ("person2", "M", None, None)]


def first_cousins(sex: str = "M") -> Pedigrees:
    """person1 and person2 are children of two full brothers (all others untyped)."""
    h1 = [
        ("grandfather", "M", None, None),
        ("grandmother", "F", None, None),
        ("father1", "M", "grandfather", "grandmother"),
        ("father2", "M", "grandfather", "grandmother"),
        ("mother1", "F", None, None),
        ("mother2", "F", None, None),
        ("person1", "M", "father1", "mother1"),
        ("person2", "M", "father2", "mother2"),
    ]
    return h1, [h1[0], h1[1], h1[2], h1[4], h1[6], ("person2", "M", None, None)]


@dataclass(frozen=True)
class Case:
    """A relationship's roles, its twin pedigrees and the largest allele count drawn."""

    roles: tuple[str, ...]
    pedigrees: Callable[[str], Pedigrees]
    max_n: int = 6


CASES: dict[str, Case] = {
    "parent-child": Case(("child", "parent"), parent_child),
    "paternity-trio": Case(("child", "parent", "mother"), paternity_trio),
    "parents-child": Case(("child", "father", "mother"), parents_child),
    "full-siblings": Case(("person1", "person2"), full_siblings),
    "half-siblings": Case(("person1", "person2"), half_siblings),
    "grandparent": Case(("person1", "person2"), grandparent),
    "avuncular": Case(("person1", "person2"), avuncular),
    "first-cousins": Case(("person1", "person2"), first_cousins, max_n=4),
}


@dataclass(frozen=True)
class Locus:
    """A drawn locus: sorted allele labels, their frequencies and the mutation parameters."""

    alleles: tuple[str, ...]
    p: np.ndarray
    theta: float
    kind: str
    paternal_rate: float
    maternal_rate: float
    rate2: float
    range_: float

    def frequencies(self) -> AlleleFrequencies:
        """The one-locus table handed to the library."""
        return AlleleFrequencies.from_dict(
            {LOCUS: dict(zip(self.alleles, self.p.tolist(), strict=True))}
        )

    def model(self) -> MutationModel:
        """The library's mutation model."""
        if self.kind == "none":
            return MutationModel()
        rates = MutationRates.uniform(
            self.paternal_rate, paternal=self.paternal_rate, maternal=self.maternal_rate
        )
        return MutationModel(self.kind, rates, rate2=self.rate2, range=self.range_)

    def matrices(self) -> tuple[np.ndarray | None, np.ndarray | None]:
        """The twin's (paternal, maternal) matrices; None, None without mutation."""
        if self.kind == "none":
            return None, None
        paternal, maternal = (
            mutation_matrix(
                self.kind, self.alleles, self.p, rate, rate2=self.rate2, range_=self.range_
            )
            for rate in (self.paternal_rate, self.maternal_rate)
        )
        return paternal, maternal


def labels(draw: st.DrawFn, n: int, integers_only: bool) -> list[str]:
    """``n`` distinct canonical allele labels, often consecutive so onestep has neighbours."""
    if draw(st.booleans()):
        start = draw(st.integers(5, 26 - n))
        values = [str(v) for v in range(start, start + n)]
    else:
        values = [
            str(v) for v in draw(st.lists(st.integers(5, 25), min_size=n, max_size=n, unique=True))
        ]
    if not integers_only and draw(st.booleans()):
        micro = draw(st.sets(st.integers(0, n - 1), min_size=1, max_size=max(1, n // 2)))
        for k in micro:
            candidate = f"{draw(st.integers(5, 25))}.{draw(st.integers(1, 3))}"
            if candidate not in values:
                values[k] = candidate
    return sort_alleles(values)


@st.composite
def loci(draw: st.DrawFn, max_n: int = 6) -> Locus:
    """A random locus: alleles, frequencies (each >= 0.01), theta and mutation model."""
    n = draw(st.integers(2, max_n))
    kind = draw(st.sampled_from(KINDS))
    alleles = labels(draw, n, integers_only=kind == "onestep")
    weights = np.array(draw(st.lists(st.floats(1.0, 10.0), min_size=n, max_size=n)))
    p = weights / weights.sum()
    theta = draw(st.one_of(st.just(0.0), st.floats(0.0, 0.3)))
    paternal_rate = draw(st.floats(0.0, 0.1))
    maternal_rate = draw(st.floats(0.0, 0.1))
    if kind != "none":
        assume(paternal_rate != maternal_rate)
    rate2 = draw(st.floats(0.0, 0.05))
    range_ = draw(st.floats(0.1, 1.0))
    return Locus(tuple(alleles), p, theta, kind, paternal_rate, maternal_rate, rate2, range_)


def check(
    relationship: str,
    locus: Locus,
    genotypes: dict[str, tuple[int, int] | None],
    sex: str = "M",
) -> None:
    """Assert ``locus_lr`` h1/h2 equal the twin's H1/H2 (or both refuse an impossible H2)."""
    try:
        paternal, maternal = locus.matrices()
    except MutationModelError:
        if locus.kind != "proportional":
            raise
        assume(False)  # an impossible proportional matrix: the library refuses it too
        raise
    typed = {role: g for role, g in genotypes.items() if g is not None}
    h1_ped, h2_ped = CASES[relationship].pedigrees(sex)
    h1, h2 = (
        brute_force_likelihood(
            ped, typed, locus.p, theta=locus.theta, paternal=paternal, maternal=maternal
        )
        for ped in (h1_ped, h2_ped)
    )
    consistent = brute_force_consistent(h1_ped, h2_ped, typed, locus.p)

    named = {
        role: None if g is None else make_genotype(locus.alleles[g[0]], locus.alleles[g[1]])
        for role, g in genotypes.items()
    }

    def library() -> LocusLR:
        return locus_lr(
            relationship,
            LOCUS,
            named,
            locus.frequencies(),
            theta=locus.theta,
            mutation=locus.model(),
            transmitter_sex=sex,
        )

    event(f"model {locus.kind}")
    event("theta > 0" if locus.theta > 0 else "theta 0")
    event("microvariants" if any("." in a for a in locus.alleles) else "integer alleles")
    event("H1 consistent" if consistent else "H1 excluded without mutation")
    if h2 == 0.0:
        event("H2 impossible: CaseError")
        with pytest.raises(CaseError):
            library()
        return
    result = library()
    detail = f"{relationship} {locus} {named} sex={sex}: library {result}, twin h1={h1} h2={h2}"
    assert result.compared, detail
    assert math.isclose(result.h1, h1, rel_tol=1e-12, abs_tol=1e-300), detail
    assert math.isclose(result.h2, h2, rel_tol=1e-12, abs_tol=1e-300), detail
    assert math.isclose(result.lr, result.h1 / result.h2, rel_tol=1e-15), detail
    assert result.consistent is consistent, detail


def genotype(n: int) -> st.SearchStrategy[tuple[int, int]]:
    """A random (unordered) genotype as two allele indices below ``n``."""
    return st.tuples(st.integers(0, n - 1), st.integers(0, n - 1))


# KINMATCH_TWIN_EXAMPLES raises the number of examples per test for a long hunt.
MAX_EXAMPLES = int(os.environ.get("KINMATCH_TWIN_EXAMPLES", "400"))
SETTINGS = settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


@pytest.mark.parametrize("relationship", list(CASES))
@SETTINGS
@given(data=st.data())
def test_library_matches_brute_force(relationship: str, data: st.DataObject) -> None:
    """h1 and h2 of every relationship with every role typed equal the twin's."""
    case = CASES[relationship]
    locus = data.draw(loci(case.max_n), label="locus")
    n = len(locus.alleles)
    genotypes: dict[str, tuple[int, int] | None] = {
        role: data.draw(genotype(n), label=role) for role in case.roles
    }
    sex = data.draw(st.sampled_from("MF"), label="sex") if relationship == "parent-child" else "M"
    check(relationship, locus, genotypes, sex)


@pytest.mark.parametrize(
    ("relationship", "untyped"),
    [("paternity-trio", "mother"), ("parents-child", "father"), ("parents-child", "mother")],
)
@SETTINGS
@given(data=st.data())
def test_untyped_role_matches_brute_force(
    relationship: str, untyped: str, data: st.DataObject
) -> None:
    """An untyped third person is untyped in both pedigrees of the twin."""
    case = CASES[relationship]
    locus = data.draw(loci(case.max_n), label="locus")
    n = len(locus.alleles)
    genotypes: dict[str, tuple[int, int] | None] = {
        role: None if role == untyped else data.draw(genotype(n), label=role) for role in case.roles
    }
    check(relationship, locus, genotypes)


# Fixed values of the twin itself.

P3 = np.array([0.2, 0.3, 0.5])


@pytest.mark.parametrize("sex", ["M", "F"])
def test_twin_paternity_index(sex: str) -> None:
    """Child a/b, parent a/c, no mutation, theta 0: LR = 1 / (4 p_a)."""
    h1_ped, h2_ped = parent_child(sex)
    typed = {"child": (0, 1), "parent": (0, 2)}
    h1 = brute_force_likelihood(h1_ped, typed, P3)
    h2 = brute_force_likelihood(h2_ped, typed, P3)
    assert h2 == pytest.approx(2 * 0.2 * 0.3 * 2 * 0.2 * 0.5, rel=1e-14)
    assert h1 / h2 == pytest.approx(1 / (4 * 0.2), rel=1e-14)


def test_twin_full_siblings_homozygous() -> None:
    """Full siblings both a/a: LR = 1/4 + 1/(2 p_a) + 1/(4 p_a^2)."""
    h1_ped, h2_ped = full_siblings()
    typed = {"person1": (1, 1), "person2": (1, 1)}
    lr = brute_force_likelihood(h1_ped, typed, P3) / brute_force_likelihood(h2_ped, typed, P3)
    pa = 0.3
    assert lr == pytest.approx(1 / 4 + 1 / (2 * pa) + 1 / (4 * pa**2), rel=1e-14)


@pytest.mark.parametrize(
    ("relationship", "kappa"),
    [("half-siblings", 0.5), ("grandparent", 0.5), ("avuncular", 0.5), ("first-cousins", 0.25)],
)
def test_twin_kappa1_pairs(relationship: str, kappa: float) -> None:
    """Pairs with kappa2 = 0, both a/b: LR = 1 - kappa1 + kappa1 (p_a + p_b) / (4 p_a p_b)."""
    h1_ped, h2_ped = CASES[relationship].pedigrees("M")
    typed = {"person1": (0, 1), "person2": (0, 1)}
    lr = brute_force_likelihood(h1_ped, typed, P3) / brute_force_likelihood(h2_ped, typed, P3)
    pa, pb = 0.2, 0.3
    assert lr == pytest.approx(1 - kappa + kappa * (pa + pb) / (4 * pa * pb), rel=1e-14)


def test_twin_theta_single_person() -> None:
    """One founder under theta: P(a/a) = p_a (theta + (1 - theta) p_a).

    P(a/b) = 2 (1 - theta) p_a p_b.
    """
    theta = 0.1
    ped: list[Person] = [("x", "M", None, None)]
    homozygote = brute_force_likelihood(ped, {"x": (2, 2)}, P3, theta=theta)
    heterozygote = brute_force_likelihood(ped, {"x": (0, 2)}, P3, theta=theta)
    assert homozygote == pytest.approx(0.5 * (theta + (1 - theta) * 0.5), rel=1e-14)
    assert heterozygote == pytest.approx(2 * (1 - theta) * 0.2 * 0.5, rel=1e-14)


def test_twin_polya_is_a_distribution() -> None:
    """The founder tensor sums to 1 and its one-draw marginals are p (exchangeability)."""
    tensor = polya_tensor(P3, 4, 0.2)
    assert tensor.sum() == pytest.approx(1.0, rel=1e-14)
    for axis in range(4):
        others = tuple(a for a in range(4) if a != axis)
        np.testing.assert_allclose(tensor.sum(axis=others), P3, rtol=1e-14)


def test_twin_mutation_in_a_duo() -> None:
    """Child a/a, father b/b, paternal rate r only: H1 = p_b^2 r p_a."""
    r = 0.01
    p = np.array([0.4, 0.6])
    paternal = np.array([[1 - r, r], [r, 1 - r]])
    h1_ped, _ = parent_child("M")
    h1 = brute_force_likelihood(h1_ped, {"child": (0, 0), "parent": (1, 1)}, p, paternal=paternal)
    assert h1 == pytest.approx(0.6**2 * r * 0.4, rel=1e-14)


GRID_CASES = [(name, role) for name, case in CASES.items() for role in case.roles]


@pytest.mark.parametrize(("relationship", "free"), GRID_CASES)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_grid_matches_brute_force(relationship: str, free: str, data: st.DataObject) -> None:
    """pedigree_likelihood_grid: every genotype of the free person at once equals the twin."""
    case = CASES[relationship]
    locus = data.draw(loci(min(case.max_n, 4)), label="locus")
    try:
        paternal, maternal = locus.matrices()
    except MutationModelError:
        assume(False)
        raise
    n = len(locus.alleles)
    sex = data.draw(st.sampled_from(["M", "F"]), label="sex")
    fixed = {role: data.draw(genotype(n), label=role) for role in case.roles if role != free}
    matrices = None if paternal is None or maternal is None else (paternal, maternal)
    library_peds = RELATIONSHIPS[relationship].pedigrees(sex)
    for library_ped, twin_ped in zip(library_peds, case.pedigrees(sex), strict=True):
        grid = pedigree_likelihood_grid(library_ped, fixed, free, locus.p, theta=locus.theta,
                                        matrices=matrices)  # fmt: skip
        for a in range(n):
            for b in range(a, n):
                unordered = grid[a, b] + grid[b, a] if a != b else grid[a, a]
                twin = brute_force_likelihood(
                    twin_ped, {**fixed, free: (a, b)}, locus.p, theta=locus.theta,
                    paternal=paternal, maternal=maternal,
                )  # fmt: skip
                assert math.isclose(unordered, twin, rel_tol=1e-12, abs_tol=1e-300)

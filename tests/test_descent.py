"""The compiled likelihood grids (gene-descent programs) against the core's, to 1e-12."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_peeling import loci, pedigrees

from kinmatch.descent import descent_likelihood, descent_likelihood_grid, descent_program
from kinmatch.pedigree import Pedigree, Person, pedigree_likelihood, pedigree_likelihood_grid
from kinmatch.relationships import RELATIONSHIPS, SEARCHABLE, get_relationship

THETAS = [0.0, 0.01, 0.03, 0.2]


def check(
    pedigree: Pedigree,
    typed: dict[str, tuple[int, int]],
    free: str,
    p: np.ndarray,
    theta: float,
    matrices: tuple[np.ndarray, np.ndarray] | None,
) -> bool:
    """Whether the program covers the pedigree; where it does, its grid and its likelihood of
    the typed persons without the free one are the core's."""
    got = descent_likelihood_grid(pedigree, typed, free, p, theta=theta, matrices=matrices)
    alone = descent_likelihood(pedigree, typed, p, theta=theta, matrices=matrices)
    if got is None:
        return False
    core = pedigree_likelihood_grid(pedigree, typed, free, p, theta=theta, matrices=matrices)
    np.testing.assert_allclose(got, core, rtol=1e-12, atol=1e-300)  # subnormals round
    if alone is not None:
        core_alone = pedigree_likelihood(pedigree, typed, p, theta=theta, matrices=matrices)
        assert alone == pytest.approx(core_alone, rel=1e-12, abs=1e-300)
    return True


def genotype(n: int) -> st.SearchStrategy[tuple[int, int]]:
    pair = st.lists(st.integers(0, n - 1), min_size=2, max_size=2)
    return pair.map(lambda alleles: (min(alleles), max(alleles)))


@pytest.mark.parametrize(
    ("relationship", "free"),
    [(name, role) for name, rel in RELATIONSHIPS.items() for role in rel.roles],
)
@settings(max_examples=15, deadline=None)
@given(data=st.data())
def test_relationship_grids_equal_the_core(
    relationship: str, free: str, data: st.DataObject
) -> None:
    """Every hypothesis of every relationship, any free role, the rest typed or not, with
    theta, with and without sex-specific mutation matrices."""
    p, matrices = data.draw(loci(6))
    p = p * data.draw(st.sampled_from([1.0, 0.9, 1.1]))  # allele sets off one, as the core
    theta = data.draw(st.sampled_from(THETAS))
    rel = get_relationship(relationship)
    others = [role for role in rel.roles if role != free]
    typed_roles = data.draw(st.lists(st.sampled_from(others), unique=True, min_size=1))
    typed = {role: data.draw(genotype(len(p))) for role in typed_roles}
    for pedigree in rel.pedigrees(data.draw(st.sampled_from("MF"))):
        assert check(pedigree, typed, free, p, theta, matrices)


@pytest.mark.parametrize("relationship", SEARCHABLE)
def test_every_searched_relationship_is_covered(relationship: str) -> None:
    """The search's grids never fall back to the core (the duo has its closed form too)."""
    rel = get_relationship(relationship)
    for pedigree in rel.pedigrees():
        for free in rel.roles:
            query = tuple(sorted(role for role in rel.roles if role != free))
            for theta in THETAS:
                assert descent_program(pedigree, query, free, theta) is not None
                assert descent_program(pedigree, query, None, theta) is not None


@settings(max_examples=120, deadline=None)
@given(pedigrees(max_persons=6), st.data())
def test_random_pedigrees_equal_the_core_or_are_left_to_it(
    persons: list[tuple[str, str, str | None, str | None]], data: st.DataObject
) -> None:
    """Random pedigrees (inbreeding and loops included): the program equals the core where
    every branch below a founder gene is a simple path, and declines the others."""
    pedigree = Pedigree(tuple(Person(*person) for person in persons))
    names = list(pedigree.names)
    free = data.draw(st.sampled_from(names))
    p, matrices = data.draw(loci(4))
    theta = data.draw(st.sampled_from(THETAS))
    others = [name for name in names if name != free]
    typed_names = data.draw(st.lists(st.sampled_from(others), unique=True, max_size=3)) \
        if others else []  # fmt: skip
    typed = {name: data.draw(genotype(len(p))) for name in typed_names}
    check(pedigree, typed, free, p, theta, matrices)


def test_declines_a_branching_untyped_ancestor() -> None:
    """Two typed grandchildren through one untyped non-founder: that copy branches, so the
    core computes it."""
    pedigree = Pedigree((
        Person("gf", "M"), Person("gm", "F"), Person("father", "M", "gf", "gm"),
        Person("m1", "F"), Person("m2", "F"),
        Person("a", "M", "father", "m1"), Person("b", "M", "father", "m2"),
        Person("c", "M", "father", "m1"),
    ))  # fmt: skip
    assert descent_program(pedigree, ("a", "b"), "c", 0.0) is None


def test_full_siblings_textbook_values() -> None:
    """Full siblings without theta or mutation: P(both {a, b}) / P(unrelated) is
    (1 + p_a + p_b + 2 p_a p_b) / (8 p_a p_b) (kappa = 1/4, 1/2, 1/4; Evett & Weir 1998)."""
    p = np.array([0.1, 0.2, 0.7])
    h1, h2 = get_relationship("full-siblings").pedigrees()
    typed = {"person1": (0, 1)}
    g1 = descent_likelihood_grid(h1, typed, "person2", p)
    g2 = descent_likelihood_grid(h2, typed, "person2", p)
    assert g1 is not None and g2 is not None
    lr = (g1[0, 1] + g1[1, 0]) / (g2[0, 1] + g2[1, 0])
    pa, pb = p[0], p[1]
    assert lr == pytest.approx((1 + pa + pb + 2 * pa * pb) / (8 * pa * pb), rel=1e-12)

"""Peeling (variable elimination) against the brute-force twin and the core, theta 0 and
theta > 0 (the urn's set partitions of the untyped founder genes)."""

from __future__ import annotations

import numpy as np
import pytest
from brute_force import Person as TwinPerson
from brute_force import brute_force_likelihood
from hypothesis import assume, event, given, settings, target
from hypothesis import strategies as st
from test_family_lr import Shape, shapes

from kinmatch import descent
from kinmatch.pedigree import Pedigree, Person, pedigree_likelihood
from kinmatch.peeling import MAX_URN_GENES, _partition_orbits, peeled_likelihood, urn_genes


@st.composite
def pedigrees(draw: st.DrawFn, max_persons: int = 7) -> list[TwinPerson]:
    """Persons parents first; a non-founder's parents are any earlier man and woman, so
    inbreeding and loops occur."""
    persons: list[TwinPerson] = []
    for i in range(draw(st.integers(1, max_persons))):
        sex = draw(st.sampled_from("MF"))
        men = [name for name, s, _, _ in persons if s == "M"]
        women = [name for name, s, _, _ in persons if s == "F"]
        if men and women and draw(st.booleans()):
            persons.append((f"p{i}", sex, draw(st.sampled_from(men)), draw(st.sampled_from(women))))
        else:
            persons.append((f"p{i}", sex, None, None))
    return persons


@st.composite
def loci(draw: st.DrawFn, largest: int) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray] | None]:
    n = draw(st.integers(1, largest))
    weights = np.array(draw(st.lists(st.floats(0.05, 1.0), min_size=n, max_size=n)))
    matrices = None
    if draw(st.booleans()):
        raw = np.array(draw(st.lists(st.floats(0.0, 1.0), min_size=2 * n * n,
                                     max_size=2 * n * n))).reshape(2, n, n)  # fmt: skip
        raw += np.eye(n) * draw(st.floats(0.0, 20.0))
        raw += 1e-3
        matrices = (raw[0] / raw[0].sum(1, keepdims=True), raw[1] / raw[1].sum(1, keepdims=True))
    return weights / weights.sum(), matrices


THETAS = st.sampled_from([0.0, 0.0, 0.01, 0.3])


@settings(max_examples=400, deadline=None)
@given(pedigrees(), THETAS, st.data())
def test_peeling_equals_the_brute_force_and_the_core(
    persons: list[TwinPerson], theta: float, data: st.DataObject
) -> None:
    # the twin's tensor has n^(2 persons) entries: at most 4^10
    largest = max(n for n in range(1, 5) if n ** (2 * len(persons)) <= 4**10)
    p, matrices = data.draw(loci(largest))
    n = len(p)
    names = [name for name, _, _, _ in persons]
    typed_names = data.draw(st.lists(st.sampled_from(names), unique=True, max_size=4))
    typed = {
        name: tuple(sorted(data.draw(st.lists(st.integers(0, n - 1), min_size=2, max_size=2))))
        for name in typed_names
    }
    paternal, maternal = matrices if matrices is not None else (None, None)
    twin = brute_force_likelihood(persons, typed, p, theta=theta, paternal=paternal,
                                  maternal=maternal)  # fmt: skip
    got = peeled_likelihood(Pedigree(tuple(Person(*person) for person in persons)), typed, p,
                            theta=theta, matrices=matrices)  # fmt: skip
    assert got == pytest.approx(twin, rel=1e-12, abs=1e-300)
    if len(persons) <= 5:  # the core enumerates 2^meioses inheritance vectors
        core = pedigree_likelihood(Pedigree(tuple(Person(*person) for person in persons)), typed,
                                   p, theta=theta, matrices=matrices)  # fmt: skip
        assert got == pytest.approx(core, rel=1e-12, abs=1e-300)


@settings(max_examples=200, deadline=None)
@given(pedigrees(max_persons=5), st.floats(0.9, 1.1), THETAS, st.data())
def test_frequencies_off_one_as_the_core(
    persons: list[TwinPerson], total: float, theta: float, data: st.DataObject
) -> None:
    """Frequencies that do not sum to 1: the core counts a gene no typed person inherits as
    1, and so does peeling (its phantom allele)."""
    p, matrices = data.draw(loci(4))
    p = p * total
    names = [name for name, _, _, _ in persons]
    typed_names = data.draw(st.lists(st.sampled_from(names), unique=True, max_size=3))
    n = len(p)
    typed = {
        name: tuple(sorted(data.draw(st.lists(st.integers(0, n - 1), min_size=2, max_size=2))))
        for name in typed_names
    }
    pedigree = Pedigree(tuple(Person(*person) for person in persons))
    got = peeled_likelihood(pedigree, typed, p, theta=theta, matrices=matrices)
    core = pedigree_likelihood(pedigree, typed, p, theta=theta, matrices=matrices)
    assert got == pytest.approx(core, rel=1e-12, abs=1e-300)


def test_a_fourteen_person_pedigree_equals_the_core() -> None:
    """Three generations, 16 meioses: 2^16 inheritance vectors for the core, a few factors of
    at most four genes for peeling."""
    persons = [("gf", "M", None, None), ("gm", "F", None, None)]
    for k in range(4):
        persons += [(f"c{k}", "M" if k % 2 == 0 else "F", "gf", "gm")]
        persons += [(f"s{k}", "F" if k % 2 == 0 else "M", None, None)]
    for k in range(4):
        father, mother = (f"c{k}", f"s{k}") if k % 2 == 0 else (f"s{k}", f"c{k}")
        persons += [(f"g{k}", "M", father, mother)]
    p = np.array([0.1, 0.2, 0.3, 0.4])
    raw = np.eye(4) * 10 + 0.5
    matrices = (raw / raw.sum(1, keepdims=True), (raw + np.eye(4)) / (raw + np.eye(4)).sum(1))
    typed = {"g0": (0, 1), "g1": (1, 2), "g2": (0, 2), "g3": (3, 3), "c1": (1, 3)}
    pedigree = Pedigree(tuple(Person(*person) for person in persons))
    got = peeled_likelihood(pedigree, typed, p, matrices=matrices)
    core = pedigree_likelihood(pedigree, typed, p, matrices=matrices)
    assert got == pytest.approx(core, rel=1e-12)


def test_a_branch_below_an_untyped_person_is_peeled_at_theta() -> None:
    """Both paternal grandparents and a full sibling: the untyped father's gene reaches both
    children, which the compiled program does not cover. ``descent.likelihood`` then peels
    under the urn, and equals the core."""
    persons = [("gf", "M", None, None), ("gm", "F", None, None), ("father", "M", "gf", "gm"),
               ("mother", "F", None, None), ("sib", "F", "father", "mother"),
               ("child", "M", "father", "mother")]  # fmt: skip
    pedigree = Pedigree(tuple(Person(*person) for person in persons))
    typed = {"gf": (0, 1), "gm": (2, 3), "sib": (1, 4), "child": (1, 2)}
    p = np.array([0.1, 0.15, 0.2, 0.25, 0.3])
    raw = np.eye(5) * 30 + 1.0
    matrices = (raw / raw.sum(1, keepdims=True), raw / raw.sum(1, keepdims=True))
    want = pedigree_likelihood(pedigree, typed, p, theta=0.05, matrices=matrices)
    assert descent.descent_program(pedigree, tuple(sorted(typed)), None, 0.05) is None
    got = descent.likelihood(pedigree, typed, p, theta=0.05, matrices=matrices)
    peeled = peeled_likelihood(pedigree, typed, p, theta=0.05, matrices=matrices)
    assert got == peeled
    assert got == pytest.approx(want, rel=1e-12)


@pytest.mark.parametrize(
    ("typed", "want"),
    [
        ({"mother", "uncle", "child"}, 5),  # grandparents 2 + 2, the father one gene
        ({"mother", "child"}, 3),  # the uncle dropped: the grandparents one child each
        ({"gf", "child"}, 2),  # a typed founder draws none: the grandmother 1, the father 1
        ({"uncle"}, 2),  # the uncle's parents only, one child each once the rest is dropped
    ],
)
def test_urn_genes_counts_the_founder_genes_that_reach_a_typed_person(
    typed: set[str], want: int
) -> None:
    persons = [("gf", "M", None, None), ("gm", "F", None, None), ("mother", "F", "gf", "gm"),
               ("uncle", "M", "gf", "gm"), ("father", "M", None, None),
               ("child", "M", "father", "mother"), ("spouse", "F", None, None)]  # fmt: skip
    assert urn_genes(Pedigree(tuple(Person(*person) for person in persons)), typed) == want


def test_partition_orbits_are_the_multiset_partitions() -> None:
    """Up to swapping each founder's two genes, the set partitions of k founders' genes are
    the partitions of the multiset {1, 1, 2, 2, ..., k, k} (OEIS A020555: 2, 9, 66, 712,
    10457), and the orbits' sizes add up to the Bell numbers (2, 15, 203, 4140, 115975)."""
    for k, orbits, bell in [(1, 2, 2), (2, 9, 15), (3, 66, 203), (4, 712, 4140)]:
        genes = [(f"f{i}", slot) for i in range(k) for slot in (0, 1)]
        found = _partition_orbits(genes)
        assert len(found) == orbits and sum(size for _, size in found) == bell


@settings(max_examples=600, deadline=None)
@given(shapes(max_persons=10), st.data())
def test_every_family_of_ten_persons_is_computed_at_theta(
    shape: Shape, data: st.DataObject
) -> None:
    """A family of at most 10 persons and 12 meioses is never refused at theta > 0, whoever
    is typed at a locus: where the compiled program does not cover it, its urn has at most
    MAX_URN_GENES genes. (Why: an urn gene needs a parent-child link of its own (a founder
    with two genes has two children or more), so 9 genes need 5 founders or more and 9 of
    the at most 2 x 5 links of their 5 non-founders; the program fails on an untyped
    non-founder with two children, 2 links more, or on a program over MAX_TERMS. Random
    families rarely come near: this checks the argument where they do.)"""
    meioses = 2 * sum(1 for _, _, father, _ in shape.persons if father is not None)
    assume(meioses <= 12)
    family = shape.family()
    typed = data.draw(st.sets(st.sampled_from(shape.typed), min_size=1)) | {"poi"}
    h1 = family.pedigree(poi="poi")
    h2 = Pedigree((*family.pedigree().persons, Person("poi", "M")))
    genes = {pedigree: urn_genes(pedigree, typed) for pedigree in (h1, h2)}
    event(f"{genes[h1]} urn genes")
    target(float(genes[h1]))  # steer the search toward large urns
    for pedigree in (h1, h2):
        if genes[pedigree] > MAX_URN_GENES:
            assert descent.descent_program(pedigree, tuple(sorted(typed)), None, 0.01) is not None

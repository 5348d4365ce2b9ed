"""The closed-form duo grids against the core's pedigree likelihood grids."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kinmatch.duo import duo_grids
from kinmatch.kernels.tables import couple_parent_rows, duo_row
from kinmatch.pedigree import pedigree_likelihood, pedigree_likelihood_grid
from kinmatch.relationships import get_relationship
from kinmatch.tables import child_alone


def core_grids(
    p: np.ndarray, theta: float, matrices: tuple[np.ndarray, np.ndarray] | None, sex: str,
    typed: dict[str, tuple[int, int]], free: str,
) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    def unordered(grid: np.ndarray) -> np.ndarray:
        return grid + grid.T - np.diag(np.diag(grid))

    h1, h2 = get_relationship("parent-child").pedigrees(sex)
    return tuple(  # type: ignore[return-value]
        unordered(pedigree_likelihood_grid(ped, typed, free, p, theta=theta, matrices=matrices))
        for ped in (h1, h2)
    )


@st.composite
def cases(draw: st.DrawFn) -> tuple[object, ...]:
    n = draw(st.integers(2, 7))
    weights = np.array(draw(st.lists(st.floats(0.05, 1.0), min_size=n, max_size=n)))
    p = weights / weights.sum()
    theta = draw(st.sampled_from([0.0, 0.01, 0.03, 0.2]))
    matrices = None
    if draw(st.booleans()):
        raw = np.array(draw(st.lists(st.floats(0.0, 1.0), min_size=2 * n * n,
                                     max_size=2 * n * n))).reshape(2, n, n)  # fmt: skip
        raw += np.eye(n) * draw(st.floats(1.0, 50.0))  # mostly faithful, like real models
        matrices = (raw[0] / raw[0].sum(1, keepdims=True), raw[1] / raw[1].sum(1, keepdims=True))
    genotype = tuple(sorted(draw(st.lists(st.integers(0, n - 1), min_size=2, max_size=2))))
    return p, theta, matrices, draw(st.sampled_from("MF")), genotype


@settings(max_examples=150, deadline=None)
@given(cases(), st.sampled_from(["child", "parent"]))
def test_duo_grids_equal_the_core(case: tuple[object, ...], query: str) -> None:
    p, theta, matrices, sex, genotype = case
    assert isinstance(p, np.ndarray) and isinstance(theta, float) and isinstance(sex, str)
    free = "parent" if query == "child" else "child"
    expected = core_grids(p, theta, matrices, sex, {query: genotype}, free)  # type: ignore[arg-type]
    parent_matrix = mate_matrix = None
    if matrices is not None:
        paternal, maternal = matrices  # type: ignore[misc]
        parent_matrix, mate_matrix = (paternal, maternal) if sex == "M" else (maternal, paternal)
    got = duo_grids(p, theta=theta, parent_matrix=parent_matrix, mate_matrix=mate_matrix,
                    **{query: genotype})  # type: ignore[arg-type]  # fmt: skip
    for ours, core in zip(got, expected, strict=True):
        np.testing.assert_allclose(ours, core, rtol=1e-12, atol=1e-300)  # subnormals round
        assert np.array_equal(ours, ours.T)


@settings(max_examples=150, deadline=None)
@given(cases(), st.sampled_from(["child", "parent"]), st.data())
def test_compiled_rows_equal_the_core(
    case: tuple[object, ...], query: str, data: st.DataObject
) -> None:
    """The score-table kernels (one code at a time, the founder factor cancelled) give the
    core's log10 LR for every code, to 1e-12; codes with an allele outside the set are left
    alone."""
    p, theta, matrices, sex, genotype = case
    assert isinstance(p, np.ndarray) and isinstance(theta, float) and isinstance(sex, str)
    n = len(p)
    free = "parent" if query == "child" else "child"
    h1, h2 = core_grids(p, theta, matrices, sex, {query: genotype}, free)  # type: ignore[arg-type]
    eye = np.eye(n)
    paternal, maternal = matrices if matrices is not None else (eye, eye)  # type: ignore[misc]
    own, mate = (paternal, maternal) if sex == "M" else (maternal, paternal)
    codes = data.draw(st.lists(st.tuples(st.integers(-1, n - 1), st.integers(-1, n - 1)),
                               min_size=1, max_size=30))  # fmt: skip
    lo = np.array([c[0] for c in codes], dtype=np.int64)
    hi = np.array([c[1] for c in codes], dtype=np.int64)
    row = np.full(len(codes) + 1, 7.0)
    p_mate = (1 - theta) * (p @ mate)
    zeros = duo_row(p, theta, own, mate, p_mate, *genotype, query == "child", lo, hi, row)
    assert zeros == int(sum(h2[a, b] == 0.0 for a, b in codes if a >= 0 and b >= 0))
    assert row[0] == 7.0
    for k, (a, b) in enumerate(codes):
        if a < 0 or b < 0:
            assert row[k + 1] == 7.0
        elif h1[a, b] == 0.0:
            assert row[k + 1] == -np.inf
        else:
            assert row[k + 1] == pytest.approx(np.log10(h1[a, b] / h2[a, b]), rel=1e-12, abs=1e-12)
    transmit = np.zeros((len(codes) + 1, 2))
    count = np.zeros((len(codes) + 1, 2), dtype=np.uint8)
    rare = np.zeros(len(codes) + 1, dtype=np.uint8)
    couple_parent_rows(own, genotype[0], genotype[1], lo, hi, transmit, count, rare)
    for k, (a, b) in enumerate(codes):
        assert rare[k + 1] == (a < 0 or b < 0)
        if a >= 0 and b >= 0:
            for j, c in enumerate(genotype):
                assert transmit[k + 1, j] == (own[a, c] + own[b, c]) / 2
                assert count[k + 1, j] == (a == c) + (b == c)


def test_textbook_duo_without_theta() -> None:
    """The parent-child indices of the design notes: child a/b and parent a/c give
    1/(4 p_a); child a/a and parent a/c 1/(2 p_a); child a/b and parent a/b
    (p_a + p_b)/(4 p_a p_b); child a/b and parent c/d 0."""
    p = np.array([0.1, 0.2, 0.3, 0.4])
    lr = {}
    for child in ((0, 1), (0, 0)):
        h1, h2 = duo_grids(p, theta=0.0, parent_matrix=None, mate_matrix=None, child=child)
        lr[child] = h1 / h2
    assert np.isclose(lr[0, 1][0, 2], 1 / (4 * 0.1), rtol=1e-14)
    assert np.isclose(lr[0, 0][0, 2], 1 / (2 * 0.1), rtol=1e-14)
    assert np.isclose(lr[0, 1][0, 1], (0.1 + 0.2) / (4 * 0.1 * 0.2), rtol=1e-14)
    assert lr[0, 1][2, 3] == 0.0
    h1, h2 = duo_grids(p, theta=0.0, parent_matrix=None, mate_matrix=None, parent=(0, 2))
    assert np.isclose(h1[0, 1] / h2[0, 1], 1 / (4 * 0.1), rtol=1e-14)


@settings(max_examples=150, deadline=None)
@given(cases())
def test_the_child_alone_equals_the_core(case: tuple[object, ...]) -> None:
    """The one-sided LR of a child whose parents are untyped, in closed form, equals the
    core's H1 / H2 likelihoods of the child alone (to 1e-12)."""
    p, theta, matrices, sex, genotype = case
    assert isinstance(p, np.ndarray) and isinstance(theta, float) and isinstance(sex, str)
    n = len(p)
    h1_ped, h2_ped = get_relationship("parent-child").pedigrees(sex)
    typed = {"child": genotype}
    h1, h2 = (pedigree_likelihood(ped, typed, p, theta=theta, matrices=matrices)  # type: ignore[arg-type]
              for ped in (h1_ped, h2_ped))  # fmt: skip
    paternal, maternal = matrices if matrices is not None else (np.eye(n), np.eye(n))  # type: ignore[misc]
    got = child_alone(p, theta, paternal, maternal, *genotype)  # type: ignore[misc]
    assert got == pytest.approx(h1 / h2, rel=1e-12)

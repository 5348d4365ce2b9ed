"""The closed-form duo grids against the core's pedigree likelihood grids."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from kinmatch.duo import duo_grids
from kinmatch.pedigree import pedigree_likelihood_grid
from kinmatch.relationships import get_relationship


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

"""The importance sampler of null_check.py against brute-force enumeration, and its
independent per-locus couple null against the library's."""

from __future__ import annotations

import math

import numpy as np
import pytest
from null_check import TOL, LocusPairs, couple_pairs, tilted_tail

from kinmatch.evidence.locus import couple_locus_null

P = np.array([0.5, 0.3, 0.2])
STEP = np.array([[0.9, 0.1, 0.0], [0.05, 0.9, 0.05], [0.0, 0.1, 0.9]])
CHILDREN = [(0, 1), (2, 2), (1, 2), (0, 0)]


def small_loci(theta: float = 0.02) -> list[LocusPairs]:
    """Four loci of three alleles (36 couples each), stepwise-like mutation."""
    return [couple_pairs(f"L{i}", P, child, theta_pairs=theta, theta_lr=theta,
                         matrices=(STEP, STEP * 0.5 + np.eye(3) * 0.5))
            for i, child in enumerate(CHILDREN)]  # fmt: skip


def combinations(loci: list[LocusPairs]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ln LR, probability and excluding loci of every combination of the loci's pairs."""
    ln, prob, excluded = np.zeros(1), np.ones(1), np.zeros(1, dtype=np.int64)
    for x in loci:
        ln = (ln[:, None] + x.ln_lr[None, :]).ravel()
        prob = (prob[:, None] * x.probability[None, :]).ravel()
        excluded = (excluded[:, None] + x.excluded[None, :]).ravel()
    return ln, prob, excluded


def test_tilted_tail_agrees_with_enumeration() -> None:
    loci = small_loci()
    ln, prob, excluded = combinations(loci)
    # the threshold: about the top 1e-3 of the exact distribution
    order = np.argsort(-ln)
    tails = np.cumsum(prob[order])
    s = float(ln[order][np.searchsorted(tails, 1e-3) - 1])
    reach = ln >= s - TOL
    exact = float(prob[reach].sum())
    split = [float(prob[reach & (np.minimum(excluded, 2) == k)].sum()) for k in range(3)]
    first = np.repeat(loci[0].excluded, len(ln) // len(loci[0].ln_lr))
    marked = float(prob[reach & first].sum()) / exact
    assert 1e-4 < exact < 2e-3 and split[1] > 0
    marks = [[x.excluded if i == 0 else np.zeros(len(x.ln_lr), bool) for i, x in enumerate(loci)]]
    got = tilted_tail(loci, s, 200_000, np.random.default_rng(3), marks=marks)
    assert got.t > 0 and got.reached > 1000
    assert abs(got.estimate - exact) < 4 * got.se and got.se < 0.05 * exact
    for (estimate, se, _), want in zip(got.split, split, strict=True):
        assert abs(estimate - want) <= 4 * se + 1e-300
    assert math.isclose(sum(e for e, _, _ in got.split), got.estimate, rel_tol=1e-9)
    assert got.marks[0][1] == pytest.approx(marked, abs=0.05)


def test_plain_threshold_gives_plain_sampling() -> None:
    """Below every value no tilt is needed, and the whole mass of LR > 0 is found."""
    loci = small_loci(theta=0.0)
    got = tilted_tail(loci, -1e300, 10_000, np.random.default_rng(1))
    p_positive = math.prod(float(x.probability[np.isfinite(x.ln_lr)].sum()) for x in loci)
    assert got.t == 0 and got.estimate == pytest.approx(p_positive, abs=1e-12)


@pytest.mark.parametrize("theta", [0.0, 0.03])
@pytest.mark.parametrize("child", [(0, 1), (1, 1), (0, 2)])
def test_couple_pairs_agree_with_the_library(theta: float, child: tuple[int, int]) -> None:
    """The script's numpy null of one locus is the library's kernel, pair for pair."""
    p = np.array([0.4, 0.25, 0.2, 0.1, 0.05])
    paternal = np.full((5, 5), 0.002) + np.eye(5) * 0.99
    paternal /= paternal.sum(axis=1, keepdims=True)
    mine = couple_pairs("L", p, child, theta_pairs=theta, theta_lr=theta,
                        matrices=(paternal, np.eye(5)))  # fmt: skip
    library = couple_locus_null("L", p, child, theta=theta, matrices=(paternal, np.eye(5)))
    finite = np.isfinite(mine.ln_lr)
    np.testing.assert_allclose(mine.ln_lr[finite] / math.log(10), library.log10_lr, atol=1e-12)
    np.testing.assert_allclose(mine.probability[finite], library.probability, rtol=1e-12)
    assert float(mine.probability[~finite].sum()) == pytest.approx(library.p_zero, abs=1e-15)

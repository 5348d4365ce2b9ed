"""Score-table rows of a parent-child duo and per-parent rows of a couple, one code at a time.

The closed form of :mod:`kinmatch.duo` evaluated at the genotype codes of a store's locus
dictionary instead of over a full (n, n) grid. Each code's alleles are given as indices
``lo[k], hi[k]`` into the comparison's allele set (-1: an allele the set lacks; that code is
left for the caller, which computes it with the core on its own allele set). In the duo's
ratio the parent's founder factor G(a, b) cancels, so for a parent {a, b} and a child
{c1, c2} (``T``, ``U`` and the Balding-Nichols draws as in :mod:`kinmatch.duo`):

    LR = S / Q,   S = T(c1) U(c2) + T(c2) U(c1)   (T(c) U(c) for c1 = c2),
    Q  = h_c (theta n_c1 + (1 - theta) p_c1) / (1 + theta)
         x (theta (n_c2 + [c1 = c2]) + (1 - theta) p_c2) / (1 + 2 theta).
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def duo_terms(
    p: np.ndarray,  # (n,) float64: allele frequencies of the comparison
    theta: float,
    m_s: np.ndarray,  # (n, n) float64: the parent's transmission matrix (identity: none)
    m_o: np.ndarray,  # (n, n) float64: the untyped mate's
    p_mate: np.ndarray,  # (n,) float64: (1 - theta) (p @ m_o)
    a: int,  # the parent's alleles (indices into p)
    b: int,
    c1: int,  # the child's alleles
    c2: int,
) -> tuple[float, float]:
    """``(S, Q)`` of the module docstring: LR = S / Q."""
    t = theta
    n1 = (a == c1) + (b == c1)
    t1 = (m_s[a, c1] + m_s[b, c1]) / 2
    u2 = (p_mate[c2] + t * (m_o[a, c2] + m_o[b, c2])) / (1 + t)
    first = (t * n1 + (1 - t) * p[c1]) / (1 + t)
    if c1 == c2:
        return t1 * u2, first * (t * (n1 + 1) + (1 - t) * p[c1]) / (1 + 2 * t)
    t2 = (m_s[a, c2] + m_s[b, c2]) / 2
    u1 = (p_mate[c1] + t * (m_o[a, c1] + m_o[b, c1])) / (1 + t)
    n2 = (a == c2) + (b == c2)
    return t1 * u2 + t2 * u1, 2.0 * first * (t * n2 + (1 - t) * p[c2]) / (1 + 2 * t)


@numba.njit(cache=True, nogil=True)
def duo_row(
    p: np.ndarray,  # (n,) float64
    theta: float,
    m_s: np.ndarray,  # (n, n) float64
    m_o: np.ndarray,  # (n, n) float64
    p_mate: np.ndarray,  # (n,) float64
    x: int,  # the query's alleles: the child's when free_parent, else the parent's
    y: int,
    free_parent: bool,  # the codes are the parent's (else the child's)
    lo: np.ndarray,  # (k,) int64: each code's alleles (indices into p; -1: outside the set)
    hi: np.ndarray,
    out: np.ndarray,  # (k + 1,) float64: log10 LR of code k + 1 written at out[k + 1]
) -> int:
    """log10 LR of every code, the query fixed. Returns the number of codes with Q = 0
    (impossible under H2); codes with an allele outside the set are not written."""
    zeros = 0
    for k in range(lo.shape[0]):
        if lo[k] < 0 or hi[k] < 0:
            continue
        if free_parent:
            s, q = duo_terms(p, theta, m_s, m_o, p_mate, lo[k], hi[k], x, y)
        else:
            s, q = duo_terms(p, theta, m_s, m_o, p_mate, x, y, lo[k], hi[k])
        if q == 0.0:
            zeros += 1
        out[k + 1] = np.log10(s / q) if s > 0.0 else -np.inf
    return zeros


@numba.njit(cache=True, nogil=True)
def couple_parent_rows(
    m: np.ndarray,  # (n, n) float64: transmission matrix of the parent's sex
    c1: int,  # the child's alleles
    c2: int,
    lo: np.ndarray,  # (k,) int64: each code's alleles as a parent (-1: outside the set)
    hi: np.ndarray,
    transmit: np.ndarray,  # (k + 1, 2) float64 out: P(parent transmits c1), P(... c2)
    count: np.ndarray,  # (k + 1, 2) uint8 out: copies of c1, c2 in the parent's genotype
    rare: np.ndarray,  # (k + 1,) uint8 out: 1 where an allele is outside the set
) -> None:
    """Per-parent rows of a child against couples: ``transmit[k + 1, j] = (M[a, c_j] +
    M[b, c_j]) / 2`` for code k + 1 = {a, b}; written for every code, zeros where rare."""
    for k in range(lo.shape[0]):
        a, b = lo[k], hi[k]
        if a < 0 or b < 0:
            rare[k + 1] = 1
            continue
        transmit[k + 1, 0] = (m[a, c1] + m[b, c1]) / 2
        transmit[k + 1, 1] = (m[a, c2] + m[b, c2]) / 2
        count[k + 1, 0] = (a == c1) + (b == c1)
        count[k + 1, 1] = (a == c2) + (b == c2)

"""Closed-form likelihood grids of a parent-child duo: every genotype of the free person at once.

The fast twin of :func:`kinmatch.pedigree.pedigree_likelihood_grid` for the ``parent-child``
pedigrees of :mod:`kinmatch.relationships` (tested equal to it to 1e-12): H1 the parent
(genotype {a, b}) and an untyped mate of the other sex are the child's parents, H2 the two
are unrelated founders. Founder genes are Balding-Nichols draws (NRC II 1996, eq. 4.10): the
``m+1``-th is ``x`` with probability ``(c_x theta + (1 - theta) p_x) / (1 + (m - 1) theta)``
given ``c_x`` copies of ``x`` among the ``m`` before. With the parent's genes drawn first,

    G(a, b)        = h p_a (theta [a = b] + (1 - theta) p_b)        (h = 2 for a != b, else 1)
    T(x)           = (M_s[a, x] + M_s[b, x]) / 2                   (the parent transmits x)
    U(y)           = ((1 - theta) (p M_o)_y + theta (M_o[a, y] + M_o[b, y])) / (1 + theta)
                                                                   (the mate's gene, 3rd draw)
    H1(a, b; c)    = G(a, b) (T(c1) U(c2) + T(c2) U(c1))           (T(c) U(c) for c1 = c2)
    H2(a, b; c)    = G(a, b) h_c (theta n_c1 + (1 - theta) p_c1) / (1 + theta)
                     x (theta (n_c2 + [c1 = c2]) + (1 - theta) p_c2) / (1 + 2 theta)

with ``M_s`` the matrix of the parent's sex, ``M_o`` the mate's, ``n_x`` the copies of ``x``
in {a, b} and ``h_c`` the child's factor 2 for a heterozygote (the urn is exchangeable, so
the order of the draws does not change the joint law). Every mutation model of pedmut enters
through ``M_s`` and ``M_o`` exactly as in the core, untyped mate included.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

Floats = NDArray[np.float64]


def duo_grids(
    frequencies: Floats,
    *,
    theta: float,
    parent_matrix: Floats | None,
    mate_matrix: Floats | None,
    child: tuple[int, int] | None = None,
    parent: tuple[int, int] | None = None,
) -> tuple[Floats, Floats]:
    """(H1, H2) over every unordered genotype {i, j} of the free person (symmetric (n, n)
    arrays): the parent's when ``child`` is given, the child's when ``parent`` is given.

    Genotypes are allele indices into ``frequencies`` (the comparison's allele set); the
    matrices are None without mutation.
    """
    if (child is None) == (parent is None):
        raise ValueError("give the child or the parent")
    p = np.asarray(frequencies, dtype=np.float64)
    n = len(p)
    t = float(theta)
    m_s = np.eye(n) if parent_matrix is None else np.asarray(parent_matrix, dtype=np.float64)
    m_o = np.eye(n) if mate_matrix is None else np.asarray(mate_matrix, dtype=np.float64)
    p_mate = (1 - t) * (p @ m_o)
    if child is not None:
        return _free_parent(p, t, m_s, m_o, p_mate, child)
    assert parent is not None
    return _free_child(p, t, m_s, m_o, p_mate, parent)


def _founder_pair(p: Floats, t: float) -> Floats:
    """G(a, b) over every unordered pair: the first two Balding-Nichols draws."""
    g = np.outer(p, (1 - t) * p) * 2.0
    g[np.diag_indices(len(p))] = p * (t + (1 - t) * p)
    return g


def _free_parent(
    p: Floats, t: float, m_s: Floats, m_o: Floats, p_mate: Floats, child: tuple[int, int]
) -> tuple[Floats, Floats]:
    c1, c2 = child
    g = _founder_pair(p, t)

    def pairs(column: Floats) -> Floats:  # column[a] + column[b] over (a, b)
        total: Floats = column[:, np.newaxis] + column[np.newaxis, :]
        return total

    def transmit(x: int) -> Floats:  # T(x) over (a, b)
        half: Floats = pairs(m_s[:, x]) / 2
        return half

    def mate(y: int) -> Floats:  # U(y) over (a, b)
        gene: Floats = (p_mate[y] + t * pairs(m_o[:, y])) / (1 + t)
        return gene

    eye = np.eye(len(p))
    copies1 = pairs(eye[:, c1])  # n_c1 over (a, b)
    first = (t * copies1 + (1 - t) * p[c1]) / (1 + t)
    if c1 != c2:
        s = transmit(c1) * mate(c2) + transmit(c2) * mate(c1)
        copies2 = pairs(eye[:, c2])
        h2 = 2.0 * first * (t * copies2 + (1 - t) * p[c2]) / (1 + 2 * t)
    else:
        s = transmit(c1) * mate(c1)
        h2 = first * (t * (copies1 + 1) + (1 - t) * p[c1]) / (1 + 2 * t)
    return _symmetric(g * s), _symmetric(g * h2)


def _free_child(
    p: Floats, t: float, m_s: Floats, m_o: Floats, p_mate: Floats, parent: tuple[int, int]
) -> tuple[Floats, Floats]:
    a, b = parent
    g = _founder_pair(p, t)[a, b]
    transmit = (m_s[a] + m_s[b]) / 2  # T(x) over x
    mate = (p_mate + t * (m_o[a] + m_o[b])) / (1 + t)  # U(y) over y
    s = np.outer(transmit, mate)
    s = s + s.T
    s[np.diag_indices(len(p))] = transmit * mate
    copies = np.zeros(len(p))
    copies[a] += 1.0
    copies[b] += 1.0
    first = (t * copies + (1 - t) * p) / (1 + t)  # the child's first gene, 3rd draw
    second = (t * copies[np.newaxis, :] + (1 - t) * p[np.newaxis, :]
              + t * np.eye(len(p))) / (1 + 2 * t)  # 4th draw, given the 3rd  # fmt: skip
    h2 = 2.0 * first[:, np.newaxis] * second
    h2[np.diag_indices(len(p))] = first * np.diag(second)
    return _symmetric(g * s), _symmetric(g * h2)


def _symmetric(grid: Floats) -> Floats:
    """The upper triangle mirrored: one value per unordered genotype, whichever way read."""
    upper = np.triu(grid)
    result: Floats = upper + np.triu(grid, 1).T
    return result

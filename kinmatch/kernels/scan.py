"""Scans of one query against many references by per-locus table look-up.

A single-reference score table has shape (sex classes, loci, genotype codes) and holds, for
every possible reference genotype code, log10 LR at that locus (0 where it is not compared).
Scoring a reference is then one look-up and one add per locus: mutation, theta and rare
alleles only change the tables. The reported hits' per-locus details are read from the same
tables (:mod:`kinmatch.search.details`; :func:`couple_loci` for couples).
"""

from __future__ import annotations

import numba
import numpy as np
from numba import prange


@numba.njit(parallel=True, cache=True, nogil=True)
def score_references(
    codes: np.ndarray,  # (N, Lf) uint16 genotype codes of one fragment
    sexes: np.ndarray,  # (N,) uint8 store sex codes; 1 (female) picks table row 1
    selected: np.ndarray,  # (Q, N) bool: references each query meets
    log10_lr: np.ndarray,  # (Q, S, Lf, G) float64, loci in the fragment's order
    out_log10: np.ndarray,  # (Q, N) float64, NaN where not selected
) -> None:
    """Score a batch of Q queries in one pass: each reference's codes are read once."""
    n, loci = codes.shape
    queries = log10_lr.shape[0]
    by_sex = log10_lr.shape[1] > 1
    for r in prange(n):
        s = 1 if by_sex and sexes[r] == 1 else 0
        for q in range(queries):
            if not selected[q, r]:
                out_log10[q, r] = np.nan
                continue
            total = 0.0
            for j in range(loci):
                total += log10_lr[q, s, j, codes[r, j]]
            out_log10[q, r] = total


@numba.njit(parallel=True, cache=True, nogil=True)
def score_rows(
    codes: np.ndarray,  # (N, Lf) uint16 genotype codes of one fragment
    sexes: np.ndarray,  # (N,) uint8 store sex codes; 1 (female) picks table row 1
    rows: np.ndarray,  # (R,) int64 rows to score (a query's candidates)
    log10_lr: np.ndarray,  # (S, Lf, G) float64, loci in the fragment's order
    out_log10: np.ndarray,  # (R,) float64
) -> None:
    """Score the given rows of one fragment for one query (:func:`score_references` of the
    candidates alone)."""
    loci = codes.shape[1]
    by_sex = log10_lr.shape[0] > 1
    for i in prange(rows.shape[0]):
        r = rows[i]
        s = 1 if by_sex and sexes[r] == 1 else 0
        total = 0.0
        for j in range(loci):
            total += log10_lr[s, j, codes[r, j]]
        out_log10[i] = total


@numba.njit(cache=True, nogil=True, inline="always")
def _couple_locus(
    f: int,
    m: int,
    li: int,
    transmit: np.ndarray,
    count: np.ndarray,
    duo_log10: np.ndarray,
    child_p: np.ndarray,
    het: int,
    theta: float,
) -> float:
    """log10 LR of one couple (father code f, mother code m) at compared locus li."""
    if m == 0:
        return float(duo_log10[0, li, f])
    if f == 0:
        return float(duo_log10[1, li, m])
    n1 = count[li, f, 0] + count[li, m, 0]
    p1 = child_p[li, 0]
    first = (n1 * theta + (1.0 - theta) * p1) / (1.0 + 3.0 * theta)
    if het:
        h1 = transmit[0, li, f, 0] * transmit[1, li, m, 1]
        h1 += transmit[0, li, f, 1] * transmit[1, li, m, 0]
        n2 = count[li, f, 1] + count[li, m, 1]
        p2 = child_p[li, 1]
        h2 = 2.0 * first * (n2 * theta + (1.0 - theta) * p2) / (1.0 + 4.0 * theta)
    else:
        h1 = transmit[0, li, f, 0] * transmit[1, li, m, 0]
        h2 = first * ((n1 + 1) * theta + (1.0 - theta) * p1) / (1.0 + 4.0 * theta)
    return np.log10(h1 / h2) if h1 > 0.0 else -np.inf


@numba.njit(parallel=True, cache=True, nogil=True)
def score_couples(
    father: np.ndarray,  # (C, L) uint16 codes of each couple's father
    mother: np.ndarray,  # (C, L) uint16 codes of each couple's mother
    transmit: np.ndarray,  # (2, L, G, 2) float64: P(parent of sex s passes child allele k)
    count: np.ndarray,  # (L, G, 2) uint8: copies of child allele k in a genotype
    rare: np.ndarray,  # (L, G) uint8: genotype has an allele outside the comparison's set
    duo_log10: np.ndarray,  # (2, L, G) float64: duo log10 LR with a parent of sex s
    child_p: np.ndarray,  # (L, 2) float64: frequencies of the child's two alleles
    child_het: np.ndarray,  # (L,) uint8: 1 heterozygous, 0 homozygous, 255 not compared
    child_one_sided: np.ndarray,  # (L,) float64: log10 LR where neither parent is typed
    theta: float,
    out_log10: np.ndarray,  # (C,) float64
    out_exact: np.ndarray,  # (C,) bool: rare allele in both-typed locus; score exactly
) -> None:
    """Child against couples: LR = P(child | parents) / P(child | parents' alleles, unrelated).

    With both parents typed at a locus, H1 = t_F(c1) t_M(c2) + t_F(c2) t_M(c1) (one term for a
    homozygous child) and H2 is the Balding-Nichols draw of the child's alleles after the
    parents' four: (n1 theta + (1 - theta) p1) / (1 + 3 theta) times
    (n2 theta + (1 - theta) p2) / (1 + 4 theta), doubled for a heterozygote, n counting the
    allele among the drawn ones. With one parent typed the locus is that parent's duo; with
    neither, the child's one-sided LR.
    """
    couples, loci = father.shape
    for c in prange(couples):
        total = 0.0
        exact = False
        for li in range(loci):
            het = child_het[li]
            f = father[c, li]
            m = mother[c, li]
            if het == 255:
                continue
            if f == 0 and m == 0:
                total += child_one_sided[li]
                continue
            if f != 0 and m != 0 and (rare[li, f] or rare[li, m]):
                exact = True
            total += _couple_locus(f, m, li, transmit, count, duo_log10, child_p, het, theta)
        out_log10[c] = total
        out_exact[c] = exact


@numba.njit(cache=True, nogil=True)
def couple_loci(
    father: np.ndarray,  # (L,) uint16 codes of one couple's father
    mother: np.ndarray,  # (L,) uint16 codes of its mother
    transmit: np.ndarray,  # as in score_couples
    count: np.ndarray,
    duo_log10: np.ndarray,
    child_p: np.ndarray,
    child_het: np.ndarray,
    theta: float,
    out_log10: np.ndarray,  # (L,) float64: log10 LR per locus, NaN where not compared
) -> None:
    """The per-locus terms of :func:`score_couples` for one couple (a hit's details)."""
    for li in range(father.shape[0]):
        het = child_het[li]
        f = father[li]
        m = mother[li]
        if het == 255 or (f == 0 and m == 0):
            out_log10[li] = np.nan
        else:
            out_log10[li] = _couple_locus(f, m, li, transmit, count, duo_log10, child_p, het,
                                          theta)  # fmt: skip

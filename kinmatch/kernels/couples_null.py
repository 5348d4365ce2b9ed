"""A child against every unrelated couple of one locus: the couples' LRs and probabilities.

Used by :func:`kinmatch.evidence.locus.couple_locus_null` (see there for the formulas): one
pass over the ordered pairs (father genotype f, mother genotype m) of a locus' unordered
genotypes, up to 400,000 of them, with no temporary arrays.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def couple_pairs(
    p: np.ndarray,  # (n,) float64 allele frequencies of the child's comparison
    c1: int,  # the child's allele indices
    c2: int,
    theta: float,
    paternal: np.ndarray,  # (n, n) float64 mutation matrices (identity: no mutation)
    maternal: np.ndarray,
    first: np.ndarray,  # (g,) int64: genotype k is {first[k], second[k]}, first <= second
    second: np.ndarray,
    log10_lr: np.ndarray,  # (g * g,) float64 out: log10 LR of the pairs with LR > 0
    weight: np.ndarray,  # (g * g,) float64 out: their P(f, m | child, H2), unnormalised
) -> tuple[int, float, float, float, bool]:
    """Fills the pairs with LR > 0 in order (f, m), and returns (their number, the weight of
    the pairs with LR 0, the total weight, the sum of weight x LR, whether an LR is negative or
    not finite)."""
    t = theta
    g = first.shape[0]
    u = 1.0 - t
    count, zero, total, expected, bad = 0, 0.0, 0.0, 0.0, False
    for f in range(g):
        fi, fj = first[f], second[f]
        het_f = 2.0 if fi != fj else 1.0
        in_i = (fi == c1) + (fi == c2)
        in_j = (fj == c1) + (fj == c2) + (fi == fj)
        p_f = het_f * (in_i * t + u * p[fi]) / (1 + t) * (in_j * t + u * p[fj]) / (1 + 2 * t)
        f_c1 = (fi == c1) + (fj == c1)
        f_c2 = (fi == c2) + (fj == c2)
        tf1 = (paternal[fi, c1] + paternal[fj, c1]) / 2
        tf2 = (paternal[fi, c2] + paternal[fj, c2]) / 2
        for m in range(g):
            mi, mj = first[m], second[m]
            het_m = 2.0 if mi != mj else 1.0
            seen_i = (mi == c1) + (mi == c2) + (mi == fi) + (mi == fj)
            seen_j = (mj == c1) + (mj == c2) + (mj == fi) + (mj == fj) + (mi == mj)
            p_m = (seen_i * t + u * p[mi]) / (1 + 3 * t)
            p_m = p_m * (seen_j * t + u * p[mj]) / (1 + 4 * t) * het_m
            n1 = f_c1 + (mi == c1) + (mj == c1)
            draw1 = (n1 * t + u * p[c1]) / (1 + 3 * t)
            tm1 = (maternal[mi, c1] + maternal[mj, c1]) / 2
            if c1 != c2:
                tm2 = (maternal[mi, c2] + maternal[mj, c2]) / 2
                h1 = tf1 * tm2 + tf2 * tm1
                n2 = f_c2 + (mi == c2) + (mj == c2)
                h2 = 2.0 * draw1 * (n2 * t + u * p[c2]) / (1 + 4 * t)
            else:
                h1 = tf1 * tm1
                h2 = draw1 * ((n1 + 1) * t + u * p[c1]) / (1 + 4 * t)
            lr = h1 / h2
            w = p_f * p_m
            total += w
            if not (lr >= 0.0 and lr < np.inf):
                bad = True
            elif lr > 0.0:
                log10_lr[count] = np.log10(lr)
                weight[count] = w
                count += 1
                expected += w * lr
            else:
                zero += w
    return count, zero, total, expected, bad

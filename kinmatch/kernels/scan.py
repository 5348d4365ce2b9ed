"""Scans of one query against many references by per-locus table look-up.

A single-reference score table has shape (sex classes, loci, genotype codes) and holds, for
every possible reference genotype code, log10 LR at that locus; companion tables say whether
the locus is compared and whether it is a Mendelian inconsistency. Scoring a reference is then
one look-up and one add per locus: mutation, theta and rare alleles only change the tables.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import prange


@numba.njit(parallel=True, cache=True, nogil=True)
def score_single(
    codes: np.ndarray,  # (N, Lf) uint16 genotype codes of one fragment
    locus_map: np.ndarray,  # (Lf,) int64: fragment locus -> table locus
    sex_class: np.ndarray,  # (N,) uint8: which table row a reference uses
    selected: np.ndarray,  # (N,) bool: references this query meets
    log10_lr: np.ndarray,  # (S, L, G) float64
    inconsistent: np.ndarray,  # (S, L, G) uint8
    compared: np.ndarray,  # (S, L, G) uint8
    out_log10: np.ndarray,  # (N,) float64, NaN where not selected
    out_inconsistent: np.ndarray,  # (N,) int16
    out_compared: np.ndarray,  # (N,) int16
) -> None:
    n, loci = codes.shape
    for r in prange(n):
        if not selected[r]:
            out_log10[r] = np.nan
            out_inconsistent[r] = 0
            out_compared[r] = 0
            continue
        s = sex_class[r]
        total = 0.0
        n_inc = 0
        n_cmp = 0
        for j in range(loci):
            li = locus_map[j]
            c = codes[r, j]
            total += log10_lr[s, li, c]
            n_inc += inconsistent[s, li, c]
            n_cmp += compared[s, li, c]
        out_log10[r] = total
        out_inconsistent[r] = n_inc
        out_compared[r] = n_cmp

"""Parentage candidate filter over 8-bit allele signatures (see :mod:`kinmatch.index`).

A locus is *certainly inconsistent* when a signature shares no bit with the query's mask; a
reference is kept when it has at most ``max_inconsistent`` such loci. Work stops at the first
locus past the bound.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import prange


@numba.njit(parallel=True, cache=True, nogil=True)
def filter_single(
    signatures: np.ndarray,  # (N, Lf) uint8
    locus_map: np.ndarray,  # (Lf,) int64: fragment locus -> mask locus
    masks: np.ndarray,  # (L,) uint8: bits of the alleles a consistent reference must show
    selected: np.ndarray,  # (N,) bool
    max_inconsistent: int,
    out_keep: np.ndarray,  # (N,) bool
) -> None:
    n, loci = signatures.shape
    for r in prange(n):
        keep = selected[r]
        if keep:
            misses = 0
            for j in range(loci):
                if signatures[r, j] & masks[locus_map[j]] == 0:
                    misses += 1
                    if misses > max_inconsistent:
                        keep = False
                        break
        out_keep[r] = keep


@numba.njit(parallel=True, cache=True, nogil=True)
def filter_pairs(
    first: np.ndarray,  # (C, L) uint8 signatures of one member of each pair (e.g. fathers)
    second: np.ndarray,  # (C, L) uint8 signatures of the other member (mothers)
    masks: np.ndarray,  # (L,) uint8: the child's allele bits
    max_inconsistent: int,
    out_keep: np.ndarray,  # (C,) bool
) -> None:
    """Couples against a child: a locus misses when either parent shows none of its bits."""
    couples, loci = first.shape
    for c in prange(couples):
        misses = 0
        keep = True
        for li in range(loci):
            if first[c, li] & masks[li] == 0 or second[c, li] & masks[li] == 0:
                misses += 1
                if misses > max_inconsistent:
                    keep = False
                    break
        out_keep[c] = keep


@numba.njit(parallel=True, cache=True, nogil=True)
def filter_children(
    signatures: np.ndarray,  # (N, Lf) uint8 signatures of candidate children
    locus_map: np.ndarray,  # (Lf,) int64
    father_masks: np.ndarray,  # (L,) uint8
    mother_masks: np.ndarray,  # (L,) uint8
    selected: np.ndarray,  # (N,) bool
    max_inconsistent: int,
    out_keep: np.ndarray,  # (N,) bool
) -> None:
    """Children against a couple: a miss where the child shows none of either parent's bits."""
    n, loci = signatures.shape
    for r in prange(n):
        keep = selected[r]
        if keep:
            misses = 0
            for j in range(loci):
                li = locus_map[j]
                sig = signatures[r, j]
                if sig & father_masks[li] == 0 or sig & mother_masks[li] == 0:
                    misses += 1
                    if misses > max_inconsistent:
                        keep = False
                        break
        out_keep[r] = keep

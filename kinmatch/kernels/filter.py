"""Parentage candidate filter over 8-bit allele signatures (see :mod:`kinmatch.index`).

A locus is *certainly inconsistent* when a typed signature shares no bit with the query's
mask (an untyped locus, signature ``UNTYPED``, never is: a typed genotype sets at most two of
the eight bits); a reference is kept when it has at most ``max_inconsistent`` such loci.
Masks come in the fragment's locus order. The loops count without branches, which
vectorises better than stopping at the first miss past the bound.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import prange

UNTYPED = 0xFF  # the signature of a missing locus (kinmatch.store.SIGNATURES[0])


@numba.njit(parallel=True, cache=True, nogil=True)
def filter_single(
    signatures: np.ndarray,  # (N, Lf) uint8
    masks: np.ndarray,  # (Lf,) uint8: bits of the alleles a consistent reference must show
    selected: np.ndarray,  # (N,) bool
    max_inconsistent: int,
    out_keep: np.ndarray,  # (N,) bool
) -> None:
    n, loci = signatures.shape
    for r in prange(n):
        misses = 0
        for j in range(loci):  # branch-free: the compiler vectorises this loop
            sig = signatures[r, j]
            misses += ((sig & masks[j]) == 0) & (sig != UNTYPED)
        out_keep[r] = selected[r] and misses <= max_inconsistent


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
        for li in range(loci):
            f, m = first[c, li], second[c, li]
            misses += (((f & masks[li]) == 0) & (f != UNTYPED)) | (
                ((m & masks[li]) == 0) & (m != UNTYPED)
            )
        out_keep[c] = misses <= max_inconsistent


@numba.njit(parallel=True, cache=True, nogil=True)
def filter_children(
    signatures: np.ndarray,  # (N, Lf) uint8 signatures of candidate children
    father_masks: np.ndarray,  # (Lf,) uint8
    mother_masks: np.ndarray,  # (Lf,) uint8
    selected: np.ndarray,  # (N,) bool
    max_inconsistent: int,
    out_keep: np.ndarray,  # (N,) bool
) -> None:
    """Children against a couple: a miss where the child shows none of either parent's bits."""
    n, loci = signatures.shape
    for r in prange(n):
        misses = 0
        for j in range(loci):
            sig = signatures[r, j]
            fits = ((sig & father_masks[j]) != 0) & ((sig & mother_masks[j]) != 0)
            misses += (~fits) & (sig != UNTYPED)
        out_keep[r] = selected[r] and misses <= max_inconsistent

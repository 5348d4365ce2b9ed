"""Genotype codes: an unordered pair of allele codes (positions in a locus' dictionary) as one
``uint16``, 0 standing for an untyped locus. Shared by the store's fragments and their index."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray


def genotype_codes(first: NDArray[np.integer], second: NDArray[np.integer]) -> NDArray[np.int64]:
    """Codes of unordered pairs of allele codes: ``hi (hi + 1) / 2 + lo + 1``; 0 is missing."""
    lo = np.minimum(first, second).astype(np.int64)
    hi = np.maximum(first, second).astype(np.int64)
    codes: NDArray[np.int64] = hi * (hi + 1) // 2 + lo + 1
    return codes


def split_codes(codes: NDArray[np.integer]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Inverse of :func:`genotype_codes` for codes above 0: the (lo, hi) allele codes."""
    index = np.asarray(codes, dtype=np.int64) - 1
    hi = ((np.sqrt(8 * index + 1) - 1) // 2).astype(np.int64)
    hi -= hi * (hi + 1) // 2 > index  # guard against rounding of the square root
    hi += (hi + 1) * (hi + 2) // 2 <= index
    return index - hi * (hi + 1) // 2, hi


def genotype_code(first: int, second: int) -> int:
    """:func:`genotype_codes` of one pair."""
    return int(genotype_codes(np.array(first), np.array(second)))


def genotype_alleles(code: int) -> tuple[int, int]:
    """:func:`split_codes` of one code."""
    lo, hi = split_codes(np.array(code))
    return int(lo), int(hi)


def n_genotype_codes(n_alleles: int) -> int:
    """Number of codes of a locus with ``n_alleles`` dictionary alleles, missing included."""
    return n_alleles * (n_alleles + 1) // 2 + 1

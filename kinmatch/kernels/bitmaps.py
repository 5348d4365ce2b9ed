"""Parentage candidates from allele bitmaps (see :mod:`kinmatch.index`), and the exact check
of the kept candidates' codes.

Bitmaps are rows of ``uint64`` words, bit ``r % 64`` of word ``r // 64`` for reference ``r``.
A query gives, per counted locus, four bitmap rows ``(a, b, c, d)``; the locus is consistent
where ``(bitmaps[a] | bitmaps[b]) & (bitmaps[c] | bitmaps[d])`` is set (a duo repeats
``a, b``). The misses are counted per reference by bit-sliced counters (one bit per reference
in each 64-bit plane), a block of words at a time so that the queries of a batch read each
bitmap block while it is in cache.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import prange

BLOCK = 64  # words per block: 4,096 references, 512 bytes of each bitmap
ALL = np.uint64(0xFFFFFFFFFFFFFFFF)


@numba.njit(cache=True, nogil=True, inline="always")
def _add(
    c0: np.uint64, c1: np.uint64, c2: np.uint64, over: np.uint64, miss: np.uint64
) -> tuple[np.uint64, np.uint64, np.uint64, np.uint64]:
    """Add one miss bit per reference to the 3-bit saturating counters (c2 c1 c0, over)."""
    carry = c0 & miss
    c0 ^= miss
    carry1 = c1 & carry
    c1 ^= carry
    over |= c2 & carry1
    c2 ^= carry1
    return c0, c1, c2, over


@numba.njit(cache=True, nogil=True, inline="always")
def _above(c0: np.uint64, c1: np.uint64, c2: np.uint64, over: np.uint64, k: int) -> np.uint64:
    """The references whose count exceeds ``k`` (0 <= k <= 7), bit-sliced."""
    gt = over
    eq = ~over
    for bit, plane in ((2, c2), (1, c1), (0, c0)):
        if (k >> bit) & 1:
            eq &= plane
        else:
            gt |= eq & plane
            eq &= ~plane
    return gt


@numba.njit(cache=True, nogil=True, inline="always")
def _consistent(
    bitmaps: np.ndarray, rows: np.ndarray, q: int, li: int, w: int, duo: bool
) -> np.uint64:
    """The references of word ``w`` consistent with query ``q`` at its ``li``-th locus."""
    hit = bitmaps[rows[q, li, 0], w] | bitmaps[rows[q, li, 1], w]
    if not duo:
        hit &= bitmaps[rows[q, li, 2], w] | bitmaps[rows[q, li, 3], w]
    return hit  # type: ignore[no-any-return]


@numba.njit(parallel=True, cache=True, nogil=True)
def candidate_words(
    bitmaps: np.ndarray,  # (B, W) uint64
    rows: np.ndarray,  # (Q, L, 4) int64 bitmap rows of each query's counted loci, first
    active: np.ndarray,  # (Q,) int64: how many loci of rows[q] count
    selection: np.ndarray,  # (Q, W) uint64 references each query meets
    max_inconsistent: int,  # at most 7
    out: np.ndarray,  # (Q, W) uint64: met references with at most max_inconsistent misses
) -> None:
    """Rows ``(a, b, c, d)``: consistent where ``(a | b) & (c | d)`` (a duo gives ``c == a``,
    ``d == b``, read once). Up to ``k = 2`` the counters are thermometer-coded (plane ``j``:
    at least ``j + 1`` misses), past it 3-bit binary saturating at 8; a word stops as soon as
    all its met references are past the bound."""
    words = bitmaps.shape[1]
    queries = rows.shape[0]
    k = max_inconsistent
    for block in prange((words + BLOCK - 1) // BLOCK):
        start = block * BLOCK
        stop = min(start + BLOCK, words)
        for q in range(queries):
            n = active[q]
            duo = True
            for li in range(n):
                duo = duo and rows[q, li, 2] == rows[q, li, 0] and rows[q, li, 3] == rows[q, li, 1]
            for w in range(start, stop):
                sel = selection[q, w]
                if sel == 0:
                    out[q, w] = sel
                    continue
                if k <= 2:
                    p0 = p1 = p2 = past = np.uint64(0)
                    for li in range(n):
                        miss = ~_consistent(bitmaps, rows, q, li, w, duo)
                        p2 |= p1 & miss
                        p1 |= p0 & miss
                        p0 |= miss
                        past = p0 if k == 0 else p1 if k == 1 else p2
                        if (past | ~sel) == ALL:
                            break
                    out[q, w] = sel & ~past
                else:
                    c0 = c1 = c2 = over = np.uint64(0)
                    for li in range(n):
                        miss = ~_consistent(bitmaps, rows, q, li, w, duo)
                        c0, c1, c2, over = _add(c0, c1, c2, over, miss)
                        if li % 2 == 1 and (_above(c0, c1, c2, over, k) | ~sel) == ALL:
                            break
                    out[q, w] = sel & ~_above(c0, c1, c2, over, k)


@numba.njit(cache=True, nogil=True)
def set_rows(words: np.ndarray, out: np.ndarray) -> int:
    """Write the positions of the set bits of ``words`` (W,) uint64 into ``out`` (at least
    64 W int64), in order; return how many."""
    n = 0
    for w in range(words.shape[0]):
        word = words[w]
        if word == 0:
            continue
        for bit in range(64):
            if (word >> np.uint64(bit)) & np.uint64(1):
                out[n] = w * 64 + bit
                n += 1
    return n


@numba.njit(parallel=True, cache=True, nogil=True)
def exact_single(
    codes: np.ndarray,  # (N, Lf) uint16 genotype codes
    rows: np.ndarray,  # (R,) int64 candidate rows
    inconsistent: np.ndarray,  # (Lf, G) uint8: 1 where a reference code excludes the query
    max_inconsistent: int,
    out_keep: np.ndarray,  # (R,) bool
) -> None:
    """Keep the candidates whose codes have at most ``max_inconsistent`` inconsistent loci."""
    loci = codes.shape[1]
    for i in prange(rows.shape[0]):
        r = rows[i]
        misses = 0
        for j in range(loci):
            misses += inconsistent[j, codes[r, j]]
        out_keep[i] = misses <= max_inconsistent


@numba.njit(parallel=True, cache=True, nogil=True)
def exact_couples(
    father: np.ndarray,  # (C, L) uint16 codes of each couple's father
    mother: np.ndarray,  # (C, L) uint16
    rows: np.ndarray,  # (R,) int64 candidate couples
    carries: np.ndarray,  # (L, G) uint8: bit 0 carries the child's first allele, bit 1 second
    compared: np.ndarray,  # (L,) bool: the child typed there (and the locus in the table)
    max_inconsistent: int,
    out_keep: np.ndarray,  # (R,) bool
) -> None:
    """Keep the couples with at most ``max_inconsistent`` loci where the child's alleles
    cannot come one from each typed parent (one typed parent: it shares no allele)."""
    loci = father.shape[1]
    for i in prange(rows.shape[0]):
        c = rows[i]
        misses = 0
        for li in range(loci):
            f, m = father[c, li], mother[c, li]
            if not compared[li] or (f == 0 and m == 0):
                continue
            if f == 0 or m == 0:
                misses += carries[li, f + m] == 0
            else:
                cf, cm = carries[li, f], carries[li, m]
                misses += not (((cf & 1) and (cm & 2)) or ((cf & 2) and (cm & 1)))
        out_keep[i] = misses <= max_inconsistent

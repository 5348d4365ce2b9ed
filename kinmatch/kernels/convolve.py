"""Direct convolution of a distribution on an integer grid with a sparse one, pruned below.

Used by :mod:`kinmatch.evidence` to add one locus to the distribution of a sum of per-locus
log10 LRs on a grid: ``out[b + a] += w_a * d[b]`` for every atom ``a`` of the locus and every
partial sum ``b``, skipping the pairs with ``b + a < floor`` (sums that can no longer reach the
region of interest; the caller includes the largest total of the remaining loci in
``floor``). Every output is a sum of non-negative products, so each bin is computed to a
relative error of a few units in the last place however small it is (no cancellation, unlike
an FFT). The output is computed in chunks of :data:`CHUNK` bins, each finished before the
next, so that it stays in cache. One thread: a tail convolves many small levels, and a
parallel region per call cost up to a scheduler time slice per call when the other core was
busy (evidence 7x slower on a loaded 2-core machine); callers may run calls in threads
(``nogil``).
"""

from __future__ import annotations

import numba
import numpy as np

CHUNK = 2048  # output bins computed together


@numba.njit(cache=True, nogil=True)
def convolve_pruned(
    d: np.ndarray,  # (n,) float64: mass of partial sums lo .. lo + n - 1
    lo: int,
    bins: np.ndarray,  # (m,) int64: the locus' atoms on the grid, ascending
    weights: np.ndarray,  # (m,) float64: their probabilities
    floor: int,  # sums (partial sum + atom) below this are dropped
    out_lo: int,  # grid value of out[0]; out must span every kept sum
    out: np.ndarray,  # (k,) float64, zeroed by the caller
) -> None:
    n = d.shape[0]
    size = out.shape[0]
    chunks = (size + CHUNK - 1) // CHUNK
    for c in range(chunks):
        first = c * CHUNK
        last = min(first + CHUNK, size)  # out[first:last]
        for j in range(bins.shape[0]):
            shift = lo + bins[j] - out_lo  # out index = input index + shift
            start = max(floor - bins[j] - lo, first - shift, 0)
            stop = min(n, last - shift)
            if stop <= start:
                continue
            w = weights[j]
            source = d[start:stop]  # slices, not indices: the loop vectorises (6x)
            target = out[start + shift : stop + shift]
            for i in range(source.shape[0]):
                target[i] += w * source[i]


@numba.njit(cache=True, nogil=True)
def trimmed_span(values: np.ndarray, budget: float) -> tuple[int, int, float]:
    """(first, last, dropped): the first non-zero entry, and the last one once the topmost
    entries whose total is at most ``budget`` are left out (``dropped``, their total);
    (n, -1, total) when nothing is left."""
    n = values.shape[0]
    first = 0
    while first < n and values[first] == 0.0:
        first += 1
    last = n - 1
    dropped = 0.0
    while last >= first and dropped + values[last] <= budget:
        dropped += values[last]
        last -= 1
    return first, last, dropped

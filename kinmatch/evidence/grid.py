"""Bracketing grids: the distribution of a sum of independent per-locus log10 LRs on a grid of
power-of-two width, with rigorous error bounds (used by :class:`kinmatch.evidence.tail.
NullDistribution`; numbers in, numbers out).

On a grid of width ``h = 2^-k`` every per-locus value ``v`` is replaced by ``h floor(v / h)``
(exact: ``h`` is a power of two), so the grid sum ``hK`` of ``L`` loci satisfies
``hK <= S < hK + L h`` for the true sum ``S``, path by path. Hence

    P(K >= ceil(x/h)) <= P(S >= x) <= P(K >= floor(x/h) - L + 1),

a rigorous bracket ``[lower, upper]`` whose width is the mass of at most ``L`` bins below
``x``. The distribution of ``K`` is computed on *levels* (:class:`Level`): a coarse one over
the whole range, and finer ones over ``[x_f, max]`` only, for thresholds above ``x_f`` (a
value or a partial sum that cannot reach ``x_f - L h`` even with the largest values of the
remaining loci is dropped: exact for those thresholds; and the topmost partial sums whose
total mass is below a budget are dropped, their mass added to every upper bound). A level is
computed either

- *directly* (:func:`direct_level`, with :func:`kinmatch.kernels.convolve.convolve_pruned`):
  sums of non-negative products, so every bin keeps a relative error of at most ``4 u`` per
  rounding step (``u = 2^-53``; one step per value of a locus and per bin summed into a
  tail) however small it is (to 1e-300), folded into the bracket as a factor ``1 -+ rel``
  (1e-12 to 1e-10); or
- *by FFT* (:func:`fft_level`) when that is cheaper (many distinct values: mutation,
  couples), on the exponentially tilted (Esscher) distribution ``q_l(v) ~ p_l(v) 10^(t v)``,
  ``t`` the saddlepoint that centres the sum at the threshold (as in rare-event importance
  sampling, Siegmund 1976, Ann. Statist. 4:673-684), so the FFT's absolute rounding becomes a
  relative one at the threshold. Rounding of the whole convolution is bounded in the 2-norm
  by ``4 ((L + 2) d + 2 L u)`` with ``d = log2(N) eta / (1 - log2(N) eta)``, ``eta = 10 u``
  (Higham 2002, *Accuracy and Stability of Numerical Algorithms*, Theorem 24.2, with a
  safety factor 4), hence by ``sqrt(N)`` times that for any tail sum; a level that keeps a
  window of ``N`` bins below the top folds the tilted mass below the window into it
  (circular aliasing), bounded by the Chernoff bound ``min_u E[e^(u (top - K))] e^(-u N)``
  computed from the per-locus tilted distributions. Both bounds, untilted, widen the bracket.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.fft
from numpy.typing import NDArray

from kinmatch.kernels.convolve import convolve_pruned, trimmed_span

Floats = NDArray[np.float64]
Ints = NDArray[np.int64]

NO_FLOOR = -(1 << 60)
"""The floor of a level exact for every threshold."""
FLOAT_REL = 1e-12
"""Relative rounding allowance of directly computed tails."""
MAX_EXPONENT = 680.0
"""exp() of an untilting factor stays finite below this."""
_FFT_SAFETY = 4.0
_ALIAS_TARGET = 1e-12  # tilted mass allowed to fold into an FFT level's window
_FFT_WEIGHT = 10  # cost of one N log2 N unit of FFT in direct multiply-adds
_DIRECT_CHEAP = 3e7  # direct convolutions this cheap are never replaced by an FFT
_U = float(np.finfo(np.float64).eps) / 2


@dataclass(frozen=True, eq=False)
class Binned:
    """One locus on a grid: sorted distinct bins (value = h * bin) and their probabilities."""

    bins: Ints
    probs: Floats

    @property
    def top(self) -> int:
        return int(self.bins[-1])

    @property
    def bottom(self) -> int:
        return int(self.bins[0])


@dataclass(frozen=True, eq=False)
class Level:
    """P(K >= k | LR > 0) on one grid, for every k >= ``lo`` (all k when ``complete``).

    ``tails[i]`` is the tail at ``lo + i`` (``tails[0]`` from ``valid_from`` to ``lo``); its
    error is at most ``rel`` relative (floating-point sums of non-negative terms) plus
    ``err * exp(log_c + tau * (top - k))`` (FFT rounding and aliasing; 0 for a direct level),
    and it may miss ``dropped`` (upper tails left out).
    """

    h: float
    lo: int
    tails: Floats
    complete: bool
    engine: str
    valid_from: int
    """Tails are exact for every k >= valid_from (<= lo; no mass between)."""
    err: float = 0.0
    log_c: float = 0.0
    tau: float = 0.0
    top: int = 0
    dropped: float = 0.0
    """Mass of the top partial sums left out (adds to every upper bound)."""
    rel: float = FLOAT_REL

    def covers(self, x: float, n_loci: int) -> bool:
        return self.complete or math.floor(x / self.h) - n_loci + 1 >= self.valid_from

    def tail_at(self, k: int) -> float:
        i = k - self.lo
        if i >= len(self.tails):
            return 0.0
        return float(self.tails[max(i, 0)])

    def err_at(self, k: int) -> float:
        if self.err == 0.0:
            return 0.0
        exponent = self.log_c + self.tau * (self.top - max(k, self.valid_from))
        return math.inf if exponent > MAX_EXPONENT else self.err * math.exp(exponent)

    def bracket(self, x: float, n_loci: int) -> tuple[float, float, float]:
        """(lower, upper, part of the width due to rounding of the computation)."""
        ka = math.ceil(x / self.h)
        kb = math.floor(x / self.h) - n_loci + 1
        lo_err, hi_err = self.err_at(ka), self.err_at(kb)
        lower = max(self.tail_at(ka) * (1 - self.rel) - lo_err, 0.0)
        upper = min(self.tail_at(kb) * (1 + self.rel) + hi_err + self.dropped, 1.0)
        return lower, upper, lo_err + hi_err + self.dropped


def bin_values(values: Floats, probs: Floats, h: float) -> Binned:
    """Values floored to the grid of width ``h`` (a power of two: ``values / h`` is exact)."""
    k = np.floor(values / h).astype(np.int64)
    if len(k) == 0:
        return Binned(k, probs)
    low = int(np.min(k))
    span = int(np.max(k)) - low + 1
    if span <= 4 * len(k) + 1024:
        counts = np.bincount(k - low, weights=probs, minlength=span).astype(np.float64)
        where = np.flatnonzero(counts)
        return Binned(where + low, counts[where])
    bins, inverse = np.unique(k, return_inverse=True)
    return Binned(bins, np.bincount(inverse, weights=probs).astype(np.float64))


def direct_cost(binned: Sequence[Binned], k_floor: int) -> float:
    """Multiply-adds of :func:`_direct_level` (an upper estimate)."""
    rest = np.cumsum([b.top for b in binned][::-1])[::-1]
    low = high = 0
    cost = 0.0
    for i, b in enumerate(binned):
        cost += float(high - low + 1) * len(b.bins)
        high += b.top
        remaining = int(rest[i + 1]) if i + 1 < len(binned) else 0
        low = max(low + b.bottom, k_floor - remaining)
    return cost


def direct_level(binned: Sequence[Binned], h: float, k_floor: int, trim: float = 0.0) -> Level:
    """The level by direct convolution, pruning partial sums that cannot reach ``k_floor``.

    After each locus the topmost partial sums are dropped while their total stays within
    ``trim / L`` (they only matter for tails far below the level's purpose); the dropped mass
    widens the upper bound of every tail.
    """
    rest = [sum(b.top for b in binned[i + 1 :]) for i in range(len(binned))]
    d, lo = np.ones(1), 0
    dropped, budget = 0.0, trim / max(len(binned), 1)
    for b, remaining in zip(binned, rest, strict=True):
        floor = k_floor - remaining
        hi = lo + len(d) - 1
        keep = b.bins + hi >= floor
        bins, probs = b.bins[keep], b.probs[keep]
        if len(bins) == 0:
            return Level(h, k_floor, np.zeros(0), k_floor == NO_FLOOR, "direct", k_floor)
        out_lo = max(lo + int(bins[0]), floor)
        out = np.zeros(hi + int(bins[-1]) - out_lo + 1)
        convolve_pruned(d, lo, bins, probs, floor, out_lo, out)
        first, last, cut = trimmed_span(out, budget)
        dropped += cut
        if first > last:
            return Level(h, k_floor, np.zeros(0), k_floor == NO_FLOOR, "direct", k_floor,
                          dropped=dropped)  # fmt: skip
        d, lo = out[first : last + 1], out_lo + first
    tails = np.cumsum(d[::-1])[::-1]
    valid = lo if k_floor == NO_FLOOR else min(lo, k_floor)
    terms = sum(len(b.bins) + 2 for b in binned) + len(tails)  # rounding steps per value
    return Level(h, lo, tails, k_floor == NO_FLOOR and dropped == 0.0, "direct", valid,
                  dropped=dropped, rel=max(FLOAT_REL, 4 * _U * terms))  # fmt: skip


@dataclass(frozen=True)
class Window:
    """An FFT level's plan: tilt per bin, window of ``size`` bins below ``top``, aliasing."""

    tau: float
    size: int
    top: int
    alias: float
    cost: float


def fft_plan(binned: Sequence[Binned], h: float, k_floor: int, tau: float) -> Window:
    """The smallest power-of-two window below the top whose folded-in tilted mass (Chernoff
    bound, minimised over a few exponents) is at most the target, or the whole range."""
    top = sum(b.top for b in binned)
    bottom = sum(b.bottom for b in binned)
    full = 1 << max(math.ceil(math.log2(top - bottom + 1)), 1)
    size, alias = full, 0.0
    if k_floor != NO_FLOOR:
        stacked = Stacked(binned)
        depth = (stacked.spread(stacked.tops) - stacked.bins).astype(np.float64)
        tilted = np.log(stacked.probs) - tau * depth
        tilted -= stacked.spread(stacked.logsumexp(tilted))
        candidates = [u * h * math.log(10) for u in (0.03, 0.1, 0.3, 1, 3, 10, 30)]
        # log E[e^(u (top - K))] under the tilted law, per exponent
        log_mgf = [float(np.sum(stacked.logsumexp(tilted + u * depth))) for u in candidates]
        best = max(top - (m - math.log(_ALIAS_TARGET)) / u
                   for u, m in zip(candidates, log_mgf, strict=True))  # fmt: skip
        needed = top - min(k_floor, math.floor(best)) + 1
        size = min(full, 1 << max(math.ceil(math.log2(max(needed, 2))), 1))
        if size < full:
            log_alias = min(m - u * size for u, m in zip(candidates, log_mgf, strict=True))
            alias = math.exp(min(log_alias, 0.0))
    cost = (len(binned) + 1) * size * math.log2(size)
    return Window(tau, size, top, min(alias, 1.0), cost)


class Stacked:
    """Several loci's binned values in one array, for per-locus reductions."""

    def __init__(self, binned: Sequence[Binned]) -> None:
        self.bins = np.concatenate([b.bins for b in binned])
        self.probs = np.concatenate([b.probs for b in binned])
        self.lengths = np.array([len(b.bins) for b in binned])
        self.starts = np.concatenate(([0], np.cumsum(self.lengths)[:-1]))
        self.tops = np.array([b.top for b in binned], dtype=np.int64)

    def spread(self, per_locus: NDArray[Any]) -> NDArray[Any]:
        return np.repeat(per_locus, self.lengths)

    def peaks(self, values: Floats) -> Floats:
        return np.maximum.reduceat(values, self.starts)

    def sums(self, values: Floats) -> Floats:
        return np.add.reduceat(values, self.starts)

    def logsumexp(self, values: Floats) -> Floats:
        peak = self.peaks(values)
        return peak + np.log(self.sums(np.exp(values - self.spread(peak))))


def _logsumexp(values: Floats) -> float:
    peak = float(np.max(values))
    return peak + math.log(float(np.sum(np.exp(values - peak))))


def fft_level(binned: Sequence[Binned], h: float, k_floor: int, plan: Window) -> Level:
    """The level by FFT of the tilted, window-folded per-locus distributions (see the module
    docstring for its error bound)."""
    n_fft, tau, top = plan.size, plan.tau, plan.top
    spectrum = np.ones(n_fft // 2 + 1, dtype=np.complex128)
    log_c = 0.0
    for b in binned:
        lw = np.log(b.probs) + tau * (b.bins - b.top)
        log_m = _logsumexp(lw)
        log_c += log_m
        folded = np.bincount((b.bins - b.top) % n_fft, weights=np.exp(lw - log_m),
                             minlength=n_fft)  # fmt: skip
        spectrum *= scipy.fft.rfft(folded)
    circular = scipy.fft.irfft(spectrum, n_fft)
    window = np.roll(circular, -1)  # window[r] is K = top - n_fft + 1 + r
    first = top - n_fft + 1
    lo = first if k_floor == NO_FLOOR else max(first, k_floor)
    if tau > 0:  # keep untilting factors finite
        lo = max(lo, top - math.floor((MAX_EXPONENT - log_c) / tau))
    kept = window[lo - first :]
    ks = np.arange(lo, top + 1)
    with np.errstate(divide="ignore"):
        untilted = np.exp(np.log(np.maximum(kept, 0.0)) + log_c + tau * (top - ks))
    tails = np.cumsum(untilted[::-1])[::-1]
    eta = 10 * _U
    delta = math.log2(n_fft) * eta / (1 - math.log2(n_fft) * eta)
    n = len(binned)
    err = _FFT_SAFETY * ((n + 2) * delta + 2 * n * _U) * math.sqrt(n_fft) + plan.alias
    complete = k_floor == NO_FLOOR and plan.alias == 0.0 and lo == first
    rel = max(FLOAT_REL, 4 * _U * (len(tails) + MAX_EXPONENT))  # cumsum, untilting
    return Level(h, lo, tails, complete, "fft", lo, err, log_c, tau, top, rel=rel)


def build_level(
    per_locus: Sequence[tuple[Floats, Floats]],
    h: float,
    floor: float,
    trim: float = 0.0,
    tilt: Callable[[float], float] | None = None,
) -> Level:
    """A level of width ``h`` exact for thresholds >= ``floor`` (all when -inf), from each
    locus' (log10 LR values, probabilities given LR > 0); the topmost partial sums of mass
    up to ``trim`` may be dropped. ``tilt(h)`` gives an FFT level's tilt per bin (None:
    untilted); the cheaper of a direct and an FFT level is built."""
    n = len(per_locus)
    binned = [bin_values(v, q, h) for v, q in per_locus]
    k_floor = NO_FLOOR if floor == -math.inf else math.floor(floor / h) - n + 1
    if k_floor != NO_FLOOR:  # drop values that cannot reach the floor (exact above it)
        top = sum(b.top for b in binned)
        if top < k_floor:
            return Level(h, k_floor, np.zeros(0), False, "direct", k_floor)
        binned = [
            Binned(b.bins[keep], b.probs[keep])
            for b in binned
            for keep in [b.bins + (top - b.top) >= k_floor]
        ]
    direct = direct_cost(binned, k_floor)
    if direct <= _DIRECT_CHEAP:
        return direct_level(binned, h, k_floor, trim)
    tau = 0.0 if tilt is None else tilt(h)
    window = fft_plan(binned, h, k_floor, tau)
    if direct <= _FFT_WEIGHT * window.cost:
        return direct_level(binned, h, k_floor, trim)
    return fft_level(binned, h, k_floor, window)

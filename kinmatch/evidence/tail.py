"""The tail of a query's null distribution: P(log10 LR >= x) over unrelated references, with a
certified error bound (numbers in, numbers out: per-locus values and their probabilities).

**Loci** are independent given the query, so log10 LR is a sum of independent per-locus
values (:class:`kinmatch.evidence.locus.LocusNull`); a locus with LR 0 makes the total 0, kept
as an exact point mass ``P(LR = 0) = 1 - prod_l (1 - P_l(LR = 0))``.

**The tail** (:class:`NullDistribution`, :meth:`~NullDistribution.tail`), two methods:

* *Exact enumeration* when the product of the per-locus numbers of distinct values is at
  most :data:`EXACT_LIMIT`: every combination, summed exactly (floating-point rounding only).
  A combination within :data:`EXACT_TOL` (log10 units) of the threshold counts as reaching it.
* *A bracketing grid* otherwise (:mod:`kinmatch.evidence.grid`): rigorous bounds
  ``[lower, upper]`` of the tail, path by path, with ``x`` lowered by :data:`EXACT_TOL`, as
  for enumeration, so that the hit's own configuration, summed in another order, counts. The
  reported value is the midpoint, with relative error at most ``(upper - lower) / (2 lower)``
  (:attr:`TailProbability.relative_error_bound`). Finer levels (``h / 4`` each) cover the
  thresholds above a floor; the topmost partial sums whose total mass is below ``1e-3
  rel_tol`` times the smallest tail a level is for are dropped, their mass added to every
  upper bound.

:meth:`NullDistribution.tail` refines (adds levels) until the bound is at most ``rel_tol``
(default 1%), or no longer improves, or the finest grid (``2^-26``), a level of ``2^22`` bins
or :data:`MAX_LEVELS` would be needed (an atom of the distribution lying within ``L h`` of
the threshold can keep the bracket open; it stays valid); :meth:`NullDistribution.certify`
refines until *every* threshold whose tail may be at least ``p_min`` (default 1e-12) is
within ``rel_tol`` and returns the worst bound. The bracket is computed, not estimated, so
the accuracy claim is checked, never assumed.
"""

from __future__ import annotations

import functools
import math
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from kinmatch.evidence.grid import Level, Stacked, bin_values, build_level
from kinmatch.evidence.locus import LocusNull, merge_values

Floats = NDArray[np.float64]
Ints = NDArray[np.int64]

DEFAULT_REL_TOL = 0.01
"""Relative accuracy the tails are refined to."""
DEFAULT_P_MIN = 1e-12
"""Smallest tail probability :meth:`NullDistribution.certify` guarantees by default."""
EXACT_LIMIT = 1 << 18
"""Largest number of combinations of per-locus values enumerated exactly."""
EXACT_TOL = 1e-9
"""A combination within this many log10 units below a threshold counts as reaching it."""
MAX_LEVELS = 12
"""Most grid levels one distribution builds."""

_LEVEL0_BINS = 1 << 15  # bins of the first, whole-range level
_FINEST = -26  # log2 of the finest bin width
_COARSEST = 2  # log2 of the coarsest bin width
_REFINE_STEP = 4  # a refinement level's bins are this much narrower
_TRIM = 1e-3  # top mass a level may drop, relative to rel_tol times its smallest tail
_MAX_BINS = 1 << 22  # largest refinement level


@dataclass(frozen=True)
class TailProbability:
    """P(log10 LR >= x) under the null: a rigorous bracket and its midpoint.

    ``method`` is ``exact`` (enumeration; lower = upper up to rounding), ``grid`` (the
    bracketing grid) or ``bound`` (outside the support: 0 above the largest value, the
    probability of a positive LR below the smallest).
    """

    estimate: float
    lower: float
    upper: float
    method: str

    @property
    def relative_error_bound(self) -> float:
        """Largest relative error of :attr:`estimate`: ``(upper - lower) / (2 lower)``."""
        if self.upper <= self.lower:
            return 0.0
        return math.inf if self.lower <= 0.0 else (self.upper - self.lower) / (2 * self.lower)


class NullDistribution:
    """The distribution of log10 LR of one query against unrelated references.

    Built from the compared loci's :class:`LocusNull` tables (see the module docstring for
    the method and its error bound). Tails are computed lazily and refined on demand;
    thread-safe.
    """

    def __init__(
        self,
        loci: Sequence[LocusNull],
        *,
        rel_tol: float = DEFAULT_REL_TOL,
        exact_limit: int = EXACT_LIMIT,
    ) -> None:
        self.loci = tuple(loci)
        self.rel_tol = rel_tol
        zeros = [locus.p_zero for locus in self.loci]
        empty = any(
            z >= 1.0 or len(locus.log10_lr) == 0 for z, locus in zip(zeros, self.loci, strict=True)
        )
        self._impossible = empty
        log_finite = -math.inf if empty else math.fsum(math.log1p(-z) for z in zeros)
        self.p_finite = math.exp(log_finite)
        """P(LR > 0)."""
        self.p_zero = -math.expm1(log_finite)
        """P(LR = 0), exact: some compared locus excludes."""
        self._cond: list[tuple[Floats, Floats]] = []
        if not empty:
            for z, locus in zip(zeros, self.loci, strict=True):
                self._cond.append((locus.log10_lr, locus.probability / (1.0 - z)))
        self._binned0: Stacked | None = None
        self._saddles: dict[float, tuple[float, float]] = {}  # by x: a level's tilt asks again
        self.max_log10_lr = math.fsum(locus.max_log10_lr for locus in self.loci)
        """Largest possible log10 LR (-inf when LR is always 0)."""
        self.min_log10_lr = math.fsum(locus.min_log10_lr for locus in self.loci)
        """Smallest possible log10 LR of a positive LR."""
        self._lock = threading.RLock()
        self._levels: list[Level] = []
        self._whole: Level | None = None
        self._exact: tuple[Floats, Floats, Floats] | None = None
        self.method = "grid"
        if empty:
            self.method = "exact"
            self._exact = (np.zeros(0), np.zeros(0), np.zeros(0))
        else:
            sizes = [
                len(merge_values(v, q)[0]) if len(v) <= 1 << 16 else len(v) for v, q in self._cond
            ]
            if math.prod(sizes) <= exact_limit:
                self.method = "exact"
                self._exact = self._enumerate()

    def atoms(self) -> tuple[Floats, Floats]:
        """Exact enumeration only: the distinct positive-LR values of log10 LR (ascending;
        values closer than 1e-12 merged) and their probabilities (summing to ``p_finite``)."""
        if self._exact is None:
            raise ValueError("atoms() needs exact enumeration; this distribution is a grid")
        values, probs, _ = self._exact
        return values.copy(), probs * self.p_finite

    # -- exact moments ---------------------------------------------------------------------

    def expected_lr(self) -> float:
        """E[LR] over unrelated references, exact (the product of the per-locus means)."""
        return math.prod(locus.expected_lr for locus in self.loci)

    def mean_log10_lr(self) -> float:
        """E[log10 LR | LR > 0], exact (nan when LR is always 0)."""
        if self._impossible:
            return math.nan
        return math.fsum(float(np.dot(v, q)) for v, q in self._cond)

    def sd_log10_lr(self) -> float:
        """Standard deviation of log10 LR given LR > 0, exact."""
        if self._impossible:
            return math.nan
        total = 0.0
        for v, q in self._cond:
            mean = float(np.dot(v, q))
            total += float(np.dot((v - mean) ** 2, q))
        return math.sqrt(total)

    # -- tails ----------------------------------------------------------------------------

    def p_at_least(self, log10_lr: float | None) -> float:
        """P(LR >= 10^log10_lr | unrelated), to ``rel_tol`` (see :meth:`tail`).

        ``None`` or ``-inf`` (an observed LR of 0) gives 1.
        """
        return self.tail(log10_lr).estimate

    def tail(self, log10_lr: float | None, *, refine: bool = True) -> TailProbability:
        """P(log10 LR >= x): a rigorous bracket, refined to ``rel_tol`` when ``refine``."""
        x = -math.inf if log10_lr is None else float(log10_lr)
        if math.isnan(x):
            raise ValueError("log10_lr is NaN")
        if x == -math.inf:
            return TailProbability(1.0, 1.0, 1.0, "bound")
        if self._impossible or x > self.max_log10_lr + EXACT_TOL:
            return TailProbability(0.0, 0.0, 0.0, "bound")
        if x <= self.min_log10_lr - EXACT_TOL:
            return TailProbability(self.p_finite, self.p_finite, self.p_finite, "bound")
        if self._exact is not None:
            values, _, tails = self._exact
            i = int(np.searchsorted(values, x - EXACT_TOL, side="left"))
            p = float(tails[i]) * self.p_finite if i < len(tails) else 0.0
            return TailProbability(p, p, p, "exact")
        x -= EXACT_TOL
        with self._lock:
            if refine:
                self._jump(x)
            lower, upper, _, _ = self._grid_bracket(x)
            if refine:
                for _ in range(MAX_LEVELS):
                    if _bound(lower, upper) <= self.rel_tol or not self._refine(x, lower / 2):
                        break
                    lower, upper, _, _ = self._grid_bracket(x)
        lower, upper = lower * self.p_finite, upper * self.p_finite
        return TailProbability((lower + upper) / 2, lower, upper, "grid")

    def certify(self, p_min: float = DEFAULT_P_MIN) -> float:
        """Refine until every threshold whose tail may be ``>= p_min`` is within ``rel_tol``.

        Returns the largest relative error bound over those thresholds (checked on every
        interval between the grid points of the level responsible for it, with the tail
        bracketed by its values at the interval's ends; 0 for exact enumeration).
        """
        if self._exact is not None:
            return 0.0
        with self._lock:
            worst = math.inf
            for _ in range(MAX_LEVELS + 1):
                worst, x_fail = self._worst(p_min)
                need = p_min / self.p_finite
                if x_fail is None or not self._refine(x_fail, need, margin=0.0):
                    break
            return worst

    def quantile(self, q: float) -> float:
        """The smallest x with P(log10 LR <= x) >= q (-inf for LR 0); grid: to about L h."""
        if not 0.0 <= q <= 1.0:
            raise ValueError(f"quantile {q} must be in [0, 1]")
        if q <= self.p_zero or self._impossible:
            return -math.inf
        need = (q - self.p_zero) / self.p_finite  # P(S <= x | finite) >= need
        if self._exact is not None:
            values, _, tails = self._exact
            below = 1.0 - tails  # below[i] = P(S < values[i])
            at_most = np.append(below[1:], 1.0)  # P(S <= values[i])
            i = int(np.searchsorted(at_most, need * (1 - 1e-15), side="left"))
            # the enumeration's sums and max_log10_lr's fsum may differ in the last bit
            return min(float(values[min(i, len(values) - 1)]), self.max_log10_lr)
        with self._lock:
            level = self._level0()
        below = 1.0 - level.tails  # P(K < lo + i)
        i = int(np.searchsorted(below, need, side="left"))
        return min(self.max_log10_lr, level.h * (level.lo + i - 1 + 0.5 * len(self.loci)))

    def quantiles(self, qs: Iterable[float]) -> list[float]:
        """:meth:`quantile` of each of ``qs``."""
        return [self.quantile(q) for q in qs]

    def summary(self) -> dict[str, Any]:
        """Plain-JSON overview: loci, P(LR = 0), E[LR], moments and quantiles of log10 LR."""
        qs = (0.5, 0.99, 0.9999)
        quantiles = {f"{q:g}": _json_float(x) for q, x in zip(qs, self.quantiles(qs), strict=True)}
        return {
            "loci": [locus.locus for locus in self.loci],
            "method": self.method,
            "p_zero": self.p_zero,
            "expected_lr": self.expected_lr(),
            "mean_log10_lr": _json_float(self.mean_log10_lr()),
            "sd_log10_lr": _json_float(self.sd_log10_lr()),
            "max_log10_lr": _json_float(self.max_log10_lr),
            "quantiles": quantiles,
        }

    # -- exact enumeration ----------------------------------------------------------------

    def _enumerate(self) -> tuple[Floats, Floats, Floats]:
        """Every combination: ascending values of S | LR > 0, their probabilities, tails."""
        values, probs = np.zeros(1), np.ones(1)
        for v, q in self._cond:
            v, q = merge_values(v, q)
            values = (values[:, np.newaxis] + v[np.newaxis, :]).ravel()
            probs = (probs[:, np.newaxis] * q[np.newaxis, :]).ravel()
            values, probs = merge_values(values, probs)
        # a sum of many rounded probabilities may pass 1 by a few ulps per atom
        tails = np.minimum(np.cumsum(probs[::-1])[::-1], 1.0)
        return values, probs, tails

    # -- grid levels ----------------------------------------------------------------------

    def _grid_bracket(self, x: float) -> tuple[float, float, float, Level]:
        """Intersection of the brackets of every level covering ``x`` (conditional on LR > 0);
        the whole-range level is built when no level covers ``x``."""
        n = len(self.loci)
        covering = [level for level in self._levels if level.covers(x, n)]
        if not covering:
            covering = [self._level0()]
        lower, upper, err, best = 0.0, 1.0, 0.0, covering[0]
        for level in covering:
            if level.covers(x, n):
                lo, hi, e = level.bracket(x, n)
                if hi - lo < upper - lower:
                    err, best = e, level
                lower, upper = max(lower, lo), min(upper, hi)
        return lower, max(upper, lower), err, best

    def _level0(self) -> Level:
        """The whole-range level (built on first use, kept first)."""
        if self._whole is None:
            self._whole = self._build(self._h0(), -math.inf)
            self._levels.insert(0, self._whole)
        return self._whole

    def _h0(self) -> float:
        """The whole-range level's width: about :data:`_LEVEL0_BINS` bins over the support."""
        span = max(self.max_log10_lr - self.min_log10_lr, 1e-9)
        return 2.0 ** min(max(math.ceil(math.log2(span / _LEVEL0_BINS)), _FINEST), _COARSEST)

    def _jump(self, x: float) -> None:
        """Build, as the first level covering ``x``, one of the width the tail's decay there
        asks for, instead of refining from the whole range by factors of 4.

        Near ``x`` the tail falls like ``exp(-s (y - x))``, ``s = t ln 10`` with ``t`` the
        saddlepoint (:meth:`_saddle`), so the bracket's relative width, the mass of ``L h``
        below ``x``, is about ``exp(s L h) - 1``: ``h`` is the largest power of two with
        ``exp(s L h) - 1 <= rel_tol``. The trim budget is that of a refinement, from the
        saddlepoint estimate of the tail (Daniels 1987, Int. Statist. Rev. 55:37-48). Only a
        guess of where to start: :meth:`tail` checks the bracket and refines as before.
        """
        n = len(self.loci)
        if any(level.covers(x, n) for level in self._levels):
            return
        t, log_tail = self._saddle(x)
        if t <= 0.0:
            return
        s = t * math.log(10)
        h = 2.0 ** math.floor(math.log2(math.log1p(self.rel_tol) / (s * n)))
        h = min(max(h, 2.0**_FINEST), self._h0())
        floor = x - 0.25 - n * h
        if (self.max_log10_lr - floor) / h > _MAX_BINS:
            return
        trim = _TRIM * self.rel_tol * math.exp(log_tail) / 2
        self._levels.append(self._build(h, floor, x, trim))

    def _refine(self, x: float, p_floor: float, margin: float = 0.25) -> bool:
        """Add a level for thresholds from ``margin`` below ``x``, for tails (given LR > 0) of
        at least ``p_floor``; False when none can help."""
        if len(self._levels) >= MAX_LEVELS:
            return False
        lower, upper, err, best = self._grid_bracket(x)
        h = best.h if err > (upper - lower) / 2 else best.h / _REFINE_STEP
        if h < 2.0**_FINEST:
            return False
        floor = x - margin - len(self.loci) * best.h
        if (self.max_log10_lr - floor) / h > _MAX_BINS:
            return False
        trim = _TRIM * self.rel_tol * p_floor
        self._levels.append(self._build(h, floor, x, trim))
        new_lower, new_upper, _, _ = self._grid_bracket(x)
        return _bound(new_lower, new_upper) < _bound(lower, upper)

    def _worst(self, p_min: float) -> tuple[float, float | None]:
        """Worst bound over thresholds with upper tail >= p_min, and the lowest failing one."""
        self._level0()
        n = len(self.loci)
        floors = sorted({-math.inf if lv.complete else lv.h * (lv.valid_from + n - 1)
                         for lv in self._levels})  # fmt: skip
        worst, x_fail = 0.0, None
        need = p_min / self.p_finite if self.p_finite > 0 else math.inf
        for start, stop in zip(floors, [*floors[1:], math.inf], strict=True):
            lo_x = max(start, self.min_log10_lr)
            hi_x = min(stop, self.max_log10_lr)
            if hi_x <= lo_x:
                continue
            covering = [lv for lv in self._levels if lv.covers(lo_x, n)]
            h = min(lv.h for lv in covering)
            edges = np.arange(math.floor(lo_x / h), math.ceil(hi_x / h) + 1, dtype=np.float64) * h
            lower, upper = np.zeros(len(edges)), np.ones(len(edges))
            for lv in covering:
                lo_lv, hi_lv = self._brackets_at(lv, edges)
                lower, upper = np.maximum(lower, lo_lv), np.minimum(upper, hi_lv)
            lower, upper = lower[1:], upper[:-1]  # interval [edge_i, edge_i+1]
            relevant = upper >= need
            with np.errstate(divide="ignore", invalid="ignore"):
                bound = np.where(upper > lower, (upper - lower) / (2 * lower), 0.0)
            bound = np.where(relevant, bound, 0.0)
            if len(bound) and float(np.max(bound)) > 0:
                worst = max(worst, float(np.max(bound)))
                failing = np.flatnonzero(bound > self.rel_tol)
                if len(failing) and x_fail is None:
                    x_fail = float(edges[failing[0]])
        return worst, x_fail

    def _brackets_at(self, level: Level, xs: Floats) -> tuple[Floats, Floats]:
        """Vectorised :meth:`Level.bracket` of one level at thresholds on its grid."""
        n = len(self.loci)
        ka = np.ceil(xs / level.h).astype(np.int64)
        kb = np.floor(xs / level.h).astype(np.int64) - n + 1
        tails = np.append(level.tails, 0.0)

        def at(k: Ints) -> Floats:
            i = np.clip(k - level.lo, 0, len(level.tails))
            return tails[i]

        def err(k: Ints) -> Floats:
            if level.err == 0.0:
                return np.zeros(len(k))
            exponent = level.log_c + level.tau * (level.top - np.maximum(k, level.valid_from))
            with np.errstate(over="ignore"):
                return level.err * np.exp(np.minimum(exponent, 800.0))

        lower = np.maximum(at(ka) * (1 - level.rel) - err(ka), 0.0)
        upper = np.minimum(at(kb) * (1 + level.rel) + err(kb) + level.dropped, 1.0)
        return lower, upper

    def _build(
        self, h: float, floor: float, target: float | None = None, trim: float = 0.0
    ) -> Level:
        """A level of width ``h`` exact for thresholds >= ``floor`` (all when -inf), tilted
        towards ``target`` when it is built by FFT."""
        tilt = None if target is None else functools.partial(self._tilt, target)
        return build_level(self._cond, h, floor, trim, tilt)

    def _tilt(self, x: float, h: float) -> float:
        """The saddlepoint tilt per bin of width h (:meth:`_saddle`)."""
        return self._saddle(x)[0] * math.log(10) * h

    def _saddle(self, x: float) -> tuple[float, float]:
        """``(t, log P)``: the exponent ``t`` whose tilt ``p_l(v) 10^(t v)`` centres the sum at
        ``x`` (0 at or below the mean; found by bisection on a coarse grid, where any tilt is
        valid and this one is cheap), and the saddlepoint estimate of ``log P(S >= x)``
        (``-inf`` below the mean)."""
        if x not in self._saddles:
            self._saddles[x] = self._solve_saddle(x)
        return self._saddles[x]

    def _solve_saddle(self, x: float) -> tuple[float, float]:
        if self._binned0 is None:
            h0 = self._h0()
            self._binned0 = Stacked([bin_values(v, q, h0) for v, q in self._cond])
        stacked = self._binned0
        values = stacked.bins * self._h0()
        logs = np.log(stacked.probs)

        def moments(t: float) -> tuple[float, float, float]:
            """Mean and variance of the tilted sum, and its log moment generating function."""
            tilted = logs + t * math.log(10) * values
            log_m = stacked.logsumexp(tilted)
            w = np.exp(tilted - stacked.spread(log_m))
            mean = stacked.sums(w * values)
            var = stacked.sums(w * values**2) - mean**2
            return float(np.sum(mean)), float(np.sum(np.maximum(var, 0.0))), float(np.sum(log_m))

        if moments(0.0)[0] >= x:
            return 0.0, -math.inf
        lo, hi = 0.0, 1.0
        while moments(hi)[0] < x and hi < 1e3:
            lo, hi = hi, hi * 2
        for _ in range(24):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if moments(mid)[0] < x else (lo, mid)
        _, var, log_m = moments(lo)
        s = lo * math.log(10)
        log_tail = log_m - s * x - math.log(max(s * math.sqrt(var * 2 * math.pi), 1e-300))
        return lo, min(log_tail, 0.0)


def _bound(lower: float, upper: float) -> float:
    if upper <= lower:
        return 0.0
    return math.inf if lower <= 0.0 else (upper - lower) / (2 * lower)


def _json_float(value: float) -> float | None:
    return value if math.isfinite(value) else None

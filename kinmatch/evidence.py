"""Database-size-aware evidence: the exact chance that an unrelated reference scores as high.

A search meets N references (or couples); even when none is related, the best of them has
some LR. For a hit with observed log10 LR ``x`` this module gives

    p_unrelated        = P(log10 LR >= x | the query, an unrelated reference),
    expected_unrelated = N * p_unrelated,

the exact tail of the *null distribution* of the LR of one query: the distribution over
references drawn at random from the population, unrelated to the query, with every setting
of the search (theta, mutation model, minimum frequency, relationship, roles, the loci
compared in that hit).

**Per locus** (:class:`LocusNull`). The LR of every possible reference genotype ``g`` is the
core's, on the allele set of the query's comparison (the same numbers as the scan's score
tables, :meth:`kinmatch.tables.TableBuilder.locus_grids`), and ``g`` has probability

    P(g | query, H2) = P(query, g | H2) / sum_g' P(query, g' | H2),

with ``P(query, g | H2)`` from the core's H2 pedigree (:func:`kinmatch.pedigree.
pedigree_likelihood_grid`): under theta the typed persons' alleles are the Balding-Nichols
sequential draws, so the reference's alleles are drawn *after* the query's. The sum runs over
the genotypes of the comparison's allele set: the frequency table's alleles plus the query's
alleles the table lacks, at the minimum frequency. That is the population model the LR
itself uses; the store's dictionary is not: it lacks alleles nobody stored carries yet (the
next unrelated person may), and it holds alleles the table lacks, which the population model
gives no probability. The normalisation over ``g'`` makes the weights a distribution also
when the allele set's frequencies do not sum to exactly 1 (tables within 0.005 of 1, added
rare alleles).

**The mean.** ``E[LR | query, H2] = sum_g P(query, g | H1) / sum_g P(query, g | H2)``, which is
``P(query | H1) / P(query | H2)`` when the frequencies sum to 1. That is exactly 1 whenever
the query's own genotype is as probable under H1 as under H2: always for a query of founders
of H1 (the parent of a duo, a couple, the grandparent); for other queries without mutation
(their genes are copies of distinct founder genes, and the Balding-Nichols urn is
exchangeable) and with a stationary mutation model (``p M = p``: ``proportional``) at theta 0.
With ``equal``, ``stepwise`` or ``onestep`` (Simonsson & Mostad 2016, *Stationary mutation
models*, FSI Genetics 23:217-225), or any mutation with theta > 0 (mutation loosens the
urn's correlation of the two genes), the genotype of a non-founder query (the child of a
duo, either sibling or cousin, the grandchild, the nephew) changes probability, and the
conditional mean is that ratio, not 1 (per locus up to a few percent with the AABB rates,
for rare alleles next to common ones). Averaged over queries it is 1
(tests/test_likelihood.py).
:meth:`NullDistribution.expected_lr` reports it exactly.

**Couples** (a child against random unrelated couples, ``parents-child``): at a locus where
both parents are compared the pair's genotypes ``(f, m)`` get
``P(f, m | child, H2) = P(f | child) P(m | child, f)``, the Balding-Nichols draws after the
child's, and LR = P(child | f, m) / P(child | f, m, unrelated), the formula of the couple scan
kernel (:func:`kinmatch.kernels.scan.score_couples`); tested equal to the core's
:func:`kinmatch.likelihood.locus_lr` and :func:`kinmatch.pedigree.pedigree_likelihood` for
every pair. A locus where only one parent is compared is that parent's duo.

**Loci** are independent given the query, so log10 LR is a sum of independent per-locus
values; a locus with LR 0 makes the total 0, kept as an exact point mass
``P(LR = 0) = 1 - prod_l (1 - P_l(LR = 0))``.

**The tail** (:class:`NullDistribution`, :meth:`~NullDistribution.tail`), two methods:

* *Exact enumeration* when the product of the per-locus numbers of distinct values is at
  most :data:`EXACT_LIMIT`: every combination, summed exactly (floating-point rounding only).
  A combination within :data:`EXACT_TOL` (log10 units) of the threshold counts as reaching it.
* *A bracketing grid* otherwise. On a grid of width ``h = 2^-k`` every per-locus value ``v``
  is replaced by ``h floor(v / h)`` (exact: ``h`` is a power of two), so the grid sum ``hK``
  of ``L`` loci satisfies ``hK <= S < hK + L h`` for the true sum ``S``, path by path. Hence

      P(K >= ceil(x/h)) <= P(S >= x) <= P(K >= floor(x/h) - L + 1),

  a rigorous bracket ``[lower, upper]`` whose width is the mass of at most ``L`` bins below
  ``x`` (``x`` lowered by :data:`EXACT_TOL`, as for enumeration, so that the hit's own
  configuration, summed in another order, counts). The reported value is the midpoint, with
  relative error at most
  ``(upper - lower) / (2 lower)`` (:attr:`TailProbability.relative_error_bound`). The
  distribution of ``K`` is computed on *levels*: a coarse one over the whole range, and finer
  ones (``h / 4`` each) over ``[x_f, max]`` only, for thresholds above ``x_f`` (a value or a
  partial sum that cannot reach ``x_f - L h`` even with the largest values of the remaining
  loci is dropped: exact for those thresholds; and the topmost partial sums whose total mass
  is below ``1e-3 rel_tol`` times the smallest tail the level is for are dropped, their mass
  added to every upper bound). A level is computed either

  - *directly* (:func:`kinmatch.kernels.convolve.convolve_pruned`): sums of non-negative
    products, so every bin keeps a relative error of at most ``4 u`` per rounding step
    (``u = 2^-53``; one step per value of a locus and per bin summed into a tail) however
    small it is (to 1e-300), folded into the bracket as a factor ``1 -+ rel``
    (1e-12 to 1e-10); or
  - *by FFT* when that is cheaper (many distinct values: mutation, couples), on the
    exponentially tilted (Esscher) distribution ``q_l(v) ~ p_l(v) 10^(t v)``, ``t`` the
    saddlepoint that centres the sum at the threshold (as in rare-event importance sampling,
    Siegmund 1976, Ann. Statist. 4:673-684), so the FFT's absolute rounding becomes a
    relative one at the threshold. Rounding of the whole
    convolution is bounded in the 2-norm by ``4 ((L + 2) d + 2 L u)`` with
    ``d = log2(N) eta / (1 - log2(N) eta)``, ``eta = 10 u`` (Higham 2002, *Accuracy and
    Stability of Numerical Algorithms*, Theorem 24.2, with a safety factor 4), hence by
    ``sqrt(N)`` times that for any tail sum; a level that keeps a window of ``N`` bins below
    the top folds the tilted mass below the window into it (circular aliasing), bounded by
    the Chernoff bound ``min_u E[e^(u (top - K))] e^(-u N)`` computed from the per-locus
    tilted distributions. Both bounds, untilted, widen the bracket.

  :meth:`NullDistribution.tail` refines (adds levels) until the bound is at most
  ``rel_tol`` (default 1%), or no longer improves, or the finest grid (``2^-26``), a level of
  ``2^22`` bins or :data:`MAX_LEVELS` would be needed (an atom of the distribution lying
  within ``L h`` of the threshold can keep the bracket open; it stays valid);
  :meth:`NullDistribution.certify` refines until *every* threshold whose tail may be at
  least ``p_min`` (default 1e-12) is within ``rel_tol`` and returns the worst bound. The
  bracket is computed, not estimated, so the accuracy claim is checked, never assumed.

**Database verdict.** A hit whose verdict is ``support`` but whose ``expected_unrelated``
reaches a bound (default 0.01) is ``support-database-caution``: in a database this size an
unrelated reference scoring that high is not negligible (:func:`database_verdict`).

**Posterior** (optional, :func:`posterior_relative`), after Slooten & Meester (2012),
*Forensic identification: database likelihood ratios and familial DNA searching*,
arXiv:1201.4261 (Meester & Slooten, JRSS C 63, 2014). Assumptions: the searched references
hold at most one relative of the query of the searched kind; a prior probability ``pi`` that
one of them is, uniform over the N references; given the query, the references' profiles are
independent of each other (exact at theta 0; approximate under theta, which links everyone);
each reference's LR compares "this one is the relative" with "unrelated". Then the
posterior that reference ``i`` is the relative is
``(pi / N) LR_i / ((1 - pi) + (pi / N) sum_j LR_j)``, the sum over *all* N references met,
not only the hits.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.fft
from numpy.typing import NDArray

from kinmatch.alleles import Genotype
from kinmatch.errors import CaseError, InputError
from kinmatch.frequencies import DEFAULT_MIN_FREQUENCY, AlleleFrequencies
from kinmatch.kernels.convolve import convolve_pruned, trimmed_span
from kinmatch.likelihood import NO_MUTATION, untyped_roles
from kinmatch.loci import locus_sort_key
from kinmatch.mutation import MutationModel
from kinmatch.profiles import Profile
from kinmatch.relationships import get_relationship
from kinmatch.tables import TableBuilder
from kinmatch.verdict import SUPPORT

if TYPE_CHECKING:
    from kinmatch.search import Hit, SearchResult

Floats = NDArray[np.float64]
Ints = NDArray[np.int64]

SUPPORT_DATABASE_CAUTION = "support-database-caution"
DEFAULT_CAUTION_BOUND = 0.01
"""``expected_unrelated`` at or above which a ``support`` hit gets the caution qualifier."""
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

_MERGE_TOL = 1e-12  # per-locus values closer than this (log10) are one value
_LEVEL0_BINS = 1 << 15  # bins of the first, whole-range level
_FINEST = -26  # log2 of the finest bin width
_COARSEST = 2  # log2 of the coarsest bin width
_FLOAT_REL = 1e-12  # relative rounding allowance of directly computed tails
_FFT_SAFETY = 4.0
_ALIAS_TARGET = 1e-12  # tilted mass allowed to fold into an FFT level's window
_REFINE_STEP = 4  # a refinement level's bins are this much narrower
_TRIM = 1e-3  # top mass a level may drop, relative to rel_tol times its smallest tail
_FFT_WEIGHT = 10  # cost of one N log2 N unit of FFT in direct multiply-adds
_DIRECT_CHEAP = 3e7  # direct convolutions this cheap are never replaced by an FFT
_MAX_EXPONENT = 680.0  # exp() of an untilting factor stays finite below this
_MAX_BINS = 1 << 22  # largest refinement level
_NEG = -(1 << 60)  # "no floor"
_U = float(np.finfo(np.float64).eps) / 2


# -- per-locus null tables --------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class LocusNull:
    """The LR of one locus over unrelated references, with each value's probability.

    ``log10_lr`` holds the finite values (one per reference genotype or couple, unsorted,
    possibly repeated) and ``probability`` their probabilities; ``p_zero`` is P(LR = 0) and
    the three sum to 1. ``expected_lr`` is E[LR] at this locus, summed exactly over every
    genotype.
    """

    locus: str
    log10_lr: Floats
    probability: Floats
    p_zero: float
    expected_lr: float

    @classmethod
    def from_likelihoods(cls, locus: str, h1: Floats, h2: Floats) -> LocusNull:
        """From P(query, g | H1) and P(query, g | H2) over every reference genotype ``g``.

        P(g) = h2 / sum(h2) and LR = h1 / h2 (see the module docstring).
        """
        h1 = np.asarray(h1, dtype=np.float64).ravel()
        h2 = np.asarray(h2, dtype=np.float64).ravel()
        if np.any((h2 <= 0.0) & (h1 > 0.0)):
            raise CaseError("a reference genotype is possible under H1 but not H2", locus=locus)
        total = float(np.sum(h2))
        if not total > 0.0:
            raise CaseError("the query's genotypes are impossible under H2", locus=locus)
        possible = h2 > 0.0
        return cls.from_values(locus, h1[possible] / h2[possible], h2[possible])

    @classmethod
    def from_values(cls, locus: str, lr: Floats, weight: Floats) -> LocusNull:
        """From the LR of every reference genotype (or couple) and unnormalised weights."""
        lr = np.asarray(lr, dtype=np.float64).ravel()
        weight = np.asarray(weight, dtype=np.float64).ravel()
        total = float(np.sum(weight))
        if not total > 0.0 or np.any(lr < 0.0) or not np.all(np.isfinite(lr)):
            raise CaseError("no reference genotype is possible, or an LR is not finite",
                            locus=locus)  # fmt: skip
        weight = weight / total
        finite = lr > 0.0
        return cls(
            locus,
            np.log10(lr[finite]),
            weight[finite],
            float(np.sum(weight[~finite])),
            float(np.dot(weight, lr)),
        )

    @property
    def max_log10_lr(self) -> float:
        return float(np.max(self.log10_lr)) if len(self.log10_lr) else -math.inf

    @property
    def min_log10_lr(self) -> float:
        return float(np.min(self.log10_lr)) if len(self.log10_lr) else -math.inf

    def distinct(self) -> tuple[Floats, Floats]:
        """Distinct finite values (ascending; within 1e-12 merged) and their probabilities."""
        return _merge(self.log10_lr, self.probability)


def couple_locus_null(
    locus: str,
    frequencies: Floats,
    child: tuple[int, int],
    *,
    theta: float = 0.0,
    matrices: tuple[Floats, Floats] | None = None,
) -> LocusNull:
    """A child against random unrelated couples at a locus where both parents are compared.

    ``frequencies`` is the allele set of the child's comparison, ``child`` the child's allele
    indices into it and ``matrices`` the (paternal, maternal) mutation matrices (None: no
    mutation). Every ordered pair (father genotype f, mother genotype m) of the allele set's
    unordered genotypes is one value: P(f, m) = P(f | child) P(m | child, f), the
    Balding-Nichols draws 3-6 after the child's two, with the weight 2 of a heterozygote;
    H1 = t_F(f -> c1) t_M(m -> c2) + t_F(f -> c2) t_M(m -> c1) (one term for a homozygous
    child), t(g -> a) = (M[g1, a] + M[g2, a]) / 2; H2 = the child's draws 5 and 6 after the
    parents' four, times 2 for a heterozygote.
    """
    p = np.asarray(frequencies, dtype=np.float64)
    n = len(p)
    t = float(theta)
    paternal, maternal = matrices if matrices is not None else (np.eye(n), np.eye(n))
    i, j = np.triu_indices(n)
    g = len(i)
    counts = np.zeros((g, n))
    np.add.at(counts, (np.arange(g), i), 1.0)
    np.add.at(counts, (np.arange(g), j), 1.0)
    het = np.where(i != j, 2.0, 1.0)
    c1, c2 = child
    in_child = np.zeros(n)
    in_child[c1] += 1.0
    in_child[c2] += 1.0
    # P(f | child): draws 3 and 4
    p_f = het * (in_child[i] * t + (1 - t) * p[i]) / (1 + t)
    p_f = p_f * ((in_child[j] + (i == j)) * t + (1 - t) * p[j]) / (1 + 2 * t)
    # P(m | child, f): draws 5 and 6; seen[f, a] = copies of allele a among child and f
    seen = in_child[np.newaxis, :] + counts
    p_m = (seen[:, i] * t + (1 - t) * p[i]) / (1 + 3 * t)
    p_m = p_m * ((seen[:, j] + (i == j)) * t + (1 - t) * p[j]) / (1 + 4 * t) * het
    h2_joint = p_f[:, np.newaxis] * p_m
    # LR = P(child | f, m) / P(child | f, m, unrelated)
    n1 = counts[:, c1][:, np.newaxis] + counts[:, c1][np.newaxis, :]
    first = (n1 * t + (1 - t) * p[c1]) / (1 + 3 * t)
    tf1 = (paternal[i, c1] + paternal[j, c1]) / 2
    tm1 = (maternal[i, c1] + maternal[j, c1]) / 2
    if c1 != c2:
        tf2 = (paternal[i, c2] + paternal[j, c2]) / 2
        tm2 = (maternal[i, c2] + maternal[j, c2]) / 2
        h1 = tf1[:, np.newaxis] * tm2 + tf2[:, np.newaxis] * tm1
        n2 = counts[:, c2][:, np.newaxis] + counts[:, c2][np.newaxis, :]
        h2 = 2.0 * first * (n2 * t + (1 - t) * p[c2]) / (1 + 4 * t)
    else:
        h1 = tf1[:, np.newaxis] * tm1
        h2 = first * ((n1 + 1) * t + (1 - t) * p[c1]) / (1 + 4 * t)
    return LocusNull.from_values(locus, h1 / h2, h2_joint)


def _merge(values: Floats, probs: Floats) -> tuple[Floats, Floats]:
    """Sort, and merge values closer than 1e-12 (the first of a run stands for it)."""
    if len(values) == 0:
        return values.copy(), probs.copy()
    order = np.argsort(values, kind="stable")
    values, probs = values[order], probs[order]
    starts = np.concatenate(([0], np.flatnonzero(np.diff(values) > _MERGE_TOL) + 1))
    return values[starts], np.add.reduceat(probs, starts)


# -- tail probabilities -----------------------------------------------------------------------


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


@dataclass(frozen=True, eq=False)
class _Binned:
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
class _Level:
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
    rel: float = _FLOAT_REL

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
        return math.inf if exponent > _MAX_EXPONENT else self.err * math.exp(exponent)

    def bracket(self, x: float, n_loci: int) -> tuple[float, float, float]:
        """(lower, upper, part of the width due to rounding of the computation)."""
        ka = math.ceil(x / self.h)
        kb = math.floor(x / self.h) - n_loci + 1
        lo_err, hi_err = self.err_at(ka), self.err_at(kb)
        lower = max(self.tail_at(ka) * (1 - self.rel) - lo_err, 0.0)
        upper = min(self.tail_at(kb) * (1 + self.rel) + hi_err + self.dropped, 1.0)
        return lower, upper, lo_err + hi_err + self.dropped


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
        self._binned0: _Stacked | None = None
        self.max_log10_lr = math.fsum(locus.max_log10_lr for locus in self.loci)
        """Largest possible log10 LR (-inf when LR is always 0)."""
        self.min_log10_lr = math.fsum(locus.min_log10_lr for locus in self.loci)
        """Smallest possible log10 LR of a positive LR."""
        self._lock = threading.RLock()
        self._levels: list[_Level] = []
        self._exact: tuple[Floats, Floats, Floats] | None = None
        self.method = "grid"
        if empty:
            self.method = "exact"
            self._exact = (np.zeros(0), np.zeros(0), np.zeros(0))
        else:
            sizes = [len(_merge(v, q)[0]) if len(v) <= 1 << 16 else len(v) for v, q in self._cond]
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
            return float(values[min(i, len(values) - 1)])
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
            v, q = _merge(v, q)
            values = (values[:, np.newaxis] + v[np.newaxis, :]).ravel()
            probs = (probs[:, np.newaxis] * q[np.newaxis, :]).ravel()
            values, probs = _merge(values, probs)
        tails = np.cumsum(probs[::-1])[::-1]
        return values, probs, tails

    # -- grid levels ----------------------------------------------------------------------

    def _grid_bracket(self, x: float) -> tuple[float, float, float, _Level]:
        """Intersection of the brackets of every level covering ``x`` (conditional on LR > 0)."""
        self._level0()
        n = len(self.loci)
        lower, upper, err, best = 0.0, 1.0, 0.0, self._levels[0]
        for level in self._levels:
            if level.covers(x, n):
                lo, hi, e = level.bracket(x, n)
                if hi - lo < upper - lower:
                    err, best = e, level
                lower, upper = max(lower, lo), min(upper, hi)
        return lower, max(upper, lower), err, best

    def _level0(self) -> _Level:
        if not self._levels:
            span = max(self.max_log10_lr - self.min_log10_lr, 1e-9)
            k = min(max(math.ceil(math.log2(span / _LEVEL0_BINS)), _FINEST), _COARSEST)
            self._levels.append(self._build(2.0**k, -math.inf))
        return self._levels[0]

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

    def _brackets_at(self, level: _Level, xs: Floats) -> tuple[Floats, Floats]:
        """Vectorised :meth:`_Level.bracket` of one level at thresholds on its grid."""
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
    ) -> _Level:
        """A level of width ``h`` exact for thresholds >= ``floor`` (all when -inf)."""
        n = len(self.loci)
        binned = [_bin(v, q, h) for v, q in self._cond]
        k_floor = _NEG if floor == -math.inf else math.floor(floor / h) - n + 1
        if k_floor != _NEG:  # drop values that cannot reach the floor (exact above it)
            top = sum(b.top for b in binned)
            if top < k_floor:
                return _Level(h, k_floor, np.zeros(0), False, "direct", k_floor)
            binned = [
                _Binned(b.bins[keep], b.probs[keep])
                for b in binned
                for keep in [b.bins + (top - b.top) >= k_floor]
            ]
        direct = _direct_cost(binned, k_floor)
        if direct <= _DIRECT_CHEAP:
            return _direct_level(binned, h, k_floor, trim)
        tau = 0.0 if target is None else self._tilt(target, h)
        window = _fft_plan(binned, h, k_floor, tau)
        if direct <= _FFT_WEIGHT * window.cost:
            return _direct_level(binned, h, k_floor, trim)
        return _fft_level(binned, h, k_floor, window)

    def _tilt(self, x: float, h: float) -> float:
        """The saddlepoint tilt (per bin of width h) centring the sum at ``x``; 0 below the
        mean. Found by bisection on the coarse level (any tilt is valid; this one is cheap)."""
        level0 = self._level0()
        if self._binned0 is None:
            self._binned0 = _Stacked([_bin(v, q, level0.h) for v, q in self._cond])
        stacked = self._binned0
        values = stacked.bins * level0.h
        logs = np.log(stacked.probs)

        def mean(t: float) -> float:
            w = np.exp(logs + t * math.log(10) * values - stacked.spread(stacked.peaks(
                logs + t * math.log(10) * values)))  # fmt: skip
            return float(np.sum(stacked.sums(w * values) / stacked.sums(w)))

        if mean(0.0) >= x:
            return 0.0
        lo, hi = 0.0, 1.0
        while mean(hi) < x and hi < 1e3:
            lo, hi = hi, hi * 2
        for _ in range(24):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if mean(mid) < x else (lo, mid)
        return lo * math.log(10) * h


def _bound(lower: float, upper: float) -> float:
    if upper <= lower:
        return 0.0
    return math.inf if lower <= 0.0 else (upper - lower) / (2 * lower)


def _json_float(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _bin(values: Floats, probs: Floats, h: float) -> _Binned:
    """Values floored to the grid of width ``h`` (a power of two: ``values / h`` is exact)."""
    k = np.floor(values / h).astype(np.int64)
    if len(k) == 0:
        return _Binned(k, probs)
    low = int(np.min(k))
    span = int(np.max(k)) - low + 1
    if span <= 4 * len(k) + 1024:
        counts = np.bincount(k - low, weights=probs, minlength=span).astype(np.float64)
        where = np.flatnonzero(counts)
        return _Binned(where + low, counts[where])
    bins, inverse = np.unique(k, return_inverse=True)
    return _Binned(bins, np.bincount(inverse, weights=probs).astype(np.float64))


def _direct_cost(binned: Sequence[_Binned], k_floor: int) -> float:
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


def _direct_level(binned: Sequence[_Binned], h: float, k_floor: int, trim: float = 0.0) -> _Level:
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
            return _Level(h, k_floor, np.zeros(0), k_floor == _NEG, "direct", k_floor)
        out_lo = max(lo + int(bins[0]), floor)
        out = np.zeros(hi + int(bins[-1]) - out_lo + 1)
        convolve_pruned(d, lo, bins, probs, floor, out_lo, out)
        first, last, cut = trimmed_span(out, budget)
        dropped += cut
        if first > last:
            return _Level(h, k_floor, np.zeros(0), k_floor == _NEG, "direct", k_floor,
                          dropped=dropped)  # fmt: skip
        d, lo = out[first : last + 1], out_lo + first
    tails = np.cumsum(d[::-1])[::-1]
    valid = lo if k_floor == _NEG else min(lo, k_floor)
    terms = sum(len(b.bins) + 2 for b in binned) + len(tails)  # rounding steps per value
    return _Level(h, lo, tails, k_floor == _NEG and dropped == 0.0, "direct", valid,
                  dropped=dropped, rel=max(_FLOAT_REL, 4 * _U * terms))  # fmt: skip


@dataclass(frozen=True)
class _Window:
    """An FFT level's plan: tilt per bin, window of ``size`` bins below ``top``, aliasing."""

    tau: float
    size: int
    top: int
    alias: float
    cost: float


def _fft_plan(binned: Sequence[_Binned], h: float, k_floor: int, tau: float) -> _Window:
    """The smallest power-of-two window below the top whose folded-in tilted mass (Chernoff
    bound, minimised over a few exponents) is at most the target, or the whole range."""
    top = sum(b.top for b in binned)
    bottom = sum(b.bottom for b in binned)
    full = 1 << max(math.ceil(math.log2(top - bottom + 1)), 1)
    size, alias = full, 0.0
    if k_floor != _NEG:
        stacked = _Stacked(binned)
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
    return _Window(tau, size, top, min(alias, 1.0), cost)


class _Stacked:
    """Several loci's binned values in one array, for per-locus reductions."""

    def __init__(self, binned: Sequence[_Binned]) -> None:
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


def _fft_level(binned: Sequence[_Binned], h: float, k_floor: int, plan: _Window) -> _Level:
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
    lo = first if k_floor == _NEG else max(first, k_floor)
    if tau > 0:  # keep untilting factors finite
        lo = max(lo, top - math.floor((_MAX_EXPONENT - log_c) / tau))
    kept = window[lo - first :]
    ks = np.arange(lo, top + 1)
    with np.errstate(divide="ignore"):
        untilted = np.exp(np.log(np.maximum(kept, 0.0)) + log_c + tau * (top - ks))
    tails = np.cumsum(untilted[::-1])[::-1]
    eta = 10 * _U
    delta = math.log2(n_fft) * eta / (1 - math.log2(n_fft) * eta)
    n = len(binned)
    err = _FFT_SAFETY * ((n + 2) * delta + 2 * n * _U) * math.sqrt(n_fft) + plan.alias
    complete = k_floor == _NEG and plan.alias == 0.0 and lo == first
    rel = max(_FLOAT_REL, 4 * _U * (len(tails) + _MAX_EXPONENT))  # cumsum, untilting
    return _Level(h, lo, tails, complete, "fft", lo, err, log_c, tau, top, rel=rel)


# -- null distributions of queries ------------------------------------------------------------

COUPLE_PATTERNS = ("both", "father", "mother")


class NullModel:
    """Null distributions for the queries of one search configuration, cached.

    Uses a :class:`~kinmatch.tables.TableBuilder` (pass the searcher's, ``searcher.tables``,
    so a query's null reuses the likelihood grids of its score tables) for the frequency
    table, theta, mutation model and minimum frequency. Distributions are cached per (query
    genotypes, relationship, roles, sex, set of compared loci), the last ``cache_size`` of
    them (the hits of one query share one); per-locus tables up to ``cache_values`` values
    in all (a couple's locus holds up to 400,000).
    """

    def __init__(
        self,
        tables: TableBuilder,
        *,
        rel_tol: float = DEFAULT_REL_TOL,
        cache_size: int = 16,
        cache_values: int = 1 << 23,
    ) -> None:
        self.tables = tables
        self.rel_tol = rel_tol
        self.cache_size = cache_size
        self.cache_values = cache_values
        self._values = 0
        self._loci: OrderedDict[tuple[object, ...], LocusNull] = OrderedDict()
        self._distributions: OrderedDict[tuple[object, ...], NullDistribution] = OrderedDict()
        self._lock = threading.Lock()

    @classmethod
    def from_settings(
        cls,
        frequencies: AlleleFrequencies,
        *,
        theta: float = 0.0,
        mutation: MutationModel = NO_MUTATION,
        min_frequency: float = DEFAULT_MIN_FREQUENCY,
        rel_tol: float = DEFAULT_REL_TOL,
    ) -> NullModel:
        """A model with its own :class:`~kinmatch.tables.TableBuilder`."""
        builder = TableBuilder(frequencies, theta=theta, mutation=mutation,
                               min_frequency=min_frequency)  # fmt: skip
        return cls(builder, rel_tol=rel_tol)

    @property
    def frequencies(self) -> AlleleFrequencies:
        return self.tables.frequencies

    # -- per locus ------------------------------------------------------------------------

    def locus(
        self,
        relationship: str,
        locus: str,
        query: Mapping[str, Genotype],
        free_role: str,
        transmitter_sex: str = "M",
    ) -> LocusNull:
        """One locus, a single free reference: from the core's grids (module docstring)."""
        rel = get_relationship(relationship)
        sex = transmitter_sex if rel.transmitter is not None else "M"
        key = ("single", rel.name, locus, tuple(sorted(query.items())), free_role, sex)
        return self._cached_locus(key, lambda: self._single_locus(rel.name, locus, query,
                                                                  free_role, sex))  # fmt: skip

    def couple_locus(self, locus: str, child: Genotype, parents: str = "both") -> LocusNull:
        """One locus of a child against random couples; ``parents`` says who is compared
        there: ``both``, or ``father`` / ``mother`` alone (that parent's duo)."""
        if parents not in COUPLE_PATTERNS:
            raise ValueError(f"parents {parents!r}: one of {', '.join(COUPLE_PATTERNS)}")
        if parents != "both":
            sex = "M" if parents == "father" else "F"
            return self.locus("parent-child", locus, {"child": child}, "parent", sex)
        key = ("couple", locus, child)
        return self._cached_locus(key, lambda: self._couple_locus(locus, child))

    def _cached_locus(self, key: tuple[object, ...], make: Callable[[], LocusNull]) -> LocusNull:
        with self._lock:
            found = self._loci.get(key)
            if found is not None:
                self._loci.move_to_end(key)
                return found
        made = make()
        with self._lock:
            if key not in self._loci:
                self._loci[key] = made
                self._values += len(made.log10_lr)
            while self._values > self.cache_values and len(self._loci) > 1:
                self._values -= len(self._loci.popitem(last=False)[1].log10_lr)
        return made

    def _single_locus(
        self, relationship: str, locus: str, query: Mapping[str, Genotype], free: str, sex: str
    ) -> LocusNull:
        grids = self.tables.locus_grids(relationship, locus, query, free, sex)
        upper = np.triu_indices(len(grids.alleles.alleles))
        return LocusNull.from_likelihoods(locus, grids.h1[upper], grids.h2[upper])

    def _couple_locus(self, locus: str, child: Genotype) -> LocusNull:
        tables = self.tables
        alleles = tables.frequencies.locus_alleles(locus, child, tables.min_frequency)
        try:
            matrices = tables.mutation.matrices(alleles)
        except InputError as exc:
            raise CaseError(exc.reason, locus=locus) from None
        coded = (alleles.index(child[0]), alleles.index(child[1]))
        return couple_locus_null(locus, alleles.frequencies, coded, theta=tables.theta,
                                 matrices=matrices)  # fmt: skip

    # -- whole queries --------------------------------------------------------------------

    def single(
        self,
        relationship: str,
        query: Mapping[str, Mapping[str, Genotype]],
        free_role: str,
        *,
        loci: Collection[str] | None = None,
        transmitter_sex: str = "M",
    ) -> NullDistribution:
        """The null of a query against single unrelated references in ``free_role``.

        ``query`` maps the query's roles to their genotypes per locus (as the searcher's
        :meth:`~kinmatch.tables.TableBuilder.single`): ``{"child": profile.genotypes}`` for a
        person of unknown origin against parents, ``{"father": ..., "mother": ...}`` for a
        couple against children. ``loci``: the loci compared (default: every locus where the
        query side is typed and in the table, i.e. a fully typed reference);
        ``transmitter_sex``: the sex of the ``parent`` of a duo (the reference's when the
        query is the child).
        """
        rel = get_relationship(relationship)
        unknown = sorted(({*query} | {free_role}) - set(rel.roles))
        if unknown or free_role in query:
            raise CaseError(f"{relationship}: roles {sorted(query)} and free role {free_role} "
                            f"do not fit its roles {', '.join(rel.roles)}")  # fmt: skip
        candidates = loci if loci is not None else {name for g in query.values() for name in g}
        per_locus: dict[str, dict[str, Genotype]] = {}
        for locus in sorted(candidates, key=locus_sort_key):
            typed = {role: g[locus] for role, g in query.items() if locus in g}
            gap = untyped_roles(rel, {*typed, free_role})
            if locus in self.frequencies and gap is None:
                per_locus[locus] = typed
            elif loci is not None:
                reason = "not in the frequency table" if gap is None else f"untyped: {gap}"
                raise CaseError(f"locus {locus} is not compared ({reason})", locus=locus)
        sex = transmitter_sex if rel.transmitter is not None else "M"
        typed_loci = frozenset((locus, tuple(sorted(g.items()))) for locus, g in per_locus.items())
        key = ("single", rel.name, free_role, sex, typed_loci)
        return self._distribution(key, lambda: [
            self.locus(rel.name, locus, typed, free_role, sex) for locus, typed in per_locus.items()
        ])  # fmt: skip

    def couples(
        self,
        child: Mapping[str, Genotype],
        *,
        loci: Mapping[str, str] | Collection[str] | None = None,
    ) -> NullDistribution:
        """The null of a child against random unrelated couples (``parents-child``).

        ``loci`` maps each compared locus to who of the couple is typed there (``both``,
        ``father``, ``mother``); a plain collection means ``both``; default: every locus where
        the child is typed and in the table, with both parents typed.
        """
        if loci is None:
            pattern = dict.fromkeys(child, "both")
        elif isinstance(loci, Mapping):
            pattern = dict(loci)
        else:
            pattern = dict.fromkeys(loci, "both")
        chosen = {}
        for locus in sorted(pattern, key=locus_sort_key):
            if locus not in child or locus not in self.frequencies:
                if loci is None:
                    continue
                raise CaseError(f"locus {locus} is not compared (child untyped or not in the "
                                "frequency table)", locus=locus)  # fmt: skip
            chosen[locus] = pattern[locus]
        key = ("couples", frozenset((locus, child[locus], who) for locus, who in chosen.items()))
        return self._distribution(key, lambda: [
            self.couple_locus(locus, child[locus], who) for locus, who in chosen.items()
        ])  # fmt: skip

    def for_hit(self, hit: Hit) -> NullDistribution:
        """The null for a search hit, over the loci compared in that hit.

        A couple hit of a child (``father_id`` and ``mother_id`` set) is against random
        couples, with each locus' typed parents; any other hit is against a single reference
        in the role the reference holds in ``hit.persons``, the query in the others, and the
        duo's parent sex from the profile (unknown: male, as the scan).
        """
        persons = hit.persons
        if not persons:
            raise ValueError("the hit carries no profiles (Hit.persons)")
        rel = get_relationship(hit.relationship)
        if hit.relationship == "parents-child" and hit.father_id and hit.mother_id:
            child = persons["child"].genotypes
            father, mother = persons["father"].genotypes, persons["mother"].genotypes
            loci = {}
            for locus in child:
                if locus in self.frequencies and (locus in father or locus in mother):
                    both = locus in father and locus in mother
                    loci[locus] = "both" if both else ("father" if locus in father else "mother")
            return self.couples(child, loci=loci)
        free = [role for role, p in persons.items() if p.sample_id == hit.reference_id]
        if len(free) != 1:
            raise ValueError(f"cannot tell the reference's role in hit {hit.reference_id}")
        query = {role: p.genotypes for role, p in persons.items() if role != free[0]}
        sex = (persons[rel.transmitter].sex or "M") if rel.transmitter else "M"
        compared = []
        for locus in {name for p in persons.values() for name in p.genotypes}:
            typed = {role for role, p in persons.items() if locus in p.genotypes}
            if locus in self.frequencies and untyped_roles(rel, typed) is None:
                compared.append(locus)
        return self.single(hit.relationship, query, free[0], loci=compared, transmitter_sex=sex)

    def _distribution(
        self, key: tuple[object, ...], make: Callable[[], Iterable[LocusNull]]
    ) -> NullDistribution:
        with self._lock:
            found = self._distributions.get(key)
            if found is not None:
                self._distributions.move_to_end(key)
                return found
        made = NullDistribution(list(make()), rel_tol=self.rel_tol)
        with self._lock:
            self._distributions[key] = made
            while len(self._distributions) > self.cache_size:
                self._distributions.popitem(last=False)
        return made


def null_distribution(
    relationship: str,
    query: Mapping[str, Profile],
    frequencies: AlleleFrequencies | None = None,
    *,
    theta: float = 0.0,
    mutation: MutationModel = NO_MUTATION,
    min_frequency: float = DEFAULT_MIN_FREQUENCY,
    loci: Collection[str] | None = None,
    transmitter_sex: str | None = None,
    tables: TableBuilder | None = None,
) -> NullDistribution:
    """The null distribution of a query's LR, the unrelated reference taking the roles of
    ``relationship`` that ``query`` (profiles by role) does not.

    ``parents-child`` with only a ``child`` is against random couples (both parents compared
    at every locus in ``loci``); any other case leaves one free role. ``transmitter_sex`` is
    the duo's parent sex (default: the query parent's, else male). ``tables``, when given (a
    searcher's, with the query's score tables built), supplies the frequency table and the
    settings, and its memoised likelihood grids are reused.
    """
    if tables is None:
        if frequencies is None:
            raise ValueError("give frequencies or tables")
        tables = TableBuilder(frequencies, theta=theta, mutation=mutation,
                              min_frequency=min_frequency)  # fmt: skip
    model = NullModel(tables)
    rel = get_relationship(relationship)
    free = [role for role in rel.roles if role not in query]
    genotypes = {role: profile.genotypes for role, profile in query.items()}
    if rel.name == "parents-child" and set(query) == {"child"}:
        return model.couples(genotypes["child"], loci=loci)
    if len(free) != 1:
        held = ", ".join(query) or "none"
        raise CaseError(f"{relationship}: the query must hold all roles but one "
                        f"({', '.join(rel.roles)}); it holds {held}")  # fmt: skip
    if transmitter_sex is None:
        parent = query.get(rel.transmitter) if rel.transmitter else None
        transmitter_sex = (parent.sex if parent is not None else None) or "M"
    return model.single(rel.name, genotypes, free[0], loci=loci, transmitter_sex=transmitter_sex)


# -- database evidence ------------------------------------------------------------------------


def expected_unrelated(p_unrelated: float, n_searched: int) -> float:
    """Expected number of unrelated references (or couples) scoring at least as high:
    ``n_searched * p_unrelated`` (linearity of expectation; no independence needed)."""
    if n_searched < 0 or not 0.0 <= p_unrelated <= 1.0:
        raise ValueError(f"need n_searched >= 0 and p in [0, 1]; got {n_searched}, {p_unrelated}")
    return n_searched * p_unrelated


def database_verdict(verdict: str, expected: float, bound: float = DEFAULT_CAUTION_BOUND) -> str:
    """``support-database-caution`` for a ``support`` verdict with ``expected >= bound``
    (``expected`` from :func:`expected_unrelated`); any other verdict is returned as is."""
    if not bound >= 0.0:
        raise ValueError(f"bound {bound} must be non-negative")
    if verdict == SUPPORT and expected >= bound:
        return SUPPORT_DATABASE_CAUTION
    return verdict


def posterior_relative(lr: float, total_lr: float, n_searched: int, prior: float) -> float:
    """P(this reference is the relative | every score), Slooten & Meester (2012).

    ``(prior / N) lr / ((1 - prior) + (prior / N) total_lr)`` with ``total_lr`` the sum of
    the LRs of *all* ``N = n_searched`` references met (this one included) and ``prior`` the
    probability that one of them is the relative, uniform over them. Assumptions in the
    module docstring.
    """
    if not 0.0 <= prior <= 1.0 or n_searched < 1 or lr < 0 or total_lr < lr * (1 - 1e-12):
        raise ValueError("need 0 <= prior <= 1, n_searched >= 1 and 0 <= lr <= total_lr")
    weight = prior / n_searched
    denominator = (1.0 - prior) + weight * total_lr
    return 0.0 if denominator == 0.0 else weight * lr / denominator


@dataclass(frozen=True)
class HitEvidence:
    """Database-size-aware evidence of one hit (see the module docstring)."""

    query_id: str
    reference_id: str
    relationship: str
    log10_lr: float | None
    p_unrelated: float
    p_unrelated_bounds: tuple[float, float]
    n_searched: int
    expected_unrelated: float
    verdict: str
    """The hit's verdict, ``support-database-caution`` when qualified."""
    loci: tuple[str, ...] = field(default=())
    posterior: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "query_id": self.query_id,
            "reference_id": self.reference_id,
            "relationship": self.relationship,
            "log10_lr": self.log10_lr,
            "p_unrelated": self.p_unrelated,
            "p_unrelated_bounds": list(self.p_unrelated_bounds),
            "n_searched": self.n_searched,
            "expected_unrelated": self.expected_unrelated,
            "verdict": self.verdict,
            "loci": list(self.loci),
            "posterior": self.posterior,
        }


def assess(
    model: NullModel,
    result: SearchResult,
    *,
    bound: float = DEFAULT_CAUTION_BOUND,
    prior: float | None = None,
    total_lr: float | None = None,
) -> tuple[HitEvidence, ...]:
    """The evidence of every hit of a search result, with ``n_searched = result.n_scored``.

    The posterior needs ``prior`` and ``total_lr``, the sum of the LRs of every reference the
    query met (the scan has them all; the hits alone are not enough).
    """
    if (prior is None) != (total_lr is None):
        raise ValueError("the posterior needs both prior and total_lr")
    evidence = []
    for hit in result.hits:
        null = model.for_hit(hit)
        tail = null.tail(hit.log10_lr)
        expected = expected_unrelated(min(tail.estimate, 1.0), result.n_scored)
        posterior = None
        if prior is not None and total_lr is not None:
            posterior = posterior_relative(hit.lr, total_lr, result.n_scored, prior)
        evidence.append(
            HitEvidence(
                hit.query_id, hit.reference_id, hit.relationship, hit.log10_lr, tail.estimate,
                (tail.lower, tail.upper), result.n_scored, expected,
                database_verdict(hit.verdict, expected, bound),
                tuple(locus.locus for locus in null.loci), posterior,
            )
        )  # fmt: skip
    return tuple(evidence)

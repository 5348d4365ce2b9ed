"""The null distribution of one locus: the LR of every unrelated reference genotype (or couple)
with its probability given the query.

The LR of every possible reference genotype ``g`` is the core's, on the allele set of the
query's comparison (the same numbers as the scan's score tables,
:meth:`kinmatch.tables.TableBuilder.locus_grids`), and ``g`` has probability

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
``P(query | H1) / P(query | H2)`` when the frequencies sum to 1. That is exactly 1 whenever the
query's own genotype is as probable under H1 as under H2: always for a query that is not the
person of interest (:mod:`kinmatch.relationships`: a registered relative keeps its H1 pedigree
under H2: the parent of a duo, a couple, person1 of a pairwise form); for a person of interest
without mutation (their genes are copies of distinct founder genes, and the Balding-Nichols urn
is exchangeable) and with a stationary mutation model (``p M = p``: ``proportional``, or
``equal``, ``stepwise``, ``onestep`` with ``stationary=True``) at theta 0. With plain
``equal``, ``stepwise`` or ``onestep`` (Simonsson & Mostad 2016, *Stationary mutation models*,
FSI Genetics 23:217-225), or any mutation with theta > 0 (mutation loosens the urn's
correlation of the two genes), the genotype of a person of interest who is a non-founder of H1
(the child of a duo, person2 of the sibling, cousin, grandparent and avuncular forms) changes
probability, and the conditional mean is that ratio, not 1 (per locus up to a few percent with
the AABB rates, for rare alleles next to common ones). Averaged over queries it is 1
(tests/test_likelihood.py).

**Couples** (a child against random unrelated couples, ``parents-child``): at a locus where
both parents are compared the pair's genotypes ``(f, m)`` get
``P(f, m | child, H2) = P(f | child) P(m | child, f)``, the Balding-Nichols draws after the
child's, and LR = P(child | f, m) / P(child | f, m, unrelated), the formula of the couple scan
kernel (:func:`kinmatch.kernels.scan.score_couples`); tested equal to the core's
:func:`kinmatch.likelihood.locus_lr` and :func:`kinmatch.pedigree.pedigree_likelihood` for
every pair. A locus where only one parent is compared is that parent's duo.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from kinmatch.errors import CaseError
from kinmatch.kernels.couples_null import couple_pairs

Floats = NDArray[np.float64]

MERGE_TOL = 1e-12
"""Per-locus values closer than this (log10) are one value."""


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
        return merge_values(self.log10_lr, self.probability)


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
    p = np.ascontiguousarray(frequencies, dtype=np.float64)
    n = len(p)
    paternal, maternal = matrices if matrices is not None else (np.eye(n), np.eye(n))
    first, second = np.triu_indices(n)
    g = len(first)
    log10_lr, weight = np.empty(g * g), np.empty(g * g)
    count, zero, total, expected, bad = couple_pairs(
        p, int(child[0]), int(child[1]), float(theta), np.ascontiguousarray(paternal),
        np.ascontiguousarray(maternal), first.astype(np.int64), second.astype(np.int64),
        log10_lr, weight,
    )  # fmt: skip
    if not total > 0.0 or bad:
        raise CaseError("no couple is possible, or an LR is not finite", locus=locus)
    return LocusNull(locus, log10_lr[:count].copy(), weight[:count] / total, zero / total,
                     expected / total)  # fmt: skip


def merge_values(values: Floats, probs: Floats) -> tuple[Floats, Floats]:
    """Sort, and merge values closer than :data:`MERGE_TOL` (the first of a run stands for
    it), adding their probabilities."""
    if len(values) == 0:
        return values.copy(), probs.copy()
    order = np.argsort(values, kind="stable")
    values, probs = values[order], probs[order]
    starts = np.concatenate(([0], np.flatnonzero(np.diff(values) > MERGE_TOL) + 1))
    return values[starts], np.add.reduceat(probs, starts)

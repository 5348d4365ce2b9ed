"""The database-size-aware evidence of search hits: ``p_unrelated``, ``expected_unrelated``,
the database verdict and the optional posterior.

A search meets N references (or couples); even when none is related, the best of them has
some LR. For a hit with observed log10 LR ``x``,

    p_unrelated        = P(log10 LR >= x | the query, an unrelated reference),
    expected_unrelated = N * p_unrelated,

from the hit's null distribution (:meth:`kinmatch.evidence.model.NullModel.for_hit`).

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

from kinmatch.evidence.model import NullModel
from kinmatch.hits import HitEvidence, SearchResult
from kinmatch.verdict import DEFAULT_CAUTION_BOUND, SUPPORT, SUPPORT_DATABASE_CAUTION


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

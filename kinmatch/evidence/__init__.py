"""Database-size-aware evidence: the exact chance that an unrelated reference scores as high.

A search meets N references (or couples); even when none is related, the best of them has
some LR. For a hit with observed log10 LR ``x`` this package gives

    p_unrelated        = P(log10 LR >= x | the query, an unrelated reference),
    expected_unrelated = N * p_unrelated,

the exact tail of the *null distribution* of the LR of one query: the distribution over
references drawn at random from the population, unrelated to the query, with every setting
of the search (theta, mutation model, minimum frequency, relationship, roles, the loci
compared in that hit).

One idea per module, in the order the numbers flow:

* :mod:`~kinmatch.evidence.locus`: the null of one locus (single references and couples);
* :mod:`~kinmatch.evidence.tail` (with :mod:`~kinmatch.evidence.grid`): the tail of the sum
  over loci, exact or bracketed, with its certified bound; numbers in, numbers out;
* :mod:`~kinmatch.evidence.model`: the null of a query, from the searcher's table builder;
* :mod:`~kinmatch.evidence.assessment`: the evidence of hits (``p_unrelated``,
  ``expected_unrelated``, the database verdict, the posterior).

The search calls this package, never the reverse: both read hits from :mod:`kinmatch.hits`.
"""

from kinmatch.evidence.assessment import (
    assess,
    database_verdict,
    expected_unrelated,
    posterior_relative,
)
from kinmatch.evidence.locus import LocusNull, couple_locus_null
from kinmatch.evidence.model import COUPLE_PATTERNS, NullModel, null_distribution
from kinmatch.evidence.tail import (
    DEFAULT_P_MIN,
    DEFAULT_REL_TOL,
    EXACT_LIMIT,
    EXACT_TOL,
    MAX_LEVELS,
    NullDistribution,
    TailProbability,
)
from kinmatch.hits import HitEvidence
from kinmatch.verdict import DEFAULT_CAUTION_BOUND, SUPPORT_DATABASE_CAUTION

__all__ = [
    "COUPLE_PATTERNS",
    "DEFAULT_CAUTION_BOUND",
    "DEFAULT_P_MIN",
    "DEFAULT_REL_TOL",
    "EXACT_LIMIT",
    "EXACT_TOL",
    "MAX_LEVELS",
    "SUPPORT_DATABASE_CAUTION",
    "HitEvidence",
    "LocusNull",
    "NullDistribution",
    "NullModel",
    "TailProbability",
    "assess",
    "couple_locus_null",
    "database_verdict",
    "expected_unrelated",
    "null_distribution",
    "posterior_relative",
]

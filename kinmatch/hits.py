"""Hits: what a search found, the stage between the scan and the evidence and review.

A :class:`Hit` is one stored profile (or couple) scored against a query; a
:class:`SearchResult` holds a query's hits, best first, ties broken by sample ID (couples by
``case_id/father_id/mother_id``), with how many references the query met; a
:class:`HitEvidence` is a hit's database-size-aware evidence (computed by
:mod:`kinmatch.evidence`). The search makes hits, the evidence and the review queue read
them; this module imports none of the three, so none of them imports another against the
flow.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from kinmatch.likelihood import KinshipResult
from kinmatch.profiles import Profile


@dataclass(frozen=True)
class LocusDetail:
    """One locus of a hit: its LR (1 where not compared) and, where compared, whether the
    genotypes fit H1 without mutation (False: a Mendelian exclusion). A ``one_sided`` locus
    (typed on one side only) is not compared, yet its LR is part of the hit's."""

    lr: float
    compared: bool
    consistent: bool | None
    one_sided: bool = False


@dataclass(frozen=True)
class HitDetails:
    """A hit's per-locus breakdown, from the search's score tables: the same loci, compared
    and inconsistent loci, rare alleles and verdict as the core's
    :func:`~kinmatch.likelihood.kinship_lr` (:attr:`Hit.breakdown`), the LRs to 1e-9."""

    verdict: str
    """The search's verdict rule on the scan's LR and the inconsistent loci."""
    loci: Mapping[str, LocusDetail]
    """Every locus typed in one of the compared persons, in locus order."""
    inconsistent_loci: tuple[str, ...]
    """The compared loci whose genotypes exclude H1 without mutation."""
    min_frequency_used: tuple[str, ...]
    """``locus:allele`` of the compared alleles the frequency table lacks."""

    @property
    def loci_compared(self) -> tuple[str, ...]:
        """The loci whose LR enters the hit's."""
        return tuple(name for name, locus in self.loci.items() if locus.compared)


@dataclass(frozen=True)
class Hit:
    """One stored profile (or couple) scored against a query.

    ``lr``, ``log10_lr`` and :attr:`details` (per-locus LRs, inconsistent and compared loci,
    verdict) come from the scan's tables; :attr:`breakdown`, the core's result for the pair,
    is computed on first use (the slow twin the tests compare the details with).
    """

    query_id: str
    reference_id: str
    relationship: str
    lr: float
    log10_lr: float | None
    rank: int
    details: HitDetails = field(repr=False)
    explain: Callable[[], KinshipResult] = field(repr=False, compare=False)
    father_id: str | None = None
    mother_id: str | None = None
    case_id: str | None = None
    persons: Mapping[str, Profile] = field(default_factory=dict, repr=False, compare=False)
    """The compared profiles by their role in the relationship (genetic data)."""

    @cached_property
    def breakdown(self) -> KinshipResult:
        """The core's result for this pair: per-locus LRs, inconsistencies, verdict."""
        return self.explain()

    @property
    def n_inconsistent(self) -> int:
        return len(self.details.inconsistent_loci)

    @property
    def loci_compared(self) -> int:
        return len(self.details.loci_compared)

    @property
    def inconsistent_loci(self) -> tuple[str, ...]:
        return self.details.inconsistent_loci

    @property
    def verdict(self) -> str:
        return self.details.verdict


@dataclass(frozen=True)
class SearchResult:
    """The hits of one query, best first, with how many references it met."""

    query_id: str
    relationship: str
    hits: tuple[Hit, ...]
    n_scored: int
    """References (or couples) the query met."""
    seconds: float
    error: str | None = None
    n_candidates: int | None = None
    """References scored exactly after the candidate filter (None when it was off)."""
    n_above_threshold: int | None = None
    """References (or couples) scored at or above ``min_lr``, before the ``top_k`` cut (None
    without ``min_lr``); those the candidate filter set aside are not counted."""
    candidates: str | None = None
    """How a parentage search found the references it scored: ``"bitmap index"`` or
    ``"plain scan"`` (None: no bound, every met reference scored)."""
    max_inconsistent: int | None = None
    """The bound on the hits' Mendelian-inconsistent loci (None: no bound)."""

    def to_arrow(self) -> pa.Table:
        """The hits as an Arrow table (see :func:`results_to_arrow`)."""
        return results_to_arrow([self])


HIT_SCHEMA = pa.schema(
    [
        ("query_id", pa.string()),
        ("reference_id", pa.string()),
        ("father_id", pa.string()),
        ("mother_id", pa.string()),
        ("case_id", pa.string()),
        ("relationship", pa.string()),
        ("lr", pa.float64()),
        ("log10_lr", pa.float64()),
        ("rank", pa.int32()),
        ("n_inconsistent", pa.int32()),
        ("inconsistent_loci", pa.list_(pa.string())),
        ("loci_compared", pa.int32()),
        ("verdict", pa.string()),
    ]
)


def results_to_arrow(results: Sequence[SearchResult]) -> pa.Table:
    """One row per hit of every result, in order; no genotypes."""
    rows = [
        {
            "query_id": hit.query_id,
            "reference_id": hit.reference_id,
            "father_id": hit.father_id,
            "mother_id": hit.mother_id,
            "case_id": hit.case_id,
            "relationship": hit.relationship,
            "lr": hit.lr,
            "log10_lr": hit.log10_lr,
            "rank": hit.rank,
            "n_inconsistent": hit.n_inconsistent,
            "inconsistent_loci": list(hit.inconsistent_loci),
            "loci_compared": hit.loci_compared,
            "verdict": hit.verdict,
        }
        for result in results
        for hit in result.hits
    ]
    return pa.Table.from_pylist(rows, schema=HIT_SCHEMA)


def hits_table(
    results: Sequence[SearchResult], evidence: Sequence[Sequence[HitEvidence | None]]
) -> pa.Table:
    """:func:`results_to_arrow` with ``inconsistent_loci`` joined by ``;``, the verdict
    qualified by each hit's database-size-aware evidence and its ``p_unrelated`` and
    ``expected_unrelated`` (null, and the plain verdict, without evidence): what ``kinmatch
    match`` and ``kinmatch campaign`` write."""
    table = results_to_arrow(results)
    joined = pc.binary_join(table.column("inconsistent_loci"), ";")
    column = table.schema.get_field_index("inconsistent_loci")
    table = table.set_column(column, "inconsistent_loci", joined)
    flat = [e for per_query in evidence for e in per_query]
    verdict = table.schema.get_field_index("verdict")
    plain = table.column("verdict").to_pylist()
    verdicts = [h if e is None else e.verdict for h, e in zip(plain, flat, strict=True)]
    table = table.set_column(verdict, "verdict", pa.array(verdicts, pa.string()))
    for name in ("p_unrelated", "expected_unrelated"):
        values = [None if e is None else getattr(e, name) for e in flat]
        table = table.append_column(name, pa.array(values, pa.float64()))
    return table


@dataclass(frozen=True)
class HitEvidence:
    """Database-size-aware evidence of one hit (:mod:`kinmatch.evidence.assessment`)."""

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

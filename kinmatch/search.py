"""Search a reference store for the relatives of a query profile.

``Searcher.search(query, relationship)`` builds the query's score tables with the exact core
(:mod:`kinmatch.tables`), scans the memory-mapped store with a Numba kernel
(:mod:`kinmatch.kernels.scan`), keeps the hits at or above ``min_lr`` and/or the ``top_k``
best (ties broken by sample ID), and recomputes each reported hit with
:func:`kinmatch.likelihood.kinship_lr` for its per-locus breakdown.

Which stored profiles a query meets, by default the opposite set of a missing-children
database:

* a person of ``unknown-origin`` (or without a role) meets the parent roles ``father``,
  ``mother``, ``parent`` for ``parent-child``, the registered couples (the ``father`` and
  ``mother`` of one ``case_id``) for ``parents-child``, and every registered relative
  (``father``, ``mother``, ``parent``, ``sibling``, ``other``) for the pairwise
  relationships, where it takes the younger role (``person2``: grandchild, nephew);
* a registered relative, or a couple, meets the persons of ``unknown-origin``.

``search_all=True`` meets every profile but the query itself.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from kinmatch.errors import CaseError, InputError
from kinmatch.frequencies import DEFAULT_MIN_FREQUENCY, AlleleFrequencies
from kinmatch.kernels.scan import score_single
from kinmatch.likelihood import NO_MUTATION, KinshipResult, kinship_lr
from kinmatch.mutation import MutationModel
from kinmatch.profiles import Profile
from kinmatch.relationships import get_relationship
from kinmatch.store import ROLE_CODES, Fragment, ReferenceStore
from kinmatch.tables import SEX_CLASSES, ScoreTables, TableBuilder
from kinmatch.verdict import VerdictRule

PARENT_ROLES = ("father", "mother", "parent")
RELATIVE_ROLES = ("father", "mother", "parent", "sibling", "other")
UNKNOWN_ORIGIN = "unknown-origin"
SEARCHABLE = ("parent-child", "parents-child", "full-siblings", "half-siblings",
              "grandparent", "avuncular", "first-cousins")  # fmt: skip


@dataclass(frozen=True)
class Hit:
    """One stored profile (or couple) scored against a query."""

    query_id: str
    reference_id: str
    relationship: str
    lr: float
    log10_lr: float | None
    rank: int
    n_inconsistent: int
    loci_compared: int
    breakdown: KinshipResult
    father_id: str | None = None
    mother_id: str | None = None
    case_id: str | None = None

    @property
    def inconsistent_loci(self) -> tuple[str, ...]:
        return self.breakdown.inconsistent_loci

    @property
    def verdict(self) -> str:
        return self.breakdown.verdict


@dataclass(frozen=True)
class SearchResult:
    """The hits of one query, best first, with how many references it met."""

    query_id: str
    relationship: str
    hits: tuple[Hit, ...]
    n_scored: int
    seconds: float
    error: str | None = None


@dataclass(frozen=True)
class _Scores:
    """Kernel output gathered over fragments for the selected references."""

    fragment: NDArray[np.int64]
    row: NDArray[np.int64]
    log10_lr: NDArray[np.float64]
    n_inconsistent: NDArray[np.int16]
    n_compared: NDArray[np.int16]
    n_scored: int = field(default=0)


class Searcher:
    """Searches one store with one frequency table, theta and mutation model."""

    def __init__(
        self,
        store: ReferenceStore,
        frequencies: AlleleFrequencies,
        *,
        theta: float = 0.0,
        mutation: MutationModel = NO_MUTATION,
        min_frequency: float = DEFAULT_MIN_FREQUENCY,
        verdict_rule: VerdictRule | None = None,
    ) -> None:
        self.store = store
        self.frequencies = frequencies
        self.theta = theta
        self.mutation = mutation
        self.min_frequency = min_frequency
        self.verdict_rule = verdict_rule or VerdictRule()
        self.tables = TableBuilder(frequencies, theta=theta, mutation=mutation,
                                   min_frequency=min_frequency)  # fmt: skip

    def search(
        self,
        query: Profile,
        relationship: str,
        *,
        top_k: int | None = 10,
        min_lr: float | None = None,
        search_all: bool = False,
    ) -> SearchResult:
        """Score ``query`` against the stored profiles it meets (see the module docstring)."""
        started = time.perf_counter()
        get_relationship(relationship)
        if relationship not in SEARCHABLE:
            raise CaseError(f"{relationship} is not a search relationship: one of "
                            f"{', '.join(SEARCHABLE)}")  # fmt: skip
        _check_limits(top_k, min_lr)
        young = query.role in (None, UNKNOWN_ORIGIN)
        if relationship == "parent-child":
            query_role, free_role = ("child", "parent") if young else ("parent", "child")
            targets: tuple[str, ...] = PARENT_ROLES if young else (UNKNOWN_ORIGIN,)
        elif relationship == "parents-child":
            raise CaseError("parents-child searches take a child (search_couples) or a couple "
                            "(search_as_couple)")  # fmt: skip
        else:
            query_role, free_role = ("person2", "person1") if young else ("person1", "person2")
            targets = RELATIVE_ROLES if young else (UNKNOWN_ORIGIN,)
        sexes: tuple[str, ...] = SEX_CLASSES if free_role == "parent" else (query.sex or "M",)
        tables = self.tables.single(
            relationship, {query_role: query.genotypes}, free_role, self.store.loci,
            self.store.manifest.alleles, transmitter_sexes=sexes,
        )  # fmt: skip
        scores = self._scan(tables, None if search_all else targets, query.sample_id,
                            by_sex=free_role == "parent")  # fmt: skip
        hits = self._select(scores, top_k, min_lr)
        reported = []
        for rank, (f, row, log10, n_inc, n_cmp) in enumerate(hits, start=1):
            fragment = self.store.fragments[f]
            reference = self.store.decode(fragment, row)
            breakdown = kinship_lr(
                relationship, {query_role: query, free_role: reference}, self.frequencies,
                theta=self.theta, mutation=self.mutation, min_frequency=self.min_frequency,
                verdict_rule=self.verdict_rule,
            )  # fmt: skip
            reported.append(
                Hit(
                    query.sample_id,
                    reference.sample_id,
                    relationship,
                    _lr(log10),
                    None if log10 == -math.inf else log10,
                    rank,
                    n_inc,
                    n_cmp,
                    breakdown,
                    case_id=reference.case_id,
                )
            )
        return SearchResult(query.sample_id, relationship, tuple(reported), scores.n_scored,
                            time.perf_counter() - started)  # fmt: skip

    def search_batch(
        self,
        queries: Sequence[Profile],
        relationship: str,
        *,
        top_k: int | None = 10,
        min_lr: float | None = None,
        search_all: bool = False,
        progress: Callable[[int, int], None] | None = None,
    ) -> list[SearchResult]:
        """Search every query; a query that cannot be computed gets ``error``, others go on."""
        results = []
        for done, query in enumerate(queries, start=1):
            try:
                results.append(self.search(query, relationship, top_k=top_k, min_lr=min_lr,
                                           search_all=search_all))  # fmt: skip
            except CaseError as exc:
                results.append(SearchResult(query.sample_id, relationship, (), 0, 0.0, str(exc)))
            if progress is not None:
                progress(done, len(queries))
        return results

    def _scan(
        self, tables: ScoreTables, targets: Sequence[str] | None, query_id: str, *, by_sex: bool
    ) -> _Scores:
        locus_index = {locus: i for i, locus in enumerate(self.store.loci)}
        parts = []
        n_scored = 0
        for f, fragment in enumerate(self.store.fragments):
            selected = _selected(fragment, targets, query_id)
            n_scored += int(selected.sum())
            n = fragment.rows
            out = (np.empty(n), np.empty(n, np.int16), np.empty(n, np.int16))
            # the stored parent's sex picks the matrix; unknown sex counts as male, as in the core
            sex_class = (fragment.sexes == 1) if by_sex else np.zeros(n, dtype=bool)
            locus_map = np.array([locus_index[locus] for locus in fragment.loci], np.int64)
            score_single(fragment.codes, locus_map, sex_class.astype(np.uint8), selected,
                         tables.log10_lr, tables.inconsistent, tables.compared, *out)  # fmt: skip
            rows = np.flatnonzero(selected)
            parts.append((np.full(len(rows), f), rows, out[0][rows], out[1][rows], out[2][rows]))
        if not parts:
            empty = np.empty(0, np.int64)
            return _Scores(empty, empty, np.empty(0), np.empty(0, np.int16),
                           np.empty(0, np.int16))  # fmt: skip
        fragments, rows, log10, n_inc, n_cmp = (np.concatenate(c) for c in zip(*parts, strict=True))
        return _Scores(fragments, rows, log10, n_inc, n_cmp, n_scored)

    def _select(
        self, scores: _Scores, top_k: int | None, min_lr: float | None
    ) -> list[tuple[int, int, float, int, int]]:
        """Hits at or above ``min_lr`` and among the ``top_k`` best; ties by sample ID."""
        keep = np.ones(len(scores.log10_lr), dtype=bool)
        if min_lr is not None:
            keep &= scores.log10_lr >= (math.log10(min_lr) if min_lr > 0 else -math.inf)
        index = np.flatnonzero(keep)
        if top_k is not None and len(index) > top_k:
            values = scores.log10_lr[index]
            cutoff = np.partition(values, len(values) - top_k)[len(values) - top_k]
            index = index[values >= cutoff]  # ties at the cut stay, to be ordered by ID
        ids = [str(self.store.fragments[scores.fragment[i]].sample_ids[scores.row[i]])
               for i in index]  # fmt: skip
        order = sorted(range(len(index)), key=lambda j: (-scores.log10_lr[index[j]], ids[j]))
        if top_k is not None:
            order = order[:top_k]
        return [
            (int(scores.fragment[index[j]]), int(scores.row[index[j]]),
             float(scores.log10_lr[index[j]]), int(scores.n_inconsistent[index[j]]),
             int(scores.n_compared[index[j]]))
            for j in order
        ]  # fmt: skip


def _selected(
    fragment: Fragment, targets: Sequence[str] | None, query_id: str
) -> NDArray[np.bool_]:
    if targets is None:
        selected = np.ones(fragment.rows, dtype=bool)
    else:
        codes = [ROLE_CODES[role] for role in targets]
        selected = np.isin(fragment.roles, np.array(codes, dtype=np.uint8))
    own = pc.equal(fragment.sample_ids, pa.scalar(query_id)).to_numpy(zero_copy_only=False)
    return np.asarray(selected & ~own.astype(bool), dtype=bool)


def _lr(log10: float) -> float:
    return 0.0 if log10 == -math.inf else 10.0**log10


def _check_limits(top_k: int | None, min_lr: float | None) -> None:
    if top_k is None and min_lr is None:
        raise InputError("give top_k, min_lr or both", field="top_k")
    if top_k is not None and top_k < 1:
        raise InputError(f"top_k {top_k} must be at least 1", field="top_k")
    if min_lr is not None and not min_lr >= 0:
        raise InputError(f"min_lr {min_lr} must be non-negative", field="min_lr")

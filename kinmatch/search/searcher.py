"""The :class:`Searcher`: a query's score tables (:mod:`kinmatch.tables`), the scan of the
memory-mapped store by a Numba kernel (:mod:`kinmatch.kernels.scan`), the ranked hits
(:mod:`kinmatch.search.ranking`, :mod:`kinmatch.hits`) and their evidence
(:mod:`kinmatch.evidence`).
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from kinmatch.errors import CaseError, InputError, ProfileError
from kinmatch.evidence import DEFAULT_CAUTION_BOUND, NullDistribution, NullModel, assess
from kinmatch.frequencies import DEFAULT_MIN_FREQUENCY, AlleleFrequencies
from kinmatch.hits import Hit, HitDetails, HitEvidence, SearchResult
from kinmatch.index import DEFAULT_MAX_INCONSISTENT
from kinmatch.kernels.scan import couple_loci, score_couples, score_references
from kinmatch.likelihood import NO_MUTATION, KinshipResult, kinship_lr
from kinmatch.mutation import MutationModel
from kinmatch.profiles import Profile, ProfileTable
from kinmatch.relationships import SEARCHABLE, get_relationship
from kinmatch.search.candidates import INDEX, INDEX_BATCH, Candidates, Parentage, method
from kinmatch.search.couples import Couples, find_couples
from kinmatch.search.details import details_of, hit_details
from kinmatch.search.ranking import (
    Scores,
    check_limits,
    make_hit,
    select_ranked,
)
from kinmatch.search.roles import (
    PARENT_ROLES,
    RELATIVE_ROLES,
    UNKNOWN_ORIGIN,
    exclude_samples,
    query_roles,
    selected_rows,
)
from kinmatch.store import Fragment, ReferenceStore
from kinmatch.tables import SEX_CLASSES, CoupleTables, ScoreTables, TableBuilder, couple_tables
from kinmatch.verdict import VerdictRule


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
        max_inconsistent: int | None = DEFAULT_MAX_INCONSISTENT,
        batch_size: int = 8,
        one_sided_exact: bool = True,
        use_index: bool = True,
    ) -> None:
        """``max_inconsistent`` bounds the Mendelian-inconsistent loci of a parentage search's
        hits: only references (or couples) with at most that many are scored, found by the
        store's bitmap index (:mod:`kinmatch.index`), or by the plain scan where the index
        cannot serve the bound or ``use_index`` is False (the same hits either way; see
        :attr:`candidate_method`); None scores every reference. ``batch_size`` queries share
        one pass over the store (or its index) in :meth:`search_batch`.
        ``one_sided_exact=False`` scores loci typed on one side only as LR 1 (the older
        convention)."""
        self.store = store
        self.batch_size = batch_size
        self.max_inconsistent = max_inconsistent
        self.use_index = use_index
        self._finder: tuple[tuple[int, int], Candidates] | None = None
        self.frequencies = frequencies
        self.theta = theta
        self.mutation = mutation
        self.min_frequency = min_frequency
        self.verdict_rule = verdict_rule or VerdictRule()
        self._couple_cache: tuple[int, Couples] | None = None
        self._buffer: NDArray[np.float64] | None = None
        self._null: NullModel | None = None
        self.tables = TableBuilder(frequencies, theta=theta, mutation=mutation,
                                   min_frequency=min_frequency,
                                   one_sided_exact=one_sided_exact)  # fmt: skip

    def evidence(
        self, result: SearchResult, *, bound: float = DEFAULT_CAUTION_BOUND
    ) -> tuple[HitEvidence, ...]:
        """Database-size-aware evidence of each hit of ``result`` (:mod:`kinmatch.evidence`):
        ``p_unrelated``, ``expected_unrelated`` = references met x ``p_unrelated``, and the
        verdict, ``support-database-caution`` where ``expected_unrelated >= bound``. Null
        distributions are cached across calls."""
        return assess(self._null_model(), result, bound=bound)

    def check_queries(self, queries: ProfileTable) -> None:
        """Every query shares a typed locus with the store and the frequency table, and every
        locus it may compare has a mutation rate: fail before searching anything, naming the
        queries' file, line and sample (an empty store, which has no loci, has no hits)."""
        comparable = set(self.store.loci) & set(self.frequencies)
        rates = self.mutation.rates
        for query in queries.values():
            line = queries.lines.get(query.sample_id)
            loci = [locus for locus in query.genotypes if locus in comparable]
            if not loci and self.store.loci:
                raise ProfileError(
                    "no typed locus in common with the store and the frequency table",
                    source=queries.source, line=line, sample=query.sample_id,
                )  # fmt: skip
            if rates is None:
                continue
            for locus in loci:
                try:
                    rates.rates(locus)
                except InputError as exc:
                    raise exc.located(source=queries.source, line=line,
                                      sample=query.sample_id) from None  # fmt: skip

    def null_distribution(self, query: Profile, relationship: str) -> NullDistribution:
        """The null distribution of ``query``'s LR over unrelated references of the population
        (:mod:`kinmatch.evidence`), on the store's loci the query has typed: a person of unknown
        origin against random couples for ``parents-child``, otherwise against a single
        reference in the role the query meets (:func:`~kinmatch.search.query_roles`). The
        transmitter's sex picks its mutation rates: the query's when it is the transmitter; a
        reference of either sex is taken as male, as a hit of unknown sex."""
        model = self._null_model()
        loci = [locus for locus in self.store.loci if locus in query.genotypes]
        if relationship == "parents-child":
            if query.role not in (None, UNKNOWN_ORIGIN):
                raise InputError("a couple's evidence is not available from one profile",
                                 field="relationship")  # fmt: skip
            return model.couples(query.genotypes, loci=loci)
        mine, free = query_roles(query, relationship)
        transmitter = get_relationship(relationship).transmitter
        sex = (query.sex or "M") if transmitter == mine else "M"
        return model.single(relationship, {mine: query.genotypes}, free, loci=loci,
                            transmitter_sex=sex)  # fmt: skip

    def _null_model(self) -> NullModel:
        if self._null is None:
            self._null = NullModel(self.tables)
        return self._null

    @property
    def parameters(self) -> dict[str, Any]:
        """What the LRs depend on besides the profiles, as plain JSON: the frequency table,
        theta, the minimum frequency and the mutation model with its rates (and
        ``"stationary": true`` for a stabilised model; absent otherwise, so that the
        idempotency keys of items pushed before the option existed do not change), and how
        one-sided loci count under a mutation model (``"exact"``, or ``"one"``)."""
        model = self.mutation
        mutation: dict[str, Any] = {"model": model.kind}
        if not model.is_none and model.rates is not None:
            mutation |= {
                "rates": {locus: list(rates) for locus, rates in
                          sorted(model.rates.per_locus.items())},
                "default_rate": None if model.rates.default is None else list(
                    model.rates.default),
                "rate2": model.rate2,
                "range": model.range,
            }  # fmt: skip
            if model.stationary:  # only when set: the records of other models keep their keys
                mutation["stationary"] = True
            mutation["one_sided"] = "exact" if self.tables.one_sided_exact else "one"
        return {"frequencies": self.frequencies.name, "theta": self.theta,
                "min_frequency": self.min_frequency, "mutation": mutation}  # fmt: skip

    def search(
        self,
        query: Profile,
        relationship: str,
        *,
        top_k: int | None = 10,
        min_lr: float | None = None,
        search_all: bool = False,
    ) -> SearchResult:
        """Score ``query`` against the stored profiles it meets (see the module docstring).

        For ``parents-child`` the query is a child and the references are the registered
        couples; a couple searching for its child uses :meth:`search_couple`.
        """
        (result,) = self._search_many([query], relationship, top_k, min_lr, search_all)
        if isinstance(result, CaseError):
            raise result
        return result

    def _search_many(
        self,
        queries: Sequence[Profile],
        relationship: str,
        top_k: int | None,
        min_lr: float | None,
        search_all: bool,
    ) -> list[SearchResult | CaseError]:
        """Search queries of one relationship; single-reference scans share one pass."""
        started = time.perf_counter()
        get_relationship(relationship)
        if relationship not in SEARCHABLE:
            raise CaseError(f"{relationship} is not a search relationship: one of "
                            f"{', '.join(SEARCHABLE)}")  # fmt: skip
        check_limits(top_k, min_lr)
        results: list[SearchResult | CaseError | None] = [None] * len(queries)
        Plan = tuple[tuple[str, str], tuple[str, ...] | None, bool]
        plans: dict[Plan, list[tuple[int, ScoreTables]]] = {}
        for i, query in enumerate(queries):
            young = query.role in (None, UNKNOWN_ORIGIN)
            try:
                if relationship == "parents-child":
                    if not young:
                        raise CaseError("a couple searches for its child with search_couple()")
                    results[i] = self._search_couples(query, top_k, min_lr, started)
                    continue
                roles = query_roles(query, relationship)
                relatives = PARENT_ROLES if relationship == "parent-child" else RELATIVE_ROLES
                targets = relatives if young else (UNKNOWN_ORIGIN,)
                by_sex = roles[1] == "parent"
                sexes = SEX_CLASSES if by_sex else (query.sex or "M",)
                tables = self.tables.single(
                    relationship, {roles[0]: query.genotypes}, roles[1], self.store.loci,
                    self.store.manifest.alleles, transmitter_sexes=sexes,
                )  # fmt: skip
            except CaseError as exc:
                results[i] = exc
                continue
            plan: Plan = (roles, None if search_all else targets, by_sex)
            plans.setdefault(plan, []).append((i, tables))
        # the index's sparse scores need no (queries x references) buffer: larger batches
        size = INDEX_BATCH if relationship == "parent-child" and \
            self.candidate_method == INDEX else self.batch_size  # fmt: skip
        for (roles, targets_, by_sex), members in plans.items():
            for start in range(0, len(members), size):
                batch = members[start : start + size]
                batch_queries = [queries[i] for i, _ in batch]
                bounds = (
                    [Parentage(q.genotypes) for q in batch_queries]
                    if relationship == "parent-child"
                    else None
                )
                scored = self._scan([t for _, t in batch], targets_,
                                    [{q.sample_id} for q in batch_queries], by_sex=by_sex,
                                    bounds=bounds)  # fmt: skip
                for (i, tables), query, scores in zip(batch, batch_queries, scored, strict=True):
                    ranked = self._single_hits(
                        scores, tables, top_k, min_lr, relationship, {roles[0]: query},
                        roles[1], query.sample_id,
                    )  # fmt: skip
                    results[i] = self._result(query.sample_id, relationship, ranked, scores,
                                              bounds is not None, min_lr, started)  # fmt: skip
        return [r for r in results if r is not None]

    def search_couple(
        self,
        father: Profile,
        mother: Profile,
        *,
        top_k: int | None = 10,
        min_lr: float | None = None,
        search_all: bool = False,
    ) -> SearchResult:
        """Score a couple against the persons of unknown origin as their child.

        The result's ``query_id`` is the couple's ``case_id`` when they share one, otherwise
        ``father_id+mother_id``.
        """
        started = time.perf_counter()
        check_limits(top_k, min_lr)
        couple = {"father": father, "mother": mother}
        tables = self.tables.single(
            "parents-child", {role: p.genotypes for role, p in couple.items()}, "child",
            self.store.loci, self.store.manifest.alleles,
        )  # fmt: skip
        exclude = {father.sample_id, mother.sample_id}
        bound = Parentage(father.genotypes, mother.genotypes)
        (scores,) = self._scan([tables], None if search_all else (UNKNOWN_ORIGIN,), [exclude],
                               by_sex=False, bounds=[bound])  # fmt: skip
        query_id = father.case_id if father.case_id and father.case_id == mother.case_id \
            else f"{father.sample_id}+{mother.sample_id}"  # fmt: skip
        ranked = self._single_hits(scores, tables, top_k, min_lr, "parents-child", couple,
                                   "child", query_id)  # fmt: skip
        return self._result(query_id, "parents-child", ranked, scores, True, min_lr, started)

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
        """Search every query; a query that cannot be computed gets ``error``, others go on.

        Single-reference searches of up to ``batch_size`` queries share one pass over the
        store (each reference's codes are read once for the whole batch).
        """
        results: list[SearchResult] = []
        for start in range(0, len(queries), self.batch_size):
            chunk = queries[start : start + self.batch_size]
            for query, result in zip(
                chunk,
                self._search_many(chunk, relationship, top_k, min_lr, search_all),
                strict=True,
            ):
                if isinstance(result, CaseError):
                    result = SearchResult(query.sample_id, relationship, (), 0, 0.0, str(result))
                results.append(result)
                if progress is not None:
                    progress(len(results), len(queries))
        return results

    def _scan(
        self,
        tables: Sequence[ScoreTables],
        targets: Sequence[str] | None,
        excludes: Sequence[set[str]],
        *,
        by_sex: bool,
        bounds: Sequence[Parentage] | None = None,
    ) -> list[Scores]:
        """Score the references each query meets in one pass; with ``bounds`` (parentage
        under ``max_inconsistent``) only the candidates (:mod:`kinmatch.search.candidates`)."""
        if bounds is not None and self.max_inconsistent is not None:
            return self._scan_candidates(tables, targets, excludes, by_sex, bounds)
        locus_index = {locus: i for i, locus in enumerate(self.store.loci)}
        offsets = np.cumsum([0, *(fragment.rows for fragment in self.store.fragments)])
        q = len(tables)
        log10 = self._output(q, int(offsets[-1]))
        n_met = np.zeros(q, np.int64)
        stacked = np.stack([t.log10_lr if by_sex else t.log10_lr[:1] for t in tables])
        for f, fragment in enumerate(self.store.fragments):
            locus_map = np.array([locus_index[locus] for locus in fragment.loci], np.int64)
            base = selected_rows(fragment, targets, set())
            selected = np.empty((q, fragment.rows), dtype=bool)
            for k in range(q):
                selected[k] = base
                exclude_samples(fragment, excludes[k], selected[k])
                n_met[k] += int(selected[k].sum())
            # the stored parent's sex picks the matrix; unknown sex counts as male, as in the core
            score_references(fragment.codes, fragment.sexes, selected,
                             np.ascontiguousarray(stacked[:, :, locus_map, :]),
                             log10[:, offsets[f] : offsets[f + 1]])  # fmt: skip
            extra = self._one_sided_extra(fragment, tables, stacked)
            if extra is not None:
                by_row = extra[:, :1] if extra.shape[1] == 1 else \
                    np.where(fragment.sexes == 1, extra[:, 1:], extra[:, :1])  # fmt: skip
                log10[:, offsets[f] : offsets[f + 1]] += by_row
        return [Scores(log10[k], offsets, int(n_met[k]), int(n_met[k])) for k in range(q)]

    def _scan_candidates(
        self,
        tables: Sequence[ScoreTables],
        targets: Sequence[str] | None,
        excludes: Sequence[set[str]],
        by_sex: bool,
        bounds: Sequence[Parentage],
    ) -> list[Scores]:
        """:meth:`_scan` of the candidates alone: sparse scores."""
        stacked = np.stack([t.log10_lr if by_sex else t.log10_lr[:1] for t in tables])
        return self._candidates().scores(
            stacked, bounds, targets, excludes,
            lambda fragment: self._one_sided_extra(fragment, tables, stacked))  # fmt: skip

    def _one_sided_extra(
        self, fragment: Fragment, tables: Sequence[ScoreTables], stacked: NDArray[np.float64]
    ) -> NDArray[np.float64] | None:
        """Per query and sex class, the one-sided log10 LR every reference of ``fragment``
        adds: code 0 of the loci the fragment lacks, and the query's loci no one has (None
        when nothing is added)."""
        if not self.tables.one_sided:
            return None
        locus_index = {locus: i for i, locus in enumerate(self.store.loci)}
        absent = [i for locus, i in locus_index.items() if locus not in fragment.loci]
        extra = stacked[:, :, absent, 0].sum(axis=2)  # (queries, sex classes)
        extra += np.stack([t.outside_total()[: stacked.shape[1]] for t in tables])
        return extra if np.any(extra) else None

    def _candidates(self) -> Candidates:
        """The candidate finder of this store version (its role selections cached)."""
        assert self.max_inconsistent is not None
        key = (self.store.generation, len(self.store.fragments))
        if self._finder is None or self._finder[0] != key:
            finder = Candidates(self.store, self.frequencies, self.max_inconsistent,
                                method(self.max_inconsistent, self.use_index))  # fmt: skip
            self._finder = (key, finder)
        return self._finder[1]

    @property
    def candidate_method(self) -> str | None:
        """How parentage searches find their candidates: ``"bitmap index"``, ``"plain scan"``
        (``max_inconsistent`` past what the index serves, or ``use_index=False``), or None
        (no bound: every met reference is scored)."""
        if self.max_inconsistent is None:
            return None
        return method(self.max_inconsistent, self.use_index)

    def _output(self, queries: int, references: int) -> NDArray[np.float64]:
        """A reused (queries, references) buffer: a fresh 80 MB array per query of a 10^7
        store costs more in page faults than the scan itself. Valid until the next scan."""
        size = queries * references
        if self._buffer is None or len(self._buffer) < size:
            self._buffer = np.empty(size)
        return self._buffer[:size].reshape(queries, references)

    def _result(
        self,
        query_id: str,
        relationship: str,
        ranked: tuple[tuple[Hit, ...], int],
        scores: Scores,
        indexed: bool,
        min_lr: float | None,
        started: float,
    ) -> SearchResult:
        """The result of ``ranked`` (the hits, and how many scores reached ``min_lr``)."""
        hits, n_ranked = ranked
        filtered = indexed and self.max_inconsistent is not None
        above = None if min_lr is None else n_ranked
        return SearchResult(query_id, relationship, hits, scores.n_met,
                            time.perf_counter() - started,
                            n_candidates=scores.n_scored if filtered else None,
                            n_above_threshold=above,
                            candidates=self.candidate_method if filtered else None,
                            max_inconsistent=self.max_inconsistent if filtered else None,
                            )  # fmt: skip

    def _single_hits(
        self,
        scores: Scores,
        tables: ScoreTables,
        top_k: int | None,
        min_lr: float | None,
        relationship: str,
        query_roles: dict[str, Profile],
        free_role: str,
        query_id: str,
    ) -> tuple[tuple[Hit, ...], int]:
        def ids(positions: NDArray[np.int64]) -> pa.Array:
            fragments, rows = scores.locate(positions)
            parts, where = [], []
            for f, fragment in enumerate(self.store.fragments):
                mine = np.flatnonzero(fragments == f)
                parts.append(fragment.sample_ids.take(pa.array(rows[mine])))
                where.append(mine)
            names = pa.concat_arrays(parts) if parts else pa.array([], pa.string())
            return names.take(pa.array(np.argsort(np.concatenate(where), kind="stable")))

        locus_index = {locus: i for i, locus in enumerate(self.store.loci)}
        hits = []
        ranked, n_ranked = select_ranked(scores.log10_lr, ids, top_k, min_lr)
        for rank, i in enumerate(ranked, start=1):
            f, row = (int(x[0]) for x in scores.locate(np.array([i])))
            fragment = self.store.fragments[f]
            reference = self.store.decode(fragment, row)
            persons = {**query_roles, free_role: reference}
            # the table row the scan read: the stored parent's sex where the tables have two
            s = 1 if tables.log10_lr.shape[0] > 1 and fragment.sexes[row] == 1 else 0
            entries, one_sided = {}, {}
            for j, code in enumerate(fragment.codes[row].tolist()):
                li = locus_index[fragment.loci[j]]
                entry = float(tables.log10_lr[s, li, code])
                if code and tables.compared[li]:
                    entries[fragment.loci[j]] = entry
                elif self.tables.one_sided and (code or tables.compared[li]):
                    one_sided[fragment.loci[j]] = entry
            for locus in self.store.loci:  # the query's loci the reference's fragment lacks
                li = locus_index[locus]
                if tables.compared[li] and locus not in fragment.loci and \
                        self.tables.one_sided:  # fmt: skip
                    one_sided[locus] = float(tables.log10_lr[s, li, 0])
            one_sided |= {locus: float(values[s]) for locus, values in tables.outside.items()}
            details = functools.partial(hit_details, relationship, persons, entries,
                                        self.frequencies, self.verdict_rule, one_sided)  # fmt: skip
            breakdown = functools.partial(self._breakdown, relationship, persons)
            hit = make_hit(query_id, reference.sample_id, relationship, scores, i, rank, details,
                           breakdown, persons, case_id=reference.case_id)  # fmt: skip
            hits.append(hit)
        return tuple(hits), n_ranked

    def _search_couples(
        self, child: Profile, top_k: int | None, min_lr: float | None, started: float
    ) -> SearchResult:
        couples = self._couples()
        tables = couple_tables(self.tables, child.genotypes, self.store.loci,
                               self.store.manifest.alleles)  # fmt: skip
        candidates = np.arange(len(couples.case_ids))
        if self.max_inconsistent is not None:
            indexed = self.candidate_method == "bitmap index"
            candidates = self._candidates().couples(
                couples.father, couples.mother, couples.bitmaps if indexed else None,
                child.genotypes,
            )  # fmt: skip
        n = len(candidates)
        scored, exact = np.empty(n), np.empty(n, dtype=bool)
        score_couples(
            couples.father[candidates], couples.mother[candidates], tables.transmit,
            tables.count, tables.rare, tables.duo.log10_lr, tables.child_p, tables.child_het,
            tables.child_one_sided, self.theta, scored, exact,
        )  # fmt: skip
        if tables.child_outside:  # the child's loci no stored profile has: one-sided
            scored += math.fsum(tables.child_outside.values())
        exact_couples: dict[int, KinshipResult] = {}
        for flagged in np.flatnonzero(exact).tolist():  # a parent's rare allele: core scores it
            roles = self._couple_roles(couples, int(candidates[flagged]), child)
            result = self._breakdown("parents-child", roles)
            exact_couples[int(candidates[flagged])] = result
            scored[flagged] = -math.inf if result.log10_lr is None else result.log10_lr
        total = len(couples.case_ids)
        scores = Scores(scored, np.array([0, total]), total, n, candidates.astype(np.int64))

        def ids(indices: NDArray[np.int64]) -> pa.Array:
            return couples.labels.take(pa.array(scores.at(indices)))

        hits = []
        ranked, n_ranked = select_ranked(scored, ids, top_k, min_lr)
        for rank, index in enumerate(ranked, start=1):
            couple = int(candidates[index])
            roles = self._couple_roles(couples, couple, child)
            breakdown = functools.partial(self._breakdown, "parents-child", roles)
            details = self._couple_details(couples, couple, roles, tables, exact_couples)
            hits.append(
                make_hit(
                    child.sample_id,
                    couples.case_ids[couple],
                    "parents-child",
                    scores,
                    index,
                    rank,
                    details,
                    breakdown,
                    roles,
                    father_id=roles["father"].sample_id,
                    mother_id=roles["mother"].sample_id,
                    case_id=couples.case_ids[couple],
                )
            )
        return self._result(child.sample_id, "parents-child", (tuple(hits), n_ranked), scores,
                            True, min_lr, started)  # fmt: skip

    def _couple_details(
        self,
        couples: Couples,
        couple: int,
        roles: dict[str, Profile],
        tables: CoupleTables,
        exact: Mapping[int, KinshipResult],
    ) -> Callable[[float], HitDetails]:
        """The details of a couple hit: the couple kernel's per-locus terms, or the core's
        breakdown where the core scored the couple."""
        if couple in exact:
            return lambda lr: details_of(exact[couple])
        per_locus = np.empty(len(self.store.loci))
        couple_loci(couples.father[couple], couples.mother[couple], tables.transmit,
                    tables.count, tables.duo.log10_lr, tables.child_p, tables.child_het,
                    self.theta, per_locus)  # fmt: skip
        values = zip(self.store.loci, per_locus.tolist(), strict=True)
        entries = {locus: value for locus, value in values if not math.isnan(value)}
        one_sided = {}
        if self.tables.one_sided:  # the child typed, neither parent: one-sided
            for li, locus in enumerate(self.store.loci):
                if locus in entries:
                    continue
                if tables.child_het[li] != 255:
                    one_sided[locus] = float(tables.child_one_sided[li])
                else:  # a parent alone, a founder under both hypotheses: exactly 1
                    one_sided[locus] = 0.0
            one_sided |= tables.child_outside
        return functools.partial(hit_details, "parents-child", roles, entries, self.frequencies,
                                 self.verdict_rule, one_sided)  # fmt: skip

    def _couple_roles(self, couples: Couples, i: int, child: Profile) -> dict[str, Profile]:
        (ff, fr), (mf, mr) = couples.rows[i]
        return {
            "child": child,
            "father": self.store.decode(self.store.fragments[ff], fr),
            "mother": self.store.decode(self.store.fragments[mf], mr),
        }

    def _couples(self) -> Couples:
        """Registered couples (a father and a mother sharing a case_id), cached per generation."""
        if self._couple_cache is None or self._couple_cache[0] != self.store.generation:
            self._couple_cache = (self.store.generation, find_couples(self.store))
        return self._couple_cache[1]

    def _breakdown(self, relationship: str, roles: dict[str, Profile]) -> KinshipResult:
        return kinship_lr(relationship, roles, self.frequencies, theta=self.theta,
                          mutation=self.mutation, min_frequency=self.min_frequency,
                          verdict_rule=self.verdict_rule,
                          one_sided_exact=self.tables.one_sided_exact)  # fmt: skip

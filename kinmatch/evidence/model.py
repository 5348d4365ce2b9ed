"""Null distributions of queries: a query's per-locus nulls from the searcher's table builder,
combined over the loci compared, cached per query.

A single reference takes the free role of the relationship, the query the others
(:meth:`NullModel.single`); a child against random unrelated couples is
:meth:`NullModel.couples`; a search hit's null (:meth:`NullModel.for_hit`) is over the loci
compared in that hit. The per-locus values come from the core's likelihood grids
(:meth:`kinmatch.tables.TableBuilder.locus_grids`, :mod:`kinmatch.evidence.locus`), the tail
from :mod:`kinmatch.evidence.tail`.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Collection, Iterable, Mapping

import numpy as np

from kinmatch.alleles import Genotype
from kinmatch.errors import CaseError, InputError
from kinmatch.evidence.locus import LocusNull, couple_locus_null
from kinmatch.evidence.tail import DEFAULT_REL_TOL, NullDistribution
from kinmatch.frequencies import DEFAULT_MIN_FREQUENCY, AlleleFrequencies
from kinmatch.hits import Hit
from kinmatch.likelihood import NO_MUTATION, untyped_roles
from kinmatch.loci import locus_sort_key
from kinmatch.mutation import MutationModel
from kinmatch.profiles import Profile
from kinmatch.relationships import Relationship, get_relationship
from kinmatch.tables import TableBuilder

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
        """One locus, a single free reference: from the core's grids
        (:meth:`LocusNull.from_likelihoods`)."""
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
            return self._with_one_sided(self.couples(child, loci=loci), rel, persons, "father",
                                        "M")  # fmt: skip
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
        base = self.single(hit.relationship, query, free[0], loci=compared, transmitter_sex=sex)
        return self._with_one_sided(base, rel, persons, free[0], sex)

    def _with_one_sided(
        self,
        base: NullDistribution,
        rel: Relationship,
        persons: Mapping[str, Profile],
        free: str,
        sex: str,
    ) -> NullDistribution:
        """``base`` with the hit's one-sided loci (typed on one side only), whose exact LR
        is part of the hit's under a mutation model (:mod:`kinmatch.likelihood`): the
        query's own LR where only the query is typed (one value: the reference's pattern is
        given), the reference's own LR over the population where only the reference is. A
        couple (``free`` is then ``father``) alone is two founders under both hypotheses: LR
        1, nothing to add."""
        if not self.tables.one_sided:
            return base
        couple = rel.name == "parents-child" and free == "father"
        references = {"father", "mother"} if couple else {free}
        nulls = []
        for locus in sorted({name for p in persons.values() for name in p.genotypes},
                            key=locus_sort_key):  # fmt: skip
            typed = {role for role, p in persons.items() if locus in p.genotypes}
            if locus not in self.frequencies or untyped_roles(rel, typed) is None:
                continue
            query = {role: persons[role].genotypes[locus] for role in typed - references}
            if query:
                value = self.tables.alone(rel.name, locus, query, sex)
                nulls.append(LocusNull(locus, np.array([value]), np.array([1.0]), 0.0,
                                       10.0**value))  # fmt: skip
            elif not couple:
                nulls.append(self.locus(rel.name, locus, {}, free, sex))
        if not nulls:
            return base
        given = frozenset((role, locus, g) for role, p in persons.items()
                          for locus, g in p.genotypes.items())  # fmt: skip
        key = ("one-sided", rel.name, free, sex, given)
        return self._distribution(key, lambda: [*base.loci, *nulls])

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

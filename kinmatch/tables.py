"""Per-query score tables over the store's genotype codes, built with the exact core.

For one query and a relationship where the other side is a single stored profile, the LR at
a locus depends only on that profile's genotype there. So for every locus of the store and
every genotype code of its dictionary the table holds log10 LR (0 where the locus is not
compared): a parent-child duo's by the compiled closed form of
:mod:`kinmatch.kernels.tables`, every other relationship's from the compiled likelihood grids
of :mod:`kinmatch.descent` (both the core's fast twins, tested equal to it; the core itself
for a pedigree they do not cover). Every entry uses the
allele set the core would use for that pair (the frequency table's alleles plus the query's
and that genotype's alleles the table lacks), never the rest of the store's dictionary, so a
scan over the table gives exactly the core's LR. A locus' row of entries depends only on the
query's genotypes there, so rows are memoised across queries (a batch of queries shares the
rows of its common genotypes).
"""

from __future__ import annotations

import functools
import math
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from kinmatch import descent
from kinmatch.alleles import Allele, Genotype, make_genotype
from kinmatch.duo import duo_grids
from kinmatch.errors import CaseError, InputError
from kinmatch.frequencies import DEFAULT_MIN_FREQUENCY, AlleleFrequencies, LocusAlleles
from kinmatch.kernels.tables import couple_parent_rows, duo_row
from kinmatch.likelihood import NO_MUTATION, locus_lr, untyped_roles
from kinmatch.loci import locus_sort_key
from kinmatch.mutation import Matrix, MutationModel
from kinmatch.relationships import get_relationship
from kinmatch.store import n_genotype_codes, split_codes

SEX_CLASSES = ("M", "F")  # table row of a reference whose sex picks a mutation matrix
GRID_CACHE_SIZE = 2048
"""Per-locus likelihood grids :meth:`TableBuilder.locus_grids` keeps (least recently used go)."""
ROW_CACHE_VALUES = 1 << 23
"""Entries of per-locus table rows :class:`TableBuilder` keeps in all (64 MiB)."""

Ints = NDArray[np.int64]


@dataclass(frozen=True)
class ScoreTables:
    """Tables of shape (sex classes, loci, codes); loci in the store's order. ``compared``
    marks the loci with entries (in the table and typed on the query's side); at the others
    only a reference typed there scores (its one-sided LR, under a mutation model), and
    code 0 of a compared locus is the query's one-sided LR (the reference untyped there).
    ``outside`` holds, per sex class, the one-sided log10 LR of the query's loci that no
    reference has (typed by the query and in the frequency table, not in ``loci``): every
    reference scores them."""

    log10_lr: NDArray[np.float64]
    compared: NDArray[np.bool_]
    outside: Mapping[str, NDArray[np.float64]] = field(default_factory=dict)

    def outside_total(self) -> NDArray[np.float64]:
        """The sum of ``outside`` per sex class (0 without such loci)."""
        total = np.zeros(self.log10_lr.shape[0])
        for values in self.outside.values():
            total = total + values
        return total


@dataclass(frozen=True)
class LocusGrids:
    """The core's likelihoods of one locus for every genotype of the free person.

    ``alleles`` is the allele set of the query's comparison (the table's alleles plus the
    query's alleles it lacks). ``h1[i, j]`` and ``h2[i, j]`` (``i <= j``; the lower triangle
    mirrors it) are P(query genotypes, free person has unordered genotype {a_i, a_j}) under H1
    and H2, as :func:`~kinmatch.pedigree.pedigree_likelihood_grid` gives them. Read-only.
    """

    alleles: LocusAlleles
    h1: NDArray[np.float64]
    h2: NDArray[np.float64]


@functools.lru_cache(maxsize=256)
def code_alleles(n_alleles: int) -> tuple[Ints, Ints]:
    """The dictionary indices (lo, hi) of codes 1, 2, ... of a locus with ``n_alleles``
    dictionary alleles (read-only)."""
    first, second = split_codes(np.arange(1, n_genotype_codes(n_alleles), dtype=np.int64))
    first.flags.writeable = False
    second.flags.writeable = False
    return first, second


def _positions(dictionary: Sequence[Allele], alleles: LocusAlleles) -> Ints:
    """Position of each dictionary allele in a comparison's allele set (-1: not in it)."""
    position = {allele: i for i, allele in enumerate(alleles.alleles)}
    return np.array([position.get(allele, -1) for allele in dictionary], dtype=np.int64)


class TableBuilder:
    """Builds :class:`ScoreTables` for one frequency table, theta and mutation model."""

    def __init__(
        self,
        frequencies: AlleleFrequencies,
        *,
        theta: float = 0.0,
        mutation: MutationModel = NO_MUTATION,
        min_frequency: float = DEFAULT_MIN_FREQUENCY,
        one_sided_exact: bool = True,
    ) -> None:
        """``one_sided_exact=False`` scores loci typed on one side only as LR 1 (the older
        convention) instead of their exact LR (:mod:`kinmatch.likelihood`)."""
        self.frequencies = frequencies
        self.theta = theta
        self.mutation = mutation
        self.min_frequency = min_frequency
        self.one_sided_exact = one_sided_exact
        self.one_sided = one_sided_exact and not mutation.is_none
        """Whether one-sided loci score anything (their exact LR is 1 without mutation)."""
        self._entries: dict[tuple[object, ...], float] = {}
        self._grids: OrderedDict[tuple[object, ...], LocusGrids] = OrderedDict()
        self._rows: OrderedDict[tuple[object, ...], NDArray[np.float64]] = OrderedDict()
        self._row_values = 0
        self._lock = threading.Lock()

    def entry(
        self,
        relationship: str,
        locus: str,
        genotypes: Mapping[str, Genotype | None],
        transmitter_sex: str,
    ) -> float:
        """log10 LR of one locus by :func:`~kinmatch.likelihood.locus_lr`, memoised."""
        key = (relationship, locus, tuple(sorted(genotypes.items())), transmitter_sex)
        found = self._entries.get(key)
        if found is None:
            result = locus_lr(
                relationship, locus, genotypes, self.frequencies, theta=self.theta,
                mutation=self.mutation, min_frequency=self.min_frequency,
                transmitter_sex=transmitter_sex, one_sided_exact=self.one_sided_exact,
            )  # fmt: skip
            found = math.log10(result.lr) if result.lr > 0 else -math.inf
            self._entries[key] = found
        return found

    def _comparison(
        self, locus: str, query: Mapping[str, Genotype]
    ) -> tuple[LocusAlleles, dict[str, tuple[int, int]], tuple[Matrix, Matrix] | None]:
        """The allele set of the query's comparison at ``locus``, the query's genotypes as
        indices into it, and the mutation matrices on it (None without mutation)."""
        alleles = self.frequencies.locus_alleles(
            locus, (a for g in query.values() for a in g), self.min_frequency
        )
        position = {allele: i for i, allele in enumerate(alleles.alleles)}
        coded = {role: (position[g[0]], position[g[1]]) for role, g in query.items()}
        try:
            matrices = self.mutation.matrices(alleles)
        except InputError as exc:
            raise CaseError(exc.reason, locus=locus) from None
        return alleles, coded, matrices

    def locus_grids(
        self,
        relationship: str,
        locus: str,
        query: Mapping[str, Genotype],
        free_role: str,
        transmitter_sex: str = "M",
    ) -> LocusGrids:
        """H1 and H2 likelihoods of ``locus`` over every genotype of ``free_role``, memoised.

        ``query`` maps the other typed roles to their genotypes at the locus. One call of
        :func:`~kinmatch.descent.descent_likelihood_grid` per hypothesis on the allele set of
        the query's comparison; the last :data:`GRID_CACHE_SIZE` results are kept, so a query's
        score tables and its null distribution (:mod:`kinmatch.evidence`) share them.
        """
        rel = get_relationship(relationship)
        sex = transmitter_sex if rel.transmitter is not None else "M"  # only a duo has a sex
        key = (rel.name, locus, tuple(sorted(query.items())), free_role, sex)
        with self._lock:
            found = self._grids.get(key)
            if found is not None:
                self._grids.move_to_end(key)
                return found
        alleles, coded, matrices = self._comparison(locus, query)
        p, theta = alleles.frequencies, self.theta
        if rel.name == "parent-child" and coded:  # the closed form, tested equal to the core's
            paternal, maternal = matrices if matrices is not None else (None, None)
            own, mate = (paternal, maternal) if sex == "M" else (maternal, paternal)
            h1, h2 = duo_grids(p, theta=theta, parent_matrix=own, mate_matrix=mate,
                               child=coded.get("child"), parent=coded.get("parent"))  # fmt: skip
        else:
            h1, h2 = (_unordered(descent.likelihood_grid(ped, coded, free_role, p, theta=theta,
                                                         matrices=matrices))
                      for ped in rel.pedigrees(sex))  # fmt: skip
        h1.flags.writeable = False
        h2.flags.writeable = False
        grids = LocusGrids(alleles, h1, h2)
        with self._lock:
            self._grids[key] = grids
            while len(self._grids) > GRID_CACHE_SIZE:
                self._grids.popitem(last=False)
        return grids

    def single(
        self,
        relationship: str,
        fixed: Mapping[str, Mapping[str, Genotype]],
        free_role: str,
        loci: Sequence[str],
        dictionaries: Mapping[str, Sequence[Allele]],
        *,
        transmitter_sexes: Sequence[str] = ("M",),
    ) -> ScoreTables:
        """Tables over the codes of ``free_role`` (the stored profile).

        ``fixed`` maps the query's roles to their genotypes per locus. One table row per entry
        of ``transmitter_sexes`` (the stored parent's sex in a duo). Each locus is one
        :meth:`row` per sex.
        """
        rel = get_relationship(relationship)
        width = max((n_genotype_codes(len(dictionaries.get(locus, ()))) for locus in loci),
                    default=1)  # fmt: skip
        shape = (len(transmitter_sexes), len(loci), width)
        tables = ScoreTables(np.zeros(shape), np.zeros(len(loci), dtype=bool),
                             self.outside(rel.name, fixed, loci, transmitter_sexes))  # fmt: skip
        for li, locus in enumerate(loci):
            query = {role: typed[locus] for role, typed in fixed.items() if locus in typed}
            if locus not in self.frequencies:
                continue
            compared = not untyped_roles(rel, {*query, free_role})
            if not compared and (query or not self.one_sided or free_role != rel.poi):
                continue  # exactly 1 for every code (no searched relationship gets here typed)
            tables.compared[li] = compared
            dictionary = tuple(dictionaries.get(locus, ()))
            for s, sex in enumerate(transmitter_sexes):
                row = self.row(rel.name, locus, query, free_role, sex, dictionary)
                tables.log10_lr[s, li, : len(row)] = row
        return tables

    def alone(
        self, relationship: str, locus: str, query: Mapping[str, Genotype], sex: str
    ) -> float:
        """log10 one-sided LR of the query's genotypes at ``locus`` with the other side
        untyped: a child alone (of a duo or a couple) by :func:`child_alone`, anything else
        by the compiled likelihoods (:func:`~kinmatch.descent.likelihood`, peeling where they
        do not apply). The one value the tables, the couples' tables and the
        evidence's nulls all use; exactly 0 when the query is not the person of interest."""
        rel = get_relationship(relationship)
        if rel.poi not in query:
            return 0.0
        alleles, coded, matrices = self._comparison(locus, query)
        p = np.ascontiguousarray(alleles.frequencies, dtype=np.float64)
        if rel.name in ("parent-child", "parents-child") and list(coded) == ["child"]:
            paternal, maternal = matrices if matrices is not None else (np.eye(len(p)),) * 2
            return math.log10(child_alone(p, self.theta, paternal, maternal, *coded["child"]))
        sex = sex if rel.transmitter is not None else "M"
        h1, h2 = (descent.likelihood(ped, coded, p, theta=self.theta, matrices=matrices)
                  for ped in rel.pedigrees(sex))  # fmt: skip
        if h2 == 0.0:
            raise CaseError("the typed genotypes are impossible under H2", locus=locus)
        return math.log10(h1 / h2) if h1 > 0.0 else -math.inf

    def outside(
        self,
        relationship: str,
        fixed: Mapping[str, Mapping[str, Genotype]],
        loci: Sequence[str],
        transmitter_sexes: Sequence[str],
    ) -> dict[str, NDArray[np.float64]]:
        """The query's one-sided log10 LR, per sex, at its loci outside ``loci`` that are in
        the frequency table (none without mutation: they are exactly 0)."""
        if not self.one_sided:
            return {}
        inside = set(loci)
        names = {locus for typed in fixed.values() for locus in typed}
        found = {}
        for locus in sorted(names - inside, key=locus_sort_key):
            if locus in self.frequencies:
                query = {role: typed[locus] for role, typed in fixed.items() if locus in typed}
                found[locus] = np.array([self.alone(relationship, locus, query, sex)
                                         for sex in transmitter_sexes])  # fmt: skip
        return found

    def row(
        self,
        relationship: str,
        locus: str,
        query: Mapping[str, Genotype],
        free_role: str,
        sex: str,
        dictionary: tuple[Allele, ...],
    ) -> NDArray[np.float64]:
        """log10 LR of every code of ``dictionary`` at ``locus`` (0 at code 0, missing),
        memoised per query genotypes (read-only).

        Codes whose alleles are in the query's comparison come, for a duo, from the compiled
        closed form (:mod:`kinmatch.kernels.tables`), otherwise from its likelihood grids
        (:meth:`locus_grids`); a code with an allele outside that set is computed with
        :func:`~kinmatch.likelihood.locus_lr` on its own allele set (:meth:`entry`).
        """
        key = (relationship, locus, tuple(sorted(query.items())), free_role, sex, dictionary)
        with self._lock:
            found = self._rows.get(key)
            if found is not None:
                self._rows.move_to_end(key)
                return found
        first, second = code_alleles(len(dictionary))
        if relationship == "parent-child" and query:
            row, known = self._duo_row(locus, query, sex, dictionary)
        else:
            grids = self.locus_grids(relationship, locus, query, free_role, sex)
            position = _positions(dictionary, grids.alleles)
            i, j = position[first], position[second]
            known = (i >= 0) & (j >= 0)
            h2 = grids.h2[i[known], j[known]]
            if np.any(h2 == 0.0):
                raise CaseError("the genotypes are impossible under H2", locus=locus)
            ratio = (grids.h1[i[known], j[known]] / h2).tolist()
            row = np.zeros(len(first) + 1)
            # math.log10, as the core: the same number whichever way a table entry is reached
            row[1:][known] = [math.log10(r) if r > 0 else -math.inf for r in ratio]
        for k in np.flatnonzero(~known).tolist():  # an allele the comparison's set lacks
            genotype = make_genotype(dictionary[first[k]], dictionary[second[k]])
            row[k + 1] = self.entry(relationship, locus, {**query, free_role: genotype}, sex)
        if query and self.one_sided:  # code 0, the reference untyped: one-sided
            row[0] = self.alone(relationship, locus, query, sex)
        row.flags.writeable = False
        with self._lock:
            if key not in self._rows:
                self._rows[key] = row
                self._row_values += len(row)
            while self._row_values > ROW_CACHE_VALUES and len(self._rows) > 1:
                self._row_values -= len(self._rows.popitem(last=False)[1])
        return row

    def _duo_row(
        self, locus: str, query: Mapping[str, Genotype], sex: str, dictionary: tuple[Allele, ...]
    ) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
        """A duo's row by the compiled closed form (:mod:`kinmatch.kernels.tables`), and which
        codes it holds (the others have an allele outside the comparison's set)."""
        alleles, coded, matrices = self._comparison(locus, query)
        p = np.ascontiguousarray(alleles.frequencies, dtype=np.float64)
        eye = np.eye(len(p))
        paternal, maternal = matrices if matrices is not None else (eye, eye)
        own, mate = (paternal, maternal) if sex == "M" else (maternal, paternal)
        p_mate = (1 - self.theta) * (p @ mate)
        first, second = code_alleles(len(dictionary))
        position = _positions(dictionary, alleles)
        lo, hi = position[first], position[second]
        row = np.zeros(len(first) + 1)
        free_parent = "child" in coded
        x, y = coded["child" if free_parent else "parent"]
        zeros = duo_row(p, self.theta, own, mate, p_mate, x, y, free_parent, lo, hi, row)
        if zeros:
            raise CaseError("the genotypes are impossible under H2", locus=locus)
        known: NDArray[np.bool_] = (lo >= 0) & (hi >= 0)
        return row, known


def child_alone(
    p: NDArray[np.float64],
    theta: float,
    paternal: NDArray[np.float64],
    maternal: NDArray[np.float64],
    a: int,
    b: int,
) -> float:
    """One-sided LR of a child {a, b} whose parents are untyped founders (a duo's child with
    its parent untyped, a couple's with neither typed): P(child | H1) / P(child | H2).

    Under H1 the child's genes are one gene of its father and one of its mother, two
    Balding-Nichols draws ``P(x, y) = p_x (theta [x = y] + (1 - theta) p_y)``, each through the
    matrix of its parent's sex: ``P(g0 = a, g1 = b) = (1 - theta) (p M_pat)_a (p M_mat)_b +
    theta sum_x p_x M_pat[x, a] M_mat[x, b]``, both orders for a heterozygote. Under H2 the
    child is a founder, ``h p_a (theta [a = b] + (1 - theta) p_b)``. Tested equal to the core.
    """

    def ordered(first: int, second: int) -> float:
        through = (1 - theta) * float(p @ paternal[:, first]) * float(p @ maternal[:, second])
        return through + theta * float(np.sum(p * paternal[:, first] * maternal[:, second]))

    h1 = ordered(a, b) + (ordered(b, a) if a != b else 0.0)
    h2 = (2.0 if a != b else 1.0) * p[a] * (theta * (a == b) + (1 - theta) * p[b])
    return h1 / float(h2)


def _unordered(grid: NDArray[np.float64]) -> NDArray[np.float64]:
    """Likelihood of unordered genotypes: [a, b] + [b, a] off the diagonal, [a, a] on it."""
    result: NDArray[np.float64] = grid + grid.T - np.diag(np.diag(grid))
    return result


@dataclass(frozen=True)
class CoupleTables:
    """Inputs of :func:`kinmatch.kernels.scan.score_couples` for one child (see there)."""

    transmit: NDArray[np.float64]
    count: NDArray[np.uint8]
    rare: NDArray[np.uint8]
    duo: ScoreTables
    child_p: NDArray[np.float64]
    child_het: NDArray[np.uint8]
    child_one_sided: NDArray[np.float64]
    """log10 LR of the child alone at each locus (0 without mutation): neither parent typed."""
    child_outside: Mapping[str, float] = field(default_factory=dict)
    """The same at the child's loci no stored profile has: every couple scores them."""


def couple_tables(
    builder: TableBuilder,
    child: Mapping[str, Genotype],
    loci: Sequence[str],
    dictionaries: Mapping[str, Sequence[Allele]],
) -> CoupleTables:
    """Per-parent tables for scoring one child against couples.

    Entries use the allele set of the child's comparison (the table's alleles plus the child's
    alleles it lacks); a parent genotype with an allele outside it is marked ``rare`` and its
    couple is scored by the core instead, since that allele changes the allele set and the
    mutation matrices of the whole comparison.
    """
    duo = builder.single("parent-child", {"child": child}, "parent", loci, dictionaries,
                         transmitter_sexes=SEX_CLASSES)  # fmt: skip
    width = duo.log10_lr.shape[2]
    transmit = np.zeros((2, len(loci), width, 2))
    count = np.zeros((len(loci), width, 2), dtype=np.uint8)
    rare = np.zeros((len(loci), width), dtype=np.uint8)
    child_p = np.zeros((len(loci), 2))
    child_het = np.full(len(loci), 255, dtype=np.uint8)
    child_one_sided = np.zeros(len(loci))
    for li, locus in enumerate(loci):
        genotype = child.get(locus)
        if genotype is None or locus not in builder.frequencies:
            continue
        alleles = builder.frequencies.locus_alleles(locus, genotype, builder.min_frequency)
        try:
            matrices = builder.mutation.matrices(alleles)
        except InputError as exc:
            raise CaseError(exc.reason, locus=locus) from None
        n = len(alleles.alleles)
        sexes = matrices if matrices is not None else (np.eye(n), np.eye(n))
        wanted = [alleles.index(a) for a in genotype]
        child_p[li] = alleles.frequencies[wanted]
        child_het[li] = int(genotype[0] != genotype[1])
        if builder.one_sided:  # neither parent typed: the child's own LR
            child_one_sided[li] = builder.alone("parents-child", locus, {"child": genotype}, "M")
        dictionary = tuple(dictionaries.get(locus, ()))
        first, second = code_alleles(len(dictionary))
        position = _positions(dictionary, alleles)
        lo, hi = position[first], position[second]
        for s, matrix in enumerate(sexes):
            couple_parent_rows(np.ascontiguousarray(matrix, dtype=np.float64), wanted[0],
                               wanted[1], lo, hi, transmit[s, li], count[li], rare[li])  # fmt: skip
    alone = builder.outside("parents-child", {"child": child}, loci, ("M",))
    outside = {locus: float(values[0]) for locus, values in alone.items()}
    return CoupleTables(transmit, count, rare, duo, child_p, child_het, child_one_sided,
                        outside)  # fmt: skip

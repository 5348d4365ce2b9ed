"""Per-query score tables over the store's genotype codes, built with the exact core.

For one query and a relationship where the other side is a single stored profile, the LR at
a locus depends only on that profile's genotype there. So for every locus of the store and
every genotype code of its dictionary the table holds log10 LR (0 where the locus is not
compared), computed by the exact pedigree engine of the core. Every entry uses the
allele set the core would use for that pair (the frequency table's alleles plus the query's
and that genotype's alleles the table lacks), never the rest of the store's dictionary, so a
scan over the table gives exactly the core's LR. Entries are memoised across queries.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from kinmatch.alleles import Allele, Genotype, make_genotype
from kinmatch.errors import CaseError, InputError
from kinmatch.frequencies import DEFAULT_MIN_FREQUENCY, AlleleFrequencies, LocusAlleles
from kinmatch.likelihood import NO_MUTATION, locus_lr, untyped_roles
from kinmatch.mutation import MutationModel
from kinmatch.pedigree import pedigree_likelihood_grid
from kinmatch.relationships import Relationship, get_relationship
from kinmatch.store import genotype_alleles, n_genotype_codes

SEX_CLASSES = ("M", "F")  # table row of a reference whose sex picks a mutation matrix
GRID_CACHE_SIZE = 2048
"""Per-locus likelihood grids :meth:`TableBuilder.locus_grids` keeps (least recently used go)."""


@dataclass(frozen=True)
class ScoreTables:
    """Tables of shape (sex classes, loci, codes); loci in the store's order."""

    log10_lr: NDArray[np.float64]


@dataclass(frozen=True)
class LocusGrids:
    """The core's likelihoods of one locus for every genotype of the free person.

    ``alleles`` is the allele set of the query's comparison (the table's alleles plus the
    query's alleles it lacks). ``h1[i, j]`` and ``h2[i, j]`` (``i <= j``; the lower triangle
    mirrors it) are P(query genotypes, free person has unordered genotype {a_i, a_j}) under H1
    and H2, from :func:`~kinmatch.pedigree.pedigree_likelihood_grid`. Read-only.
    """

    alleles: LocusAlleles
    h1: NDArray[np.float64]
    h2: NDArray[np.float64]


def code_genotypes(dictionary: Sequence[Allele]) -> list[Genotype | None]:
    """Genotype of every code of a locus dictionary; index 0 (missing) is None."""
    genotypes: list[Genotype | None] = [None]
    for code in range(1, n_genotype_codes(len(dictionary))):
        first, second = genotype_alleles(code)
        genotypes.append(make_genotype(dictionary[first], dictionary[second]))
    return genotypes


class TableBuilder:
    """Builds :class:`ScoreTables` for one frequency table, theta and mutation model."""

    def __init__(
        self,
        frequencies: AlleleFrequencies,
        *,
        theta: float = 0.0,
        mutation: MutationModel = NO_MUTATION,
        min_frequency: float = DEFAULT_MIN_FREQUENCY,
    ) -> None:
        self.frequencies = frequencies
        self.theta = theta
        self.mutation = mutation
        self.min_frequency = min_frequency
        self._entries: dict[tuple[object, ...], float] = {}
        self._grids: OrderedDict[tuple[object, ...], LocusGrids] = OrderedDict()
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
                transmitter_sex=transmitter_sex,
            )  # fmt: skip
            found = math.log10(result.lr) if result.lr > 0 else -math.inf
            self._entries[key] = found
        return found

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
        :func:`~kinmatch.pedigree.pedigree_likelihood_grid` per hypothesis on the allele set of
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
        alleles = self.frequencies.locus_alleles(
            locus, (a for g in query.values() for a in g), self.min_frequency
        )
        position = {allele: i for i, allele in enumerate(alleles.alleles)}
        coded = {role: (position[g[0]], position[g[1]]) for role, g in query.items()}
        try:
            matrices = self.mutation.matrices(alleles)
        except InputError as exc:
            raise CaseError(exc.reason, locus=locus) from None
        h1_ped, h2_ped = rel.pedigrees(sex)
        p, theta = alleles.frequencies, self.theta
        h1 = _unordered(pedigree_likelihood_grid(h1_ped, coded, free_role, p, theta=theta,
                                                 matrices=matrices))  # fmt: skip
        h2 = _unordered(pedigree_likelihood_grid(h2_ped, coded, free_role, p, theta=theta,
                                                 matrices=matrices))  # fmt: skip
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
        of ``transmitter_sexes`` (the stored parent's sex in a duo). Each locus is one call of
        :func:`~kinmatch.pedigree.pedigree_likelihood_grid` per hypothesis on the allele set of
        the query's comparison; codes with an allele outside that set are computed one by one
        with :func:`~kinmatch.likelihood.locus_lr` on their own allele set.
        """
        rel = get_relationship(relationship)
        width = max((n_genotype_codes(len(dictionaries.get(locus, ()))) for locus in loci),
                    default=1)  # fmt: skip
        shape = (len(transmitter_sexes), len(loci), width)
        tables = ScoreTables(np.zeros(shape))
        for li, locus in enumerate(loci):
            query = {role: typed[locus] for role, typed in fixed.items() if locus in typed}
            if locus in self.frequencies and not untyped_roles(rel, {*query, free_role}):
                for s, sex in enumerate(transmitter_sexes):
                    self._fill(tables, s, li, rel, locus, query, free_role, sex,
                               code_genotypes(dictionaries.get(locus, ())))  # fmt: skip
        return tables

    def _fill(
        self,
        tables: ScoreTables,
        s: int,
        li: int,
        rel: Relationship,
        locus: str,
        query: Mapping[str, Genotype],
        free_role: str,
        sex: str,
        genotypes: Sequence[Genotype | None],
    ) -> None:
        grids = self.locus_grids(rel.name, locus, query, free_role, sex)
        position = {allele: i for i, allele in enumerate(grids.alleles.alleles)}
        h1, h2 = grids.h1, grids.h2
        for code, genotype in enumerate(genotypes):
            if genotype is None:
                continue
            if genotype[0] in position and genotype[1] in position:
                i, j = position[genotype[0]], position[genotype[1]]
                if h2[i, j] == 0.0:
                    raise CaseError("the genotypes are impossible under H2", locus=locus)
                ratio = h1[i, j] / h2[i, j]
                entry = math.log10(ratio) if ratio > 0 else -math.inf
            else:  # an allele the comparison's allele set lacks: its own allele set
                entry = self.entry(rel.name, locus, {**query, free_role: genotype}, sex)
            tables.log10_lr[s, li, code] = entry


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
        position = {a: i for i, a in enumerate(alleles.alleles)}
        for code, pair in enumerate(code_genotypes(dictionaries.get(locus, ()))):
            if pair is None:
                continue
            if pair[0] not in position or pair[1] not in position:
                rare[li, code] = 1
                continue
            a, b = position[pair[0]], position[pair[1]]
            for s, matrix in enumerate(sexes):
                transmit[s, li, code] = (matrix[a, wanted] + matrix[b, wanted]) / 2
            count[li, code] = [(a == k) + (b == k) for k in wanted]
    return CoupleTables(transmit, count, rare, duo, child_p, child_het)

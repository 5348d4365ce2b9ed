"""Exact single-locus pedigree likelihood by variable elimination (peeling), any theta.

The same likelihood as :func:`kinmatch.pedigree.pedigree_likelihood`, computed so that its
cost grows with the pedigree's width (and, at theta > 0, with its untyped founders), not as
2^meioses. Persons who are neither typed nor an ancestor of a typed person are dropped first
(their genes sum to 1). The variables are the genes of every person (paternal slot 0,
maternal slot 1); at theta 0 the likelihood is the sum over all of them of the product of

* ``p[x]`` for each founder gene (Hardy-Weinberg founders),
* ``T_sex[x, y, z] = (M_sex[x, z] + M_sex[y, z]) / 2`` for each meiosis: the parent's genes
  ``x, y`` and the child's gene ``z`` it passed on through the mutation matrix of the
  parent's sex (the identity without mutation),
* ``1[{x, y} = {a, b}]`` over the two genes of each typed person with genotype {a, b}.

Frequencies need not sum to 1 (tables within 0.005 of it, rare alleles added at the minimum
frequency). The core then counts a founder gene that no typed person inherits as 1, whatever
the sum; here a phantom allele of frequency ``1 - sum(p)``, which never mutates to or from
another allele and which no typed person carries, makes every such gene sum to exactly 1 and
adds nothing to the others, so the two agree.

With theta > 0 the founder genes are Balding-Nichols sequential draws (Balding & Nichols
1994; NRC II 1996, eq. 4.10); the urn is exchangeable, so the typed founders' genes are drawn
first, with probability ``P_fixed`` (their multiset fixes it, whatever the phase), and the
``U`` untyped founder genes after them. Those follow the Chinese-restaurant form of the urn
(as :mod:`kinmatch.descent`): for each set partition ``pi`` of the untyped founder genes, the
genes of a block carry one allele, drawn with weight ``q = theta c + (1 - theta) p`` (``c``
the typed founders' allele counts), so

    L = P_fixed / prod_{k < U} (1 + (F + k - 1) theta)
        * sum_pi prod_{B in pi} theta^(|B| - 1) (|B| - 1)! * peel(pi),

with ``F`` typed founder genes and ``peel(pi)`` the elimination above with each block one
variable of prior ``q``. The rising-factorial identity prod_{j < m} (q_a + j theta) =
sum over partitions of m genes of prod_B q_a theta^(|B| - 1) (|B| - 1)! makes this the urn's
law exactly. Partitions that differ only by swapping a founder's two genes peel alike, so
the cost is one peeling per partition of the multiset of founder names (fewer than Bell(U)),
U counting only the founder genes that reach a typed person.

Variables are summed out one at a time, the one whose merged factor is smallest first (the
Elston-Stewart peeling order on a pedigree without loops; any pedigree is exact, loops and
inbreeding included, at the cost of its width). A typed person's genes range only over the
alleles of their genotype. Egeland, Kling & Mostad, *Relationship Inference with Familias and
R* (2016), ch. 2; Lauritzen & Sheehan (2003), *Graphical models for genetic analyses*,
Statistical Science 18:489-514.
"""

from __future__ import annotations

import math
import string
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
from numpy.typing import NDArray

from kinmatch.errors import CaseError
from kinmatch.pedigree import IndexGenotype, Matrix, Pedigree, Vector

MAX_URN_GENES = 8
"""Most untyped founder genes reaching a typed person at theta > 0 (:func:`urn_genes`): four
founders take 712 peelings (14 s per LR on 23 loci for the ten-person family of
``benchmarks/family_lr.py``), five would take 10,457 (20 s per locus). Only families the
compiled program does not cover get here."""
Gene = tuple[str, int]
T = TypeVar("T")


@dataclass
class _Factor:
    genes: tuple[Gene, ...]
    values: NDArray[np.float64]


def peeled_likelihood(
    pedigree: Pedigree,
    genotypes: Mapping[str, IndexGenotype],
    frequencies: Vector,
    *,
    theta: float = 0.0,
    matrices: tuple[Matrix, Matrix] | None = None,
) -> float:
    """Likelihood of the typed persons' genotypes at one locus (module docstring).

    ``genotypes`` maps typed persons to allele-index pairs into ``frequencies``; the others
    are untyped. ``matrices`` is ``(paternal, maternal)``, None for no mutation.
    """
    p = np.asarray(frequencies, dtype=np.float64)
    unknown = set(genotypes) - set(pedigree.names)
    if unknown:
        raise ValueError(f"typed persons not in the pedigree: {sorted(unknown)}")
    if float(p.sum()) != 1.0:
        p, matrices = _with_phantom(p, matrices)
    pedigree, single, genes = _founder_genes(pedigree, genotypes)
    domain = _domains(pedigree, genotypes, len(p))
    factors = _factors(pedigree, genotypes, matrices, domain, single, len(p))
    if theta == 0.0:
        return _eliminate(factors + [_Factor((g,), p[domain[g]]) for g in genes], domain)
    untyped = [gene for gene in genes if gene[0] not in genotypes]
    if len(untyped) > MAX_URN_GENES:
        raise CaseError(
            f"{len(untyped)} untyped founder genes reach a typed person here: the exact "
            f"likelihood at theta > 0 supports at most {MAX_URN_GENES} when an untyped "
            "member passes a gene to several typed relatives; type more founders, or use "
            "theta 0"
        )
    fixed = [genotypes[name][slot] for name, slot in genes if name in genotypes]
    counts = np.bincount(np.array(fixed, dtype=np.int64), minlength=len(p))
    q = theta * counts + (1 - theta) * p
    scale = _urn_probability(fixed, p, theta)
    for k in range(len(untyped)):
        scale /= 1 + (len(fixed) + k - 1) * theta
    everything = np.arange(len(p), dtype=np.int64)
    total = 0.0
    for partition, orbit in _partition_orbits(untyped):
        block_of = {gene: ("", 2 + i) for i, block in enumerate(partition) for gene in block}
        tied = {**domain, **dict.fromkeys(block_of.values(), everything)}
        weight = math.prod(theta ** (len(b) - 1) * math.factorial(len(b) - 1) for b in partition)
        priors = [_Factor((("", 2 + i),), q) for i in range(len(partition))]
        peeled = _eliminate([_renamed(f, block_of) for f in factors] + priors, tied)
        total += orbit * weight * peeled
    return scale * total


def urn_genes(pedigree: Pedigree, typed: Collection[str]) -> int:
    """How many untyped founder genes the urn's partitions run over (module docstring)."""
    _, _, genes = _founder_genes(pedigree, typed)
    return sum(1 for name, _ in genes if name not in typed)


def _founder_genes(
    pedigree: Pedigree, typed: Collection[str]
) -> tuple[Pedigree, set[str], list[Gene]]:
    """The typed persons and their ancestors, the untyped founders among them with one child,
    and every founder gene (one for such a founder: the one it passes on)."""
    pedigree = pedigree.ancestral(typed)  # anyone else's genes sum to 1 (matrix rows, urn)
    founders = [person.name for person in pedigree.persons if person.is_founder]
    parents = [name for person in pedigree.persons for name in (person.father, person.mother)]
    single = {f for f in founders if f not in typed and parents.count(f) == 1}
    genes = [(f, slot) for f in founders for slot in ((0,) if f in single else (0, 1))]
    return pedigree, single, genes


def _partition_orbits(genes: list[Gene]) -> list[tuple[list[list[Gene]], int]]:
    """The set partitions of ``genes`` up to swapping a founder's two genes, each with how
    many partitions it stands for. A founder's genes are exchangeable (same prior, symmetric
    transmission, no genotype), so partitions with the same blocks of founder names peel to
    the same value: 712 orbits instead of Bell(8) = 4,140 partitions for four founders."""
    orbits: dict[tuple[tuple[str, ...], ...], tuple[list[list[Gene]], int]] = {}
    for partition in set_partitions(genes):
        key = tuple(sorted(tuple(sorted(name for name, _ in block)) for block in partition))
        found = orbits.get(key)
        orbits[key] = (partition, 1) if found is None else (found[0], found[1] + 1)
    return list(orbits.values())


def set_partitions(items: list[T]) -> Iterator[list[list[T]]]:
    """Every set partition of ``items`` (Bell(len(items)) of them), each once."""
    if not items:
        yield []
        return
    first, rest = items[0], items[1:]
    for partition in set_partitions(rest):
        yield [[first], *partition]
        for k in range(len(partition)):
            yield [*partition[:k], [first, *partition[k]], *partition[k + 1 :]]


def _urn_probability(alleles: list[int], p: Vector, theta: float) -> float:
    """Probability of drawing ``alleles`` in this (any) order from the Balding-Nichols urn."""
    result = 1.0
    for m, allele in enumerate(alleles):
        seen = alleles[:m].count(allele)
        result *= (seen * theta + (1 - theta) * p[allele]) / (1 + (m - 1) * theta)
    return result


def _with_phantom(
    p: Vector, matrices: tuple[Matrix, Matrix] | None
) -> tuple[Vector, tuple[Matrix, Matrix]]:
    """``p`` and the matrices with the phantom allele (module docstring) appended."""
    n = len(p)
    full = np.append(p, 1.0 - float(p.sum()))
    extended = []
    for matrix in matrices or (np.eye(n), np.eye(n)):
        m = np.zeros((n + 1, n + 1))
        m[:n, :n] = matrix
        m[n, n] = 1.0
        extended.append(m)
    return full, (extended[0], extended[1])


def _domains(
    pedigree: Pedigree, genotypes: Mapping[str, IndexGenotype], n: int
) -> dict[Gene, NDArray[np.int64]]:
    """The alleles each gene may carry: a typed person's own, anyone else's all ``n``."""
    everything = np.arange(n, dtype=np.int64)
    domain = {}
    for person in pedigree.persons:
        typed = genotypes.get(person.name)
        values = everything if typed is None else np.unique(np.array(typed, dtype=np.int64))
        for slot in (0, 1):
            domain[(person.name, slot)] = values
    return domain


def _factors(
    pedigree: Pedigree,
    genotypes: Mapping[str, IndexGenotype],
    matrices: tuple[Matrix, Matrix] | None,
    domain: Mapping[Gene, NDArray[np.int64]],
    single: set[str],
    n: int,
) -> list[_Factor]:
    """Every factor but the founders' priors. An untyped founder with one child has one
    gene, the one it passes on (``M_sex[x, z]``): the urn is exchangeable, so the gene it
    keeps sums out whichever it is."""
    transmission, matrix_of = {}, {}
    for sex, matrix in zip("MF", matrices or (np.eye(n), np.eye(n)), strict=True):
        m = matrix_of[sex] = np.asarray(matrix, dtype=np.float64)
        transmission[sex] = (m[:, np.newaxis, :] + m[np.newaxis, :, :]) / 2  # [x, y, z]
    sexes = {person.name: person.sex for person in pedigree.persons}
    factors = []
    for person in pedigree.persons:
        own = ((person.name, 0), (person.name, 1))
        if person.father is not None and person.mother is not None:
            for gene, parent in zip(own, (person.father, person.mother), strict=True):
                if parent in single:
                    genes: tuple[Gene, ...] = ((parent, 0), gene)
                    table = matrix_of[sexes[parent]][np.ix_(*(domain[g] for g in genes))]
                else:
                    genes = ((parent, 0), (parent, 1), gene)
                    table = transmission[sexes[parent]][np.ix_(*(domain[g] for g in genes))]
                factors.append(_Factor(genes, table))
        typed = genotypes.get(person.name)
        if typed is not None:
            values = domain[own[0]]
            match = {tuple(sorted(typed))}
            indicator = np.array(
                [[float(tuple(sorted((x, y))) in match) for y in values] for x in values]
            )
            factors.append(_Factor(own, indicator))
    return factors


def _renamed(factor: _Factor, names: Mapping[Gene, Gene]) -> _Factor:
    """``factor`` with genes renamed; two genes renamed alike become one (the diagonal)."""
    genes = tuple(names.get(gene, gene) for gene in factor.genes)
    kept = tuple(dict.fromkeys(genes))
    if len(kept) == len(genes):
        return _Factor(genes, factor.values)
    letters = {gene: string.ascii_letters[i] for i, gene in enumerate(kept)}
    spec = "".join(letters[g] for g in genes) + "->" + "".join(letters[g] for g in kept)
    return _Factor(kept, np.einsum(spec, factor.values))


def _eliminate(factors: list[_Factor], domain: Mapping[Gene, NDArray[np.int64]]) -> float:
    """Sum out every gene, smallest merged factor first; the product of what remains."""
    size = {gene: len(values) for gene, values in domain.items()}
    remaining = dict(enumerate(factors))
    where: dict[Gene, set[int]] = {}
    for index, factor in remaining.items():
        for gene in factor.genes:
            where.setdefault(gene, set()).add(index)
    fresh = len(factors)
    while where:
        merged = {gene: {g for i in found for g in remaining[i].genes}
                  for gene, found in where.items()}  # fmt: skip
        gene = min(sorted(merged), key=lambda g: math.prod(size[x] for x in merged[g]))
        kept = tuple(sorted(merged[gene] - {gene}))
        used = [remaining.pop(i) for i in sorted(where.pop(gene))]
        for other in kept:
            where[other] = {i for i in where[other] if i in remaining} | {fresh}
        remaining[fresh] = _Factor(kept, _contract(used, kept))
        fresh += 1
    return math.prod(float(f.values) for f in remaining.values())


def _contract(factors: list[_Factor], kept: tuple[Gene, ...]) -> NDArray[np.float64]:
    """The product of ``factors`` summed over every gene not in ``kept`` (one einsum)."""
    letters: dict[Gene, str] = {}
    for factor in factors:
        for gene in factor.genes:
            letters.setdefault(gene, string.ascii_letters[len(letters)])
    spec = ",".join("".join(letters[g] for g in f.genes) for f in factors)
    output = "".join(letters[g] for g in kept)
    result: NDArray[np.float64] = np.einsum(
        f"{spec}->{output}", *(f.values for f in factors), optimize=len(factors) > 2
    )
    return result

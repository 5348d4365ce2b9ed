"""Exact single-locus likelihood of a small pedigree, with mutation and theta.

This is the reference implementation every fast path is tested against. It computes

    L = sum over all genotypes of the untyped persons and all allele transmissions of
        P(founder alleles) * prod over meioses M_sex[parent allele, child allele],

restricted to the observed genotypes of the typed persons, under the conventions of Familias
and forrel (Egeland, Kling & Mostad, *Relationship Inference with Familias and R*, 2016):

* founders' alleles, typed or not, are drawn from the population; with sub-population
  correction theta they are drawn *sequentially* with the Balding-Nichols conditional
  probability (Balding & Nichols 1994; NRC II 1996, eq. 4.10)

      P(next allele = a | m alleles drawn, c_a of them a) = (c_a theta + (1 - theta) p_a)
                                                            / (1 + (m - 1) theta),

  as pedprobr's ``likTheta`` does; theta = 0 gives independent draws from p;
* every meiosis passes a uniformly chosen parental allele through the mutation matrix of the
  parent's sex (paternal or maternal), untyped parents and ancestors included.

Method. Sum over inheritance vectors (which parental allele each meiosis copies). For one
vector the alleles form a forest of gene copies rooted at founder alleles; the typed persons'
alleles are leaves or inner nodes with observed values. Each tree is summed by peeling
(``msg = M @ f(child)``). The roots are then combined under the Pólya-urn joint law of
founder alleles: alleles of typed founders have fixed values; each relevant untyped founder
allele either copies an earlier draw (weight theta each) or is fresh (weight 1 - theta, value
drawn from p), which sums the joint law exactly in a handful of terms. Founder alleles with no
typed descendant are summed out (the urn's marginals are urns). Inheritance vectors giving the
same forest are merged, so a first-cousin pedigree costs a few dozen forests, not 256.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TypeAlias

import numpy as np
from numpy.typing import NDArray

Vector: TypeAlias = NDArray[np.float64]
Matrix: TypeAlias = NDArray[np.float64]
IndexGenotype: TypeAlias = tuple[int, int]


@dataclass(frozen=True)
class Person:
    """A pedigree member; founders have neither parent, non-founders both."""

    name: str
    sex: str
    father: str | None = None
    mother: str | None = None

    @property
    def is_founder(self) -> bool:
        return self.father is None


@dataclass(frozen=True)
class Pedigree:
    """Persons listed parents before children."""

    persons: tuple[Person, ...]

    def __post_init__(self) -> None:
        seen: dict[str, Person] = {}
        for person in self.persons:
            if (person.father is None) != (person.mother is None):
                raise ValueError(f"{person.name}: give both parents or neither")
            if person.father is not None and person.mother is not None:
                father, mother = seen.get(person.father), seen.get(person.mother)
                if father is None or mother is None:
                    raise ValueError(f"{person.name}: parents must be listed before the child")
                if father.sex != "M" or mother.sex != "F":
                    raise ValueError(f"{person.name}: father must be M and mother F")
            if person.name in seen:
                raise ValueError(f"{person.name} listed twice")
            seen[person.name] = person

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(person.name for person in self.persons)


# A gene-copy tree: (label, children) where label is "person/slot" for an observed allele or
# "" for an untyped one, and children are (transmitting sex, subtree) pairs.
Tree: TypeAlias = tuple[str, tuple[tuple[str, "Tree"], ...]]
Forest: TypeAlias = tuple[Tree, ...]


@lru_cache(maxsize=256)
def _forests(pedigree: Pedigree, typed: frozenset[str]) -> tuple[tuple[Forest, float], ...]:
    """Distinct founder-rooted forests over all inheritance vectors, with their probability."""
    persons = {person.name: person for person in pedigree.persons}
    meioses = [
        (person.name, slot, parent)
        for person in pedigree.persons
        if person.father is not None and person.mother is not None
        for slot, parent in ((0, person.father), (1, person.mother))
    ]
    weight = 0.5 ** len(meioses)
    counts: Counter[Forest] = Counter()
    for vector in itertools.product((0, 1), repeat=len(meioses)):
        source = {
            (child, slot): (parent, choice)
            for (child, slot, parent), choice in zip(meioses, vector, strict=True)
        }
        children: dict[tuple[str, int], list[tuple[str, int]]] = {}
        relevant: set[tuple[str, int]] = set()
        for name in typed:
            for slot in (0, 1):
                gene = (name, slot)
                while gene not in relevant:
                    relevant.add(gene)
                    if gene not in source:
                        break
                    parent_gene = source[gene]
                    children.setdefault(parent_gene, []).append(gene)
                    gene = parent_gene

        roots = [gene for gene in relevant if gene not in source]
        forest = (_tree(root, children, typed, persons) for root in roots)
        counts[tuple(sorted(forest))] += 1
    return tuple((forest, count * weight) for forest, count in counts.items())


def _tree(
    gene: tuple[str, int],
    children: Mapping[tuple[str, int], list[tuple[str, int]]],
    typed: frozenset[str],
    persons: Mapping[str, Person],
) -> Tree:
    """The gene-copy tree below ``gene``, in a canonical (sorted) form."""
    label = f"{gene[0]}/{gene[1]}" if gene[0] in typed else ""
    sex = persons[gene[0]].sex
    subtrees = sorted((sex, _tree(kid, children, typed, persons)) for kid in children.get(gene, []))
    return (label, tuple(subtrees))


def pedigree_likelihood(
    pedigree: Pedigree,
    genotypes: Mapping[str, IndexGenotype],
    frequencies: Vector,
    *,
    theta: float = 0.0,
    matrices: tuple[Matrix, Matrix] | None = None,
) -> float:
    """Likelihood of the typed persons' genotypes at one locus (see the module docstring).

    ``genotypes`` maps typed persons to allele-index pairs into ``frequencies``; persons not in
    it are untyped. ``matrices`` is ``(paternal, maternal)``, None for no mutation.
    """
    p = np.asarray(frequencies, dtype=np.float64)
    typed = frozenset(genotypes)
    unknown = typed - set(pedigree.names)
    if unknown:
        raise ValueError(f"typed persons not in the pedigree: {sorted(unknown)}")
    transmit = {"M": matrices[0], "F": matrices[1]} if matrices is not None else None
    orderings = [
        [(name, (a, b)), (name, (b, a))] if a != b else [(name, (a, b))]
        for name, (a, b) in sorted(genotypes.items())
    ]
    total = 0.0
    for forest, probability in _forests(pedigree, typed):
        for assignment in itertools.product(*orderings):
            observed = {
                f"{name}/{slot}": pair[slot] for name, pair in assignment for slot in (0, 1)
            }
            total += probability * _forest_value(forest, observed, p, theta, transmit)
    return float(total)


def _forest_value(
    forest: Forest,
    observed: Mapping[str, int],
    p: Vector,
    theta: float,
    transmit: Mapping[str, Matrix] | None,
) -> float:
    n = len(p)

    def value(node: Tree) -> Vector:
        label, subtrees = node
        result = np.ones(n)
        if label:
            result = np.zeros(n)
            result[observed[label]] = 1.0
        for sex, child in subtrees:
            below = value(child)
            result = result * (below if transmit is None else transmit[sex] @ below)
        return result

    fixed: list[int] = []
    weight = 1.0
    free: list[Vector] = []
    for root in forest:
        vector = value(root)
        if root[0]:
            allele = observed[root[0]]
            fixed.append(allele)
            weight *= vector[allele]
        else:
            free.append(vector)
        if weight == 0.0:
            return 0.0
    return weight * _urn_fixed(fixed, p, theta) * _urn_free(free, Counter(fixed), p, theta)


def _urn_fixed(alleles: Sequence[int], p: Vector, theta: float) -> float:
    """Probability of drawing ``alleles`` in order from the Balding-Nichols urn."""
    result = 1.0
    seen: Counter[int] = Counter()
    for m, allele in enumerate(alleles):
        result *= (seen[allele] * theta + (1 - theta) * p[allele]) / (1 + (m - 1) * theta)
        seen[allele] += 1
    return result


def _urn_free(vectors: Sequence[Vector], fixed: Counter[int], p: Vector, theta: float) -> float:
    """E[prod_k vectors[k](X_k)] for further urn draws X_k after the draws counted in ``fixed``.

    Each draw copies one of the earlier draws (weight theta each) or is fresh from p (weight
    1 - theta), normalised by 1 + (m - 1) theta for m earlier draws (Chinese-restaurant form
    of the Balding-Nichols urn). Copies of a fixed draw take its allele; fresh draws start a
    block whose allele is summed over p.
    """
    if theta == 0.0:
        return float(np.prod([p @ vector for vector in vectors]))
    start = sum(fixed.values())
    alleles = sorted(fixed)

    def seat(k: int, joined: dict[int, int], blocks: list[tuple[int, Vector]]) -> float:
        if k == len(vectors):
            return float(np.prod([p @ vector for _, vector in blocks]))
        vector = vectors[k]
        norm = 1 + (start + k - 1) * theta
        total = 0.0
        for allele in alleles:
            if vector[allele] != 0.0:
                share = theta * (fixed[allele] + joined.get(allele, 0)) * vector[allele]
                total += share * seat(k + 1, {**joined, allele: joined.get(allele, 0) + 1}, blocks)
        for i, (size, block) in enumerate(blocks):
            merged = [*blocks[:i], (size + 1, block * vector), *blocks[i + 1 :]]
            total += theta * size * seat(k + 1, joined, merged)
        total += (1 - theta) * seat(k + 1, joined, [*blocks, (1, vector)])
        return total / norm

    return seat(0, {}, [])

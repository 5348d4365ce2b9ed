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
from collections.abc import Callable, Collection, Mapping, Sequence
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

    def ancestral(self, names: Collection[str]) -> Pedigree:
        """The persons ``names`` and all their ancestors, in this pedigree's order."""
        parents = {person.name: (person.father, person.mother) for person in self.persons}
        kept: set[str] = set()
        stack: list[str | None] = list(names)
        while stack:
            name = stack.pop()
            if name is not None and name not in kept:
                kept.add(name)
                stack.extend(parents[name])
        return Pedigree(tuple(person for person in self.persons if person.name in kept))


# A gene-copy tree: (label, children) where label is "person/slot" for an observed allele or
# "" for an untyped one, and children are (transmitting sex, subtree) pairs.
Tree: TypeAlias = tuple[str, tuple[tuple[str, "Tree"], ...]]
Forest: TypeAlias = tuple[Tree, ...]


@lru_cache(maxsize=256)
def gene_forests(pedigree: Pedigree, typed: frozenset[str]) -> tuple[tuple[Forest, float], ...]:
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
    grid = _likelihood(pedigree, genotypes, None, frequencies, theta, matrices)
    return float(grid[0, 0])


def pedigree_likelihood_grid(
    pedigree: Pedigree,
    genotypes: Mapping[str, IndexGenotype],
    free: str,
    frequencies: Vector,
    *,
    theta: float = 0.0,
    matrices: tuple[Matrix, Matrix] | None = None,
) -> NDArray[np.float64]:
    """The likelihood for every genotype of person ``free`` at once.

    Entry ``[a, b]`` is the likelihood when ``free`` carries paternal allele ``a`` and
    maternal allele ``b`` (an ordered genotype); the unordered genotype {a, b} has likelihood
    ``[a, b] + [b, a]`` for a != b and ``[a, a]`` for a homozygote. Same method and
    conventions as :func:`pedigree_likelihood`, evaluated on arrays over (a, b).
    """
    if free in genotypes:
        raise ValueError(f"{free} is both typed and free")
    return _likelihood(pedigree, genotypes, free, frequencies, theta, matrices)


def _likelihood(
    pedigree: Pedigree,
    genotypes: Mapping[str, IndexGenotype],
    free: str | None,
    frequencies: Vector,
    theta: float,
    matrices: tuple[Matrix, Matrix] | None,
) -> NDArray[np.float64]:
    p = np.asarray(frequencies, dtype=np.float64)
    n = len(p)
    typed = frozenset(genotypes) | ({free} if free else set())
    unknown = typed - set(pedigree.names)
    if unknown:
        raise ValueError(f"typed persons not in the pedigree: {sorted(unknown)}")
    transmit = {"M": matrices[0], "F": matrices[1]} if matrices is not None else None
    shape = (n, n) if free else (1, 1)
    free_values = {}
    if free:
        free_values = {
            f"{free}/0": np.broadcast_to(np.arange(n)[:, np.newaxis], shape),
            f"{free}/1": np.broadcast_to(np.arange(n)[np.newaxis, :], shape),
        }
    orderings = [
        [(name, (a, b)), (name, (b, a))] if a != b else [(name, (a, b))]
        for name, (a, b) in sorted(genotypes.items())
    ]
    total = np.zeros(shape)
    for forest, probability in gene_forests(pedigree, typed):
        for assignment in itertools.product(*orderings):
            values = dict(free_values)
            for name, pair in assignment:
                for slot in (0, 1):
                    values[f"{name}/{slot}"] = np.full(shape, pair[slot])
            total += probability * _Forest(p, theta, transmit, values).value(forest)
    return total


class _Forest:
    """Evaluates one forest on a grid: every gene value is an array of allele indices."""

    def __init__(
        self,
        p: Vector,
        theta: float,
        transmit: Mapping[str, Matrix] | None,
        values: Mapping[str, NDArray[np.int64]],
    ) -> None:
        self.p = p
        self.theta = theta
        self.transmit = transmit
        self.values = values
        self.alleles = np.arange(len(p)).reshape(-1, 1, 1)

    def value(self, forest: Forest) -> NDArray[np.float64]:
        fixed: list[NDArray[np.int64]] = []
        weight: NDArray[np.float64] | float = 1.0
        free: list[NDArray[np.float64]] = []
        for root in forest:
            below = self._tree(root)
            if root[0]:
                allele = self.values[root[0]]
                fixed.append(allele)
                weight = weight * self._at(below, allele)
            else:
                free.append(below)
        return np.asarray(weight * self._urn_fixed(fixed) * self._urn_free(free, fixed))

    def _tree(self, node: Tree) -> NDArray[np.float64]:
        """f(x, a, b): probability of the observations below ``node`` given its allele x."""
        label, subtrees = node
        shape = (len(self.p), *next(iter(self.values.values())).shape)
        result = np.ones(shape)
        if label:
            result = (self.alleles == self.values[label][np.newaxis]).astype(np.float64)
        for sex, child in subtrees:
            below = self._tree(child)
            if self.transmit is not None:
                below = np.tensordot(self.transmit[sex], below, axes=(1, 0))
            result = result * below
        return result

    @staticmethod
    def _at(vector: NDArray[np.float64], allele: NDArray[np.int64]) -> NDArray[np.float64]:
        found: NDArray[np.float64] = np.take_along_axis(vector, allele[np.newaxis], axis=0)[0]
        return found

    def _urn_fixed(self, alleles: Sequence[NDArray[np.int64]]) -> NDArray[np.float64] | float:
        """Probability of drawing ``alleles`` in order from the Balding-Nichols urn."""
        result: NDArray[np.float64] | float = 1.0
        theta = self.theta
        for m, allele in enumerate(alleles):
            seen = sum((earlier == allele for earlier in alleles[:m]), np.zeros(allele.shape))
            result = result * (seen * theta + (1 - theta) * self.p[allele]) / (1 + (m - 1) * theta)
        return result

    def _urn_free(
        self, vectors: Sequence[NDArray[np.float64]], fixed: Sequence[NDArray[np.int64]]
    ) -> NDArray[np.float64] | float:
        """E[prod_k vectors[k](X_k)] over further urn draws X_k after the ``fixed`` draws.

        Each draw copies one specific earlier draw (weight theta each) or is fresh from p
        (weight 1 - theta), normalised by 1 + (m - 1) theta for m earlier draws (the
        Chinese-restaurant form of the Balding-Nichols urn). A copy of a fixed draw takes its
        allele; fresh draws start a block whose allele is summed over p. For one genotype
        (not a grid) the same sum is taken allele by allele by :func:`urn_expectation`.
        """
        p = self.p.reshape(-1, 1, 1)
        if self.theta == 0.0:
            result: NDArray[np.float64] | float = 1.0
            for vector in vectors:
                result = result * np.sum(p * vector, axis=0)
            return result
        if vectors and vectors[0].shape[1:] == (1, 1):  # one genotype, not a grid
            counts = np.bincount([int(a[0, 0]) for a in fixed], minlength=len(self.p))
            v = np.ascontiguousarray(np.stack([vector[:, 0, 0] for vector in vectors]))
            found = urn_expectation(v, self.p, counts, len(fixed), self.theta)
            return np.full((1, 1), found)
        theta, start = self.theta, len(fixed)

        def seat(
            k: int, source: list[tuple[str, int]], blocks: list[NDArray[np.float64]]
        ) -> NDArray[np.float64] | float:
            if k == len(vectors):
                result: NDArray[np.float64] | float = 1.0
                for block in blocks:
                    result = result * np.sum(p * block, axis=0)
                return result
            vector = vectors[k]
            total: NDArray[np.float64] | float = 0.0
            targets = [("fixed", t) for t in range(start)] + source[:k]
            for kind, index in targets:  # copy one earlier draw
                if kind == "fixed":
                    total = total + theta * self._at(vector, fixed[index]) * seat(
                        k + 1, [*source, (kind, index)], blocks
                    )
                else:
                    merged = [*blocks[:index], blocks[index] * vector, *blocks[index + 1 :]]
                    total = total + theta * seat(k + 1, [*source, (kind, index)], merged)
            fresh = seat(k + 1, [*source, ("block", len(blocks))], [*blocks, vector])
            total = total + (1 - theta) * fresh
            return total / (1 + (start + k - 1) * theta)

        return seat(0, [], [])


@lru_cache(maxsize=16)
def _submasks(k: int) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]]:
    """Every pair (S, T) with T a subset of S of ``k`` bits (3^k pairs), and popcounts."""
    sets, subsets = [], []
    for s in range(1 << k):
        t = s
        while True:
            sets.append(s)
            subsets.append(t)
            if t == 0:
                break
            t = (t - 1) & s
    bits = np.array([bin(s).count("1") for s in range(1 << k)], dtype=np.int64)
    return np.array(sets, dtype=np.int64), np.array(subsets, dtype=np.int64), bits


def urn_expectation(
    v: NDArray[np.float64],
    p: Vector,
    fixed_counts: NDArray[np.int64],
    n_fixed: int,
    theta: float,
) -> float:
    """E[prod_k v[k, X_k]] over ``K`` further Balding-Nichols draws after ``n_fixed`` fixed
    draws with ``fixed_counts[a]`` copies of allele ``a``.

    The joint law of the K draws, prod_a prod_{j < m_a} ((c_a + j) theta + (1 - theta) p_a)
    / prod_{k < K} (1 + (F + k - 1) theta) with m_a the draws equal to a, depends on the draws
    only through which of them carry each allele; so the sum runs allele by allele over
    subsets of the draws (n 3^K terms) instead of over every seating ((F + K)! / F!).
    """
    k_draws, n = v.shape
    sets, subsets, bits = _submasks(k_draws)
    size = 1 << k_draws
    f = np.zeros(size)
    f[0] = 1.0
    for a in range(n):
        product = np.ones(size)
        for k in range(k_draws):
            product[(np.arange(size) >> k) & 1 == 1] *= v[k, a]
        steps = (fixed_counts[a] + np.arange(k_draws)) * theta + (1 - theta) * p[a]
        product *= np.concatenate(([1.0], np.cumprod(steps)))[bits]
        f = np.bincount(sets, weights=f[sets ^ subsets] * product[subsets], minlength=size)
    norm = float(np.prod(1 + (n_fixed + np.arange(k_draws) - 1) * theta))
    return float(f[size - 1]) / norm


def mendelian_consistency(
    h1: Pedigree,
    h2: Pedigree,
    genotypes: Mapping[str, IndexGenotype],
    likelihood: Callable[[Pedigree, Mapping[str, IndexGenotype]], float],
) -> tuple[bool, bool]:
    """``(consistent, related_need_mutation)`` of a locus under a mutation model.

    ``consistent`` is False for a Mendelian exclusion: H1 impossible without mutation,
    except where the persons H2 relates are impossible without mutation themselves
    (``related_need_mutation``: a trio's mother and child, a registered family's members; a
    mutation among them, or a sample swap). There it is an exclusion only when two typed
    persons that H2 leaves possible together are impossible under H1: the person under test
    contradicts one of them. So a mutation between a trio's mother and child, or inside a
    family, does not count against the alleged parent or the person of interest;
    contradicting a member still does. ``likelihood`` is a pedigree's likelihood without
    mutation (any theta: only its zeros matter).
    """
    if likelihood(h1, genotypes) > 0.0:
        return True, False
    if likelihood(h2, genotypes) > 0.0:
        return False, False
    persons = list(genotypes)
    for i, first in enumerate(persons):
        for second in persons[i + 1 :]:
            pair = {first: genotypes[first], second: genotypes[second]}
            if likelihood(h1, pair) == 0.0 and likelihood(h2, pair) > 0.0:
                return False, True
    return True, True

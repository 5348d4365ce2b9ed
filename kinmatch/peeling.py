"""Exact single-locus pedigree likelihood at theta 0 by variable elimination (peeling).

The same likelihood as :func:`kinmatch.pedigree.pedigree_likelihood` without sub-population
correction, computed so that its cost grows with the pedigree's width, not as 2^meioses. The
variables are the genes of every person (paternal slot 0, maternal slot 1); the likelihood is
the sum over all of them of the product of

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

Variables are summed out one at a time, the one whose merged factor is smallest first (the
Elston-Stewart peeling order on a pedigree without loops; any pedigree is exact, loops and
inbreeding included, at the cost of its width). A typed person's genes range only over the
alleles of their genotype. Egeland, Kling & Mostad, *Relationship Inference with Familias and
R* (2016), ch. 2; Lauritzen & Sheehan (2003), *Graphical models for genetic analyses*,
Statistical Science 18:489-514.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from kinmatch.pedigree import IndexGenotype, Matrix, Pedigree, Vector

Gene = tuple[str, int]


@dataclass
class _Factor:
    genes: tuple[Gene, ...]
    values: NDArray[np.float64]


def peeled_likelihood(
    pedigree: Pedigree,
    genotypes: Mapping[str, IndexGenotype],
    frequencies: Vector,
    *,
    matrices: tuple[Matrix, Matrix] | None = None,
) -> float:
    """Likelihood of the typed persons' genotypes at one locus, theta 0 (module docstring).

    ``genotypes`` maps typed persons to allele-index pairs into ``frequencies``; the others
    are untyped. ``matrices`` is ``(paternal, maternal)``, None for no mutation.
    """
    p = np.asarray(frequencies, dtype=np.float64)
    unknown = set(genotypes) - set(pedigree.names)
    if unknown:
        raise ValueError(f"typed persons not in the pedigree: {sorted(unknown)}")
    if float(p.sum()) != 1.0:
        p, matrices = _with_phantom(p, matrices)
    domain = _domains(pedigree, genotypes, len(p))
    factors = _factors(pedigree, genotypes, p, matrices, domain)
    return _eliminate(factors, domain)


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
    p: Vector,
    matrices: tuple[Matrix, Matrix] | None,
    domain: Mapping[Gene, NDArray[np.int64]],
) -> list[_Factor]:
    n = len(p)
    transmission = {}
    for sex, matrix in zip("MF", matrices or (np.eye(n), np.eye(n)), strict=True):
        m = np.asarray(matrix, dtype=np.float64)
        transmission[sex] = (m[:, np.newaxis, :] + m[np.newaxis, :, :]) / 2  # [x, y, z]
    sexes = {person.name: person.sex for person in pedigree.persons}
    factors = []
    for person in pedigree.persons:
        own = ((person.name, 0), (person.name, 1))
        if person.father is None or person.mother is None:
            factors += [_Factor((gene,), p[domain[gene]]) for gene in own]
        else:
            for gene, parent in zip(own, (person.father, person.mother), strict=True):
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


def _eliminate(factors: list[_Factor], domain: Mapping[Gene, NDArray[np.int64]]) -> float:
    """Sum out every gene, smallest merged factor first; the product of what remains."""
    remaining = list(factors)
    genes = {gene for factor in remaining for gene in factor.genes}
    while genes:
        gene = min(sorted(genes), key=lambda g: _merged_size(g, remaining, domain))
        touching = [f for f in remaining if gene in f.genes]
        remaining = [f for f in remaining if gene not in f.genes]
        kept = tuple(sorted({g for f in touching for g in f.genes} - {gene}))
        remaining.append(_Factor(kept, _contract(touching, kept)))
        genes.discard(gene)
    return float(np.prod([float(f.values) for f in remaining]))


def _merged_size(
    gene: Gene, factors: list[_Factor], domain: Mapping[Gene, NDArray[np.int64]]
) -> int:
    """Entries of the factor that summing out ``gene`` would create (before the sum)."""
    merged = {g for f in factors if gene in f.genes for g in f.genes}
    return int(np.prod([len(domain[g]) for g in merged]))


def _contract(factors: list[_Factor], kept: tuple[Gene, ...]) -> NDArray[np.float64]:
    """The product of ``factors`` summed over every gene not in ``kept`` (one einsum)."""
    letters: dict[Gene, str] = {}
    for factor in factors:
        for gene in factor.genes:
            letters.setdefault(gene, string.ascii_letters[len(letters)])
    spec = ",".join("".join(letters[g] for g in f.genes) for f in factors)
    output = "".join(letters[g] for g in kept)
    result: NDArray[np.float64] = np.einsum(
        f"{spec}->{output}", *(f.values for f in factors), optimize=True
    )
    return result

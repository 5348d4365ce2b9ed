"""The compiled twin of :func:`~kinmatch.pedigree.pedigree_likelihood_grid`.

The core sums, for every inheritance forest of the pedigree (founder genes and the observed
gene copies that descend from them, with their probability), the Balding-Nichols urn's joint
law of the founder genes against the mutation matrices along every branch. When each branch
below a founder gene is a simple path of untyped copies ending at an observed copy (every
relationship the search engine scans; an observed copy with observed copies below it makes
them a pinned factor on its allele, outside the urn), the forest's value is a sum over set
partitions of its founder genes (the Chinese-restaurant form of the urn: founder genes seated
at one table carry one allele; NRC II 1996, eq. 4.10; Balding & Nichols 1994):

    E[prod_r v_r(A_r)] = sum_pi w(pi) prod_{blocks B of pi} sum_a p_a prod_{r in B} v_r(a),
    w(pi) = prod_B (1 - theta) theta^(|B| - 1) (|B| - 1)! / prod_{m < K} (1 + (m - 1) theta),

with ``v_r(a) = prod_g P_g[a, z_g]`` over the observed copies g below founder gene r (the
path's mutation matrix ``P_g``; the identity for a typed founder's own gene). The program
lists these terms once per (pedigree, typed persons, theta); :mod:`kinmatch.kernels.descent`
evaluates it for a query over every genotype of the free person. Tested equal to the core.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from numpy.typing import NDArray

from kinmatch.kernels.descent import descent_grid as _descent_grid
from kinmatch.pedigree import (
    Forest,
    IndexGenotype,
    Matrix,
    Pedigree,
    Tree,
    Vector,
    gene_forests,
    pedigree_likelihood_grid,
)
from kinmatch.peeling import peeled_likelihood, set_partitions

MAX_TERMS = 200_000
"""Programs longer than this are left to the core (many founder genes at theta > 0)."""
Member = tuple[int, tuple[str, ...]]
"""An observed gene copy below a founder gene: (gene index, sexes of the path's meioses)."""


class _BranchError(Exception):
    """A branch that is not a simple path (the core computes such pedigrees)."""


@dataclass(frozen=True)
class DescentProgram:
    """The terms of the module docstring as flat arrays for the kernel (read-only)."""

    query: tuple[str, ...]
    paths: tuple[tuple[str, ...], ...]
    member_gene: NDArray[np.int64]
    member_path: NDArray[np.int64]
    block_start: NDArray[np.int64]
    block_kind: NDArray[np.int64]
    block_prior: NDArray[np.bool_]
    block_slot: NDArray[np.int64]
    term_coef: NDArray[np.float64]
    term_start: NDArray[np.int64]
    term_scalar: NDArray[np.int64]
    term_pair: NDArray[np.int64]
    pair_first: NDArray[np.int64]
    pair_second: NDArray[np.int64]


def _copies(tree: Tree, genes: Mapping[str, int], pinned: list[list[Member]]) -> list[Member]:
    """The observed copies below a gene (and the gene itself when observed), each with its
    path. An observed copy with observed copies below it starts a pinned block in
    ``pinned``: them, on its allele."""
    label, subtrees = tree
    members: list[Member] = [(genes[label], ())] if label else []
    for sex, node in subtrees:
        path: tuple[str, ...] = (sex,)
        while True:
            node_label, below = node
            if node_label:
                members.append((genes[node_label], path))
                if below:
                    pinned.append(_copies(node, genes, pinned))
                break
            if len(below) != 1:
                raise _BranchError
            sex, node = below[0]
            path = (*path, sex)
    return members


def _urn_weight(partition: list[list[int]], theta: float) -> float:
    """w(pi) of the module docstring."""
    weight = 1.0
    for block in partition:
        weight *= (1 - theta) * theta ** (len(block) - 1) * math.factorial(len(block) - 1)
    roots = sum(len(block) for block in partition)
    for m in range(roots):
        weight /= 1 + (m - 1) * theta
    return weight


@lru_cache(maxsize=256)
def descent_program(
    pedigree: Pedigree, query: tuple[str, ...], free: str | None, theta: float
) -> DescentProgram | None:
    """The program of ``pedigree`` with ``query`` typed and ``free`` free (no free person:
    the likelihood of the query alone), or None when a branch is not a simple path."""
    genes = {f"{name}/{slot}": 2 * i + slot for i, name in enumerate(query) for slot in (0, 1)}
    if free is not None:
        genes |= {f"{free}/0": 2 * len(query), f"{free}/1": 2 * len(query) + 1}
    y1, y2 = 2 * len(query), 2 * len(query) + 1
    paths: dict[tuple[str, ...], int] = {}
    blocks: dict[tuple[bool, tuple[tuple[int, int], ...]], int] = {}
    pairs: dict[tuple[int, int], int] = {}
    terms: dict[tuple[tuple[int, ...], int], float] = {}
    forest: Forest
    typed = frozenset(query) | ({free} if free is not None else frozenset())
    for forest, probability in gene_forests(pedigree, typed):
        pinned: list[list[Member]] = []
        try:
            roots = [_copies(tree, genes, pinned) for tree in forest]
        except _BranchError:
            return None
        coded = [[(gene, paths.setdefault(path, len(paths))) for gene, path in members]
                 for members in (*roots, *pinned)]  # fmt: skip
        free_copies = [gene for members in coded for gene, _ in members if gene in (y1, y2)]
        if len(free_copies) != len(set(free_copies)):  # a free copy with copies below it
            return None
        fixed = [(False, [len(roots) + k]) for k in range(len(pinned))]
        for partition in set_partitions(list(range(len(roots)))):
            weight = probability * _urn_weight(partition, theta)
            if weight == 0.0:
                continue
            if len(terms) > MAX_TERMS:
                return None
            scalars, free_blocks = [], {}
            for prior, block in [*((True, b) for b in partition), *fixed]:
                signature = (prior, tuple(sorted(m for r in block for m in coded[r])))
                index = blocks.setdefault(signature, len(blocks))
                held = {gene for gene, _ in signature[1]} & {y1, y2}
                if not held:
                    scalars.append(index)
                for gene in held:
                    free_blocks[gene] = index
            first, second = free_blocks.get(y1, -1), free_blocks.get(y2, -1)
            pair = pairs.setdefault((first, -1 if first == second else second), len(pairs))
            key = (tuple(sorted(scalars)), pair)
            terms[key] = terms.get(key, 0.0) + weight
    members = [(gene, path) for _, copies in blocks for gene, path in copies]
    starts = np.cumsum([0, *(len(copies) for _, copies in blocks)])
    kinds, slots, n_matrices = [], [], 0
    for _, copies in blocks:
        held = {gene for gene, _ in copies}
        kind = (y1 in held) + 2 * (y2 in held)
        kinds.append(kind)
        slots.append(n_matrices if kind == 3 else -1)
        n_matrices += kind == 3
    term_starts = np.cumsum([0, *(len(scalars) for scalars, _ in terms)])
    arrays = (
        np.array([gene for gene, _ in members], dtype=np.int64).reshape(-1),
        np.array([path for _, path in members], dtype=np.int64).reshape(-1),
        starts.astype(np.int64), np.array(kinds, dtype=np.int64),
        np.array([prior for prior, _ in blocks], dtype=np.bool_),
        np.array(slots, dtype=np.int64), np.array(list(terms.values()), dtype=np.float64),
        term_starts.astype(np.int64),
        np.array([s for scalars, _ in terms for s in scalars], dtype=np.int64).reshape(-1),
        np.array([pair for _, pair in terms], dtype=np.int64),
        np.array([first for first, _ in pairs], dtype=np.int64),
        np.array([second for _, second in pairs], dtype=np.int64),
    )  # fmt: skip
    for array in arrays:
        array.flags.writeable = False
    return DescentProgram(query, tuple(paths), *arrays)


def _path_matrix(sexes: tuple[str, ...], matrices: tuple[Matrix, Matrix] | None, n: int) -> Matrix:
    result = np.eye(n)
    if matrices is not None:
        for sex in sexes:
            result = result @ matrices[0 if sex == "M" else 1]
    return result


def descent_likelihood(
    pedigree: Pedigree,
    genotypes: Mapping[str, IndexGenotype],
    frequencies: Vector,
    *,
    theta: float = 0.0,
    matrices: tuple[Matrix, Matrix] | None = None,
) -> float | None:
    """:func:`~kinmatch.pedigree.pedigree_likelihood` by the compiled program, or None for a
    pedigree it does not cover."""
    program = descent_program(pedigree, tuple(sorted(genotypes)), None, theta)
    if program is None:
        return None
    return float(_evaluate(program, genotypes, frequencies, matrices, 1)[0, 0])


def descent_likelihood_grid(
    pedigree: Pedigree,
    genotypes: Mapping[str, IndexGenotype],
    free: str,
    frequencies: Vector,
    *,
    theta: float = 0.0,
    matrices: tuple[Matrix, Matrix] | None = None,
) -> NDArray[np.float64] | None:
    """:func:`~kinmatch.pedigree.pedigree_likelihood_grid` (same arguments, same ordered
    grid) by the compiled program, or None for a pedigree it does not cover."""
    program = descent_program(pedigree, tuple(sorted(genotypes)), free, theta)
    if program is None:
        return None
    return _evaluate(program, genotypes, frequencies, matrices, len(frequencies))


def likelihood(
    pedigree: Pedigree,
    genotypes: Mapping[str, IndexGenotype],
    frequencies: Vector,
    *,
    theta: float = 0.0,
    matrices: tuple[Matrix, Matrix] | None = None,
) -> float:
    """:func:`~kinmatch.pedigree.pedigree_likelihood` by the compiled program where it
    applies, else by peeling under the urn (:func:`kinmatch.peeling.peeled_likelihood`: a
    branch below an untyped person costs it nothing, many untyped founders a lot)."""
    found = descent_likelihood(pedigree, genotypes, frequencies, theta=theta, matrices=matrices)
    if found is None:
        found = peeled_likelihood(pedigree, genotypes, frequencies, theta=theta,
                                  matrices=matrices)  # fmt: skip
    return found


def likelihood_grid(
    pedigree: Pedigree,
    genotypes: Mapping[str, IndexGenotype],
    free: str,
    frequencies: Vector,
    *,
    theta: float = 0.0,
    matrices: tuple[Matrix, Matrix] | None = None,
) -> NDArray[np.float64]:
    """:func:`~kinmatch.pedigree.pedigree_likelihood_grid` by the compiled program where it
    applies, else by the core."""
    grid = descent_likelihood_grid(pedigree, genotypes, free, frequencies, theta=theta,
                                   matrices=matrices)  # fmt: skip
    if grid is None:
        grid = pedigree_likelihood_grid(pedigree, genotypes, free, frequencies, theta=theta,
                                        matrices=matrices)  # fmt: skip
    return grid


def _evaluate(
    program: DescentProgram,
    genotypes: Mapping[str, IndexGenotype],
    frequencies: Vector,
    matrices: tuple[Matrix, Matrix] | None,
    size: int,
) -> NDArray[np.float64]:
    p = np.ascontiguousarray(frequencies, dtype=np.float64)
    n = len(p)
    paths = np.stack([_path_matrix(sexes, matrices, n) for sexes in program.paths]) \
        if program.paths else np.zeros((1, n, n))  # fmt: skip
    orders = [((a, b), (b, a)) if a != b else ((a, b),)
              for a, b in (genotypes[name] for name in program.query)]  # fmt: skip
    orderings = [[allele for pair in ordering for allele in pair]
                 for ordering in itertools.product(*orders)]  # fmt: skip
    alleles = np.array(orderings, dtype=np.int64).reshape(len(orderings), 2 * len(program.query))
    out = np.zeros((size, size))
    _descent_grid(p, paths, alleles, program.member_gene, program.member_path,
                  program.block_start, program.block_kind, program.block_prior,
                  program.block_slot, program.term_coef,
                  program.term_start, program.term_scalar, program.term_pair, program.pair_first,
                  program.pair_second, out)  # fmt: skip
    return out

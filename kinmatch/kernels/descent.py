"""A pedigree's likelihood grid over the free person's genotypes from its gene-descent program.

The program (built by :mod:`kinmatch.descent`) writes the likelihood as

    L[y1, y2] = sum_t c_t prod_{blocks B of t} V_B,
    V_B = sum_a u_B(a) prod_{free genes g in B} P_g[a, y_g],
    u_B(a) = p_a prod_{query genes g in B} P_g[a, z_g],

a block being founder genes that carry one allele (a Chinese-restaurant table of the
Balding-Nichols urn), ``P_g`` the mutation matrix of the path from the block's founder gene
to gene g (identity for the founder gene itself) and ``z_g`` the query's allele of gene g.
A block holds at most one copy of each free gene, so ``V_B`` is a number, a vector over y1
or y2, or a matrix over (y1, y2); terms are summed per pair of free-gene blocks first.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def descent_grid(
    p: np.ndarray,  # (n,) float64: allele frequencies of the comparison
    paths: np.ndarray,  # (P, n, n) float64: path matrices
    alleles: np.ndarray,  # (R, G) int64: the query genes' alleles, one row per ordering
    member_gene: np.ndarray,  # (M,) int64: gene of each block member (G: y1, G + 1: y2)
    member_path: np.ndarray,  # (M,) int64: its path matrix
    block_start: np.ndarray,  # (B + 1,) int64: members of block b at [start[b], start[b + 1])
    block_kind: np.ndarray,  # (B,) int64: 0 number, 1 vector over y1, 2 over y2, 3 matrix
    block_prior: np.ndarray,  # (B,) bool: an urn's table (u starts at p), else pinned (at 1)
    block_slot: np.ndarray,  # (B,) int64: a matrix block's index into the matrix stack
    term_coef: np.ndarray,  # (T,) float64: c_t
    term_start: np.ndarray,  # (T + 1,) int64: number blocks of term t at [start[t], ...)
    term_scalar: np.ndarray,  # (S,) int64: those blocks
    term_pair: np.ndarray,  # (T,) int64: the term's pair of free-gene blocks
    pair_first: np.ndarray,  # (Q,) int64: the y1 block (or the matrix block; -1: none)
    pair_second: np.ndarray,  # (Q,) int64: the y2 block (-1: one matrix block)
    out: np.ndarray,  # (n, n) float64: L[y1, y2] added, summed over the orderings
) -> None:
    """Adds the grid of the module docstring, summed over the rows of ``alleles`` (without
    free genes: the likelihood, added at ``out[0, 0]``)."""
    n = p.shape[0]
    n_blocks = block_kind.shape[0]
    n_genes = alleles.shape[1]
    n_matrices = 0
    for b in range(n_blocks):
        if block_kind[b] == 3:
            n_matrices += 1
    scalars = np.zeros(n_blocks)
    vectors = np.zeros((n_blocks, n))
    matrices = np.zeros((max(n_matrices, 1), n, n))
    pair_coef = np.zeros(pair_first.shape[0])
    u = np.empty(n)
    for r in range(alleles.shape[0]):
        for b in range(n_blocks):
            if block_prior[b]:
                u[:] = p
            else:
                u[:] = 1.0
            y1_path, y2_path = -1, -1
            for m in range(block_start[b], block_start[b + 1]):
                gene, path = member_gene[m], member_path[m]
                if gene < n_genes:
                    z = alleles[r, gene]
                    for a in range(n):
                        u[a] *= paths[path, a, z]
                elif gene == n_genes:
                    y1_path = path
                else:
                    y2_path = path
            kind = block_kind[b]
            if kind == 0:
                scalars[b] = u.sum()
            elif kind == 1 or kind == 2:
                along = y1_path if kind == 1 else y2_path
                vectors[b, :] = 0.0
                for a in range(n):
                    if u[a] != 0.0:
                        for y in range(n):
                            vectors[b, y] += u[a] * paths[along, a, y]
            else:
                grid = matrices[block_slot[b]]
                grid[:, :] = 0.0
                for a in range(n):
                    if u[a] == 0.0:
                        continue
                    for y1 in range(n):
                        w = u[a] * paths[y1_path, a, y1]
                        if w != 0.0:
                            for y2 in range(n):
                                grid[y1, y2] += w * paths[y2_path, a, y2]
        pair_coef[:] = 0.0
        for t in range(term_coef.shape[0]):
            c = term_coef[t]
            for s in range(term_start[t], term_start[t + 1]):
                c *= scalars[term_scalar[s]]
            pair_coef[term_pair[t]] += c
        for q in range(pair_first.shape[0]):
            c = pair_coef[q]
            if c == 0.0:
                continue
            first, second = pair_first[q], pair_second[q]
            if first < 0:  # no free person: the likelihood itself
                out[0, 0] += c
            elif second < 0:
                out += c * matrices[block_slot[first]]
            else:
                for y1 in range(n):
                    w = c * vectors[first, y1]
                    if w != 0.0:
                        for y2 in range(n):
                            out[y1, y2] += w * vectors[second, y2]

"""A brute-force single-locus pedigree likelihood: the slow twin of ``pedigree_likelihood``.

Written independently of :mod:`kinmatch.pedigree`. Every allele slot of every person (paternal
slot 0, maternal slot 1) is one axis of a tensor; the likelihood is the full sum over all
axes of

    P(founder alleles) x prod_children T_father x T_mother x prod_typed 1[genotype matches]

where P(founder alleles) is the Balding-Nichols sequential-draw (Polya urn) probability and
``T_sex[x, y, z] = (M_sex[x, z] + M_sex[y, z]) / 2`` (every meiosis mutates, typed or not).
The sum is one ``np.einsum`` contraction; nothing is factorised by hand.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

Person = tuple[str, str, str | None, str | None]
"""``(name, sex, father, mother)``; founders have ``father = mother = None``."""

Array = NDArray[np.float64]


def polya_tensor(p: Array, draws: int, theta: float) -> Array:
    """Joint probability of ``draws`` sequential allele draws under Balding-Nichols ``theta``.

    Entry ``[a_0, ..., a_{m-1}]`` is the product over k of
    ``(theta * c_k + (1 - theta) * p[a_k]) / (1 + (k - 1) * theta)`` with ``c_k`` the number of
    earlier draws equal to ``a_k``.
    """
    n = len(p)
    if draws == 0:
        return np.ones(())
    idx = np.indices((n,) * draws)
    prob = np.ones((n,) * draws)
    for k in range(draws):
        count = np.zeros((n,) * draws)
        for j in range(k):
            count += idx[j] == idx[k]
        prob *= (theta * count + (1.0 - theta) * p[idx[k]]) / (1.0 + (k - 1) * theta)
    return prob


def transmission_tensor(matrix: Array) -> Array:
    """``T[x, y, z] = (M[x, z] + M[y, z]) / 2``: parent x/y passes z to the child."""
    return (matrix[:, np.newaxis, :] + matrix[np.newaxis, :, :]) / 2.0


def genotype_indicator(n: int, genotype: tuple[int, int]) -> Array:
    """``I[a, b] = 1`` when the unordered pair ``{a, b}`` equals ``genotype``, else 0."""
    i, j = genotype
    a, b = np.indices((n, n))
    match = ((a == i) & (b == j)) | ((a == j) & (b == i))
    return np.where(match, 1.0, 0.0)


def brute_force_likelihood(
    persons: Sequence[Person],
    typed: Mapping[str, tuple[int, int]],
    p: Sequence[float] | Array,
    *,
    theta: float = 0.0,
    paternal: Array | None = None,
    maternal: Array | None = None,
) -> float:
    """P(typed genotypes | pedigree) at one locus by summing over every ordered allele slot.

    ``paternal``/``maternal`` are the mutation matrices used in meioses from a father ("M")
    and a mother ("F"); None means no mutation.
    """
    p = np.asarray(p, dtype=np.float64)
    n = len(p)
    matrices = {
        "M": np.eye(n) if paternal is None else np.asarray(paternal, dtype=np.float64),
        "F": np.eye(n) if maternal is None else np.asarray(maternal, dtype=np.float64),
    }
    sexes = {name: sex for name, sex, _, _ in persons}
    axis = {}
    for number, (name, _, _, _) in enumerate(persons):
        axis[name] = (2 * number, 2 * number + 1)
    unknown = set(typed) - set(axis)
    if unknown:
        raise ValueError(f"typed persons not in the pedigree: {sorted(unknown)}")

    operands: list[Any] = []
    founders = [name for name, _, father, mother in persons if father is None and mother is None]
    founder_axes = [a for name in founders for a in axis[name]]
    operands += [polya_tensor(p, len(founder_axes), theta), founder_axes]

    for name, _, father, mother in persons:
        if father is None and mother is None:
            continue
        if father is None or mother is None:
            raise ValueError(f"{name} must have both parents or none")
        for slot, parent in enumerate((father, mother)):
            tensor = transmission_tensor(matrices[sexes[parent]])
            operands += [tensor, [*axis[parent], axis[name][slot]]]

    for name, genotype in typed.items():
        operands += [genotype_indicator(n, genotype), list(axis[name])]

    output: list[int] = []
    return float(np.einsum(*operands, output, optimize=True))


def brute_force_consistent(
    h1: Sequence[Person],
    h2: Sequence[Person],
    typed: Mapping[str, tuple[int, int]],
    p: Sequence[float] | Array,
) -> bool:
    """Whether a locus is no Mendelian exclusion of H1, from the brute-force sum without
    mutation: H1 is possible; or H2 is impossible too (its persons need a mutation among
    themselves) and no two typed persons are possible together under H2 but not under H1."""
    if brute_force_likelihood(h1, typed, p) > 0.0:
        return True
    if brute_force_likelihood(h2, typed, p) > 0.0:
        return False
    names = list(typed)
    pairs = [{a: typed[a], b: typed[b]} for i, a in enumerate(names) for b in names[i + 1 :]]
    return not any(
        brute_force_likelihood(h1, pair, p) == 0.0 and brute_force_likelihood(h2, pair, p) > 0.0
        for pair in pairs
    )

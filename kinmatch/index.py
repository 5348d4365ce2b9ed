"""Lossless candidate filter for parentage searches.

Method. Every stored profile carries, per locus, an 8-bit *allele signature*: bit
``(allele code mod 8)`` set for each of its two alleles, all bits when the locus is untyped
(:data:`kinmatch.store.SIGNATURES`). For a query the *mask* of a locus is the OR of the bits
of the query's alleles found in the store's dictionary (all bits when the query is untyped
there or the locus is not in the frequency table, so it is never counted). A typed reference
whose signature shares no bit with the mask carries none of the query's alleles, so the
locus is a Mendelian inconsistency between them; we call it a *certain miss*. An untyped
reference locus is never a miss, even when no stored allele matches the query (mask 0). The filter
keeps every reference with at most ``k`` certain misses, reading one byte per locus (half the
genotype codes) and stopping at the first miss past ``k``.

Guarantee. Certain misses are a subset of the Mendelian inconsistencies (bits may collide,
never vanish), so a true parent or child with at most ``k`` inconsistent loci has at most
``k`` certain misses and is always kept: the filter loses no relative within the tolerance.
For a couple a locus is a certain miss when either parent misses the child's mask (then
neither allele assignment fits); for a couple searching for its child, when the child
misses either parent's mask. References past the bound are not scored at all, so with the
filter on a search returns only candidates with at most ``k`` inconsistent loci; the
GB/T 37223-2018 rule excludes parentage from 3 inconsistent loci, hence ``k = 2`` by default.

Pairwise relationships (siblings and the rest) have no Mendelian exclusions and are always
scanned in full.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from numpy.typing import NDArray

from kinmatch.alleles import Allele, Genotype

DEFAULT_MAX_INCONSISTENT = 2
ALL_BITS = 0xFF


def query_masks(
    genotypes: Mapping[str, Genotype],
    loci: Sequence[str],
    dictionaries: Mapping[str, Sequence[Allele]],
    compared_loci: Sequence[str] | set[str],
) -> NDArray[np.uint8]:
    """Per store locus, the signature bits of the query's alleles (see the module docstring)."""
    masks = np.full(len(loci), ALL_BITS, dtype=np.uint8)
    for li, locus in enumerate(loci):
        genotype = genotypes.get(locus)
        if genotype is None or locus not in compared_loci:
            continue
        dictionary = dictionaries.get(locus, ())
        mask = 0
        for allele in genotype:
            if allele in dictionary:
                mask |= 1 << (dictionary.index(allele) % 8)
        masks[li] = mask
    return masks

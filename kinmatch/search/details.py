"""Hit details from the score tables: per-locus LRs, compared and inconsistent loci, verdict.

The scan already holds, for every locus, the log10 LR the reference's genotype code reads in
the query's table; the details of a reported hit are those entries, the Mendelian
consistency of the genotypes at each compared locus (without mutation, as the core's
``consistent``: a parent and a child share an allele; a child's two alleles can come one from
each parent of a couple; relatives of the pairwise relationships are never excluded, since
they may share no allele identical by descent), the compared alleles the frequency table
lacks, and the verdict of :class:`~kinmatch.verdict.VerdictRule` on the scan's LR. The slow
twin is :func:`kinmatch.likelihood.kinship_lr` (:attr:`kinmatch.hits.Hit.breakdown`), which
the tests compare them with.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from kinmatch.alleles import Genotype, allele_sort_key
from kinmatch.frequencies import AlleleFrequencies
from kinmatch.hits import HitDetails, LocusDetail
from kinmatch.likelihood import KinshipResult
from kinmatch.loci import locus_sort_key
from kinmatch.profiles import Profile
from kinmatch.relationships import get_relationship
from kinmatch.verdict import VerdictRule


def mendelian_consistent(relationship: str, genotypes: Mapping[str, Genotype]) -> bool:
    """Whether the typed genotypes of one compared locus fit H1 without mutation."""
    if relationship == "parent-child":
        return bool(set(genotypes["child"]) & set(genotypes["parent"]))
    if relationship == "parents-child":
        c1, c2 = genotypes["child"]
        father, mother = genotypes.get("father"), genotypes.get("mother")
        if father is not None and mother is not None:
            return (c1 in father and c2 in mother) or (c2 in father and c1 in mother)
        parent = father if father is not None else mother
        return parent is not None and (c1 in parent or c2 in parent)
    if get_relationship(relationship).parentage:
        raise ValueError(f"no consistency rule for {relationship}")
    return True


def hit_details(
    relationship: str,
    persons: Mapping[str, Profile],
    log10_entries: Mapping[str, float],
    frequencies: AlleleFrequencies,
    rule: VerdictRule,
    one_sided: Mapping[str, float],
    lr: float,
) -> HitDetails:
    """The details of a hit whose compared loci scored ``log10_entries`` (locus -> log10 LR,
    -inf for LR 0), with the scan's combined ``lr``. ``one_sided`` holds the exact log10 LR
    of the loci typed on one side only where the tables have it (under a mutation model);
    the other such loci, and those where the person of interest is untyped, are one-sided
    with LR 1."""
    rel = get_relationship(relationship)
    names = sorted({locus for role in rel.roles if role in persons
                    for locus in persons[role].genotypes}, key=locus_sort_key)  # fmt: skip
    loci: dict[str, LocusDetail] = {}
    rare: list[str] = []
    for locus in names:
        entry = log10_entries.get(locus)
        typed = {role: p.genotypes[locus] for role, p in persons.items() if locus in p.genotypes}
        if entry is None:
            exact = one_sided.get(locus)
            if locus not in frequencies or not typed:
                loci[locus] = LocusDetail(1.0, False, None)
            elif exact is None or rel.poi not in typed:  # exactly 1 (likelihood.py)
                loci[locus] = LocusDetail(1.0, False, None, True)
            else:
                loci[locus] = LocusDetail(10.0**exact, False, None, True)
                rare += _rare(locus, typed, frequencies)
            continue
        value = 0.0 if entry == -math.inf else 10.0**entry
        loci[locus] = LocusDetail(value, True, mendelian_consistent(rel.name, typed))
        rare += _rare(locus, typed, frequencies)
    inconsistent = tuple(name for name, locus in loci.items() if locus.consistent is False)
    verdict = rule.verdict(lr, parentage=rel.parentage, n_inconsistent=len(inconsistent))
    return HitDetails(verdict=verdict, loci=loci, inconsistent_loci=inconsistent,
                      min_frequency_used=tuple(rare))  # fmt: skip


def _rare(locus: str, typed: Mapping[str, Genotype], frequencies: AlleleFrequencies) -> list[str]:
    """The compared alleles the table lacks, as ``locus:allele``."""
    known = set(frequencies[locus].alleles)
    missing = {a for g in typed.values() for a in g if a not in known}
    return [f"{locus}:{a}" for a in sorted(missing, key=allele_sort_key)]


def details_of(result: KinshipResult) -> HitDetails:
    """The details of a hit scored by the core itself (a couple with a parent's rare allele)."""
    loci = {name: LocusDetail(locus.lr, locus.compared, locus.consistent, locus.one_sided)
            for name, locus in result.loci.items()}  # fmt: skip
    return HitDetails(verdict=result.verdict, loci=loci, inconsistent_loci=result.inconsistent_loci,
                      min_frequency_used=result.min_frequency_used)  # fmt: skip

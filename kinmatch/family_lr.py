"""The likelihood ratio of a person of interest (POI) against a registered family.

H1: the POI is the family's missing member. H2: the POI is unrelated to the family, and the
family is as registered (its missing member untyped). Per locus

    LR = P(POI, family | H1) / P(POI, family | H2),

each the exact likelihood of one pedigree, summed over every untyped member, with the mutation
model on every meiosis (sex-specific) and theta as Balding-Nichols sequential draws of all
founder alleles (under H2 the POI is one more founder; the urn is exchangeable, so drawing its
alleles after the family's gives the same law). This is forrel's ``missingPersonLR`` /
``kinshipLR`` and Familias' pedigree LR (Egeland, Kling & Mostad, *Relationship Inference with
Familias and R*, 2016, ch. 3 and 4). At theta 0 both pedigrees are peeled
(:mod:`kinmatch.peeling`: cost in the family's width). With theta > 0 the core's exact sum of
:mod:`kinmatch.pedigree` is evaluated by its compiled twin (:mod:`kinmatch.descent`: the
inheritance patterns listed once per family shape, each locus a compiled sum) where every
branch below a founder gene is a simple path, else by peeling under the urn (the set
partitions of the untyped founder genes, each a peeling; nothing grows as 2^meioses).

A locus is compared when it is in the frequency table, the POI is typed there and at least one
typed member is. Where only one side is typed the locus is one-sided (not compared): with
only the POI typed its exact LR P(POI | H1) / P(POI | H2), which a non-stationary mutation
model moves off 1 (``one_sided_exact``; False keeps the older convention, 1); with only
members typed both hypotheses are the same pedigree, LR 1. Its allele set is the
table's alleles plus every compared person's alleles the table lacks, at the minimum frequency
(as :func:`kinmatch.likelihood.locus_lr`). The verdict uses the parentage rule when a parent of
the missing member is typed, otherwise the LR thresholds.
"""

from __future__ import annotations

from collections.abc import Mapping

from kinmatch import descent
from kinmatch.errors import CaseError, FamilyError, InputError
from kinmatch.families import Family
from kinmatch.frequencies import DEFAULT_MIN_FREQUENCY, AlleleFrequencies
from kinmatch.likelihood import (
    NO_MUTATION,
    RELATED_NEED_MUTATION,
    KinshipResult,
    LocusLR,
    check_theta,
    combine,
)
from kinmatch.loci import locus_sort_key
from kinmatch.mutation import MutationModel
from kinmatch.pedigree import IndexGenotype, Pedigree, Person, mendelian_consistency
from kinmatch.peeling import peeled_likelihood
from kinmatch.profiles import Profile
from kinmatch.relationships import Relationship
from kinmatch.verdict import VerdictRule


def family_lr(
    poi: Profile,
    family: Family,
    profiles: Mapping[str, Profile],
    frequencies: AlleleFrequencies,
    *,
    theta: float = 0.0,
    mutation: MutationModel = NO_MUTATION,
    min_frequency: float = DEFAULT_MIN_FREQUENCY,
    verdict_rule: VerdictRule | None = None,
    one_sided_exact: bool = True,
) -> KinshipResult:
    """Combined LR of ``poi`` being ``family``'s missing member (module docstring).

    ``profiles`` holds the typed members' profiles by sample ID. LR = product of the per-locus
    LRs over compared loci. Raises :class:`CaseError` when a locus cannot be computed (the
    typed members contradict each other there without mutation: a sample swap or a wrong
    pedigree) and :class:`FamilyError` when the POI's sample is a member's.
    """
    check_theta(theta)
    members = _member_profiles(poi, family, profiles)
    rule = verdict_rule or VerdictRule()
    loci = sorted(
        {locus for p in (poi, *members.values()) for locus in p.genotypes}, key=locus_sort_key
    )
    results = {}
    for locus in loci:
        results[locus] = family_locus_lr(
            poi, family, members, locus, frequencies, theta=theta, mutation=mutation,
            min_frequency=min_frequency, one_sided_exact=one_sided_exact,
        )  # fmt: skip
    parents = {family.member(family.missing).father, family.member(family.missing).mother}
    parentage = any(person in members for person in parents if person is not None)
    relationship = Relationship("family", ("poi",), ("poi",), parentage=parentage)
    return combine(relationship, results, rule)


def family_locus_lr(
    poi: Profile,
    family: Family,
    members: Mapping[str, Profile],
    locus: str,
    frequencies: AlleleFrequencies,
    *,
    theta: float = 0.0,
    mutation: MutationModel = NO_MUTATION,
    min_frequency: float = DEFAULT_MIN_FREQUENCY,
    one_sided_exact: bool = True,
) -> LocusLR:
    """LR of one locus; ``members`` maps typed person IDs to their profiles."""
    if locus not in frequencies:
        return LocusLR(locus, 1.0, False, reason="not in frequency table")
    typed = {person: p.genotypes[locus] for person, p in members.items() if locus in p.genotypes}
    if locus not in poi.genotypes:
        one_sided = bool(typed)  # the same pedigree under H1 and H2: exactly 1
        return LocusLR(locus, 1.0, False, reason="untyped: poi", one_sided=one_sided)
    if not typed and (not one_sided_exact or mutation.is_none):  # exactly 1 without mutation
        return LocusLR(locus, 1.0, False, reason="untyped: every family member", one_sided=True)
    name = _poi_name(family)
    genotypes = {**typed, name: poi.genotypes[locus]}
    alleles = frequencies.locus_alleles(
        locus, (a for g in genotypes.values() for a in g), min_frequency
    )
    coded = {person: (alleles.index(g[0]), alleles.index(g[1])) for person, g in genotypes.items()}
    try:
        matrices = mutation.matrices(alleles)
    except InputError as exc:
        raise CaseError(exc.reason, locus=locus) from None
    h1_pedigree = family.pedigree(poi=name)
    h2_pedigree = Pedigree((*family.pedigree().persons, Person(name, poi.sex or "M")))
    p = alleles.frequencies

    def likelihood(pedigree: Pedigree) -> float:
        if theta == 0.0:
            return peeled_likelihood(pedigree, coded, p, matrices=matrices)
        return descent.likelihood(pedigree, coded, p, theta=theta, matrices=matrices)

    try:
        h1, h2 = likelihood(h1_pedigree), likelihood(h2_pedigree)
    except CaseError as exc:  # too many untyped founders for theta > 0
        raise exc.located(family=family.family_id, locus=locus) from None
    if not typed:
        if h2 == 0.0:
            raise CaseError("the person of interest's genotype is impossible", locus=locus)
        return LocusLR(locus, h1 / h2, False, None, h1, h2, alleles.rare,
                       "untyped: every family member", True)  # fmt: skip
    if h2 == 0.0:
        raise CaseError(
            f"the typed members of family {family.family_id!r} contradict each other without "
            "mutation (a sample swap or a wrong pedigree?); check the family or use a "
            "mutation model",
            locus=locus,
        )
    if matrices is None:
        return LocusLR(locus, h1 / h2, True, h1 > 0.0, h1, h2, alleles.rare)

    def plain(pedigree: Pedigree, typed: Mapping[str, IndexGenotype]) -> float:
        return peeled_likelihood(pedigree, typed, p)

    consistent, members_need_mutation = mendelian_consistency(
        h1_pedigree, h2_pedigree, coded, plain
    )
    reason = RELATED_NEED_MUTATION if members_need_mutation else None
    return LocusLR(locus, h1 / h2, True, consistent, h1, h2, alleles.rare, reason)


def check_family(
    family: Family,
    profiles: Mapping[str, Profile],
    frequencies: AlleleFrequencies,
    *,
    min_frequency: float = DEFAULT_MIN_FREQUENCY,
) -> None:
    """Refuse a family whose typed members contradict each other without mutation (a sample
    swap or a wrong pedigree: then H1 and H2 are both 0 under a model without mutation).

    Raises :class:`FamilyError` naming the family, the locus and two typed members who cannot
    be related as registered (the first such pair in the family's order; or every typed
    member when only their whole set contradicts). No genotype is quoted.
    """
    members = {person: profiles[sample] for person, sample in family.typed.items()}
    pedigree = family.pedigree()
    loci = sorted({locus for p in members.values() for locus in p.genotypes}, key=locus_sort_key)
    for locus in loci:
        if locus not in frequencies:
            continue
        typed = {person: p.genotypes[locus] for person, p in members.items()
                 if locus in p.genotypes}  # fmt: skip
        alleles = frequencies.locus_alleles(
            locus, (a for g in typed.values() for a in g), min_frequency
        )
        coded = {person: (alleles.index(g[0]), alleles.index(g[1])) for person, g in typed.items()}
        p = alleles.frequencies
        if peeled_likelihood(pedigree, coded, p) > 0.0:
            continue
        persons = sorted(coded, key=list(family.typed).index)
        culprits = next(
            ([first, second] for i, first in enumerate(persons) for second in persons[i + 1 :]
             if peeled_likelihood(pedigree, {first: coded[first], second: coded[second]}, p)
             == 0.0),
            persons,
        )  # fmt: skip
        raise FamilyError(
            f"typed members {', '.join(map(repr, culprits))} contradict each other at locus "
            f"{locus!r} without mutation (a sample swap or a wrong pedigree?); check the "
            "family, or use a mutation model",
            source=family.source, family=family.family_id, person=culprits[0],
        )  # fmt: skip


def _member_profiles(
    poi: Profile, family: Family, profiles: Mapping[str, Profile]
) -> dict[str, Profile]:
    members = {}
    for person, sample in family.typed.items():
        if sample == poi.sample_id:
            raise FamilyError(
                f"the person of interest {sample!r} is a typed member of the family",
                source=family.source, family=family.family_id, person=person,
            )  # fmt: skip
        if sample not in profiles:
            raise FamilyError(
                f"sample {sample!r} has no profile", source=family.source,
                family=family.family_id, person=person,
            )  # fmt: skip
        members[person] = profiles[sample]
    return members


def _poi_name(family: Family) -> str:
    """A person name for the POI that no member has."""
    names = {member.person_id for member in family.members}
    name = "poi"
    while name in names:
        name += "'"
    return name

"""Kinship likelihood ratios: the reference implementation and the source of truth.

For a relationship (see :mod:`kinmatch.relationships`) the likelihood ratio at one locus is

    LR = P(genotypes | H1 pedigree) / P(genotypes | H2 pedigree),

each computed exactly by :func:`kinmatch.pedigree.pedigree_likelihood` with the same theta,
mutation model and allele set; the combined LR is the product over compared loci. Without
mutation and theta this reproduces the textbook formulas, e.g. the paternity index 1/(4 p_a)
for child a/b and alleged parent a/c (AABB *Standards for Relationship Testing Laboratories*;
Evett & Weir, *Interpreting DNA Evidence*, 1998, ch. 7), and the kinship-coefficient formula
LR = kappa0 + kappa1 R1 + kappa2 R2 for pairs (Thompson 1975).

A locus is compared only when it is in the frequency table and the persons under test are
typed there. A locus typed on one side only is **one-sided**: not compared, but its exact LR
P(typed | H1) / P(typed | H2) still enters the product (``one_sided_exact``, the default). It
is 1 without mutation, under a stationary model at theta 0, and where the person of interest
is untyped (the relatives' pedigree is the same under H1 and H2), but not otherwise: under
the equal, stepwise or onestep model the POI's own genotype is less or more probable after
its untyped ancestors' meioses under H1 than as H2's founder (forrel gives 0.9976-1.0046 on
such loci). ``one_sided_exact=False`` keeps the older convention, LR 1. A locus absent from the
table contributes LR 1. In a trio or a couple an untyped third person is untyped in the
pedigree, so the locus reduces to the duo.
The allele set of a locus is the table's alleles plus the compared persons' alleles the table
lacks, at the minimum frequency (reported); mutation matrices are built on that set.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from kinmatch.alleles import Genotype
from kinmatch.errors import CaseError, InputError
from kinmatch.frequencies import DEFAULT_MIN_FREQUENCY, AlleleFrequencies
from kinmatch.loci import locus_sort_key
from kinmatch.mutation import MutationModel
from kinmatch.pedigree import IndexGenotype, Pedigree, mendelian_consistency, pedigree_likelihood
from kinmatch.profiles import Profile
from kinmatch.relationships import Relationship, get_relationship
from kinmatch.verdict import VerdictRule

NO_MUTATION = MutationModel()
RELATED_NEED_MUTATION = (
    "the persons H2 relates (a trio's mother and child, a family's members) need a mutation "
    "among themselves here: a sample swap or a wrong pedigree?"
)
"""The ``reason`` of a compared locus whose H2 is impossible without mutation."""


@dataclass(frozen=True)
class LocusLR:
    """One locus of a comparison.

    ``consistent`` says whether the typed genotypes fit H1 without mutation (False is a
    Mendelian exclusion; where the persons H2 relates need a mutation among themselves, as a
    trio's mother and child, only the person under test contradicting one of them is, and
    ``reason`` says so: :func:`kinmatch.pedigree.mendelian_consistency`); it is None when the
    locus was not compared, and ``reason`` then says why. ``h1`` and ``h2`` are the two
    likelihoods (1 when not compared). A ``one_sided`` locus is not compared, yet its ``lr``
    (exact, or 1 by convention) is part of the combined LR.
    """

    locus: str
    lr: float
    compared: bool
    consistent: bool | None = None
    h1: float = 1.0
    h2: float = 1.0
    rare_alleles: tuple[str, ...] = ()
    reason: str | None = None
    one_sided: bool = False


@dataclass(frozen=True)
class KinshipResult:
    """The combined likelihood ratio of one case with its per-locus breakdown and verdict."""

    relationship: str
    lr: float
    log10_lr: float | None
    loci: Mapping[str, LocusLR]
    inconsistent_loci: tuple[str, ...]
    min_frequency_used: tuple[str, ...]
    verdict: str

    @property
    def loci_compared(self) -> tuple[str, ...]:
        return tuple(name for name, locus in self.loci.items() if locus.compared)

    @property
    def loci_not_compared(self) -> tuple[str, ...]:
        return tuple(name for name, locus in self.loci.items() if not locus.compared)

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form used by ``kinmatch lr`` (genotypes are never included)."""
        return {
            "relationship": self.relationship,
            "lr": self.lr,
            "log10_lr": self.log10_lr,
            "loci": {
                name: {
                    "lr": locus.lr,
                    "compared": locus.compared,
                    "consistent": locus.consistent,
                    **({"one_sided": True} if locus.one_sided else {}),
                    **({"reason": locus.reason} if locus.reason else {}),
                }
                for name, locus in self.loci.items()
            },
            "inconsistent_loci": list(self.inconsistent_loci),
            "min_frequency_used": list(self.min_frequency_used),
            "verdict": self.verdict,
        }


def check_theta(theta: float) -> None:
    """Theta must be finite and in [0, 1): an :class:`InputError` on its field otherwise."""
    if not (math.isfinite(theta) and 0.0 <= theta < 1.0):
        raise InputError(f"theta {theta!r} must be in [0, 1)", field="theta")


def _check_roles(relationship: Relationship, roles: Mapping[str, object]) -> None:
    unexpected = sorted(set(roles) - set(relationship.roles))
    if unexpected:
        raise CaseError(
            f"{relationship.name} has no role {', '.join(unexpected)}; its roles are "
            f"{', '.join(relationship.roles)}"
        )


def untyped_roles(relationship: Relationship, typed: Collection[str]) -> str | None:
    """Why a locus is not compared when only ``typed`` roles are typed there, or None."""
    missing = [role for role in relationship.required if role not in typed]
    if relationship.any_of and not any(role in typed for role in relationship.any_of):
        missing.append(" or ".join(relationship.any_of))
    return ", ".join(missing) or None


def locus_lr(
    relationship: str | Relationship,
    locus: str,
    genotypes: Mapping[str, Genotype | None],
    frequencies: AlleleFrequencies,
    *,
    theta: float = 0.0,
    mutation: MutationModel = NO_MUTATION,
    min_frequency: float = DEFAULT_MIN_FREQUENCY,
    transmitter_sex: str = "M",
    one_sided_exact: bool = True,
) -> LocusLR:
    """Likelihood ratio of ``relationship`` at one locus.

    ``genotypes`` maps the relationship's roles to genotypes (None or absent: untyped).
    ``transmitter_sex`` is the alleged parent's sex in a duo. A locus typed on one side only
    gives the exact one-sided LR, or 1 when not ``one_sided_exact`` (module docstring).
    Raises :class:`CaseError` when the locus cannot be computed for this case (onestep with
    microvariants, an impossible mother-child pair in a trio without mutation).
    """
    rel = get_relationship(relationship) if isinstance(relationship, str) else relationship
    check_theta(theta)
    _check_roles(rel, genotypes)
    typed = {role: g for role, g in genotypes.items() if g is not None}
    if locus not in frequencies:
        return LocusLR(locus, 1.0, False, reason="not in frequency table")
    gap = untyped_roles(rel, typed)
    if gap:
        if not typed:
            return LocusLR(locus, 1.0, False, reason=f"untyped: {gap}")
        if not one_sided_exact or mutation.is_none:  # exactly 1 without mutation
            return LocusLR(locus, 1.0, False, reason=f"untyped: {gap}", one_sided=True)
        h1, h2, _, rare = _likelihoods(rel, locus, typed, frequencies, theta, mutation,
                                       min_frequency, transmitter_sex)  # fmt: skip
        if h2 == 0.0:
            raise CaseError("the typed genotypes are impossible under H2", locus=locus)
        if rel.poi not in typed:  # the relatives' pedigree is H1's and H2's: exactly 1
            return LocusLR(locus, 1.0, False, None, h2, h2, (), f"untyped: {gap}", True)
        return LocusLR(locus, h1 / h2, False, None, h1, h2, rare, f"untyped: {gap}", True)

    h1, h2, (consistent, related_need_mutation), rare = _likelihoods(
        rel, locus, typed, frequencies, theta, mutation, min_frequency, transmitter_sex
    )
    if h2 == 0.0:
        raise CaseError(
            "the genotypes are impossible under H2 (in a trio: mother and child share no "
            "allele) without mutation; use a mutation model or compare the duo",
            locus=locus,
        )
    reason = RELATED_NEED_MUTATION if related_need_mutation else None
    return LocusLR(locus, h1 / h2, True, consistent, h1, h2, rare, reason)


def _likelihoods(
    rel: Relationship,
    locus: str,
    typed: Mapping[str, Genotype],
    frequencies: AlleleFrequencies,
    theta: float,
    mutation: MutationModel,
    min_frequency: float,
    transmitter_sex: str,
) -> tuple[float, float, tuple[bool, bool], tuple[str, ...]]:
    """H1 and H2 likelihoods of the typed persons at one locus, their
    :func:`~kinmatch.pedigree.mendelian_consistency`, and the rare alleles of the
    comparison."""
    alleles = frequencies.locus_alleles(
        locus, (a for g in typed.values() for a in g), min_frequency
    )
    coded = {role: (alleles.index(g[0]), alleles.index(g[1])) for role, g in typed.items()}
    h1_ped, h2_ped = rel.pedigrees(transmitter_sex)
    try:
        matrices = mutation.matrices(alleles)
    except InputError as exc:
        raise CaseError(exc.reason, locus=locus) from None
    p = alleles.frequencies
    h1 = pedigree_likelihood(h1_ped, coded, p, theta=theta, matrices=matrices)
    h2 = pedigree_likelihood(h2_ped, coded, p, theta=theta, matrices=matrices)
    if matrices is None:
        return h1, h2, (bool(h1 > 0.0), False), alleles.rare

    def plain(pedigree: Pedigree, typed: Mapping[str, IndexGenotype]) -> float:
        return pedigree_likelihood(pedigree, typed, p)

    return h1, h2, mendelian_consistency(h1_ped, h2_ped, coded, plain), alleles.rare


def kinship_lr(
    relationship: str,
    persons: Mapping[str, Profile],
    frequencies: AlleleFrequencies,
    *,
    theta: float = 0.0,
    mutation: MutationModel = NO_MUTATION,
    min_frequency: float = DEFAULT_MIN_FREQUENCY,
    verdict_rule: VerdictRule | None = None,
    one_sided_exact: bool = True,
) -> KinshipResult:
    """Combined likelihood ratio of ``relationship`` for the profiles in their roles.

    ``persons`` maps roles (``child``, ``parent``, ``mother``, ``father``, ``person1``,
    ``person2``) to profiles. LR = product of the per-locus LRs over compared and one-sided
    loci (module docstring); ``log10_lr`` is the sum of their log10 and None when LR is 0.
    """
    rel = get_relationship(relationship)
    _check_roles(rel, persons)
    missing = [role for role in rel.roles if role not in persons]
    if missing:
        raise CaseError(f"{relationship} needs profiles for {', '.join(missing)}")
    transmitter_sex = "M"
    if rel.transmitter is not None:
        transmitter_sex = persons[rel.transmitter].sex or "M"
    loci = sorted(
        {locus for role in rel.roles for locus in persons[role].genotypes}, key=locus_sort_key
    )
    results = {}
    for locus in loci:
        genotypes = {role: persons[role].genotypes.get(locus) for role in rel.roles}
        results[locus] = locus_lr(
            rel, locus, genotypes, frequencies, theta=theta, mutation=mutation,
            min_frequency=min_frequency, transmitter_sex=transmitter_sex,
            one_sided_exact=one_sided_exact,
        )  # fmt: skip
    return combine(rel, results, verdict_rule or VerdictRule())


def combine(
    relationship: Relationship, loci: Mapping[str, LocusLR], rule: VerdictRule
) -> KinshipResult:
    """Multiply the per-locus LRs of compared and one-sided loci and attach the verdict."""
    values = [locus.lr for locus in loci.values() if locus.compared or locus.one_sided]
    lr = math.prod(values)
    log10_lr = None if 0.0 in values else math.fsum(math.log10(v) for v in values)
    inconsistent = tuple(name for name, locus in loci.items() if locus.consistent is False)
    rare = tuple(
        f"{name}:{allele}" for name, locus in loci.items() for allele in locus.rare_alleles
    )
    verdict = rule.verdict(lr, parentage=relationship.parentage, n_inconsistent=len(inconsistent))
    return KinshipResult(relationship.name, lr, log10_lr, dict(loci), inconsistent, rare, verdict)

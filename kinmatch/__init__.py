"""kinmatch: find parents and other relatives of a person by comparing STR DNA profiles.

The public API::

    from kinmatch import read_profiles, load_frequencies, MutationModel, MutationRates, kinship_lr
    from kinmatch import read_families, read_ped  # registered families of any shape
"""

from kinmatch.alleles import Allele, Genotype, parse_allele
from kinmatch.errors import (
    AlleleError,
    CaseError,
    FamilyError,
    FrequencyTableError,
    InputError,
    KinmatchError,
    LocusError,
    MutationModelError,
    ProfileError,
)
from kinmatch.families import MAX_MEIOSES, MAX_PERSONS, Family, Member, read_families
from kinmatch.frequencies import AlleleFrequencies, LocusAlleles, LocusFrequencies, load_frequencies
from kinmatch.likelihood import KinshipResult, LocusLR, kinship_lr, locus_lr
from kinmatch.loci import canonical_locus
from kinmatch.mutation import MutationModel, MutationRates, load_mutation_rates, mutation_matrix
from kinmatch.pedfile import read_ped, write_ped
from kinmatch.pedigree import Pedigree, Person, pedigree_likelihood
from kinmatch.profiles import Profile, ProfileTable, read_profiles
from kinmatch.relationships import RELATIONSHIPS, Relationship
from kinmatch.verdict import VerdictRule

__version__ = "0.1.0.dev0"

__all__ = [
    "MAX_MEIOSES",
    "MAX_PERSONS",
    "RELATIONSHIPS",
    "Allele",
    "AlleleError",
    "AlleleFrequencies",
    "CaseError",
    "Family",
    "FamilyError",
    "FrequencyTableError",
    "Genotype",
    "InputError",
    "KinmatchError",
    "KinshipResult",
    "LocusAlleles",
    "LocusError",
    "LocusFrequencies",
    "LocusLR",
    "Member",
    "MutationModel",
    "MutationModelError",
    "MutationRates",
    "Pedigree",
    "Person",
    "Profile",
    "ProfileError",
    "ProfileTable",
    "Relationship",
    "VerdictRule",
    "canonical_locus",
    "kinship_lr",
    "load_frequencies",
    "load_mutation_rates",
    "locus_lr",
    "mutation_matrix",
    "parse_allele",
    "pedigree_likelihood",
    "read_families",
    "read_ped",
    "read_profiles",
    "write_ped",
]

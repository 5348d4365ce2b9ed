"""Synthetic populations and families with ground truth, from a real frequency table.

Founders are Hardy-Weinberg draws from the table's frequencies, or, with ``theta > 0``, from
one sub-population whose frequencies are drawn per locus from Dirichlet(p (1 - theta) /
theta), the Balding-Nichols model the LR code corrects for. Children receive a uniformly
chosen allele from each parent, passed through the mutation matrix of that parent's sex at
that locus: the same :class:`~kinmatch.mutation.MutationModel`, rates and pedmut matrices
that the likelihood ratios use. Every mutation drawn is recorded with its locus, so the
truth of a simulated pedigree is known exactly. Everything is deterministic for a seed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from kinmatch.alleles import make_genotype
from kinmatch.errors import InputError
from kinmatch.frequencies import AlleleFrequencies, LocusAlleles
from kinmatch.likelihood import NO_MUTATION
from kinmatch.mutation import MutationModel
from kinmatch.profiles import Profile
from kinmatch.store import NO_SEX, ROLE_CODES, EncodedBatch, genotype_codes

Alleles = NDArray[np.int64]
"""Allele indices of persons, shape (persons, loci, 2): paternal, maternal."""


@dataclass(frozen=True)
class Offspring:
    """Children and where their alleles mutated: ``mutated[i, locus, 0]`` is paternal."""

    alleles: Alleles
    mutated: NDArray[np.bool_]


@dataclass
class Simulator:
    """Draws founders and children on ``loci`` of a frequency table."""

    frequencies: AlleleFrequencies
    loci: Sequence[str]
    seed: int
    theta: float = 0.0
    mutation: MutationModel = NO_MUTATION
    rng: np.random.Generator = field(init=False)

    def __post_init__(self) -> None:
        missing = [locus for locus in self.loci if locus not in self.frequencies]
        if missing:
            raise InputError(f"loci not in the frequency table: {', '.join(missing)}")
        if not 0.0 <= self.theta < 1.0:
            raise InputError(f"theta {self.theta} must be in [0, 1)", field="theta")
        self.rng = np.random.default_rng(self.seed)
        self.alleles = [self.frequencies[locus].alleles for locus in self.loci]
        table_p = [np.array(self.frequencies[locus].frequencies) for locus in self.loci]
        self.p = [p / p.sum() for p in table_p]
        if self.theta > 0:
            self.p = [self.rng.dirichlet(p * (1 - self.theta) / self.theta) for p in self.p]
        self.cumulative = [np.cumsum(p) for p in self.p]
        # per locus: cumulative rows of the (paternal, maternal) matrices, or None
        self.matrices: list[tuple[NDArray[np.float64], ...] | None] = []
        for locus, alleles, p in zip(self.loci, self.alleles, table_p, strict=True):
            pair = self.mutation.matrices(LocusAlleles(locus, alleles, p, ()))
            self.matrices.append(
                None if pair is None else tuple(np.cumsum(m, axis=1) for m in pair)
            )

    def founders(self, n: int) -> Alleles:
        """``n`` unrelated persons."""
        out = np.empty((n, len(self.loci), 2), dtype=np.int64)
        for li, cumulative in enumerate(self.cumulative):
            draws = np.searchsorted(cumulative, self.rng.random((n, 2)), side="right")
            out[:, li] = np.minimum(draws, len(cumulative) - 1)
        return out

    def children(self, fathers: Alleles, mothers: Alleles) -> Offspring:
        """One child of each (father, mother) pair, with mutations drawn per meiosis."""
        n = len(fathers)
        rows = np.arange(n)
        alleles = np.empty_like(fathers)
        mutated = np.zeros(fathers.shape, dtype=bool)
        for li in range(len(self.loci)):
            for side, parents in enumerate((fathers, mothers)):
                passed = parents[rows, li, self.rng.integers(0, 2, n)]
                received = passed
                matrices = self.matrices[li]
                if matrices is not None:
                    cumulative = matrices[side][passed]  # (n, alleles): rows of the matrix
                    u = self.rng.random(n)[:, np.newaxis]
                    received = np.minimum((u >= cumulative).sum(axis=1), cumulative.shape[1] - 1)
                alleles[:, li, side] = received
                mutated[:, li, side] = received != passed
        return Offspring(alleles, mutated)

    def profile(
        self, sample_id: str, alleles: NDArray[np.int64], **metadata: str | None
    ) -> Profile:
        """The profile of one simulated person (``alleles`` of shape (loci, 2))."""
        genotypes = {
            locus: make_genotype(names[a], names[b])
            for locus, names, (a, b) in zip(self.loci, self.alleles, alleles.tolist(), strict=True)
        }
        return Profile(sample_id, genotypes, **metadata)  # type: ignore[arg-type]

    def mutated_loci(self, mutated: NDArray[np.bool_]) -> list[str]:
        """Loci flagged in a (loci,) or (loci, 2) mutation mask."""
        flags = np.asarray(mutated.any(axis=-1) if mutated.ndim == 2 else mutated).tolist()
        return [locus for locus, flag in zip(self.loci, flags, strict=True) if flag]


@dataclass(frozen=True)
class TruthRow:
    """A true relative of a query; ``mutations`` are the loci where a mutation was drawn on
    the way between them (the meioses of their pedigree path)."""

    query_id: str
    relative_id: str
    relationship: str
    case_id: str
    mutations: tuple[str, ...]


@dataclass(frozen=True)
class Database:
    """A synthetic missing-children database: references, the queries and the truth."""

    references: list[Profile]
    queries: list[Profile]
    truth: list[TruthRow]


FAMILY_KINDS = ("couple", "father", "mother", "sibling", "half-sibling", "grandparent")


def missing_children_database(
    sim: Simulator, references: int, families: int, *, fill: bool = True
) -> Database:
    """A reference set shaped like a missing-children database.

    Case ``K<i>`` registers, in turn, a couple (father and mother), a single father, a single
    mother, a full sibling, a paternal half-sibling or the paternal grandfather of a missing
    child; the child is a person of unknown origin,
    stored among the references and listed as a query. The other references are unrelated:
    half persons of unknown origin, half registered couples of their own cases (with
    ``fill=False`` they are left to :func:`unrelated_profiles`, to stream them).
    """
    kinds = [FAMILY_KINDS[i % len(FAMILY_KINDS)] for i in range(families)]
    grandfathers = sim.founders(families)
    raised = sim.children(grandfathers, sim.founders(families))  # fathers with a known father
    fathers, mothers = sim.founders(families), sim.founders(families)
    from_grandfather = np.array([kind == "grandparent" for kind in kinds], dtype=bool)
    fathers[from_grandfather] = raised.alleles[from_grandfather]
    child = sim.children(fathers, mothers)
    sibling = sim.children(fathers, mothers)
    half = sim.children(fathers, sim.founders(families))
    sexes = sim.rng.choice(np.array(["M", "F"]), size=(families, 2))
    refs: list[Profile] = []
    queries: list[Profile] = []
    truth: list[TruthRow] = []

    def register(
        query_id: str,
        case: str,
        sample_id: str,
        alleles: Alleles,
        relationship: str,
        mutated: NDArray[np.bool_],
        **meta: str | None,
    ) -> None:
        refs.append(sim.profile(sample_id, alleles, case_id=case, **meta))
        truth.append(TruthRow(query_id, sample_id, relationship, case,
                              tuple(sim.mutated_loci(mutated))))  # fmt: skip

    for i, kind in enumerate(kinds):
        case = f"K{i}"
        query = sim.profile(f"C{i}", child.alleles[i], role="unknown-origin", sex=sexes[i, 0])
        queries.append(query)
        refs.append(query)

        paternal, maternal = child.mutated[i, :, 0], child.mutated[i, :, 1]
        ids = (query.sample_id, case)
        if kind in ("couple", "father"):
            register(*ids, f"F{i}", fathers[i], "parent-child", paternal, role="father", sex="M")
        if kind in ("couple", "mother"):
            register(*ids, f"M{i}", mothers[i], "parent-child", maternal, role="mother", sex="F")
        if kind == "sibling":
            both = child.mutated[i] | sibling.mutated[i]
            register(*ids, f"B{i}", sibling.alleles[i], "full-siblings", both, role="sibling",
                     sex=sexes[i, 1])  # fmt: skip
        if kind == "half-sibling":  # shares the (unregistered) father
            path = paternal | half.mutated[i, :, 0]
            register(*ids, f"H{i}", half.alleles[i], "half-siblings", path, role="sibling",
                     sex=sexes[i, 1])  # fmt: skip
        if kind == "grandparent":  # the father's father
            path = paternal | raised.mutated[i, :, 0]
            register(*ids, f"G{i}", grandfathers[i], "grandparent", path, role="other", sex="M")
    if references < len(refs):
        raise InputError(f"{references} references cannot hold {families} families "
                         f"({len(refs)} profiles)", field="references")  # fmt: skip
    if fill:
        refs.extend(unrelated_profiles(sim, 0, references - len(refs)))
    return Database(refs, queries, truth)


def unrelated_profiles(sim: Simulator, start: int, count: int) -> list[Profile]:
    """Unrelated references numbered from ``start``: even numbers are persons of unknown
    origin (``U<j>``), odd ones the registered fathers (``j % 4 == 1``) and mothers of
    couples, each couple its own case (``R<j>``, the father's number): a missing-children
    database holds many couples, and the couple scan meets them all."""
    unrelated = sim.founders(count)
    profiles = []
    for offset in range(count):
        j = start + offset
        if j % 2 == 0:
            profiles.append(sim.profile(f"U{j}", unrelated[offset], role="unknown-origin"))
        else:
            role, sex = ("father", "M") if j % 4 == 1 else ("mother", "F")
            profiles.append(sim.profile(f"P{j}", unrelated[offset], role=role,
                                        case_id=f"R{j - j % 4 + 1}", sex=sex))  # fmt: skip
    return profiles


def unrelated_batch(sim: Simulator, start: int, count: int) -> EncodedBatch:
    """The same references as :func:`unrelated_profiles`, encoded for bulk loading."""
    alleles = sim.founders(count)
    numbers = np.arange(start, start + count)
    single = numbers % 2 == 1
    father = numbers % 4 == 1
    roles = np.where(single, np.where(father, ROLE_CODES["father"], ROLE_CODES["mother"]),
                     ROLE_CODES["unknown-origin"]).astype(np.uint8)  # fmt: skip
    sexes = np.where(single, np.where(father, 0, 1), NO_SEX).astype(np.uint8)
    ids = [f"{'P' if j % 2 else 'U'}{j}" for j in numbers.tolist()]
    return EncodedBatch(
        sample_ids=ids,
        roles=roles,
        sexes=sexes,
        case_ids=[f"R{j - j % 4 + 1}" if j % 2 else None for j in numbers.tolist()],
        agencies=[None] * count,
        loci=tuple(sim.loci),
        alleles={locus: tuple(names) for locus, names in zip(sim.loci, sim.alleles, strict=True)},
        codes=genotype_codes(alleles[:, :, 0], alleles[:, :, 1]).astype(np.uint16),
    )

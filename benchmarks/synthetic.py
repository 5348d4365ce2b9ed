"""Synthetic reference stores for the benchmarks, built straight into the store in bulk.

Profiles are unrelated draws from a real allele-frequency table (Hardy-Weinberg, theta 0):
40% persons of unknown origin, and registered relatives: couples (a father and a mother
sharing a case_id, 40%) and single parents (20%). ``planted`` couples also have a child,
returned as queries with the father and mother IDs, so searches can be checked for the
relatives they must find. Codes are drawn with numpy and written through
:meth:`ReferenceStore.append_encoded` one fragment per million profiles.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kinmatch import AlleleFrequencies, Profile
from kinmatch.alleles import make_genotype
from kinmatch.store import ROLE_CODES, EncodedBatch, ReferenceStore, genotype_codes

CHUNK = 1_000_000


@dataclass(frozen=True)
class Planted:
    child: Profile
    father_id: str
    mother_id: str
    case_id: str


def _draw_alleles(rng: np.random.Generator, p: np.ndarray, size: tuple[int, ...]) -> np.ndarray:
    cumulative = np.cumsum(p / p.sum())
    return np.minimum(np.searchsorted(cumulative, rng.random(size)), len(p) - 1)


def build_store(
    path: Path,
    table: AlleleFrequencies,
    loci: list[str],
    n: int,
    *,
    planted: int = 10,
    seed: int = 1,
) -> tuple[ReferenceStore, list[Planted]]:
    """Create a store of ``n`` profiles at ``path`` and the planted children."""
    rng = np.random.default_rng(seed)
    store = ReferenceStore.create(path)
    dictionaries = {locus: table[locus].alleles for locus in loci}
    probabilities = {locus: np.array(table[locus].frequencies) for locus in loci}
    role_of = np.array([ROLE_CODES["unknown-origin"], ROLE_CODES["father"],
                        ROLE_CODES["mother"], ROLE_CODES["parent"]], dtype=np.uint8)  # fmt: skip
    children: list[Planted] = []
    for start in range(0, n, CHUNK):
        size = min(CHUNK, n - start)
        index = np.arange(start, start + size)
        # rows 0-3 of every block of 10: unknown origin; 4-7: two couples; 8-9: single parents
        slot = index % 10
        kind = np.select([slot < 4, slot < 8, True], [0, 1 + (slot % 2), 3])
        alleles = {locus: _draw_alleles(rng, probabilities[locus], (size, 2)) for locus in loci}
        codes = np.stack(
            [genotype_codes(alleles[locus][:, 0], alleles[locus][:, 1]) for locus in loci], axis=1
        ).astype(np.uint16)
        case_ids = [f"K{i // 2}" if 4 <= i % 10 < 8 else None for i in index.tolist()]
        store.append_encoded(
            EncodedBatch(
                sample_ids=[f"S{i}" for i in index.tolist()],
                roles=role_of[kind],
                sexes=np.where(kind == 2, 1, 0).astype(np.uint8),
                case_ids=case_ids,
                agencies=[None] * size,
                loci=tuple(loci),
                alleles=dictionaries,
                codes=codes,
            )
        )
        if start == 0:  # children of the first couples: rows 4+5, 6+7, 14+15, ...
            fathers = [r for r in range(size) if r % 10 in (4, 6)][:planted]
            for father in fathers:
                genotype = {
                    locus: make_genotype(
                        dictionaries[locus][alleles[locus][father, rng.integers(2)]],
                        dictionaries[locus][alleles[locus][father + 1, rng.integers(2)]],
                    )
                    for locus in loci
                }
                child = Profile(f"CHILD{len(children)}", genotype, role="unknown-origin")
                children.append(Planted(child, f"S{father}", f"S{father + 1}", f"K{father // 2}"))
    return store, children


def build_campaign_store(
    path: Path,
    table: AlleleFrequencies,
    loci: list[str],
    registered: int,
    unknown: int,
    *,
    planted: int = 1000,
    seed: int = 1,
) -> ReferenceStore:
    """A store of ``registered`` relatives (in every block of 6 rows two couples sharing a
    case_id and two single parents) and ``unknown`` persons of unknown origin, the first
    ``planted`` of them children of the first couples, the rest unrelated."""
    rng = np.random.default_rng(seed)
    store = ReferenceStore.create(path)
    dictionaries = {locus: table[locus].alleles for locus in loci}
    probabilities = {locus: np.array(table[locus].frequencies) for locus in loci}
    first: dict[str, np.ndarray] = {}
    for start in range(0, registered, CHUNK):
        size = min(CHUNK, registered - start)
        index = np.arange(start, start + size)
        slot = index % 6
        alleles = {locus: _draw_alleles(rng, probabilities[locus], (size, 2)) for locus in loci}
        if start == 0:
            first = alleles
        roles = np.select([slot < 4, True], [np.where(slot % 2 == 0, ROLE_CODES["father"],
                                                      ROLE_CODES["mother"]),
                                             ROLE_CODES["parent"]]).astype(np.uint8)  # fmt: skip
        store.append_encoded(_batch([f"R{i}" for i in index.tolist()], roles,
                                    np.where(roles == ROLE_CODES["mother"], 1, 0),
                                    [f"K{i // 2}" if i % 6 < 4 else None for i in index.tolist()],
                                    loci, dictionaries, alleles))  # fmt: skip
    couples = [r for r in range(min(registered, CHUNK)) if r % 6 in (0, 2)][:planted]
    alleles = {locus: _draw_alleles(rng, probabilities[locus], (unknown, 2)) for locus in loci}
    for row, father in enumerate(couples[:unknown]):
        for locus in loci:
            alleles[locus][row] = (first[locus][father, rng.integers(2)],
                                   first[locus][father + 1, rng.integers(2)])  # fmt: skip
    roles = np.full(unknown, ROLE_CODES["unknown-origin"], dtype=np.uint8)
    store.append_encoded(_batch([f"U{i}" for i in range(unknown)], roles, np.zeros(unknown),
                                [None] * unknown, loci, dictionaries, alleles))  # fmt: skip
    return store


def _batch(
    ids: list[str],
    roles: np.ndarray,
    sexes: np.ndarray,
    case_ids: list[str | None],
    loci: list[str],
    dictionaries: dict[str, tuple[str, ...]],
    alleles: dict[str, np.ndarray],
) -> EncodedBatch:
    codes = np.stack([genotype_codes(alleles[locus][:, 0], alleles[locus][:, 1])
                      for locus in loci], axis=1).astype(np.uint16)  # fmt: skip
    return EncodedBatch(sample_ids=ids, roles=roles, sexes=sexes.astype(np.uint8),
                        case_ids=case_ids, agencies=[None] * len(ids), loci=tuple(loci),
                        alleles=dictionaries, codes=codes)  # fmt: skip

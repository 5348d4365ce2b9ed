"""Small family simulator for tests: founders from a real table, Mendelian children."""

from __future__ import annotations

import numpy as np

from kinmatch import AlleleFrequencies, Profile
from kinmatch.alleles import Genotype, make_genotype


class Families:
    """Draws profiles on ``loci`` of ``table`` with a seeded generator."""

    def __init__(self, table: AlleleFrequencies, loci: list[str], seed: int) -> None:
        self.table = table
        self.loci = loci
        self.rng = np.random.default_rng(seed)

    def founder_genotypes(self) -> dict[str, Genotype]:
        genotypes = {}
        for locus in self.loci:
            table = self.table[locus]
            p = np.array(table.frequencies) / sum(table.frequencies)
            a, b = self.rng.choice(len(p), size=2, p=p)
            genotypes[locus] = make_genotype(table.alleles[a], table.alleles[b])
        return genotypes

    def child_genotypes(
        self, father: dict[str, Genotype], mother: dict[str, Genotype]
    ) -> dict[str, Genotype]:
        return {
            locus: make_genotype(
                father[locus][self.rng.integers(2)], mother[locus][self.rng.integers(2)]
            )
            for locus in self.loci
        }

    def profile(self, sample_id: str, genotypes: dict[str, Genotype], **meta: str) -> Profile:
        return Profile(sample_id, genotypes, **meta)  # type: ignore[arg-type]

"""Cold cost of one query's score tables per relationship: compiled programs against the core.

For every relationship the search engine scans, builds the score tables (``TableBuilder.single``,
23 loci of the China table, every genotype of the table's alleles as the dictionary) of
``--queries`` distinct random queries, each with a fresh builder so nothing is memoised
across queries, once with the compiled likelihood grids (:mod:`kinmatch.descent`, the duo's
closed form) and once with the core's (:mod:`kinmatch.pedigree`), in
the same run, without mutation and with stepwise AABB rates and theta 0.01. Numba's
compilation is done before the clock starts. Prints a Markdown table and one line
``<relationship>_<setting>_ms=<compiled ms per query> ..._speedup=<core / compiled>``.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

import kinmatch.descent
from kinmatch import load_frequencies
from kinmatch.alleles import Genotype, make_genotype
from kinmatch.loci import CHINA_PATERNITY_19, CODIS_20
from kinmatch.mutation import MutationModel, load_mutation_rates
from kinmatch.relationships import SEARCHABLE, get_relationship
from kinmatch.tables import TableBuilder

ROOT = Path(__file__).parent.parent
CHINA = ROOT / "fixtures" / "freq_China_GBT37223.csv"
RATES = ROOT / "fixtures" / "mutation_rates_STRBase_AABB.csv"
LOCI = list(dict.fromkeys(CODIS_20 + CHINA_PATERNITY_19))
PAIRWISE = [name for name in SEARCHABLE if name != "parents-child"]


def settings() -> dict[str, tuple[float, MutationModel]]:
    rates = load_mutation_rates(RATES, default=0.002)
    stepwise = MutationModel("stepwise", rates, rate2=1e-6)
    return {"none": (0.0, MutationModel()), "stepwise": (0.01, stepwise)}


@contextmanager
def core_likelihoods() -> Iterator[None]:
    """Score tables from the core's grids and likelihoods: the compiled programs decline every
    pedigree, so :mod:`kinmatch.descent` hands each to the core."""
    compiled = kinmatch.descent.descent_program
    kinmatch.descent.descent_program = lambda *args: None  # type: ignore[assignment]
    try:
        yield
    finally:
        kinmatch.descent.descent_program = compiled  # type: ignore[assignment]


def queries(n: int, seed: int) -> list[dict[str, Genotype]]:
    table = load_frequencies(CHINA)
    rng = np.random.default_rng(seed)
    found = []
    for _ in range(n):
        genotypes = {}
        for locus in LOCI:
            alleles, p = table[locus].alleles, np.asarray(table[locus].frequencies)
            a, b = rng.choice(len(alleles), size=2, p=p / p.sum())
            genotypes[locus] = make_genotype(alleles[a], alleles[b])
        found.append(genotypes)
    return found


def cold_ms(relationship: str, theta: float, mutation: MutationModel,
            batch: list[dict[str, Genotype]]) -> float:  # fmt: skip
    """Milliseconds per query, a fresh builder per query."""
    table = load_frequencies(CHINA)
    dictionaries = {locus: table[locus].alleles for locus in LOCI}
    rel = get_relationship(relationship)
    role, free = (("child", "parent") if rel.name == "parent-child" else
                  ("person1", "person2"))  # fmt: skip
    start = time.perf_counter()
    for genotypes in batch:
        builder = TableBuilder(table, theta=theta, mutation=mutation)
        builder.single(rel.name, {role: genotypes}, free, LOCI, dictionaries,
                       transmitter_sexes=("M", "F") if rel.transmitter else ("M",))  # fmt: skip
    return (time.perf_counter() - start) / len(batch) * 1e3


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--queries", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    batch = queries(args.queries + 1, args.seed)
    warm, batch = batch[:1], batch[1:]
    line = {}
    print(f"Cold score tables of {args.queries} distinct queries, 23 loci, China table; "
          f"{platform.machine()}, {platform.python_version()}\n")  # fmt: skip
    print("| relationship | setting | compiled ms/query | core ms/query | core / compiled |")
    print("|---|---|---:|---:|---:|")
    for relationship in PAIRWISE:
        for setting, (theta, mutation) in settings().items():
            cold_ms(relationship, theta, mutation, warm)  # compilation, matrices cached
            compiled = cold_ms(relationship, theta, mutation, batch)
            with core_likelihoods():
                core = cold_ms(relationship, theta, mutation, batch)
            print(f"| {relationship} | {setting} | {compiled:.2f} | {core:.2f} | "
                  f"{core / compiled:.1f} |")  # fmt: skip
            key = f"{relationship.replace('-', '_')}_{setting}"
            line[f"{key}_ms"], line[f"{key}_speedup"] = compiled, core / compiled
    shown = " ".join(sys.argv[1:] if argv is None else argv)
    print(f"\nCommand: .venv/bin/python benchmarks/table_build.py {shown}".rstrip())
    print(" ".join(f"{key}={value:.4g}" for key, value in line.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

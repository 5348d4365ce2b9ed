"""Speed of the null distribution of one query on 23 loci (China table, example child U01).

"warm": as in a search, the query's score tables were built for the scan, so the per-locus
likelihood grids are memoised in the searcher's TableBuilder; the timed call builds the
per-locus null tables and the distribution, certifies it to 1% for every threshold whose tail
may reach 1e-12 (``certify``) and evaluates the tail at the query's best hit. "cold" also
computes the grids. Targets: a duo under 50 ms, a couple under 500 ms. Run: ``make bench``.
"""

from __future__ import annotations

import pytest
from conftest import CHINA, EXAMPLES

from kinmatch import MutationModel, MutationRates, load_frequencies, read_profiles
from kinmatch.evidence import NullDistribution, NullModel
from kinmatch.loci import CHINA_PATERNITY_19, CODIS_20
from kinmatch.tables import SEX_CLASSES, TableBuilder, couple_tables

LOCI = list(dict.fromkeys(CODIS_20 + CHINA_PATERNITY_19))
FREQUENCIES = load_frequencies(CHINA)
PROFILES = read_profiles(EXAMPLES / "profiles.csv")
CHILD = PROFILES["U01"].genotypes
DICTIONARIES = {locus: FREQUENCIES[locus].alleles for locus in LOCI}
SETTINGS = {
    "plain": (0.0, MutationModel()),
    "stepwise": (0.01, MutationModel("stepwise", MutationRates.uniform(0.002), rate2=1e-6)),
}
HIT = {"duo": 6.0, "couple": 10.0}  # log10 LR of a strong hit to evaluate


def scan_tables(setting: str, kind: str) -> TableBuilder:
    """A TableBuilder that has built the scan's tables for the child, as Searcher does."""
    theta, mutation = SETTINGS[setting]
    builder = TableBuilder(FREQUENCIES, theta=theta, mutation=mutation)
    if kind == "duo":
        builder.single("parent-child", {"child": CHILD}, "parent", LOCI, DICTIONARIES,
                       transmitter_sexes=SEX_CLASSES)  # fmt: skip
    else:
        couple_tables(builder, CHILD, LOCI, DICTIONARIES)
    return builder


def evidence(builder: TableBuilder, kind: str) -> NullDistribution:
    model = NullModel(builder)
    if kind == "duo":
        null = model.single("parent-child", {"child": CHILD}, "parent")
    else:
        null = model.couples(CHILD)
    assert null.certify(1e-12) <= 0.01
    null.p_at_least(HIT[kind])
    return null


@pytest.mark.parametrize("setting", list(SETTINGS))
@pytest.mark.parametrize("kind", ["duo", "couple"])
def test_null_distribution_warm(benchmark, setting: str, kind: str) -> None:  # type: ignore[no-untyped-def]
    builder = scan_tables(setting, kind)
    null = benchmark(evidence, builder, kind)
    assert len(null.loci) == 23


@pytest.mark.parametrize("setting", list(SETTINGS))
def test_null_distribution_cold_duo(benchmark, setting: str) -> None:  # type: ignore[no-untyped-def]
    theta, mutation = SETTINGS[setting]

    def cold() -> NullDistribution:
        return evidence(TableBuilder(FREQUENCIES, theta=theta, mutation=mutation), "duo")

    assert len(benchmark(cold).loci) == 23

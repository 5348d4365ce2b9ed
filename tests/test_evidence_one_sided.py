"""The evidence of hits with loci typed on one side only, under a mutation model.

Such a locus' exact LR is part of the hit's (:mod:`kinmatch.likelihood`), so the hit's null
holds it too: a point mass at the query's own LR where only the query is typed, the
reference's own LR over the population where only the reference is (its mean is 1).
"""

from __future__ import annotations

import math

import pytest

from kinmatch import MutationModel, MutationRates, Profile, locus_lr
from kinmatch.alleles import make_genotype
from kinmatch.frequencies import AlleleFrequencies
from kinmatch.search import Searcher
from kinmatch.store import ReferenceStore

LOCI = {
    "D8S1179": {"10": 0.2, "11": 0.3, "12": 0.1, "13": 0.4},
    "vWA": {"14": 0.1, "15": 0.2, "16": 0.3, "17": 0.4},
    "TH01": {"6": 0.25, "7": 0.25, "8": 0.5},
    "TPOX": {"8": 0.5, "9": 0.2, "11": 0.3},
}


@pytest.fixture(scope="module")
def searcher(tmp_path_factory: pytest.TempPathFactory) -> Searcher:
    store = ReferenceStore.create(tmp_path_factory.mktemp("store"))
    parents = [
        Profile("P1", {"D8S1179": ("10", "11"), "vWA": ("14", "15")}, role="father", sex="M"),
        Profile("P2", {"D8S1179": ("10", "12"), "vWA": ("15", "16"), "TH01": ("6", "8")},
                role="mother", sex="F"),
        Profile("P3", {"D8S1179": ("11", "13"), "TPOX": ("8", "9")}, role="father", sex="M"),
    ]  # fmt: skip
    store.ingest(parents)
    model = MutationModel("stepwise", MutationRates.uniform(0.01, paternal=0.02, maternal=0.005))
    return Searcher(store, AlleleFrequencies.from_dict(LOCI), mutation=model, max_inconsistent=None)


CHILD = Profile("C", {"D8S1179": ("10", "11"), "vWA": ("15", "17"), "TH01": ("7", "8")})


def test_a_hits_null_holds_its_one_sided_loci(searcher: Searcher) -> None:
    result = searcher.search(CHILD, "parent-child", top_k=3, search_all=True)
    model = searcher._null_model()
    assert len(result.hits) == 3
    for hit in result.hits:
        null = model.for_hit(hit)
        reference = hit.persons["parent"]
        names = {locus.locus for locus in null.loci}
        typed = set(CHILD.genotypes) | set(reference.genotypes)
        assert names == typed  # compared and one-sided, every one in the table
        for locus in null.loci:
            child = CHILD.genotypes.get(locus.locus)
            if child is not None and locus.locus not in reference.genotypes:
                expected = locus_lr("parent-child", locus.locus, {"child": child},
                                    searcher.frequencies, mutation=searcher.mutation,
                                    transmitter_sex=reference.sex or "M")  # fmt: skip
                assert expected.one_sided and expected.lr != 1.0
                assert list(locus.probability) == [1.0]
                assert 10.0 ** locus.log10_lr[0] == pytest.approx(expected.lr, rel=1e-12)
            elif child is None:  # only the reference typed: its own LR, mean 1
                assert locus.expected_lr == pytest.approx(1.0, rel=1e-12)
        # the hit's LR is within the null's support: its one-sided factors are in both
        assert null.min_log10_lr - 1e-9 <= hit.log10_lr <= null.max_log10_lr + 1e-9
        assert hit.lr == pytest.approx(hit.breakdown.lr, rel=1e-9)


def test_a_point_mass_shifts_the_tail(searcher: Searcher) -> None:
    """P1 lacks TH01, which the child has: the hit's null is the compared loci's null shifted
    by the child's one-sided LR there."""
    result = searcher.search(CHILD, "parent-child", top_k=3, search_all=True)
    hit = next(h for h in result.hits if h.reference_id == "P1")
    model = searcher._null_model()
    null = model.for_hit(hit)
    base = model.single("parent-child", {"child": CHILD.genotypes}, "parent",
                        loci=["D8S1179", "vWA"], transmitter_sex="M")  # fmt: skip
    shift = math.log10(locus_lr("parent-child", "TH01", {"child": make_genotype("7", "8")},
                                searcher.frequencies, mutation=searcher.mutation).lr)  # fmt: skip
    assert hit.log10_lr is not None
    for x in (hit.log10_lr, hit.log10_lr - 0.5, hit.log10_lr + 0.3):
        assert null.tail(x).estimate == pytest.approx(base.tail(x - shift).estimate, rel=1e-6)

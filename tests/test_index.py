"""The parentage candidate filter loses no relative within k inconsistent loci, and drops
one with k + 1; measured on simulated families with inconsistencies forced at chosen loci."""

from pathlib import Path

import numpy as np
import pytest
from families import Families

from kinmatch import MutationModel, MutationRates, Profile, load_frequencies
from kinmatch.alleles import Genotype, make_genotype
from kinmatch.loci import CHINA_PATERNITY_19, CODIS_20
from kinmatch.search import Searcher
from kinmatch.store import ReferenceStore

CHINA = Path(__file__).parent.parent / "fixtures" / "freq_China_GBT37223.csv"
LOCI = list(dict.fromkeys(CODIS_20 + CHINA_PATERNITY_19))
TABLE = load_frequencies(CHINA)
STEPWISE = MutationModel("stepwise", MutationRates.uniform(0.002), rate2=1e-6)


def bits(store: ReferenceStore, locus: str, alleles: tuple[str, ...]) -> int:
    dictionary = store.alleles(locus)
    return sum({1 << (dictionary.index(a) % 8) for a in alleles})


def break_loci(
    store: ReferenceStore,
    parent: dict[str, Genotype],
    child: dict[str, Genotype],
    m: int,
    rng: np.random.Generator,
) -> dict[str, Genotype]:
    """The child made inconsistent with ``parent`` at exactly ``m`` loci: both alleles replaced
    by dictionary alleles whose signature bits differ from all of the parent's (a miss the
    filter is sure to see)."""
    broken = dict(child)
    for locus in rng.choice(LOCI, size=m, replace=False):
        taken = bits(store, locus, parent[locus])
        free = [a for a in store.alleles(locus) if not bits(store, locus, (a,)) & taken]
        a, b = rng.choice(free, size=2)
        broken[locus] = make_genotype(a, b)
    return broken


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """2,000 unrelated references and 8 registered couples; their children are queries."""
    sim = Families(TABLE, LOCI, seed=11)
    store = ReferenceStore.create(tmp_path_factory.mktemp("store"))
    refs = [
        sim.profile(f"X{i}", sim.founder_genotypes(), role=role)
        for i, role in enumerate(["father", "mother", "unknown-origin", "parent"] * 500)
    ]
    couples = []
    for c in range(8):
        father, mother = sim.founder_genotypes(), sim.founder_genotypes()
        couples.append((father, mother, sim.child_genotypes(father, mother)))
        refs.append(sim.profile(f"F{c}", father, role="father", case_id=f"K{c}", sex="M"))
        refs.append(sim.profile(f"M{c}", mother, role="mother", case_id=f"K{c}", sex="F"))
    store.ingest(refs)
    return {"store": store, "couples": couples, "refs": refs}


@pytest.mark.parametrize("k", [0, 1, 2, 3])
def test_duo_and_couple_relatives_within_k_are_kept_and_k_plus_1_dropped(
    world: dict[str, object], k: int
) -> None:
    store = world["store"]
    assert isinstance(store, ReferenceStore)
    couples = world["couples"]
    assert isinstance(couples, list)
    rng = np.random.default_rng(k)
    searcher = Searcher(store, TABLE, mutation=STEPWISE, max_inconsistent=k)
    children = []
    for c, (father, _mother, child) in enumerate(couples):
        for m in range(k + 2):
            query = Profile(f"Q{c}-{m}", break_loci(store, father, child, m, rng),
                            role="unknown-origin")  # fmt: skip
            children.append(query)
            duo = searcher.search(query, "parent-child", top_k=len(store))
            couple = searcher.search(query, "parents-child", top_k=len(store))
            found = {h.reference_id for h in duo.hits}
            found_couples = {h.case_id for h in couple.hits}
            if m <= k:
                assert f"F{c}" in found and f"K{c}" in found_couples  # never lost
                assert {h.n_inconsistent for h in duo.hits if h.reference_id == f"F{c}"} == {m}
            else:
                assert f"F{c}" not in found and f"K{c}" not in found_couples  # the bound

    # the fathers searching for these children: the same guarantee in reverse. The same
    # references first give the same dictionaries, so the forced misses stay certain.
    reverse_store = ReferenceStore.create(Path(store.path).parent / f"reverse-{k}")
    reverse_store.ingest(world["refs"])  # type: ignore[arg-type]
    reverse_store.ingest(children)
    reverse = Searcher(reverse_store, TABLE, mutation=STEPWISE, max_inconsistent=k)
    for c, (father, _mother, _child) in enumerate(couples):
        back = reverse.search(Profile(f"F{c}", father, role="father"), "parent-child",
                              top_k=len(reverse_store))  # fmt: skip
        found = {h.reference_id for h in back.hits}
        for m in range(k + 2):
            assert (f"Q{c}-{m}" in found) == (m <= k)


def test_the_filter_discards_most_unrelated_references(world: dict[str, object]) -> None:
    store = world["store"]
    assert isinstance(store, ReferenceStore)
    sim = Families(TABLE, LOCI, seed=99)
    searcher = Searcher(store, TABLE)
    met = candidates = 0
    for i in range(20):
        query = Profile(f"U{i}", sim.founder_genotypes(), role="unknown-origin")
        result = searcher.search(query, "parent-child", top_k=10)
        met += result.n_scored
        assert result.n_candidates is not None
        candidates += result.n_candidates
    assert met == 20 * 1516  # 500 each of fathers, mothers, parents; 8 registered couples
    assert candidates < 0.01 * met  # unrelated: > 99% never reach the exact scan


def test_untyped_reference_locus_is_never_a_miss(tmp_path: Path) -> None:
    """Found by hypothesis: the query's alleles at vWA are in no stored profile (mask 0); a
    reference untyped there must not count it as an inconsistency."""
    store = ReferenceStore.create(tmp_path)
    store.ingest([Profile("R00", {"D8S1179": ("10", "10"), "vWA": ("14", "14")}, role="father")])
    store.ingest([Profile("R01", {"D8S1179": ("10", "10")}, role="father")])
    table = load_frequencies(CHINA)
    query = Profile("Q", {"D8S1179": ("11", "11"), "vWA": ("15", "15")}, role="unknown-origin")
    result = Searcher(store, table, max_inconsistent=1).search(query, "parent-child", top_k=5)
    assert [h.reference_id for h in result.hits] == ["R01"]
    assert result.hits[0].n_inconsistent == 1

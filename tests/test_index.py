"""The parentage candidate filter loses no relative within k inconsistent loci, and drops
one with k + 1; measured on simulated families with inconsistencies forced at chosen loci."""

from pathlib import Path

import numpy as np
import pytest
from families import Families
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kinmatch import MutationModel, MutationRates, Profile, load_frequencies
from kinmatch.alleles import Genotype, make_genotype
from kinmatch.index import index_path
from kinmatch.likelihood import NO_MUTATION
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
            broken = break_loci(store, father, child, m, rng)
            # two loci the child is consistent at left untyped: on the query's side here,
            # on the reference's side when the fathers search the stored children below
            kept = [locus for locus in broken if broken[locus] == child[locus]]
            for locus in rng.choice(kept, size=2, replace=False):
                del broken[locus]
            query = Profile(f"Q{c}-{m}", broken, role="unknown-origin")
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

    # the fathers (alone and with the mothers) searching for these children: the same
    # guarantee in reverse. The same
    # references first give the same dictionaries, so the forced misses stay certain.
    reverse_store = ReferenceStore.create(Path(store.path).parent / f"reverse-{k}")
    reverse_store.ingest(world["refs"])  # type: ignore[arg-type]
    reverse_store.ingest(children)
    reverse = Searcher(reverse_store, TABLE, mutation=STEPWISE, max_inconsistent=k)
    for c, (father, mother, _child) in enumerate(couples):
        back = reverse.search(Profile(f"F{c}", father, role="father"), "parent-child",
                              top_k=len(reverse_store))  # fmt: skip
        found = {h.reference_id for h in back.hits}
        both = reverse.search_couple(
            Profile(f"F{c}", father, role="father", case_id=f"K{c}"),
            Profile(f"M{c}", mother, role="mother", case_id=f"K{c}"),
            top_k=len(reverse_store),
        )
        found_by_couple = {h.reference_id for h in both.hits}
        for m in range(k + 2):
            assert (f"Q{c}-{m}" in found) == (m <= k)
            assert (f"Q{c}-{m}" in found_by_couple) == (m <= k)  # a couple searching, too
        assert back.candidates == both.candidates == "bitmap index"


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


def _hits(result: object) -> dict[tuple[str, ...], tuple[float, int]]:
    from kinmatch.hits import SearchResult

    assert isinstance(result, SearchResult) and result.error is None, result
    return {(h.reference_id, h.father_id or "", h.mother_id or ""): (h.lr, h.n_inconsistent)
            for h in result.hits}  # fmt: skip


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 2**32 - 1), st.integers(0, 3), st.sampled_from([NO_MUTATION, STEPWISE]))
def test_the_indexed_search_returns_exactly_the_hits_of_the_plain_and_of_the_unbounded(
    tmp_path_factory: pytest.TempPathFactory, seed: int, k: int, mutation: MutationModel
) -> None:
    """Random stores (two fragments, loci untyped at random on either side, families with a
    few broken loci among unrelated people) and every direction of parentage: the bitmap
    index, the plain scan under the same bound and the unbounded search cut at ``k`` return
    the same hits with the same LRs (1e-12) and inconsistent loci."""
    rng = np.random.default_rng(seed)
    sim = Families(TABLE, LOCI[:12], seed=seed % 1000)

    def typed(genotypes: dict[str, Genotype]) -> dict[str, Genotype]:
        kept = {locus: g for locus, g in genotypes.items() if rng.random() > 0.15}
        return kept or dict(list(genotypes.items())[:1])

    profiles, couples = [], []
    for c in range(6):
        father, mother = sim.founder_genotypes(), sim.founder_genotypes()
        child = sim.child_genotypes(father, mother)
        for locus in rng.choice(sorted(child), size=int(rng.integers(0, 4)), replace=False):
            child[locus] = sim.founder_genotypes()[locus]  # maybe inconsistent now
        profiles += [sim.profile(f"F{c}", typed(father), role="father", case_id=f"K{c}",
                                 sex="M"),
                     sim.profile(f"M{c}", typed(mother), role="mother", case_id=f"K{c}",
                                 sex="F"),
                     sim.profile(f"C{c}", typed(child), role="unknown-origin")]  # fmt: skip
        couples.append((profiles[-3], profiles[-2]))
    roles = ["father", "mother", "unknown-origin", "parent"]
    profiles += [sim.profile(f"X{i}", typed(sim.founder_genotypes()), role=roles[i % 4])
                 for i in range(60)]  # fmt: skip
    order = rng.permutation(len(profiles))
    store = ReferenceStore.create(tmp_path_factory.mktemp("random"))
    store.ingest([profiles[i] for i in order[:40]])
    store.ingest([profiles[i] for i in order[40:]])
    indexed = Searcher(store, TABLE, mutation=mutation, max_inconsistent=k)
    plain = Searcher(store, TABLE, mutation=mutation, max_inconsistent=k, use_index=False)
    unbounded = Searcher(store, TABLE, mutation=mutation, max_inconsistent=None)
    assert indexed.candidate_method == "bitmap index" and plain.candidate_method == "plain scan"
    young = [p for p in profiles if p.role == "unknown-origin"]
    parents = [p for p in profiles if p.role in ("father", "mother", "parent")]
    searches = [(q, rel) for q in young for rel in ("parent-child", "parents-child")]
    searches += [(q, "parent-child") for q in parents[:12]]
    for query, relationship in searches:
        results = [s.search(query, relationship, top_k=1000) for s in (indexed, plain, unbounded)]
        index_hits, plain_hits, all_hits = map(_hits, results)
        cut = {key: v for key, v in all_hits.items() if v[1] <= k}
        assert index_hits.keys() == plain_hits.keys() == cut.keys(), (query.sample_id, relationship)
        for key, (lr, inconsistent) in cut.items():
            for other in (index_hits, plain_hits):
                assert other[key][0] == pytest.approx(lr, rel=1e-12, abs=1e-300)
                assert other[key][1] == inconsistent
    for father, mother in couples:
        results = [s.search_couple(father, mother, top_k=1000) for s in (indexed, plain, unbounded)]
        index_hits, plain_hits, all_hits = map(_hits, results)
        cut = {key: v for key, v in all_hits.items() if v[1] <= k}
        assert index_hits.keys() == plain_hits.keys() == cut.keys(), father.case_id
        for key, (lr, _) in cut.items():
            assert index_hits[key][0] == pytest.approx(lr, rel=1e-12, abs=1e-300)
            assert plain_hits[key][0] == pytest.approx(lr, rel=1e-12, abs=1e-300)


def test_a_missing_or_damaged_index_is_written_again(world: dict[str, object]) -> None:
    """An index file removed (a store written before the index) or cut short is written
    again from the codes when the store is opened for a search; the hits do not change."""
    store = world["store"]
    assert isinstance(store, ReferenceStore)
    sim = Families(TABLE, LOCI, seed=5)
    query = Profile("U", sim.founder_genotypes(), role="unknown-origin")
    before = Searcher(ReferenceStore.open(store.path), TABLE).search(query, "parent-child",
                                                                     top_k=20)  # fmt: skip
    (fragment,) = ReferenceStore.open(store.path).fragments
    path = index_path(fragment.path)
    original = path.read_bytes()
    for damage in ("remove", "truncate"):
        if damage == "remove":
            path.unlink()
        else:
            path.write_bytes(original[: len(original) // 2])
        again = Searcher(ReferenceStore.open(store.path), TABLE).search(query, "parent-child",
                                                                        top_k=20)  # fmt: skip
        assert [(h.reference_id, h.lr) for h in again.hits] == [
            (h.reference_id, h.lr) for h in before.hits
        ]
        assert again.candidates == "bitmap index"
        assert path.read_bytes() == original


def test_a_bound_the_index_does_not_serve_falls_back_to_the_plain_scan(
    world: dict[str, object],
) -> None:
    store = world["store"]
    assert isinstance(store, ReferenceStore)
    sim = Families(TABLE, LOCI, seed=6)
    query = Profile("U", sim.founder_genotypes(), role="unknown-origin")
    served, past = (Searcher(store, TABLE, max_inconsistent=k) for k in (7, 8))
    assert served.search(query, "parent-child", top_k=5).candidates == "bitmap index"
    assert past.search(query, "parent-child", top_k=5).candidates == "plain scan"
    assert past.search(query, "full-siblings", top_k=5).candidates is None  # no bound there

"""Searcher: kernel LRs equal the core on random stores; who meets whom; ranking and ties."""

import math
import random
import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kinmatch import (
    AlleleFrequencies,
    MutationModel,
    MutationRates,
    Profile,
    kinship_lr,
    load_frequencies,
    read_profiles,
)
from kinmatch.hits import Hit
from kinmatch.likelihood import KinshipResult
from kinmatch.search import SEARCHABLE, Searcher, results_to_arrow
from kinmatch.search.ranking import select_ranked
from kinmatch.store import ReferenceStore

ROOT = Path(__file__).parent.parent
EXAMPLES = ROOT / "fixtures" / "examples" / "profiles.csv"
CHINA = ROOT / "fixtures" / "freq_China_GBT37223.csv"

LOCI = {"D8S1179": ["10", "11", "12", "13"], "TH01": ["6", "7", "9.3"], "vWA": ["14", "15"]}
ROLES = ["father", "mother", "parent", "sibling", "other", "unknown-origin", None]
MODELS = [
    MutationModel(),
    MutationModel("equal", MutationRates.uniform(0.01, paternal=0.02, maternal=0.005)),
    MutationModel("stepwise", MutationRates.uniform(0.01, paternal=0.02, maternal=0.005),
                  rate2=0.001, range=0.5),
    MutationModel("proportional", MutationRates.uniform(0.01)),
]  # fmt: skip


def assert_details_equal_core(hit: Hit, core: KinshipResult) -> None:
    """A hit's details from the tables equal the core's breakdown: the same loci, compared and
    inconsistent loci, consistency, rare alleles and verdict; per-locus LRs to 1e-9."""
    details = hit.details
    assert list(details.loci) == list(core.loci)
    assert details.loci_compared == core.loci_compared
    assert details.inconsistent_loci == core.inconsistent_loci
    assert details.min_frequency_used == core.min_frequency_used
    for name, locus in details.loci.items():
        assert locus.compared == core.loci[name].compared, name
        assert locus.consistent == core.loci[name].consistent, name
        assert locus.one_sided == core.loci[name].one_sided, name
        assert locus.lr == pytest.approx(core.loci[name].lr, rel=1e-9, abs=0), name
    assert details.verdict == core.verdict


@st.composite
def profiles(draw: st.DrawFn, sample_id: str) -> Profile:
    genotypes = {}
    for locus, alleles in LOCI.items():
        if genotypes and draw(st.integers(0, 4)) == 0:
            continue  # untyped locus (a stored profile has at least one typed locus)
        pool = [*alleles, "8"]  # "8" is in no frequency table: a rare allele
        pair = sorted(draw(st.lists(st.sampled_from(pool), min_size=2, max_size=2)), key=float)
        genotypes[locus] = (pair[0], pair[1])
    return Profile(sample_id, genotypes, role=draw(st.sampled_from(ROLES)),
                   sex=draw(st.sampled_from(["M", "F", None])))  # fmt: skip


@st.composite
def tables(draw: st.DrawFn) -> AlleleFrequencies:
    table = {}
    for locus, alleles in LOCI.items():
        if locus == "vWA" and draw(st.booleans()):
            continue  # a stored locus the table lacks: never compared
        weights = [draw(st.integers(1, 9)) for _ in alleles]
        table[locus] = {a: w / sum(weights) for a, w in zip(alleles, weights, strict=True)}
    return AlleleFrequencies.from_dict(table)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from([r for r in SEARCHABLE if r != "parents-child"]),
    st.sampled_from(MODELS),
    st.sampled_from([0.0, 0.02]),
    tables(),
    st.data(),
)
def test_kernel_lr_equals_core_on_random_stores(
    relationship: str,
    model: MutationModel,
    theta: float,
    frequencies: AlleleFrequencies,
    data: st.DataObject,
) -> None:
    n = data.draw(st.integers(2, 12))
    stored = [data.draw(profiles(f"R{i:02d}")) for i in range(n)]
    query = data.draw(profiles("Q"))
    with tempfile.TemporaryDirectory() as tmp:
        store = ReferenceStore.create(tmp)
        half = n // 2
        store.ingest(stored[:half])
        store.ingest(stored[half:])  # two fragments, the dictionaries grow in between
        searcher = Searcher(store, frequencies, theta=theta, mutation=model,
                            max_inconsistent=None)  # fmt: skip
        result = searcher.search(query, relationship, top_k=n, search_all=True)
        indexed = Searcher(store, frequencies, theta=theta, mutation=model, max_inconsistent=1)
        filtered = indexed.search(query, relationship, top_k=n, search_all=True)
    assert result.n_scored == n and len(result.hits) == n
    young = query.role in (None, "unknown-origin")
    by_id = {p.sample_id: p for p in stored}
    for hit in result.hits:
        reference = by_id[hit.reference_id]
        if relationship == "parent-child":
            roles = {"child": query, "parent": reference} if young else \
                {"child": reference, "parent": query}  # fmt: skip
        else:
            roles = {"person2": query, "person1": reference} if young else \
                {"person1": query, "person2": reference}  # fmt: skip
        core = kinship_lr(relationship, roles, frequencies, theta=theta, mutation=model)
        assert hit.lr == pytest.approx(core.lr, rel=1e-9, abs=0)  # LR 0 stays exactly 0
        assert hit.n_inconsistent == len(core.inconsistent_loci)
        assert hit.loci_compared == len(core.loci_compared)
        assert hit.breakdown.lr == core.lr
        assert_details_equal_core(hit, core)
    logs = [h.log10_lr if h.log10_lr is not None else -math.inf for h in result.hits]
    assert logs == sorted(logs, reverse=True)
    # the candidate filter (parentage only) keeps every reference within the bound, same LRs
    full = {h.reference_id: h for h in result.hits}
    kept = {h.reference_id: h for h in filtered.hits}
    if relationship == "parent-child":
        assert filtered.n_candidates is not None and filtered.n_candidates <= n
        assert {r for r, h in full.items() if h.n_inconsistent <= 1} <= set(kept)
        assert all(kept[r].lr == full[r].lr for r in kept)
    else:
        assert filtered.n_candidates is None and kept.keys() == full.keys()


@pytest.fixture(scope="module")
def example_store(tmp_path_factory: pytest.TempPathFactory) -> ReferenceStore:
    store = ReferenceStore.create(tmp_path_factory.mktemp("store"))
    store.ingest_csv([EXAMPLES])
    return store


def test_who_meets_whom(example_store: ReferenceStore) -> None:
    searcher = Searcher(example_store, load_frequencies(CHINA), max_inconsistent=None)
    profiles = read_profiles(EXAMPLES)
    child = searcher.search(profiles["U01"], "parent-child", top_k=100)
    assert {h.reference_id for h in child.hits} == {"K01-F", "K01-M", "K02-F", "P03"}
    assert [h.reference_id for h in child.hits[:2]] == ["K01-M", "K01-F"]
    assert child.hits[0].verdict == "support" and child.hits[0].rank == 1
    father = searcher.search(profiles["K01-F"], "parent-child", top_k=100)
    assert {h.reference_id for h in father.hits} == {"U01", "U02", "U04"}
    sibling = searcher.search(profiles["K04-SIB"], "full-siblings", top_k=1)
    assert [h.reference_id for h in sibling.hits] == ["U04"]
    everyone = searcher.search(profiles["U01"], "parent-child", top_k=100, search_all=True)
    assert everyone.n_scored == len(profiles) - 1  # all but the query itself
    indexed = Searcher(example_store, load_frequencies(CHINA))  # the filter, k = 2
    child = indexed.search(profiles["U01"], "parent-child", top_k=100)
    assert child.n_scored == 4 and child.n_candidates == 2
    assert {h.reference_id for h in child.hits} == {"K01-F", "K01-M"}


def test_threshold_and_top_k(example_store: ReferenceStore) -> None:
    searcher = Searcher(example_store, load_frequencies(CHINA))
    query = read_profiles(EXAMPLES)["U01"]
    above = searcher.search(query, "parent-child", top_k=None, min_lr=1e4)
    assert [h.reference_id for h in above.hits] == ["K01-M", "K01-F"]
    both = searcher.search(query, "parent-child", top_k=1, min_lr=1e4)
    assert [h.reference_id for h in both.hits] == ["K01-M"]
    assert both.n_above_threshold == above.n_above_threshold == 2  # counted before the cut
    none = searcher.search(query, "parent-child", top_k=5, min_lr=1e30)
    assert none.hits == () and none.n_above_threshold == 0
    assert searcher.search(query, "parent-child", top_k=5).n_above_threshold is None
    everyone = searcher.search(query, "parent-child", top_k=1, min_lr=0)
    # LR 0 counts at min_lr 0; references the candidate filter set aside do not
    assert everyone.n_above_threshold == everyone.n_candidates == 2


def test_ties_are_broken_by_sample_id(tmp_path: Path) -> None:
    store = ReferenceStore.create(tmp_path)
    twins = [Profile(sid, {"vWA": ("14", "15")}, role="father") for sid in ("Z9", "A1", "M5")]
    store.ingest(twins[:1])
    store.ingest(twins[1:])
    searcher = Searcher(store, AlleleFrequencies.from_dict({"vWA": {"14": 0.5, "15": 0.5}}))
    query = Profile("C", {"vWA": ("14", "14")}, role="unknown-origin")
    result = searcher.search(query, "parent-child", top_k=2)
    assert [h.reference_id for h in result.hits] == ["A1", "M5"]
    assert [h.rank for h in result.hits] == [1, 2]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(MODELS), st.sampled_from([0.0, 0.03]), tables(), st.data())
def test_couple_kernel_equals_core_on_random_stores(
    model: MutationModel, theta: float, frequencies: AlleleFrequencies, data: st.DataObject
) -> None:
    n_cases = data.draw(st.integers(1, 6))
    stored = []
    for case in range(n_cases):
        for role in ("father", "mother"):
            profile = data.draw(profiles(f"{role[0].upper()}{case}"))
            stored.append(
                Profile(
                    profile.sample_id,
                    profile.genotypes,
                    role=role,
                    case_id=f"K{case}",
                    sex="M" if role == "father" else "F",
                )
            )
    stored.append(Profile("LONE", {"vWA": ("14", "15")}, role="father", case_id="K99"))
    child = data.draw(profiles("Q"))
    child = Profile("Q", child.genotypes, role="unknown-origin")
    with tempfile.TemporaryDirectory() as tmp:
        store = ReferenceStore.create(tmp)
        store.ingest(stored[: len(stored) // 2])
        store.ingest(stored[len(stored) // 2 :])  # a father and mother may be in two fragments
        store.ingest([child])
        searcher = Searcher(store, frequencies, theta=theta, mutation=model,
                            max_inconsistent=None)  # fmt: skip
        result = searcher.search(child, "parents-child", top_k=n_cases)
        filtered = Searcher(
            store, frequencies, theta=theta, mutation=model, max_inconsistent=1
        ).search(child, "parents-child", top_k=n_cases)
        full = {(h.father_id, h.mother_id): h for h in result.hits}
        kept = {(h.father_id, h.mother_id): h for h in filtered.hits}
        assert {k for k, h in full.items() if h.n_inconsistent <= 1} <= set(kept)
        assert all(kept[k].lr == full[k].lr for k in kept)
        by_id = {p.sample_id: p for p in stored}
        assert result.n_scored == n_cases  # the lone father is no couple
        for hit in result.hits:
            roles = {"child": child, "father": by_id[hit.father_id], "mother": by_id[hit.mother_id]}
            core = kinship_lr("parents-child", roles, frequencies, theta=theta, mutation=model)
            assert hit.reference_id == hit.case_id == by_id[hit.father_id].case_id
            assert hit.lr == pytest.approx(core.lr, rel=1e-9, abs=0)
            assert hit.n_inconsistent == len(core.inconsistent_loci)
            assert hit.loci_compared == len(core.loci_compared)
            assert_details_equal_core(hit, core)

        father, mother = by_id["F0"], by_id["M0"]
        reverse = searcher.search_couple(father, mother, top_k=100, search_all=True)
        kept_children = Searcher(
            store, frequencies, theta=theta, mutation=model, max_inconsistent=1
        ).search_couple(father, mother, top_k=100, search_all=True)
        all_children = {h.reference_id: h for h in reverse.hits}
        assert {r for r, h in all_children.items() if h.n_inconsistent <= 1} <= {
            h.reference_id for h in kept_children.hits
        }
        assert all(h.lr == all_children[h.reference_id].lr for h in kept_children.hits)
        assert reverse.query_id == "K0" and reverse.n_scored == len(stored) - 2 + 1
        everyone = {**by_id, "Q": child}
        for hit in reverse.hits:
            roles = {"child": everyone[hit.reference_id], "father": father, "mother": mother}
            core = kinship_lr("parents-child", roles, frequencies, theta=theta, mutation=model)
            assert hit.lr == pytest.approx(core.lr, rel=1e-9, abs=0)
            assert_details_equal_core(hit, core)


def test_batch_progress_and_arrow_table(example_store: ReferenceStore) -> None:
    searcher = Searcher(example_store, load_frequencies(CHINA))
    profiles = read_profiles(EXAMPLES)
    seen: list[tuple[int, int]] = []
    queries = [profiles["U01"], profiles["U02"], profiles["U04"]]
    results = searcher.search_batch(
        queries, "parent-child", top_k=2, progress=lambda done, total: seen.append((done, total))
    )
    assert seen == [(1, 3), (2, 3), (3, 3)]
    table = results_to_arrow(results)
    assert table.num_rows == sum(len(r.hits) for r in results)
    assert table.column("query_id").to_pylist()[:2] == ["U01", "U01"]
    assert table.column("reference_id").to_pylist()[:2] == ["K01-M", "K01-F"]
    assert table.schema.field("inconsistent_loci").type == pa.list_(pa.string())
    assert results[0].to_arrow().num_rows == len(results[0].hits)


def test_ties_at_lr_zero_are_ordered_by_id(tmp_path: Path) -> None:
    store = ReferenceStore.create(tmp_path)
    ids = ["P9", "X3", "X1", "X7", "X2", "P1"]
    store.ingest([Profile(sid, {"vWA": ("14", "15") if sid.startswith("P") else ("16", "17")},
                          role="father") for sid in ids])  # fmt: skip
    frequencies = AlleleFrequencies.from_dict({"vWA": {"14": 0.3, "15": 0.3, "16": 0.2, "17": 0.2}})
    searcher = Searcher(store, frequencies, max_inconsistent=None)
    query = Profile("C", {"vWA": ("14", "14")}, role="unknown-origin")
    result = searcher.search(query, "parent-child", top_k=4)
    assert [h.reference_id for h in result.hits] == ["P1", "P9", "X1", "X2"]
    assert [h.lr for h in result.hits][2:] == [0.0, 0.0]


@pytest.mark.parametrize("relationship", ["parent-child", "full-siblings", "parents-child"])
def test_batches_equal_single_searches(example_store: ReferenceStore, relationship: str) -> None:
    frequencies = load_frequencies(CHINA)
    profiles = read_profiles(EXAMPLES)
    young = [p for p in profiles.values() if p.role == "unknown-origin"]
    queries = young + ([] if relationship == "parents-child" else [profiles["K01-F"]])
    batched = Searcher(example_store, frequencies, batch_size=3).search_batch(
        queries, relationship, top_k=4
    )
    single = Searcher(example_store, frequencies, batch_size=1)
    for query, result in zip(queries, batched, strict=True):
        alone = single.search(query, relationship, top_k=4)
        assert [(h.reference_id, h.lr) for h in result.hits] == [
            (h.reference_id, h.lr) for h in alone.hits
        ]
        assert (result.n_scored, result.n_candidates) == (alone.n_scored, alone.n_candidates)


def test_batch_records_per_query_errors(example_store: ReferenceStore) -> None:
    onestep = MutationModel("onestep", MutationRates.uniform(0.002))  # TH01 has 9.3
    searcher = Searcher(example_store, load_frequencies(CHINA), mutation=onestep)
    profiles = read_profiles(EXAMPLES)
    results = searcher.search_batch([profiles["U01"], profiles["U02"]], "parent-child")
    assert all(r.error and "onestep" in r.error and not r.hits for r in results)


def test_hits_carry_database_size_aware_evidence(example_store: ReferenceStore) -> None:
    searcher = Searcher(example_store, load_frequencies(CHINA))
    child = read_profiles(EXAMPLES)["U01"]
    for relationship in ("parent-child", "parents-child"):
        result = searcher.search(child, relationship, top_k=3)
        evidence = searcher.evidence(result)
        assert [e.reference_id for e in evidence] == [h.reference_id for h in result.hits]
        for hit, e in zip(result.hits, evidence, strict=True):
            assert e.n_searched == result.n_scored and 0 <= e.p_unrelated <= 1
            assert math.isclose(e.expected_unrelated, e.n_searched * e.p_unrelated)
            lower, upper = e.p_unrelated_bounds
            assert lower <= e.p_unrelated <= upper
            if lower >= 1e-12:  # the certified range: within 1% either side
                assert upper <= lower * 1.02
            assert e.verdict == hit.verdict  # a handful of references: no caution
        strict = searcher.evidence(result, bound=0.0)  # any expectation at all: caution
        assert [e.verdict for e in strict] == [
            "support-database-caution" if h.verdict == "support" else h.verdict for h in result.hits
        ]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.sampled_from([math.nan, -math.inf, -2.0, 0.0, 1.5, 4.0, 7.25]), max_size=40),
    st.one_of(st.none(), st.integers(1, 8)),
    st.sampled_from([None, 0.0, 1.0, 1e4]),
    st.randoms(use_true_random=False),
)
def test_selection_equals_a_full_sort(
    values: list[float], top_k: int | None, min_lr: float | None, rng: random.Random
) -> None:
    """select_ranked (one pass, then a partition of the scores above the threshold) equals
    sorting every score by (-log10 LR, ID) and cutting at top_k; the count is before the cut."""
    log10 = np.array(values, dtype=np.float64)
    names = [f"S{i:03d}" for i in range(len(values))]
    rng.shuffle(names)  # IDs in no particular order: ties are broken by them, not by position

    def ids(positions: np.ndarray) -> pa.Array:
        return pa.array([names[int(p)] for p in positions], pa.string())

    threshold = -math.inf if not min_lr else math.log10(min_lr)
    eligible = [i for i, v in enumerate(values) if not math.isnan(v) and v >= threshold]
    expected = sorted(eligible, key=lambda i: (-values[i], names[i]))[:top_k]
    assert select_ranked(log10, ids, top_k, min_lr) == (expected, len(eligible))

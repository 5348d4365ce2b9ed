"""Intake through the comparison ledger: every pair of opposite kinds compared exactly once,
whatever the order of the batches, and the hits of the whole store's search."""

from __future__ import annotations

import dataclasses
import fcntl
import itertools
import multiprocessing
import random
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kinmatch import load_frequencies
from kinmatch.campaign import CampaignError, read_campaign, run_campaign
from kinmatch.intake import IntakeSettings, compare_version, run_outstanding
from kinmatch.ledger import Ledger
from kinmatch.loci import CODIS_20
from kinmatch.profiles import Profile
from kinmatch.store import ReferenceStore
from kinmatch.synth import Simulator, missing_children_database

ROOT = Path(__file__).parent.parent
CHINA_PATH = ROOT / "fixtures" / "freq_China_GBT37223.csv"
CHINA = load_frequencies(CHINA_PATH)
LOCI = list(CODIS_20[:12])
SETTINGS = IntakeSettings(CHINA, "sha", relationships=("parent-child", "parents-child"),
                          min_lr=1.0)  # fmt: skip
PROFILES = missing_children_database(Simulator(CHINA, LOCI, seed=11), 40, 12).references
ROLES = {p.sample_id: p.role for p in PROFILES}


def pair(item: dict[str, Any]) -> tuple[str, tuple[str, ...], str]:
    """A hit as the unordered pair it compares: (person of unknown origin, relatives, kind)."""
    everyone = {item["query_id"], *item["reference_ids"], item["father_id"], item["mother_id"]}
    (young,) = (i for i in everyone if ROLES.get(i) == "unknown-origin")
    relatives = sorted(i for i in everyone if i in ROLES and i != young)
    return young, tuple(relatives), item["relationship"]


def whole_store_pairs(store: ReferenceStore) -> dict[tuple[str, tuple[str, ...], str], float]:
    """Every unknown-origin profile searched against the final store (no top_k)."""
    searcher = SETTINGS.searcher(store)
    young = [p for p in store.profiles() if p.role in (None, "unknown-origin")]
    found = {}
    for relationship in SETTINGS.relationships:
        for result in searcher.search_batch(young, relationship, top_k=None, min_lr=1.0):
            for hit in result.hits:
                refs = tuple(sorted(i for i in (hit.father_id, hit.mother_id) if i)) or (
                    hit.reference_id,)  # fmt: skip
                found[(hit.query_id, refs, relationship)] = hit.lr
    return found


def ingest_in_batches(path: Path, profiles: list[Profile], cuts: list[int]) -> ReferenceStore:
    store = ReferenceStore.create(path)
    bounds = [0, *sorted(set(cuts)), len(profiles)]
    for start, end in itertools.pairwise(bounds):
        if end > start:
            store.ingest(profiles[start:end])
    return store


@settings(max_examples=8, deadline=None)
@given(st.permutations(range(len(PROFILES))), st.lists(st.integers(1, len(PROFILES) - 1),
                                                      max_size=5))  # fmt: skip
def test_every_pair_once_whatever_the_batches(
    tmp_path_factory: pytest.TempPathFactory, order: list[int], cuts: list[int]
) -> None:
    """Profiles entered in random order and batches: the ledger's units together find each
    pair of the whole store's search exactly once, with its LR (1e-9)."""
    path = tmp_path_factory.mktemp("store")
    store = ingest_in_batches(path, [PROFILES[i] for i in order], cuts)
    summary = run_outstanding(store, SETTINGS)
    items = [item for result in summary.compared for item in result.items]
    pairs = [pair(item) for item in items]
    assert len(pairs) == len(set(pairs))  # exactly once
    expected = whole_store_pairs(store)
    assert set(pairs) == set(expected)
    for item in items:
        assert item["lr"] == pytest.approx(expected[pair(item)], rel=1e-9)
    again = run_outstanding(store, SETTINGS)  # nothing outstanding: nothing compared again
    assert again.compared == ()


def test_a_couple_completed_by_a_later_batch_is_a_new_couple(tmp_path: Path) -> None:
    """The father in version 1 with the child, the mother in version 2: the couple forms in
    version 2 and meets the child there, besides the father's duo of version 1."""
    by_id = {p.sample_id: p for p in PROFILES}
    store = ReferenceStore.create(tmp_path)
    store.ingest([by_id["C0"], by_id["F0"]])
    store.ingest([by_id["M0"]])
    first = compare_version(store, 1, SETTINGS)
    second = compare_version(store, 2, SETTINGS)
    assert {pair(i) for i in first.items} == {("C0", ("F0",), "parent-child")}
    assert {pair(i) for i in second.items} == {("C0", ("M0",), "parent-child"),
                                               ("C0", ("F0", "M0"), "parents-child")}  # fmt: skip
    assert all(i["store_version"] == "2" for i in second.items)


def test_new_parameters_leave_every_version_pending(tmp_path: Path) -> None:
    store = ingest_in_batches(tmp_path, PROFILES, [10, 20])
    run_outstanding(store, SETTINGS)
    other = IntakeSettings(CHINA, "sha", relationships=SETTINGS.relationships, min_lr=2.0)
    with Ledger(tmp_path) as ledger:
        keys = {SETTINGS.comparison(SETTINGS.searcher(store).parameters).key,
                other.comparison(other.searcher(store).parameters).key}  # fmt: skip
        assert len(keys) == 2
        pending = {key: ledger.outstanding(key, store.generation) for key in keys}
    assert sorted(len(v) for v in pending.values()) == [0, 3]
    assert len(run_outstanding(store, other).compared) == 3


def _enter(path: str, sample_ids: list[str], seed: int) -> None:
    """One laboratory's intake: a batch entered, then everything outstanding compared."""
    rng = random.Random(seed)
    time.sleep(rng.uniform(0, 0.05))
    store = ReferenceStore.open_or_create(path)
    by_id = {p.sample_id: p for p in PROFILES}
    store.ingest([by_id[i] for i in sample_ids])
    time.sleep(rng.uniform(0, 0.05))
    run_outstanding(store, SETTINGS)


def test_two_concurrent_intakes_compare_their_cross_pair_exactly_once(tmp_path: Path) -> None:
    """A child entered by one process and its mother by another at the same time (separate
    processes, random timing, 20 times): the pair is found exactly once."""
    context = multiprocessing.get_context("forkserver")  # not fork: the kernels' OpenMP
    context.set_forkserver_preload(["kinmatch.intake", "test_intake"])
    for repetition in range(20):
        path = tmp_path / f"store{repetition}"
        ReferenceStore.create(path)
        workers = [context.Process(target=_enter, args=(str(path), ids, repetition * 2 + k))
                   for k, ids in enumerate((["C0", "U6"], ["M0", "U8"]))]  # fmt: skip
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=120)
            assert worker.exitcode == 0
        with Ledger(path) as ledger:
            (key,) = ledger.comparisons()
            items = [item for version in (1, 2) for item in ledger.items(key, version)]
        assert [pair(item) for item in items].count(("C0", ("M0",), "parent-child")) == 1


def test_a_campaign_is_the_search_of_every_person_of_unknown_origin(tmp_path: Path) -> None:
    """Its parts hold exactly the hits of searching every person of unknown origin against
    the whole store (no top_k), LRs bit for bit; run again it computes nothing; with other
    parameters in the same directory it refuses; and it records the versions it covered."""
    store = ingest_in_batches(tmp_path / "store", PROFILES, [13, 29])
    summary = run_campaign(store, SETTINGS, tmp_path / "out", part_size=4)
    table = read_campaign(tmp_path / "out")
    columns = ("query_id", "reference_id", "relationship", "lr")
    got = sorted(zip(*(table[c].to_pylist() for c in columns), strict=True))
    searcher = SETTINGS.searcher(store)
    young = [p for p in store.profiles() if p.role == "unknown-origin"]
    expected = sorted((hit.query_id, hit.reference_id, rel, hit.lr)
                      for rel in SETTINGS.relationships
                      for result in searcher.search_batch(young, rel, top_k=None, min_lr=1.0)
                      for hit in result.hits)  # fmt: skip
    assert got == expected and summary.hits == len(expected) > 0
    assert summary.parts == -(-len(young) // 4) and summary.version == 3
    again = run_campaign(store, SETTINGS, tmp_path / "out", part_size=4)
    assert (again.pairs, again.parts_done_before, again.hits) == (0, summary.parts, len(expected))
    other = IntakeSettings(CHINA, "sha", relationships=SETTINGS.relationships, min_lr=5.0)
    with pytest.raises(CampaignError, match="other parameters"):
        run_campaign(store, other, tmp_path / "out")
    with Ledger(store.path) as ledger:
        key = SETTINGS.comparison(searcher.parameters).key
        assert ledger.outstanding(key, store.generation) == []
    store.ingest([Profile("late", {"vWA": ("14", "17")}, role="unknown-origin")])
    assert run_outstanding(store, SETTINGS).compared[0].version == 4  # later versions: intake's


def test_a_campaign_removes_what_a_killed_run_was_writing(tmp_path: Path) -> None:
    """A run killed while writing a part or its campaign record leaves an atomic write's
    temporary file; the next run (holding the directory's lock) removes every one."""
    store = ingest_in_batches(tmp_path / "store", PROFILES, [])
    out = tmp_path / "out"
    out.mkdir()
    leftovers = [out / ".campaign.json.x1y2z3.tmp", out / ".part-00000.parquet.a1b2c3.tmp"]
    for leftover in leftovers:
        leftover.write_bytes(b"half")
    run_campaign(store, SETTINGS, out, part_size=4)
    assert not list(out.glob(".*.tmp")) and (out / "campaign.json").exists()


def test_a_second_campaign_on_one_directory_refuses(tmp_path: Path) -> None:
    store = ingest_in_batches(tmp_path / "store", PROFILES, [])
    (tmp_path / "out").mkdir()
    with (tmp_path / "out" / ".campaign.lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # as a running campaign holds it
        with pytest.raises(CampaignError, match="another campaign is running"):
            run_campaign(store, SETTINGS, tmp_path / "out")


def test_a_hit_across_agencies_is_an_item_of_both(tmp_path: Path) -> None:
    """A child entered by A1 and its father registered by A2: the review item belongs to
    both agencies (the queue then shows it to each, tests/test_queue_cross_agency.py)."""
    by_id = {p.sample_id: p for p in PROFILES}
    store = ReferenceStore.create(tmp_path)
    store.ingest([dataclasses.replace(by_id["C0"], agency="A1")])
    store.ingest([dataclasses.replace(by_id["F0"], agency="A2")])
    (item,) = compare_version(store, 2, SETTINGS).items
    assert pair(item) == ("C0", ("F0",), "parent-child") and list(item["agencies"]) == ["A1", "A2"]

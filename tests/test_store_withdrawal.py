"""Withdrawn profiles in the store: tombstones out of every later search, match, intake and
campaign, compaction without them, and the refusal of a withdrawn sample's ID."""

from __future__ import annotations

import csv
import dataclasses
import itertools
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from test_intake import CHINA_PATH, PROFILES, SETTINGS, whole_store_pairs

from kinmatch.campaign import read_campaign, run_campaign
from kinmatch.cli import main
from kinmatch.errors import KinmatchError
from kinmatch.fragments import FRAGMENTS, MANIFEST, WITHDRAWN, UnknownSampleError
from kinmatch.intake import run_outstanding
from kinmatch.queue import NewItem
from kinmatch.store import IngestError, ReferenceStore, StoreError

IDS = [p.sample_id for p in PROFILES]
PARENTS = [p.sample_id for p in PROFILES if p.role in ("father", "mother")]
YOUNG = [p.sample_id for p in PROFILES if p.role == "unknown-origin"]


def persons(pair: tuple[str, tuple[str, ...], str]) -> set[str]:
    return {pair[0], *pair[1]}


def without(path: Path, withdrawn: set[str]) -> ReferenceStore:
    """The plain twin: a store that never held the withdrawn profiles."""
    store = ReferenceStore.create(path)
    store.ingest([p for p in PROFILES if p.sample_id not in withdrawn])
    return store


def test_a_tombstone_is_a_new_version_and_the_same_withdrawal_again_changes_nothing(
    tmp_path: Path,
) -> None:
    store = ReferenceStore.create(tmp_path / "s")
    store.ingest(PROFILES)
    before = store.generation
    tombstone = store.withdraw(PARENTS[0], "w-1", "consent-withdrawn", erase=True)
    assert tombstone.generation == store.generation == before + 1
    assert store.withdraw(PARENTS[0], "w-1", "consent-withdrawn") == tombstone
    assert store.generation == before + 1
    reopened = ReferenceStore.open(tmp_path / "s")
    assert reopened.manifest.withdrawn == (tombstone,)
    assert PARENTS[0] not in {p.sample_id for p in reopened.profiles()}
    assert reopened.stored([PARENTS[0]]) == set() and reopened.find(PARENTS[0]) is None
    assert len(list(reopened.profiles())) == len(PROFILES) - 1
    # a reader that does not know tombstones refuses the manifest rather than ignore them
    assert '"format": 2' in (tmp_path / "s" / MANIFEST).read_text()


def test_withdrawing_an_unknown_sample_or_reusing_a_withdrawal_id_is_refused(
    tmp_path: Path,
) -> None:
    store = ReferenceStore.create(tmp_path / "s")
    store.ingest(PROFILES)
    with pytest.raises(UnknownSampleError, match="no sample 'nobody'"):
        store.withdraw("nobody", "w-1", "other")
    store.withdraw(PARENTS[0], "w-1", "other")
    with pytest.raises(UnknownSampleError):
        store.withdraw(PARENTS[0], "w-2", "other")  # withdrawn already
    with pytest.raises(StoreError, match="another sample"):
        store.withdraw(PARENTS[1], "w-1", "other")
    assert len(store.manifest.withdrawn) == 1


@settings(max_examples=6, deadline=None)
@given(st.sets(st.sampled_from(IDS), min_size=1, max_size=8), st.booleans())
def test_a_search_never_returns_a_withdrawn_profile(
    tmp_path_factory: pytest.TempPathFactory, withdrawn: set[str], compact: bool
) -> None:
    """Every remaining person of unknown origin searched (parent-child, parents-child): the
    hits and LRs (1e-9) of a store that never held the withdrawn profiles, compacted or not."""
    root = tmp_path_factory.mktemp("search")
    store = ReferenceStore.create(root / "s")
    store.ingest(PROFILES)
    for n, sample in enumerate(sorted(withdrawn)):
        store.withdraw(sample, f"w-{n}", "sampling-error")
    if compact:
        assert store.compact().removed == len(withdrawn)
    found = whole_store_pairs(store)
    expected = whole_store_pairs(without(root / "twin", withdrawn))
    assert found.keys() == expected.keys() and expected
    for pair, lr in expected.items():
        assert found[pair] == pytest.approx(lr, rel=1e-9)
    assert not any(persons(pair) & withdrawn for pair in found)


@settings(max_examples=6, deadline=None)
@given(
    st.permutations(range(len(PROFILES))),
    st.lists(st.integers(1, len(PROFILES) - 1), max_size=4),
    st.sets(st.sampled_from(IDS), min_size=1, max_size=6),
    st.integers(0, 4),
    st.booleans(),
)
def test_intake_compares_every_remaining_pair_once_and_none_of_the_withdrawn(
    tmp_path_factory: pytest.TempPathFactory,
    order: list[int],
    cuts: list[int],
    withdrawn: set[str],
    when: int,
    compact: bool,
) -> None:
    """Batches in random order, a first intake run after ``when`` of them, withdrawals (and a
    compaction), the rest and a second run: what the two runs push is each pair of the twin
    store once, with its LR (1e-9), plus what the first run pushed before the withdrawal, and
    nothing of a withdrawn profile is pushed after it: the ledger stays valid."""
    root = tmp_path_factory.mktemp("intake")
    profiles = [PROFILES[i] for i in order]
    bounds = [0, *sorted(set(cuts)), len(profiles)]
    batches = [profiles[a:b] for a, b in itertools.pairwise(bounds) if b > a]
    store = ReferenceStore.create(root / "s")
    pushed: list[list[NewItem]] = []

    def push(items: list[NewItem]) -> tuple[int, int]:
        pushed[-1].extend(items)
        return len(items), 0

    stored: set[str] = set()
    first = min(when, len(batches))
    for batch in batches[:first]:
        store.ingest(batch)
        stored |= {p.sample_id for p in batch}
    pushed.append([])
    run_outstanding(store, SETTINGS, push)
    gone = withdrawn & stored
    for n, sample in enumerate(sorted(gone)):
        store.withdraw(sample, f"w-{n}", "case-closed")
    if compact:
        store.compact()
    for batch in batches[first:]:
        store.ingest([p for p in batch if p.sample_id not in withdrawn])
    pushed.append([])
    run_outstanding(store, SETTINGS, push)
    assert not any({i.query_id, *i.reference_ids, i.father_id, i.mother_id} & gone
               for i in pushed[1])  # fmt: skip
    expected = whole_store_pairs(without(root / "twin", gone | (withdrawn - stored)))
    found = {}
    for item in pushed[0] + pushed[1]:
        key = _pair(item)
        if persons(key) & gone:
            continue  # compared before the withdrawal: the review queue withdraws it
        assert key not in found, f"compared twice: {key}"
        found[key] = item.lr
    assert found.keys() == expected.keys()
    for key, lr in expected.items():
        assert found[key] == pytest.approx(lr, rel=1e-9)


def _pair(item: NewItem) -> tuple[str, tuple[str, ...], str]:
    everyone = {item.query_id, *item.reference_ids, item.father_id, item.mother_id} - {None}
    roles = {p.sample_id: p.role for p in PROFILES}
    (young,) = (i for i in everyone if roles.get(str(i)) == "unknown-origin")
    relatives = sorted(str(i) for i in everyone if str(i) in roles and i != young)
    return str(young), tuple(relatives), item.relationship


def test_a_campaign_leaves_out_the_withdrawn(tmp_path: Path) -> None:
    withdrawn = {YOUNG[0], YOUNG[1], PARENTS[0], PARENTS[3]}
    store = ReferenceStore.create(tmp_path / "s")
    store.ingest(PROFILES)
    for n, sample in enumerate(sorted(withdrawn)):
        store.withdraw(sample, f"w-{n}", "sampling-error")
    summary = run_campaign(store, SETTINGS, tmp_path / "campaign", part_size=7)
    assert summary.persons == len(YOUNG) - 2
    table = read_campaign(tmp_path / "campaign")
    named = set(table["query_id"].to_pylist()) | set(table["reference_id"].to_pylist())
    assert named and not named & withdrawn
    twin = without(tmp_path / "twin", withdrawn)
    assert summary.hits == sum(
        len(r.hits)
        for rel in SETTINGS.relationships
        for r in SETTINGS.searcher(twin).search_batch(
            [p for p in twin.profiles() if p.role == "unknown-origin"], rel, top_k=None,
            min_lr=SETTINGS.min_lr)
    )  # fmt: skip


def test_kinmatch_match_never_reports_a_withdrawn_reference(tmp_path: Path) -> None:
    store = ReferenceStore.create(tmp_path / "s")
    store.ingest(PROFILES)
    queries = tmp_path / "young.csv"
    young = [p for p in PROFILES if p.role == "unknown-origin"]
    with queries.open("w", newline="") as handle:
        writer = csv.writer(handle)
        loci = sorted({locus for p in young for locus in p.genotypes})
        writer.writerow(["sample_id", "role", *loci])
        for p in young:
            writer.writerow([p.sample_id, p.role, *("/".join(p.genotypes[locus])
                                                    if locus in p.genotypes else ""
                                                    for locus in loci)])  # fmt: skip

    def references() -> set[str]:
        out = tmp_path / "hits.csv"
        result = CliRunner().invoke(main, ["match", "--store", str(tmp_path / "s"),
                                           "--frequencies", str(CHINA_PATH), "--queries",
                                           str(queries), "--relationship", "parent-child",
                                           "--top-k", "1000", "--out", str(out)])  # fmt: skip
        assert result.exit_code == 0, result.output
        with out.open() as handle:
            return {row["reference_id"] for row in csv.DictReader(handle)}

    found = references()
    assert len(found & set(PARENTS)) >= 2
    gone = sorted(found & set(PARENTS))[:2]
    for n, sample in enumerate(gone):
        store.withdraw(sample, f"w-{n}", "consent-withdrawn")
    assert found - set(gone) == references()


def test_compaction_drops_the_withdrawn_rows_and_keeps_every_other_byte(tmp_path: Path) -> None:
    """Three batches; three samples withdrawn, one of them a batch of its own. After the
    compaction no fragment file holds the withdrawn IDs, every other profile reads the same
    codes and metadata, fragments keep their versions, and version views keep their meaning."""
    store = ReferenceStore.create(tmp_path / "s")
    canary = dataclasses.replace(PROFILES[3], sample_id="zz-canary-erased-3")
    lone = PROFILES[-1]
    store.ingest([*PROFILES[:3], canary, *PROFILES[4:20]])
    store.ingest(PROFILES[20:-1])
    store.ingest([lone])
    withdrawn = {canary.sample_id, PROFILES[25].sample_id, lone.sample_id}
    for n, sample in enumerate(sorted(withdrawn)):
        store.withdraw(sample, f"w-{n}", "consent-withdrawn", erase=True)
    views = {v: {p.sample_id: p for p in store.as_of(v).profiles()} for v in (1, 2, 3)}
    rows = _rows(store)
    old_files = {p.name for p in (tmp_path / "s" / FRAGMENTS).iterdir()}
    generation = store.generation
    result = store.compact()
    assert (result.removed, result.rewritten, result.generation) == (3, 2, generation + 1)
    assert [f.generation for f in store.manifest.fragments] == [1, 2]
    files = list((tmp_path / "s" / FRAGMENTS).iterdir())
    assert not {p.name for p in files} & old_files
    assert {p.name for p in files} == store.manifest.files() and len(files) == 4
    for path in (tmp_path / "s" / FRAGMENTS).glob("*.arrow"):
        ids = set(pa.ipc.open_file(pa.memory_map(str(path))).read_all()["sample_id"].to_pylist())
        assert ids and not ids & withdrawn
    for path in files:
        assert canary.sample_id.encode() not in path.read_bytes()
    reopened = ReferenceStore.open(tmp_path / "s")
    assert _rows(reopened) == {k: v for k, v in rows.items() if k not in withdrawn}
    assert len(rows) == len(PROFILES) - 3
    for v, view in views.items():
        assert {p.sample_id: p for p in reopened.as_of(v).profiles()} == view
    assert reopened.compact().removed == 0 and reopened.generation == generation + 1


def _rows(store: ReferenceStore) -> dict[str, tuple[object, ...]]:
    """Every live row: its codes, signatures and metadata, as stored."""
    out = {}
    for fragment in store.fragments:
        for row in fragment.live_rows().tolist():
            meta = tuple(fragment.table.column(c)[row].as_py() for c in
                         ("role", "sex", "case_id", "agency", "ingest_time"))  # fmt: skip
            stored = (fragment.codes[row].tobytes(), fragment.signatures[row].tobytes())
            out[str(fragment.sample_ids[row])] = (*stored, fragment.loci,
                                                  fragment.info.generation, meta)  # fmt: skip
    return out


def test_readers_of_the_old_fragments_keep_reading_until_they_reopen(tmp_path: Path) -> None:
    store = ReferenceStore.create(tmp_path / "s")
    store.ingest(PROFILES)
    store.withdraw(PARENTS[0], "w-0", "other")
    mapped = ReferenceStore.open(tmp_path / "s")
    codes = mapped.fragments[0].codes
    before = codes.copy()
    stale = ReferenceStore.open(tmp_path / "s")  # read the manifest, mapped nothing yet
    ReferenceStore.open(tmp_path / "s").compact()
    assert np.array_equal(codes, before)  # the deleted file stays mapped
    assert len(list(mapped.profiles())) == len(PROFILES) - 1
    assert len(list(stale.profiles())) == len(PROFILES) - 1  # read the new manifest
    assert stale.generation == mapped.generation + 1


def test_a_withdrawn_sample_id_is_refused_unless_registered_again_explicitly(
    tmp_path: Path,
) -> None:
    store = ReferenceStore.create(tmp_path / "s")
    store.ingest(PROFILES)
    sample = PARENTS[0]
    profile = next(p for p in PROFILES if p.sample_id == sample)
    store.withdraw(sample, "w-0", "sampling-error")
    csv_path = tmp_path / "again.csv"
    csv_path.write_text(f"sample_id,role,D3S1358\n{sample},father,15/16\n")
    for compact in (False, True):
        with pytest.raises(IngestError) as refused:
            store.ingest([profile], register_again={"another"})
        assert refused.value.errors[0].field == "sample_id"
        assert WITHDRAWN in str(refused.value)
        with pytest.raises(IngestError, match=WITHDRAWN):
            store.ingest_csv([csv_path], rejects=tmp_path / "rejects.csv")
        if compact:
            break
        store.compact()
    report = store.ingest([profile], register_again={sample})
    assert report.added == 1 and store.find(sample) is not None
    pairs = whole_store_pairs(store)
    assert any(sample in persons(pair) for pair in pairs)  # the new profile is searched
    assert pairs == whole_store_pairs(without(tmp_path / "twin", set()))
    with pytest.raises(IngestError, match="already in the store"):
        store.ingest([profile], register_again={sample})
    store.withdraw(sample, "w-1", "sampling-error")  # and it may be withdrawn again
    assert store.find(sample) is None
    assert isinstance(refused.value, KinmatchError)


def test_a_campaign_leaves_out_who_is_withdrawn_while_it_runs(tmp_path: Path) -> None:
    """Withdrawn after the first part: no later part names them (the parts before keep
    what they found, and the queue closes their items)."""
    store = ReferenceStore.create(tmp_path / "s")
    store.ingest(PROFILES)
    gone = set(PARENTS) | set(YOUNG[-3:])
    parts: list[int] = []

    def progress(done: int, persons: int, pairs: int) -> None:
        parts.append(done)
        if len(parts) == 1:
            for n, sample in enumerate(sorted(gone)):
                store.withdraw(sample, f"w-{n}", "case-closed")

    run_campaign(store, SETTINGS, tmp_path / "campaign", part_size=4, progress=progress)
    assert len(parts) > 2
    later = pq.read_table(tmp_path / "campaign" / "part-00001.parquet")
    for path in sorted((tmp_path / "campaign").glob("part-*.parquet"))[1:]:
        table = pq.read_table(path)
        named = set(table["query_id"].to_pylist()) | set(table["reference_id"].to_pylist())
        assert not named & gone
    first = pq.read_table(tmp_path / "campaign" / "part-00000.parquet")
    assert set(first["reference_id"].to_pylist()) & set(PARENTS)  # found before
    assert later.num_rows == 0  # every parent withdrawn: nothing left to find

"""The reference store: round trips, atomic batches, SIGKILL at many points, memory mapping."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from kinmatch import Profile, read_profiles
from kinmatch.store import (
    MISSING,
    SIGNATURES,
    EncodedBatch,
    IngestError,
    ReferenceStore,
    StoreError,
    genotype_alleles,
    genotype_code,
)

ROOT = Path(__file__).parent.parent
EXAMPLES = ROOT / "fixtures" / "examples" / "profiles.csv"
WORKER = Path(__file__).parent / "ingest_worker.py"


def test_genotype_codes_are_a_bijection() -> None:
    seen = set()
    for hi in range(40):
        for lo in range(hi + 1):
            code = genotype_code(lo, hi)
            assert code == genotype_code(hi, lo) and code != MISSING
            assert genotype_alleles(code) == (lo, hi)
            seen.add(code)
    assert seen == set(range(1, len(seen) + 1))


def test_round_trip_of_the_examples(tmp_path: Path) -> None:
    store = ReferenceStore.create(tmp_path / "store")
    report = store.ingest_csv([EXAMPLES])
    table = read_profiles(EXAMPLES)
    assert report.added == len(table) and report.generation == 1 and not report.rejected
    reopened = ReferenceStore.open(tmp_path / "store")
    assert len(reopened) == len(table)
    for profile in reopened.profiles():
        original = table[profile.sample_id]
        assert profile.genotypes == original.genotypes
        assert (profile.role, profile.sex, profile.case_id) == (
            original.role, original.sex, original.case_id,
        )  # fmt: skip
    assert (tmp_path / "store").stat().st_mode & 0o077 == 0


def test_codes_stay_valid_when_loci_and_alleles_grow(tmp_path: Path) -> None:
    store = ReferenceStore.create(tmp_path)
    first = Profile("A", {"vWA": ("14", "17"), "TH01": ("9.3", "9.3")})
    store.ingest([first])
    second = Profile("B", {"vWA": ("11", "14"), "FGA": ("20", "22.2")})  # new allele, new locus
    store.ingest([second])
    store = ReferenceStore.open(tmp_path)
    assert store.alleles("vWA") == ("14", "17", "11")  # codes 0 and 1 unchanged
    decoded = {p.sample_id: p.genotypes for p in store.profiles()}
    assert decoded == {"A": first.genotypes, "B": second.genotypes}
    assert store.fragments[0].loci == ("TH01", "vWA")  # older fragment: fewer loci
    assert store.fragments[1].codes[0, store.fragments[1].loci.index("TH01")] == MISSING


def test_every_fragment_records_its_version_and_as_of_shows_the_store_then(
    tmp_path: Path,
) -> None:
    store = ReferenceStore.create(tmp_path)
    store.ingest([Profile("A", {"vWA": ("14", "17")})])
    store.ingest_csv([EXAMPLES])
    store.ingest([Profile("B", {"vWA": ("11", "14")})])
    store = ReferenceStore.open(tmp_path)
    assert [f.generation for f in store.manifest.fragments] == [1, 2, 3]
    assert [len(store.as_of(g)) for g in (0, 1, 2, 3)] == [
        0, 1, 1 + len(read_profiles(EXAMPLES)), len(store)]  # fmt: skip
    then = store.as_of(1)
    assert then.generation == 1 and [p.sample_id for p in then.profiles()] == ["A"]
    assert then.alleles("vWA") == store.alleles("vWA")  # today's dictionaries: codes keep meaning
    with pytest.raises(StoreError, match="no store version 4"):
        store.as_of(4)
    # manifests written before fragments recorded their version: read from the file name
    manifest = (tmp_path / "manifest.json").read_text().replace('"generation": 2', '"x": 2')
    (tmp_path / "manifest.json").write_text(manifest)
    assert [f.generation for f in ReferenceStore.open(tmp_path).manifest.fragments] == [1, 2, 3]


def test_bad_batch_writes_nothing_and_reports_every_record(tmp_path: Path) -> None:
    store = ReferenceStore.create(tmp_path / "s")
    store.ingest([Profile("OLD", {"vWA": ("14", "15")})])
    bad = tmp_path / "bad.csv"
    bad.write_text("sample_id,vWA,TH01\nOLD,14,6\nN1,14/OL,6\nN2,15,7\nN3,16,x\nN2,15,8\n")
    with pytest.raises(IngestError) as caught:
        store.ingest_csv([bad])
    message = str(caught.value)
    for fragment in ("line 3", "'N1'", "off-ladder", "line 5", "'N3'", "'x'", "line 6",
                     "'N2'", "'OLD'", "already in the store"):  # fmt: skip
        assert fragment in message
    assert len(caught.value.errors) == 4
    assert ReferenceStore.open(tmp_path / "s").generation == 1
    assert len(list((tmp_path / "s" / "fragments").glob("*.arrow"))) == 1

    report = store.ingest_csv([bad], skip_invalid=True)
    assert report.added == 0
    assert {p.sample_id for p in ReferenceStore.open(tmp_path / "s").profiles()} == {"OLD"}
    assert len(report.rejected) == 4  # N2 is rejected whole: it appears twice


def test_skip_invalid_adds_the_good_samples(tmp_path: Path) -> None:
    store = ReferenceStore.create(tmp_path / "s")
    path = tmp_path / "mixed.csv"
    path.write_text("sample_id,vWA\nG1,14\nB1,OL\nG2,15/16\n")
    report = store.ingest_csv([path], skip_invalid=True)
    assert report.added == 2 and [e.sample for e in report.rejected] == ["B1"]
    assert {p.sample_id for p in store.profiles()} == {"G1", "G2"}


def test_empty_profile_is_refused(tmp_path: Path) -> None:
    store = ReferenceStore.create(tmp_path)
    with pytest.raises(IngestError, match="no typed autosomal locus"):
        store.ingest([Profile("E", {})])


def test_not_a_store(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="not a kinmatch store"):
        ReferenceStore.open(tmp_path)
    ReferenceStore.create(tmp_path)
    with pytest.raises(StoreError, match="already holds"):
        ReferenceStore.create(tmp_path)


def test_reads_are_memory_mapped(tmp_path: Path) -> None:
    script = f"""
import sys
sys.path.insert(0, {str(Path(__file__).parent)!r})
from ingest_worker import batch
from kinmatch.store import ReferenceStore
store = ReferenceStore.create({str(tmp_path / "s")!r})
store.ingest(batch(60000, 1))
store.ingest(batch(60000, 2))
"""
    subprocess.run([sys.executable, "-c", script], check=True, timeout=300)
    probe = f"""
import numpy as np
from kinmatch.store import ReferenceStore
def anon():
    for line in open("/proc/self/status"):
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) * 1024
before = anon()
store = ReferenceStore.open({str(tmp_path / "s")!r})
codes = [f.codes for f in store.fragments]  # mapped, not yet touched
opened = anon()
assert opened - before < 0.1 * sum(c.nbytes for c in codes), (opened - before)
total = sum(int(c.sum(dtype=np.uint64)) for c in codes)  # every genotype page read
scanned = anon()
copies = [np.array(c) for c in codes]  # control: a private copy must show up
copied = anon()
print(scanned - opened, copied - scanned, sum(c.nbytes for c in codes))
"""
    out = subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True,
                         text=True, timeout=300).stdout.split()  # fmt: skip
    scan_growth, copy_growth, nbytes = map(int, out)
    assert nbytes == 120000 * 20 * 2
    assert copy_growth > 0.9 * nbytes  # the measurement sees private memory
    assert scan_growth < 0.1 * nbytes  # reading the store through the mapping adds none


def run_worker(store: Path, n: int, seed: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(WORKER), str(store), str(n), str(seed)],
        stdout=subprocess.PIPE,
        text=True,
    )


def test_sigkill_at_many_points_leaves_all_or_none(tmp_path: Path) -> None:
    store_path = tmp_path / "s"
    n = 20000
    worker = run_worker(store_path, n, 0)  # one complete run, timed from "ready"
    assert worker.stdout is not None and worker.stdout.readline().strip() == "ready"
    start = time.monotonic()
    assert worker.wait(timeout=300) == 0
    duration = time.monotonic() - start
    expected = n
    rng = np.random.default_rng(7)
    # up to 1.6 x: a later run, on a larger store, takes longer than the first
    delays = np.concatenate([np.linspace(0, 1.6, 12), rng.uniform(0.6, 1.0, 12)]) * duration
    outcomes = set()
    for seed, delay in enumerate(delays, start=1):
        worker = run_worker(store_path, n, seed)
        assert worker.stdout is not None and worker.stdout.readline().strip() == "ready"
        time.sleep(float(delay))
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(timeout=60)
        store = ReferenceStore.open(store_path)
        assert len(store) in (expected, expected + n)
        complete = len(store) == expected + n
        outcomes.add(complete)
        expected = len(store)
        for fragment in store.fragments:  # every named fragment is whole and readable
            assert fragment.codes.shape == (fragment.rows, 20)
            assert store.decode(fragment, fragment.rows - 1).sample_id
    assert outcomes == {True, False}  # both sides of the commit point were hit
    ReferenceStore.open(store_path).ingest([Profile("LAST", {"vWA": ("14", "15")})])
    store = ReferenceStore.open(store_path)
    named = store.manifest.files()
    assert {p.name for p in (store_path / "fragments").iterdir()} == named  # orphans removed
    assert len(store) == expected + 1


def test_append_encoded_translates_codes_and_writes_signatures(tmp_path: Path) -> None:
    store = ReferenceStore.create(tmp_path)
    store.ingest([Profile("A", {"vWA": ("17", "18")})])  # store dictionary: 17 -> 0, 18 -> 1
    batch = EncodedBatch(
        sample_ids=["X", "Y"],
        roles=np.array([0, 255], dtype=np.uint8),
        sexes=np.array([0, 2], dtype=np.uint8),
        case_ids=["K1", None],
        agencies=[None, "BJ"],
        loci=("vWA", "TH01"),
        alleles={"vWA": ("18", "14"), "TH01": ("9.3",)},  # the batch's own dictionary
        codes=np.array([[genotype_code(0, 1), 0], [genotype_code(1, 1), genotype_code(0, 0)]],
                       dtype=np.uint16),
    )  # fmt: skip
    store.append_encoded(batch)
    decoded = {p.sample_id: p for p in ReferenceStore.open(tmp_path).profiles()}
    assert decoded["X"].genotypes == {"vWA": ("14", "18")}
    assert decoded["Y"].genotypes == {"vWA": ("14", "14"), "TH01": ("9.3", "9.3")}
    assert (decoded["X"].role, decoded["X"].case_id, decoded["Y"].agency) == ("father", "K1", "BJ")
    for fragment in ReferenceStore.open(tmp_path).fragments:
        assert np.array_equal(fragment.signatures, SIGNATURES[fragment.codes])
    with pytest.raises(IngestError, match="already in the store"):
        store.append_encoded(batch)


def test_find_by_sample_id(tmp_path: Path) -> None:
    store = ReferenceStore.create(tmp_path)
    ids = ["b", "a10", "a2", "Z", "é", "a1"]
    store.ingest([Profile(sid, {"vWA": ("14", "15")}) for sid in ids])
    fragment = ReferenceStore.open(tmp_path).fragments[0]
    for row, sid in enumerate(ids):
        assert fragment.find(sid) == row
    for absent in ("", "a", "a3", "zz", "ÿ"):
        assert fragment.find(absent) is None

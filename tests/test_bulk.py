"""Bulk ingest of CSV files in chunks: same profiles and errors as the reader, bounded pieces,
duplicates across chunks and against the store, the rejects file, SIGKILL at chosen points."""

import csv
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from kinmatch import Profile, read_profiles
from kinmatch.fragments import SHOWN
from kinmatch.profiles import ProfileWriter
from kinmatch.store import IngestError, ReferenceStore

sys.path.insert(0, str(Path(__file__).parent))
from ingest_worker import batch

ROOT = Path(__file__).parent.parent
EXAMPLES = ROOT / "fixtures" / "examples" / "profiles.csv"
WORKER = Path(__file__).parent / "ingest_worker.py"
LOCI = ("CSF1PO", "FGA", "TH01", "vWA")
SMALL = 256  # bytes per chunk: a few records each


def wide(path: Path, profiles: list[Profile]) -> Path:
    with path.open("w", newline="") as handle:
        ProfileWriter(handle, sorted({locus for p in profiles for locus in p.genotypes})).write(
            profiles
        )
    return path


def good_rows(n: int, prefix: str = "G") -> str:
    return "".join(f"{prefix}{i},unknown-origin,,M,{10 + i % 5}/11,20/22,6/9,14/17\n"
                   for i in range(n))  # fmt: skip


HEADER = "sample_id,role,case_id,sex,CSF1PO,FGA,TH01,vWA\n"


def rejects(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def stored(root: Path) -> dict[str, Profile]:
    return {p.sample_id: p for p in ReferenceStore.open(root).profiles()}


def test_chunked_ingest_equals_the_reader(tmp_path: Path) -> None:
    store = ReferenceStore.create(tmp_path / "s")
    report = store.ingest_csv([EXAMPLES], chunk_bytes=SMALL)
    table = read_profiles(EXAMPLES)
    assert report.added == len(table) and len(store.fragments) > 3  # several chunks
    for sample_id, profile in stored(tmp_path / "s").items():
        original = table[sample_id]
        assert profile.genotypes == original.genotypes
        assert (profile.role, profile.sex, profile.case_id) == (
            original.role, original.sex, original.case_id,
        )  # fmt: skip
    assert store.generation == 1  # one batch, one version, many fragments


def test_bad_records_in_several_chunks_are_all_reported(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    rows = [f"B{i},unknown-origin,,M,OL,20/22,6/9,14/17\n" if i % 7 == 3 else
            f"B{i},unknown-origin,,M,11/12,20/22,x{i},14/17\n" if i % 7 == 5 else
            f"B{i},unknown-origin,,M,11/12,20/22,6/9,14/17\n" for i in range(300)]  # fmt: skip
    path.write_text(HEADER + "".join(rows))
    bad = [i for i in range(300) if i % 7 in (3, 5)]
    store = ReferenceStore.create(tmp_path / "s")
    with pytest.raises(IngestError) as caught:
        store.ingest_csv([path], chunk_bytes=SMALL, rejects=tmp_path / "rejects.csv")
    error = caught.value
    assert error.total == len(bad) and len(error.errors) == SHOWN
    assert f"... and {len(bad) - SHOWN} more" in str(error) and "rejects.csv" in str(error)
    listed = rejects(tmp_path / "rejects.csv")
    assert [int(r["line"]) for r in listed] == [i + 2 for i in bad]
    assert listed[0] == {"file": str(path), "line": "5", "sample": "B3", "locus": "CSF1PO",
                         "field": "CSF1PO", "reason": listed[0]["reason"]}  # fmt: skip
    assert "off-ladder" in listed[0]["reason"] and "'x5'" in listed[1]["reason"]
    assert ReferenceStore.open(tmp_path / "s").generation == 0
    assert os.listdir(tmp_path / "s" / "fragments") == []  # every spilled file removed

    report = store.ingest_csv([path], chunk_bytes=SMALL, skip_invalid=True,
                              rejects=tmp_path / "again.csv")  # fmt: skip
    assert report.added == 300 - len(bad) and report.rejected_count == len(bad)
    assert len(rejects(tmp_path / "again.csv")) == len(bad)


def test_default_rejects_file_is_in_the_store(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(HEADER + good_rows(3) + "X1,uncle,,M,11,20,6,14\n")
    with pytest.raises(IngestError) as caught:
        ReferenceStore.create(tmp_path / "s").ingest_csv([path])
    assert caught.value.rejects is not None
    assert caught.value.rejects.parent == tmp_path / "s" / "rejects"
    assert [r["sample"] for r in rejects(caught.value.rejects)] == ["X1"]
    assert caught.value.rejects.stat().st_mode & 0o077 == 0


def test_duplicate_split_across_chunks(tmp_path: Path) -> None:
    path = tmp_path / "dup.csv"
    path.write_text(HEADER + good_rows(40) + "G3,unknown-origin,,F,12/13,20/22,6/9,14/17\n")
    store = ReferenceStore.create(tmp_path / "s")
    with pytest.raises(IngestError) as caught:
        store.ingest_csv([path], chunk_bytes=SMALL)
    (error,) = caught.value.errors
    assert str(error) == (f"{path} line 42, sample 'G3', field 'sample_id': "
                          "duplicate sample_id (first seen on line 5)")  # fmt: skip
    report = store.ingest_csv([path], chunk_bytes=SMALL, skip_invalid=True)
    assert report.added == 39  # G3 is rejected whole, as the reader does
    assert set(stored(tmp_path / "s")) == {f"G{i}" for i in range(40)} - {"G3"}
    for fragment in ReferenceStore.open(tmp_path / "s").fragments:  # rewritten: order valid
        for row in range(fragment.rows):
            assert fragment.find(str(fragment.sample_ids[row])) == row


def test_duplicate_against_the_store_and_across_files(tmp_path: Path) -> None:
    store = ReferenceStore.create(tmp_path / "s")
    store.ingest([Profile("G30", {"vWA": ("14", "15")})])
    first = tmp_path / "first.csv"
    first.write_text(HEADER + good_rows(40))
    second = tmp_path / "second.csv"
    second.write_text(HEADER + good_rows(2, "H") + "G7,unknown-origin,,M,11,20,6,14\n")
    with pytest.raises(IngestError) as caught:
        store.ingest_csv([first, second], chunk_bytes=SMALL)
    messages = sorted(str(e) for e in caught.value.errors)
    assert messages == [
        f"{first} line 32, sample 'G30', field 'sample_id': "
        "duplicate sample_id: already in the store",
        f"{second} line 4, sample 'G7', field 'sample_id': "
        "duplicate sample_id: already in this batch",
    ]
    report = store.ingest_csv([first, second], chunk_bytes=SMALL, skip_invalid=True)
    assert report.added == 41 and len(ReferenceStore.open(tmp_path / "s")) == 42
    assert stored(tmp_path / "s")["G7"].genotypes["vWA"] == ("14", "17")  # the first G7 kept


def test_truncated_last_line(tmp_path: Path) -> None:
    path = tmp_path / "cut.csv"
    path.write_text(HEADER + good_rows(30) + "G30,unknown-origin,,M,11/12,20")
    with pytest.raises(IngestError) as caught:
        ReferenceStore.create(tmp_path / "s").ingest_csv([path], chunk_bytes=SMALL)
    (error,) = caught.value.errors
    assert str(error) == (f"{path} line 32, sample 'G30': row has 6 fields but the header "
                          "has 8 (truncated or misaligned record)")  # fmt: skip


def test_bom_and_crlf(tmp_path: Path) -> None:
    path = tmp_path / "windows.csv"
    text = HEADER + good_rows(30) + "\n" + "B1,unknown-origin,,M,11/12,20/22,6/9,1x\n"
    path.write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode())
    with pytest.raises(IngestError) as caught:
        ReferenceStore.create(tmp_path / "s").ingest_csv([path], chunk_bytes=SMALL)
    assert [str(e) for e in caught.value.errors] == [
        f"{path} line 33, sample 'B1', locus 'vWA', field 'vWA': invalid allele '1x': "
        "expected a repeat number like 12 or 9.3"
    ]  # the same as the reader says
    assert [str(e) for e in read_profiles(path, collect_errors=True).errors] == [
        str(e) for e in caught.value.errors
    ]
    report = ReferenceStore.open(tmp_path / "s").ingest_csv([path], chunk_bytes=SMALL,
                                                            skip_invalid=True)  # fmt: skip
    assert report.added == 30
    assert stored(tmp_path / "s")["G29"].genotypes["vWA"] == ("14", "17")  # no "\r" kept


def test_long_layout_needs_a_samples_rows_together(tmp_path: Path) -> None:
    rows = [f"L{i},{locus},{10 + i % 4},12\n" for i in range(20) for locus in LOCI]
    rows.insert(32, "L2,D3S1358,15,16\n")  # L2's rows were lines 10-13; it reappears
    path = tmp_path / "long.csv"
    path.write_text("sample_id,locus,allele1,allele2\n" + "".join(rows))
    store = ReferenceStore.create(tmp_path / "s")
    with pytest.raises(IngestError) as caught:
        store.ingest_csv([path], chunk_bytes=SMALL)
    (error,) = caught.value.errors
    assert str(error).startswith(f"{path} line 34, sample 'L2', field 'sample_id': rows of "
                                 "this sample are not together")  # fmt: skip
    assert "first seen on line 10" in str(error)
    report = store.ingest_csv([path], chunk_bytes=SMALL, skip_invalid=True)
    assert report.added == 19 and "L2" not in stored(tmp_path / "s")
    assert stored(tmp_path / "s")["L5"].genotypes == dict.fromkeys(LOCI, ("11", "12"))


def test_long_layout_grouped_across_chunks_equals_the_reader(tmp_path: Path) -> None:
    path = tmp_path / "long.csv"
    profiles = batch(40, 3)
    with path.open("w", newline="") as handle:
        ProfileWriter(handle, sorted(profiles[0].genotypes), "long").write(profiles)
    ReferenceStore.create(tmp_path / "s").ingest_csv([path], chunk_bytes=SMALL * 4)
    table = read_profiles(path)
    assert {sid: p.genotypes for sid, p in stored(tmp_path / "s").items()} == {
        sid: p.genotypes for sid, p in table.items()
    }


# ---------------------------------------------------------------------------------------------
# SIGKILL at chosen points of a chunked ingest (tests/ingest_worker.py csv ...)

KILL_POINTS = [
    ("parse", 1, "before"),  # reading the first chunk
    ("parse", 4, "after"),  # in the middle of reading
    ("spill", 1, "after"),  # a fragment written under its temporary name
    ("spill", 5, "before"),  # spilling, several fragments already written
    ("partition", 6, "after"),  # sample IDs partly partitioned
    ("check", 1, "before"),  # everything spilled, duplicates not yet checked
    ("rename", 1, "after"),  # the first fragment renamed into place
    ("rename", 4, "after"),  # between fragments
    ("manifest", 1, "before"),  # every fragment renamed, the manifest not yet written
    ("replace", 1, "before"),  # the new manifest written, not yet renamed: the commit point
    ("replace", 1, "after"),  # committed
    ("cleanup", 1, "before"),  # committed, the batch's files not yet tidied
]
COMMITTED = {("replace", 1, "after"), ("cleanup", 1, "before")}


def test_sigkill_at_chosen_points_of_a_chunked_ingest(tmp_path: Path) -> None:
    store_path = tmp_path / "s"
    n = 600
    sizes = [len(ReferenceStore.create(store_path))]
    for number, point in enumerate(KILL_POINTS):
        path = wide(tmp_path / f"batch{number}.csv", batch(n, number))
        assert path.stat().st_size > 8 * 4096  # many chunks
        hook, k, when = point
        worker = subprocess.run([sys.executable, str(WORKER), "csv", str(store_path), str(path),
                                 "4096", hook, str(k), when], capture_output=True, text=True,
                                timeout=120, check=False)  # fmt: skip
        assert worker.returncode == -signal.SIGKILL, (point, worker.stdout, worker.stderr)
        store = ReferenceStore.open(store_path)
        sizes.append(len(store))
        assert sizes[-1] == sizes[-2] + (n if point in COMMITTED else 0), point
        for fragment in store.fragments:  # every named fragment is whole and readable
            assert fragment.codes.shape == (fragment.rows, len(fragment.loci))
            assert store.decode(fragment, fragment.rows - 1).sample_id
    ReferenceStore.open(store_path).ingest_csv([wide(tmp_path / "last.csv", batch(50, 99))])
    store = ReferenceStore.open(store_path)
    named = store.manifest.files()
    assert {p.name for p in (store_path / "fragments").iterdir()} == named  # orphans removed
    assert len(store) == sizes[-1] + 50


def test_a_quoted_newline_across_a_chunk_boundary(tmp_path: Path) -> None:
    """A quoted case_id holding a newline, placed at every offset around a chunk's end: the
    chunked ingest reads what the reader reads (the cut waits for the quote's end)."""
    for pad in range(0, SMALL, 17):
        rows = good_rows(3)
        filler = f"F0,unknown-origin,{'x' * pad},M,10/11,20/22,6/9,14/17\n"
        quoted = 'Q1,unknown-origin,"two\nlines",M,12/13,20/22,6/9,14/17\n'
        path = tmp_path / f"q{pad}.csv"
        path.write_text(HEADER + filler + rows + quoted + good_rows(2, "H"))
        root = tmp_path / f"s{pad}"
        ReferenceStore.create(root).ingest_csv([path], chunk_bytes=SMALL)
        got = stored(root)
        assert got["Q1"].case_id == "two\nlines" == read_profiles(path)["Q1"].case_id
        assert set(got) == set(read_profiles(path))

"""`kinmatch intake` through real processes: batches compared on entry and pushed to a review
queue, killed (SIGKILL) at many points and finished by `--resume`, with the hits and the queue
of an uninterrupted run."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from killing import killed_after
from test_queue_cli import kinmatch

ROOT = Path(__file__).parent.parent
CHINA = ROOT / "fixtures" / "freq_China_GBT37223.csv"
LOCI = "CSF1PO,FGA,TH01,TPOX,vWA,D3S1358,D5S818,D7S820,D8S1179,D13S317,D16S539,D18S51"


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """An agency key and trust, an analyst's and a reviewer's token, and three batches of a
    synthetic missing-children database (children and their relatives in different ones)."""
    root = tmp_path_factory.mktemp("intake")
    kinmatch("keys", "new", "--agency", "A1", "--out", root / "agency")
    trust = root / "trust"
    trust.mkdir()
    (trust / "A1.pub").write_bytes((root / "agency" / "A1.pub").read_bytes())
    paths = {"root": root, "trust": trust}
    for officer, roles in (("ana", "analyst"), ("rob", "reviewer")):
        paths[officer] = root / f"{officer}.jwt"
        kinmatch("keys", "issue", "--key", root / "agency" / "A1.key", "--sub", officer,
                 "--roles", roles, "--jurisdiction", "A1", "--ttl", "1h",
                 "--out", paths[officer])  # fmt: skip
    kinmatch("synth", "--frequencies", CHINA, "--references", "240", "--families", "24",
             "--loci", LOCI, "--out", root / "synth")  # fmt: skip
    with (root / "synth" / "references.csv").open() as handle:
        rows = list(csv.reader(handle))
    header, records = rows[0], rows[1:]
    for k in range(3):
        paths[f"batch{k}"] = root / f"batch{k}.csv"
        with paths[f"batch{k}"].open("w", newline="") as handle:
            csv.writer(handle).writerows([header, *records[k::3]])
    return paths


def intake_args(setup: dict[str, Path], store: Path, db: Path) -> list[str | Path]:
    return [
        "intake",
        "--store",
        store,
        "--frequencies",
        CHINA,
        "--min-lr",
        "100",
        "--queue",
        f"sqlite:///{db}",
        "--trust",
        setup["trust"],
        "--token",
        setup["ana"],
    ]


def queued(setup: dict[str, Path], db: Path) -> list[tuple[str, tuple[str, ...], str]]:
    listing = kinmatch("queue", "--db", f"sqlite:///{db}", "--trust", setup["trust"],
                       "--token", setup["rob"], "list", "--json").stdout  # fmt: skip
    rows = [json.loads(line) for line in listing.splitlines()]
    return sorted((r["query_id"], tuple(sorted(r["reference_ids"])), r["relationship"])
                  for r in rows)  # fmt: skip


Queued = list[tuple[str, tuple[str, ...], str]]


@pytest.fixture(scope="module")
def uninterrupted(setup: dict[str, Path]) -> Queued:
    """The three batches entered one after the other into ``clean``: the queue's items."""
    store, db = setup["root"] / "clean", setup["root"] / "clean.db"
    for k in range(3):
        out = kinmatch(*intake_args(setup, store, db), setup[f"batch{k}"]).stdout
        assert f"store version {k + 1}" in out and f"compared versions {k + 1}:" in out
    return queued(setup, db)


def test_intake_compares_each_batch_on_entry_and_queues_each_hit_once(
    setup: dict[str, Path], uninterrupted: Queued
) -> None:
    items = uninterrupted
    assert items and len(items) == len(set(items))
    truth = {(row["query_id"], row["relative_id"])
             for row in csv.DictReader((setup["root"] / "synth" / "truth.csv").open())
             if row["relationship"] == "parent-child"}  # fmt: skip
    found = {(q, r[0]) if q.startswith("C") else (r[0], q) for q, r, rel in items
             if rel == "parent-child"}  # fmt: skip
    assert truth <= found  # every registered parent met its child, whichever came first
    again = kinmatch(*intake_args(setup, setup["root"] / "clean", setup["root"] / "clean.db"),
                     "--resume")  # fmt: skip
    assert "compared versions none" in again.stdout
    status = kinmatch("intake", "--store", setup["root"] / "clean", "--frequencies", CHINA,
                      "--min-lr", "100", "--status").stdout  # fmt: skip
    assert "3 versions committed" in status and "compared 3, not pushed 0, pending 0" in status


def test_sigkill_at_many_points_then_resume_gives_the_uninterrupted_hits(
    setup: dict[str, Path], uninterrupted: Queued, tmp_path: Path
) -> None:
    """Every intake killed after growing delays (during start-up, the ingest, the
    comparisons or the push) and run again until one finishes: by entering the batch again
    while it is not committed, by `--resume` once it is. The queue ends with the hits of the
    uninterrupted run, each once."""
    expected = uninterrupted
    store, db = tmp_path / "killed", tmp_path / "killed.db"
    kills = 0
    for k in range(3):
        for delay in (0.2, 0.4, 0.6, 0.8, 1.0, 1.2, 1.4, 1.6, 1.9, 2.2, 2.6, 3.0, 4.0, 6.0, 60.0):
            committed = _version(store) > k
            tail = ["--resume"] if committed else [setup[f"batch{k}"]]
            if killed_after([*intake_args(setup, store, db), *tail], delay):
                kills += 1
            elif committed:
                break
        assert _version(store) == k + 1
    assert kills >= 10
    assert queued(setup, db) == expected


def _version(store: Path) -> int:
    manifest = store / "manifest.json"
    return int(json.loads(manifest.read_text())["generation"]) if manifest.exists() else 0

"""`kinmatch campaign` through real processes: the hits of `kinmatch match` for every person
of unknown origin, and the same hits when killed (SIGKILL) at many points and run again."""

from __future__ import annotations

import csv
import time
from pathlib import Path

import pytest
from killing import killed_after
from test_cli_intake import CHINA, LOCI, setup  # noqa: F401  (the fixture)
from test_queue_cli import kinmatch

from kinmatch.campaign import read_campaign

Row = tuple[object, ...]
COLUMNS = ("query_id", "reference_id", "relationship", "lr", "p_unrelated", "verdict")


@pytest.fixture(scope="module")
def store(setup: dict[str, Path]) -> Path:  # noqa: F811
    path = setup["root"] / "campaign-store"
    for k in range(3):
        kinmatch("ingest", "--store", path, setup[f"batch{k}"])
    return path


@pytest.fixture(scope="module")
def big_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """800 profiles (about 400 of unknown origin): a second or two of work to kill into."""
    root = tmp_path_factory.mktemp("big")
    kinmatch("synth", "--frequencies", CHINA, "--references", "800", "--families", "30",
             "--loci", LOCI, "--store", root / "store", "--out", root / "synth")  # fmt: skip
    return root / "store"


def campaign(store: Path, out: Path, part_size: int = 5) -> list[str | Path]:
    return ["campaign", "--store", store, "--frequencies", CHINA, "--min-lr", "100",
            "--part-size", str(part_size), "--out", out]  # fmt: skip


def rows(out: Path) -> list[Row]:
    table = read_campaign(out)
    return sorted(zip(*(table[c].to_pylist() for c in COLUMNS), strict=True))


def test_a_campaign_equals_match_of_every_person_of_unknown_origin(
    setup: dict[str, Path],  # noqa: F811
    store: Path,
    tmp_path: Path,
) -> None:
    out = kinmatch(*campaign(store, tmp_path / "campaign")).stdout
    assert "persons of unknown origin" in out and "pairs compared" in out
    young = tmp_path / "young.csv"
    with young.open("w", newline="") as handle:
        writer = csv.writer(handle)
        for k in range(3):
            with setup[f"batch{k}"].open() as batch:
                records = list(csv.reader(batch))
            if k == 0:
                writer.writerow(records[0])
            writer.writerows(r for r in records[1:] if r[1] == "unknown-origin")
    matched = []
    for relationship in ("parent-child", "parents-child"):
        hits = tmp_path / f"{relationship}.csv"
        kinmatch("match", "--store", store, "--frequencies", CHINA, "--queries", young,
                 "--relationship", relationship, "--min-lr", "100", "--top-k", "1000000",
                 "--out", hits)  # fmt: skip
        with hits.open() as handle:
            matched += [(r["query_id"], r["reference_id"], r["relationship"], float(r["lr"]),
                         float(r["p_unrelated"]), r["verdict"])
                        for r in csv.DictReader(handle)]  # fmt: skip
    assert rows(tmp_path / "campaign") == sorted(matched) and matched


def test_sigkill_at_many_points_then_rerun_gives_the_uninterrupted_hits(
    big_store: Path, tmp_path: Path
) -> None:
    """Killed during start-up and then a little into the work, again and again (each run
    redoes only the missing parts), then left to finish: the hits of an uninterrupted run,
    none lost and none twice."""
    kinmatch(*campaign(big_store, tmp_path / "clean", 10))
    expected = rows(tmp_path / "clean")
    started = time.monotonic()
    kinmatch(*campaign(big_store, tmp_path / "clean", 10))  # nothing left to do: start-up
    startup = time.monotonic() - started
    # nine kills during start-up (imports, the store, the lock, the searcher), then growing
    # moments into the work
    delays = [startup * (0.1 + 0.1 * k) for k in range(9)]
    delays += [startup + 0.04 * k for k in range(1, 80)]
    kills, states = 0, set()
    for delay in [*delays, 300.0]:
        if not killed_after(campaign(big_store, tmp_path / "killed", 10), delay):
            break
        kills += 1
        states.add(len(list((tmp_path / "killed").glob("part-*.parquet"))))
    assert kills >= 10 and len(states) >= 2  # killed at many points, inside the work too
    assert rows(tmp_path / "killed") == expected
    assert not list((tmp_path / "killed").glob(".*.tmp"))  # no half-written part left behind

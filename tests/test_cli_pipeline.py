"""kinmatch synth -> ingest -> match as subprocesses, checked against truth.csv."""

import csv
import json
import math
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

CHINA = Path(__file__).parent.parent / "fixtures" / "freq_China_GBT37223.csv"


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kinmatch", *map(str, args)],
                          capture_output=True, text=True, timeout=300, check=False)  # fmt: skip


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("pipeline")
    done = run("synth", "--frequencies", CHINA, "--references", 1500, "--families", 24,
               "--seed", 9, "--out", root / "syn", "--mutation-model", "stepwise",
               "--mutation-rate", "0.01")  # fmt: skip
    assert done.returncode == 0, done.stderr
    done = run("ingest", "--store", root / "store", root / "syn" / "references.csv")
    assert done.returncode == 0, done.stderr
    assert "added 1500 profiles" in done.stdout
    return root


def truth(world: Path) -> list[dict[str, str]]:
    with (world / "syn" / "truth.csv").open() as handle:
        return list(csv.DictReader(handle))


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_match_finds_the_planted_parents(world: Path, suffix: str) -> None:
    out = world / f"hits{suffix}"
    done = run("match", "--store", world / "store", "--frequencies", CHINA, "--queries",
               world / "syn" / "queries.csv", "--relationship", "parent-child",
               "--mutation-model", "stepwise", "--mutation-rate", "0.01", "--out", out)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "references scored" in done.stdout and "per second" in done.stdout
    if suffix == ".csv":
        with out.open() as handle:
            rows = list(csv.DictReader(handle))
    elif suffix == ".jsonl":
        rows = [json.loads(line) for line in out.read_text().splitlines()]
    else:
        rows = pq.read_table(out).to_pylist()
    found = {(r["query_id"], r["reference_id"]) for r in rows}
    parents = [t for t in truth(world) if t["relationship"] == "parent-child"]
    clean = [t for t in parents if not t["mutations"]]
    assert clean and all((t["query_id"], t["relative_id"]) in found for t in clean)
    for row in rows:
        assert float(row["lr"]) >= 10000 and int(row["rank"]) <= 10
        assert row["verdict"] in ("support", "support-database-caution", "inconclusive",
                                  "exclusion")  # fmt: skip
        # Markov: P(LR >= 10^4) <= E[LR | unrelated] / 10^4, and that mean is near 1
        assert 0 <= float(row["p_unrelated"]) <= 1e-3 and float(row["expected_unrelated"]) >= 0
    # expected_unrelated = references the query met x p_unrelated: one ratio per query
    ratios: dict[str, set[int]] = {}
    for row in rows:
        if float(row["p_unrelated"]) > 0:
            ratio = float(row["expected_unrelated"]) / float(row["p_unrelated"])
            ratios.setdefault(row["query_id"], set()).add(round(ratio))
    assert ratios and all(len(r) == 1 and 0 < next(iter(r)) <= 1500 for r in ratios.values())


def test_database_caution_is_marked_and_explained(world: Path) -> None:
    """With a bound of 0 every supporting hit is marked; with 1e6 none is."""
    verdicts = {}
    for bound in ("0", "1000000"):
        out = world / f"caution-{bound}.csv"
        done = run("match", "--store", world / "store", "--frequencies", CHINA, "--queries",
                   world / "syn" / "queries.csv", "--relationship", "parent-child",
                   "--mutation-model", "stepwise", "--mutation-rate", "0.01",
                   "--caution-bound", bound, "--out", out)  # fmt: skip
        assert done.returncode == 0, done.stderr
        with out.open() as handle:
            verdicts[bound] = [r["verdict"] for r in csv.DictReader(handle)]
        marked = verdicts[bound].count("support-database-caution")
        assert (f"{marked} supporting hits marked support-database-caution" in done.stdout) == (
            marked > 0)  # fmt: skip
    assert verdicts["0"] and set(verdicts["0"]) <= {"support-database-caution", "exclusion",
                                                    "inconclusive"}  # fmt: skip
    assert "support-database-caution" not in verdicts["1000000"]
    assert [v == "support" for v in verdicts["1000000"]] == [
        v == "support-database-caution" for v in verdicts["0"]]  # fmt: skip


def test_match_couples_report_the_case(world: Path) -> None:
    out = world / "couples.csv"
    done = run("match", "--store", world / "store", "--frequencies", CHINA, "--queries",
               world / "syn" / "queries.csv", "--relationship", "parents-child",
               "--out", out)  # fmt: skip
    assert done.returncode == 0, done.stderr
    with out.open() as handle:
        rows = list(csv.DictReader(handle))
    couples = {t["case_id"] for t in truth(world) if t["relative_id"].startswith("F")} & {
        t["case_id"] for t in truth(world) if t["relative_id"].startswith("M")
    }
    hits = {(r["query_id"], r["reference_id"]) for r in rows}
    mutated = {t["case_id"] for t in truth(world) if t["mutations"]}  # LR 0 without a model
    for t in truth(world):
        if t["case_id"] in couples - mutated:
            assert (t["query_id"], t["case_id"]) in hits
    assert all(r["father_id"] and r["mother_id"] for r in rows)


def test_ingest_rejection_reports_every_record(world: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("sample_id,vWA,TH01\nN1,14/OL,6\nN2,15,x\nN3,15,7\n")
    done = run("ingest", "--store", tmp_path / "s", bad)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "'N1'" in done.stderr and "'N2'" in done.stderr and "nothing was written" in done.stderr
    done = run("ingest", "--store", tmp_path / "s", "--skip-invalid", bad)
    assert done.returncode == 2 and "added 1 profiles" in done.stdout
    assert "rejected 2 records" in done.stderr


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["match", "--relationship", "parent-child", "--out", "hits.txt"], ".csv, .parquet"),
        (["match", "--relationship", "cousins", "--out", "hits.csv"], "cousins"),
        (["synth", "--references", "10", "--families", "40"], "cannot hold"),
    ],
)
def test_bad_input_exits_2(world: Path, args: list[str], fragment: str) -> None:
    common = {"match": ["--store", str(world / "store"), "--queries",
                        str(world / "syn" / "queries.csv")],
              "synth": ["--out", str(world / "x")]}[args[0]]  # fmt: skip
    done = run(args[0], "--frequencies", CHINA, *common, *args[1:])
    assert done.returncode == 2, done.stderr
    assert fragment in done.stderr and "Traceback" not in done.stderr


def test_synth_long_layout_and_store(tmp_path: Path) -> None:
    done = run("synth", "--frequencies", CHINA, "--references", 300, "--families", 8,
               "--out", tmp_path / "syn", "--layout", "long",
               "--store", tmp_path / "store")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert not (tmp_path / "syn" / "references.csv").exists()
    header = (tmp_path / "syn" / "queries.csv").read_text().splitlines()[0]
    assert header.startswith("sample_id,locus,allele1,allele2")
    done = run("match", "--store", tmp_path / "store", "--frequencies", CHINA, "--queries",
               tmp_path / "syn" / "queries.csv", "--relationship", "full-siblings",
               "--out", tmp_path / "sibs.csv", "--min-lr", "0")  # fmt: skip
    assert done.returncode == 0, done.stderr


def test_demo_end_to_end(tmp_path: Path) -> None:
    done = run("demo", "--frequencies", CHINA, "--references", 3000, "--families", 20,
               "--out", tmp_path / "demo")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "a true relative ranked first for" in done.stdout
    for name in ("references.csv", "queries.csv", "truth.csv", "hits-duo.csv", "hits-couple.csv"):
        assert (tmp_path / "demo" / name).exists()
    # every written hit is queued for review, and the demo reviewer lists them
    hits = sum(len((tmp_path / "demo" / f"hits-{n}.csv").read_text().splitlines()) - 1
               for n in ("duo", "couple"))  # fmt: skip
    assert "queued for review: " in done.stdout
    listed = [line for line in done.stdout.splitlines() if line.rstrip().endswith(
        tuple("0123456789")) and "pending" in line]  # fmt: skip
    assert 0 < len(listed) == min(hits, 10)
    demo = tmp_path / "demo"
    items = run("queue", "--db", f"sqlite:///{demo / 'queue.db'}", "--trust", demo / "trust",
                "--token", demo / "keys" / "reviewer.jwt", "list", "--json")  # fmt: skip
    rows = [json.loads(line) for line in items.stdout.splitlines()]
    assert len(rows) == hits and all(r["expected_unrelated"] >= 0 for r in rows)
    assert all(0 <= r["p_unrelated"] <= 1 and r["database_verdict"] for r in rows)
    again = run("demo", "--frequencies", CHINA, "--references", 3000, "--families", 20,
                "--out", tmp_path / "demo")  # fmt: skip
    assert again.returncode == 0, again.stderr  # a rerun replaces the demo's store


def test_a_couple_searches_for_its_child(world: Path) -> None:
    lines = (world / "syn" / "references.csv").read_text().splitlines()
    couple = [line for line in lines[1:] if line.split(",")[0] in ("F0", "M0")]
    assert len(couple) == 2
    queries = world / "couple-query.csv"
    queries.write_text("\n".join([lines[0], *couple]) + "\n")
    out = world / "children.csv"
    done = run("match", "--store", world / "store", "--frequencies", CHINA, "--queries", queries,
               "--relationship", "parents-child", "--mutation-model", "stepwise",
               "--mutation-rate", "0.01", "--out", out)  # fmt: skip
    assert done.returncode == 0, done.stderr
    with out.open() as handle:
        rows = list(csv.DictReader(handle))
    assert rows and rows[0]["query_id"] == "K0" and rows[0]["reference_id"] == "C0"


@pytest.mark.parametrize("relationship", ["parent-child", "parents-child", "full-siblings"])
def test_evidence_summarises_the_null_of_one_query(world: Path, relationship: str) -> None:
    queries = world / "syn" / "queries.csv"
    query_id = truth(world)[0]["query_id"]
    done = run("evidence", "--store", world / "store", "--frequencies", CHINA, "--queries",
               queries, "--sample", query_id, "--relationship", relationship,
               "--mutation-model", "stepwise", "--mutation-rate", "0.01")  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith(f"query {query_id}, {relationship}, ")
    met = int(lines[0].split(";")[1].split()[0].replace(",", ""))
    tails = [line.split() for line in lines if line.strip().startswith("P(LR >=")]
    (p1, e1), (p4, e4) = ((float(t[3]), float(t[-1])) for t in tails)
    assert 0 <= p4 <= p1 <= 1 and met > 0
    assert math.isclose(e1, met * p1, rel_tol=1e-3) and math.isclose(e4, met * p4, rel_tol=1e-3)
    again = run("evidence", "--store", world / "store", "--frequencies", CHINA, "--queries",
                queries, "--relationship", relationship)  # fmt: skip
    assert again.returncode == 2 and "name the query with --sample" in again.stderr


def test_match_without_evidence_writes_the_same_hits(world: Path) -> None:
    """--no-evidence: the same hits and LRs, empty p_unrelated and expected_unrelated, the
    plain verdict, and the summary says the evidence was skipped."""
    rows = {}
    for flag in ("--evidence", "--no-evidence"):
        out = world / f"hits{flag}.csv"
        done = run("match", "--store", world / "store", "--frequencies", CHINA, "--queries",
                   world / "syn" / "queries.csv", "--relationship", "parent-child",
                   "--mutation-model", "stepwise", "--mutation-rate", "0.01", "--out", out,
                   flag)  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert ("skipped (--no-evidence)" in done.stdout) == (flag == "--no-evidence")
        with out.open() as handle:
            rows[flag] = list(csv.DictReader(handle))
    full, bare = rows["--evidence"], rows["--no-evidence"]
    assert bare and [(r["query_id"], r["reference_id"], r["lr"]) for r in bare] == [
        (r["query_id"], r["reference_id"], r["lr"]) for r in full
    ]
    assert all(r["p_unrelated"] == "" and r["expected_unrelated"] == "" for r in bare)
    assert all(r["verdict"] in ("support", "inconclusive", "exclusion") for r in bare)
    assert all(b["verdict"] == f["verdict"].replace("-database-caution", "")
               for b, f in zip(bare, full, strict=True))  # fmt: skip

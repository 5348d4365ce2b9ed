"""The review queue under 8 concurrent reviewers, as threads and as processes, on both engines:
every item claimed by one reviewer at a time, none lost, and an audit chain that verifies and
holds exactly one record per operation."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest
from queue_support import Agencies, key_setting, new_item, open_queue
from queue_worker import review_loop

from kinmatch.queue import ReviewQueue, State
from kinmatch.security.audit import AuditRecord

WORKER = Path(__file__).parent / "queue_worker.py"
ITEMS = 1000
REVIEWERS = 8
RELEASE_EVERY = 40  # a few claims are given back for others to take


def reviewer_tokens(agencies: Agencies) -> dict[str, str]:
    return {f"rev{n}@A1": agencies.token(f"rev{n}", ["reviewer"]) for n in range(REVIEWERS)}


def run_threads(url: str, agencies: Agencies, tokens: dict[str, str]) -> dict[str, Any]:
    """Every reviewer a thread, all on one ReviewQueue (a connection per thread)."""
    queue = open_queue(url, agencies)
    start = threading.Barrier(len(tokens))
    results: dict[str, Any] = {}

    def reviewer(name: str, token: str) -> None:
        try:
            start.wait()
            results[name] = review_loop(queue, token, RELEASE_EVERY)
        except BaseException as exc:  # reported by the test, not lost in the thread
            results[name] = exc
        finally:
            queue.close()  # this thread's connection

    threads = [threading.Thread(target=reviewer, args=item) for item in tokens.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not any(thread.is_alive() for thread in threads)
    return results


def run_processes(
    url: str, agencies: Agencies, tokens: dict[str, str], start_at: float = 0.0
) -> dict[str, Any]:
    """Every reviewer a process of its own (tests/queue_worker.py review), started together
    (and opening the queue at ``start_at``, a time.time(), if given)."""
    workers = {}
    for name, token in tokens.items():
        worker = subprocess.Popen(
            [sys.executable, str(WORKER), "review"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert worker.stdin is not None
        settings = {"url": url, "trust": str(agencies.trust_file), "token": token,
                    "release_every": RELEASE_EVERY, "start_at": start_at,
                    "key": key_setting(url)}  # fmt: skip
        worker.stdin.write(json.dumps(settings) + "\n")
        worker.stdin.flush()
        workers[name] = worker
    for worker in workers.values():  # every queue open before anyone starts
        assert worker.stdout is not None and worker.stdout.readline().strip() == "ready"
    for worker in workers.values():
        assert worker.stdin is not None
        worker.stdin.write("go\n")
        worker.stdin.flush()
    results = {}
    for name, worker in workers.items():
        out, _ = worker.communicate(timeout=300)
        assert worker.returncode == 0, (name, worker.returncode)
        results[name] = json.loads(out)
    return results


@pytest.mark.parametrize("runner", [run_threads, run_processes], ids=["threads", "processes"])
def test_concurrent_reviewers_claim_each_item_once(
    url: str, agencies: Agencies, runner: Any
) -> None:
    queue = open_queue(url, agencies)
    analyst = agencies.token("ana", ["analyst"])
    supervisor = agencies.token("sue", ["supervisor"])
    auditor = agencies.token("aud", ["auditor"], jurisdiction="national")
    pushed = queue.push(analyst, [new_item(f"C{n}", f"F{n}") for n in range(ITEMS)])
    ids = {item_id for item_id, _ in pushed}
    assert len(ids) == ITEMS and all(created for _, created in pushed)

    tokens = reviewer_tokens(agencies)
    results = runner(url, agencies, tokens)
    errors = {name: r for name, r in results.items() if isinstance(r, BaseException)}
    assert not errors, errors

    # what the reviewers say they did: each item reviewed once, by one reviewer
    reviewed = [set(r["reviewed"]) for r in results.values()]
    assert sum(len(r["reviewed"]) for r in results.values()) == ITEMS  # no item twice
    assert set().union(*reviewed) == ids  # none lost
    claims = Counter(i for r in results.values() for i in r["claimed"])
    releases = Counter(i for r in results.values() for i in r["released"])
    assert claims == Counter(ids) + releases  # claimed again only after a release
    assert all(r["none_pending"] == 1 for r in results.values())
    assert sum(releases.values()) > 0  # a few items were given back and taken again

    # what the queue holds
    listing = queue.list_items(supervisor, limit=10_000)
    assert {i.id for i in listing} == ids
    assert {i.state for i in listing} == {State.REVIEWED}

    # the audit log: one record per operation, the claims in turn
    worker_calls = sum(len(r["claimed"]) + r["none_pending"] + len(r["reviewed"])
                       + len(r["released"]) for r in results.values())  # fmt: skip
    expected = ITEMS + worker_calls + 1  # the push's records, the reviewers' and the listing
    verification = queue.verify_audit(auditor)
    assert verification.ok, verification
    assert verification.records == expected
    records = queue.audit(auditor, limit=1_000_000)
    assert len(records) == expected + 1  # and the verification's record
    assert all(r.outcome.startswith("allowed") for r in records)
    by_operation = Counter(r.operation for r in records)
    assert by_operation == Counter({
        "push": ITEMS,
        "claim": sum(claims.values()) + REVIEWERS,
        "review": ITEMS,
        "release": sum(releases.values()),
        "list": 1,
        "verify-audit": 1,
    })  # fmt: skip
    check_claims_in_turn(records, ids, results)
    queue.close()


def check_claims_in_turn(
    records: list[AuditRecord], ids: set[int], results: dict[str, Any]
) -> None:
    """In the audit log's order, each item goes push, (claim, release by the same reviewer)*,
    claim, review by the same reviewer: never claimed while held; and each reviewer's claims,
    releases and reviews in the log are the ones it reported."""
    history: dict[int, list[AuditRecord]] = defaultdict(list)
    for record in records:
        if record.item_id is not None:
            history[record.item_id].append(record)
    assert set(history) == ids
    for item_id, steps in history.items():
        operations = [r.operation for r in steps]
        assert operations[0] == "push" and operations[-1] == "review", (item_id, operations)
        assert operations[1:] == ["claim", "release"] * ((len(steps) - 3) // 2) + [
            "claim", "review"
        ], (item_id, operations)  # fmt: skip
        for claim, after in zip(steps[1::2], steps[2::2], strict=True):
            assert claim.actor == after.actor, (item_id, claim, after)
    for name, result in results.items():
        mine = [r for r in records if r.actor == name]
        assert [r.item_id for r in mine if r.operation == "claim" and r.item_id is not None] == (
            result["claimed"]
        )
        assert [r.item_id for r in mine if r.operation == "review"] == result["reviewed"]
        assert [r.item_id for r in mine if r.operation == "release"] == result["released"]
        assert [r.outcome for r in mine if r.item_id is None] == ["allowed: none pending"]


def test_processes_create_a_new_database_at_once(url: str, agencies: Agencies) -> None:
    """8 processes open the same new queue database at the same moment: each waits its turn
    to create or find the schema, then claims (nothing)."""
    tokens = reviewer_tokens(agencies)
    results = run_processes(url, agencies, tokens, start_at=time.time() + 1.0)
    assert all(r == {"claimed": [], "reviewed": [], "released": [], "none_pending": 1}
               for r in results.values())  # fmt: skip
    queue = open_queue(url, agencies)
    auditor = agencies.token("aud", ["auditor"], jurisdiction="national")
    verification = queue.verify_audit(auditor)
    assert verification.ok and verification.records == REVIEWERS
    queue.close()


def test_a_new_sqlite_database_waits_for_its_creator(tmp_path: Path, agencies: Agencies) -> None:
    """Opening a new SQLite queue while another connection holds the new file's write lock (as
    another process creating it does, before the file is in WAL mode) waits for the lock;
    it used to fail at once with a raw sqlite3 'database is locked'."""
    path = tmp_path / "new.db"
    creator = sqlite3.connect(path, isolation_level=None)
    creator.execute("BEGIN IMMEDIATE")  # the write lock of a new, rollback-journal file
    opened: list[Any] = []

    def open_it() -> None:
        try:
            opened.append(open_queue(f"sqlite:///{path}", agencies))
        except BaseException as exc:
            opened.append(exc)

    thread = threading.Thread(target=open_it)
    thread.start()
    thread.join(timeout=0.5)
    assert thread.is_alive() and not opened, opened  # waiting, not failed
    creator.execute("COMMIT")
    creator.close()
    thread.join(timeout=30)
    [queue] = opened
    assert isinstance(queue, ReviewQueue), queue
    [(item_id, _)] = queue.push(agencies.token("ana", ["analyst"]), [new_item()])
    claimed = queue.claim(agencies.token("rob", ["reviewer"]))
    assert claimed is not None and claimed.id == item_id

"""The review queue survives SIGKILL at many points, on both engines: a worker process
(tests/queue_worker.py crash) pushes and decides in a loop and is killed mid-migration, after
chosen SQL statements (mid-transaction), right after chosen commits and after a number of
completed calls. After each kill every item is whole or absent, consistent with its state and
with the audit log, which verifies and holds exactly the calls that committed; and the queue
keeps working."""

from __future__ import annotations

import contextlib
import json
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from queue_support import Agencies, key_setting, new_item, open_queue

from kinmatch.queue import State
from kinmatch.queue.database import Database
from kinmatch.security.audit import AuditRecord

WORKER = Path(__file__).parent / "queue_worker.py"
OFFICERS = {"ana": "analyst", "rob": "reviewer", "rita": "reviewer", "sue": "supervisor",
            "sam": "supervisor"}  # fmt: skip
Record = tuple[str, int | None, str]


@dataclass(frozen=True)
class Kill:
    """Where a worker run dies: right after its ``at``-th SQL statement that starts with
    ``sql`` (``statement``), right after its ``at``-th commit (``commit``), or ``delay``
    seconds after it reported ``at`` completed calls (``calls``)."""

    how: str
    at: int
    sql: str = ""
    delay: float = 0.0


def schedule() -> list[Kill]:
    """The kill points of one engine's test, in order, on one database."""
    rng = random.Random(20240611)
    # one round of the worker's loop: push a and b (2 items), claim a, review a, confirm a,
    # claim b (or an older pending item), escalate it, return it; the next round rejects
    # a and confirms b, then claims one and releases it
    return [
        # a fresh database: the schema migration killed midway, twice
        Kill("statement", 1, "CREATE TABLE items"),
        Kill("statement", 1, "CREATE TRIGGER"),
        # mid-transaction: a push after its first and its second item, each kind of change
        # to an item, audit records written but not the head, the head (the last statement)
        Kill("statement", 1, "INSERT INTO items"),
        Kill("statement", 2, "INSERT INTO items"),
        *(Kill("statement", k, "UPDATE items") for k in (1, 2, 3, 4, 5, 6, 9, 11, 13, 14)),
        # inside a withdrawal of the first round: its item closed, erased, the withdrawal
        *(Kill("statement", k, "UPDATE items") for k in (7, 8)),
        Kill("statement", 1, "INSERT INTO withdrawals"),
        *(Kill("statement", k, "INSERT INTO audit") for k in (1, 2, 4, 6, 9, 12)),
        *(Kill("statement", k, "UPDATE audit_head") for k in (2, 3, 5, 7, 8, 11)),
        *(Kill("statement", k) for k in (1, 12, 25, 40)),  # any: the lock and the reads
        # committed, not yet reported (commits 1 and 2 open the queue: schema, key)
        *(Kill("commit", k) for k in (3, 6, 10, 15)),
        # anywhere in a call: token check, transaction, between transactions
        *(Kill("calls", n, delay=rng.uniform(0, 0.004)) for n in (1, 3, 6, 10, 15, 22)),
    ]


def run_worker(
    url: str, agencies: Agencies, tokens: dict[str, str], run: int, kill: Kill
) -> tuple[list[list[Record]], str]:
    """One worker run until it is killed: the calls it reported complete and its stderr."""
    settings: dict[str, Any] = {"url": url, "trust": str(agencies.trust_file), "tokens": tokens,
                                "run": run, "max_calls": 1000, "key": key_setting(url)}  # fmt: skip
    if kill.how == "statement":
        settings["kill_at_statement"] = [kill.sql, kill.at]
    elif kill.how == "commit":
        settings["kill_after_commit"] = kill.at
    worker = subprocess.Popen(
        [sys.executable, str(WORKER), "crash"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert worker.stdin is not None and worker.stdout is not None and worker.stderr is not None
    worker.stdin.write(json.dumps(settings) + "\n")
    worker.stdin.close()
    reported: list[list[Record]] = []
    if kill.how == "calls":
        while len(reported) < kill.at:
            line = worker.stdout.readline()
            assert line, "the worker ended before it was killed"
            reported.append([tuple(r) for r in json.loads(line)])
        time.sleep(kill.delay)
        worker.send_signal(signal.SIGKILL)
    out, err = worker.stdout.read(), worker.stderr.read()  # stderr: a line or a traceback
    worker.wait(timeout=60)
    assert worker.returncode == -signal.SIGKILL, (kill, worker.returncode, err)
    reported += [[tuple(r) for r in json.loads(line)] for line in out.splitlines()]
    return reported, err


def test_sigkill_at_many_points_leaves_the_queue_whole(url: str, agencies: Agencies) -> None:
    tokens = {f"{name}@A1": agencies.token(name, [role]) for name, role in OFFICERS.items()}
    analyst = agencies.token("pat", ["analyst"])
    reviewer = agencies.token("tom", ["reviewer"])
    auditor = agencies.token("aud", ["auditor"], jurisdiction="national")
    last_seq = 0  # the audit log's end before the run
    extra_calls: Counter[str] = Counter()
    for run, kill in enumerate(schedule()):
        reported, err = run_worker(url, agencies, tokens, run, kill)
        if kill.how == "statement":
            assert err.startswith(f"killed after: {kill.sql}"), (kill, err)
        # the schema: none of it after a kill mid-migration (runs 0 and 1), else all of it
        tables_now = {"schema_version", "items", "audit", "audit_head", "item_handlers",
                      "queue_key", "audit_checkpoints", "revoked_tokens",
                      "revoked_officers", "item_agencies", "withdrawals"}  # fmt: skip
        schema = tables_now if run >= 2 else set()
        assert tables(url) == schema, kill
        if run == 0:
            continue  # run 1 too starts on a fresh database; this test migrates after it

        queue = open_queue(url, agencies)
        records = queue.audit(auditor, limit=1_000_000)
        new = [(r.operation, r.item_id, r.actor) for r in records if r.seq > last_seq]
        done = [record for call in reported for record in call]
        assert new[: len(done)] == done, kill  # every completed call is durable
        extra = new[len(done) :]
        if kill.how == "statement":  # died inside a transaction: it left nothing
            assert extra == [], kill
        elif kill.how == "commit":  # died right after a commit: the call is there, whole
            assert extra and len({(op, actor) for op, _, actor in extra}) == 1, (kill, extra)
        else:  # died anywhere: at most the one call in flight
            assert len(extra) <= 2 and len({(op, actor) for op, _, actor in extra}) <= 1, extra
        extra_calls[kill.how] += bool(extra)

        check_items(url, records)
        verification = queue.verify_audit(auditor)
        assert verification.ok, (kill, verification)
        assert verification.records == len(records) + 1  # and the audit call's own record

        # the queue keeps working
        [(probe, created)] = queue.push(analyst, [new_item(f"P{run}")])
        claimed = queue.claim(reviewer, probe)
        assert created and claimed is not None and claimed.state == State.CLAIMED
        last_seq = verification.records + 3  # verification, push, claim
        queue.close()

    assert extra_calls["commit"] == 4  # every commit kill left a committed, unreported call
    queue = open_queue(url, agencies)
    final = queue.audit(auditor, limit=1_000_000)
    states = check_items(url, final)
    assert set(states) == set(State)  # the kills left items in every state
    assert final[-1].seq == last_seq and queue.verify_audit(auditor).ok
    queue.close()


def tables(url: str) -> set[str]:
    """The tables of the database, read without kinmatch (which would migrate it)."""
    if url.startswith("sqlite:///"):
        with contextlib.closing(sqlite3.connect(url.removeprefix("sqlite:///"))) as connection:
            rows = connection.execute("SELECT name FROM sqlite_master WHERE type = 'table' "
                                      "AND name NOT LIKE 'sqlite_%'").fetchall()  # fmt: skip
    else:
        import psycopg

        with psycopg.connect(url) as connection:
            rows = connection.execute("SELECT tablename FROM pg_tables "
                                      "WHERE schemaname = 'public'").fetchall()  # fmt: skip
    return {row[0] for row in rows}


_COLUMNS = (
    "id, state, pushed_by, claimed_by, lease_expires, reviewed_by, finding, review_reason, "
    "escalated_by, escalation_reason, decided_by, decision_reason"
)


def check_items(url: str, records: list[AuditRecord]) -> Counter[str]:
    """Every item whole and consistent with its state, and exactly what the audit log says:
    one allowed push per item, no item without one, and its state, holder, reviewer,
    escalator and decider those of its last allowed operations. Returns the count of items
    by state."""
    db = Database(url)
    try:
        with db.transaction(lock_audit=False) as tx:
            rows = tx.all(f"SELECT {_COLUMNS} FROM items ORDER BY id")
    finally:
        db.close()
    items = {row[0]: dict(zip(_COLUMNS.split(", "), row, strict=True)) for row in rows}
    assert all(r.outcome.startswith("allowed") for r in records)

    replayed: dict[int, dict[str, Any]] = {}
    pushes: Counter[int] = Counter()
    for r in records:
        if r.item_id is None or r.operation in ("show", "list"):
            continue
        if r.operation == "push":
            pushes[r.item_id] += r.outcome == "allowed"
            replayed.setdefault(r.item_id, {"state": "pending", "pushed_by": r.actor})
            continue
        item = replayed[r.item_id]  # no operation on an item before its push
        if r.operation == "claim":
            item.update(state="claimed", claimed_by=r.actor)
        elif r.operation in ("release", "lease-expired", "return"):
            item.update(state="pending", claimed_by=None)
        elif r.operation == "review":
            item.update(state="reviewed", reviewed_by=r.actor)
        elif r.operation == "escalate":
            item.update(state="escalated", escalated_by=r.actor)
        elif r.operation in ("confirm", "reject"):
            item.update(state=f"{r.operation}ed", decided_by=r.actor)
        elif r.operation == "withdraw" and r.outcome.startswith("allowed: withdrawn"):
            item.update(state="withdrawn", decided_by=r.actor)
        elif r.operation == "withdraw":  # its genotypes erased: the state stays
            assert r.outcome == "allowed: genotypes erased", r
        else:
            raise AssertionError(f"unexpected record {r}")
    assert set(items) == set(replayed)  # no item without its push, no push without its item
    assert set(pushes.values()) <= {1} and set(pushes) == set(items)
    for item_id, row in items.items():
        expected = replayed[item_id]
        assert {k: row[k] for k in expected} == expected, (row, expected)
        check_state_columns(row)
    return Counter(row["state"] for row in items.values())


def check_state_columns(row: dict[str, Any]) -> None:
    """The columns an item in its state must have (and must not)."""
    state = State(row["state"])
    decided = state in (State.CONFIRMED, State.REJECTED)
    reviewed = row["reviewed_by"] is not None
    returned = row["decision_reason"] is not None and not decided  # escalated, sent back
    assert row["pushed_by"], row
    if state == State.WITHDRAWN:  # from any open state, by the withdrawing supervisor
        assert row["decided_by"] and row["decision_reason"].startswith("withdrawn: "), row
        assert row["lease_expires"] is None, row
        return
    assert reviewed == (row["finding"] is not None) == (row["review_reason"] is not None), row
    assert (row["escalated_by"] is None) == (row["escalation_reason"] is None), row
    assert (row["claimed_by"] is None) == (state == State.PENDING), row
    assert (row["lease_expires"] is not None) == (state == State.CLAIMED), row
    assert (row["decided_by"] is not None) == decided, row
    if state in (State.PENDING, State.CLAIMED):
        assert not reviewed and (row["escalated_by"] is None or returned), row
    elif state == State.REVIEWED:
        assert row["reviewed_by"] == row["claimed_by"], row
        assert row["escalated_by"] is None or returned, row
    elif state == State.ESCALATED:
        assert not reviewed and row["escalated_by"] == row["claimed_by"], row
    else:  # decided: by a second person, with a reason
        assert reviewed or row["escalated_by"] is not None, row
        assert row["decided_by"] not in (row["reviewed_by"], row["escalated_by"]), row
        assert row["decision_reason"], row

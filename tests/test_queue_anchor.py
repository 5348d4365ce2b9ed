"""The queue's own key and the signed checkpoints of its audit head, on both engines: a log
whose newest records were dropped, or that was rewritten and rechained, verifies as a chain
but no longer reaches the checkpoints an auditor exported."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from queue_support import Agencies, new_item, open_queue, queue_key

from kinmatch.errors import AccessDeniedError, QueueError
from kinmatch.queue import ReviewQueue
from kinmatch.queue.database import Database
from kinmatch.queue.rows import AUDIT, record_of
from kinmatch.security.audit import record_hash
from kinmatch.security.checkpoints import Checkpoint, QueueKey, export, public_pem, read_export


def tokens(agencies: Agencies) -> dict[str, str]:
    return {role: agencies.token(f"{role[:3]}", [role])
            for role in ("analyst", "reviewer", "supervisor", "auditor")}  # fmt: skip


def busy_queue(url: str, agencies: Agencies, items: int = 4) -> ReviewQueue:
    """A queue with ``items`` items pushed and the first claimed."""
    queue = open_queue(url, agencies)
    t = tokens(agencies)
    ids = [i for i, _ in queue.push(t["analyst"], [new_item(f"C{i}") for i in range(items)])]
    queue.claim(t["reviewer"], ids[0])
    return queue


def exported(queue: ReviewQueue, agencies: Agencies, tmp_path: Path) -> list[Checkpoint]:
    """What an auditor does: sign the head, export the checkpoints and keep them elsewhere."""
    auditor = tokens(agencies)["auditor"]
    queue.checkpoint(auditor)
    path = tmp_path / "checkpoints.json"
    path.write_text(json.dumps(export(queue.public_key, queue.checkpoints(auditor))))
    key, checkpoints = read_export(json.loads(path.read_text()))
    assert key == queue.public_key
    return checkpoints


def attack(url: str, *statements: str, rechain_from: int | None = None) -> None:
    """What an attacker who can write the database does: drop the guards, change the log,
    recompute the chain from record ``rechain_from`` and move the head to its end, and
    delete the checkpoints stored with it."""
    db = Database(url)
    with db.transaction(lock_audit=False) as tx:
        if db.engine == "sqlite":
            tx.execute("DROP TRIGGER IF EXISTS audit_no_update")
            tx.execute("DROP TRIGGER IF EXISTS audit_no_delete")
        else:
            tx.execute("DROP TRIGGER IF EXISTS audit_no_change ON audit")
        for statement in statements:
            tx.execute(statement)
        records = [record_of(row) for row in tx.all(f"SELECT {AUDIT} FROM audit ORDER BY seq")]
        previous = records[rechain_from - 2].hash if rechain_from and rechain_from > 1 else None
        for record in records[(rechain_from or len(records) + 1) - 1 :]:
            assert previous is not None or record.seq == 1
            link = previous or "0" * 64
            digest = record_hash(record.seq, record.at, record.actor, record.roles,
                                 record.operation, record.item_id, record.outcome,
                                 link)  # fmt: skip
            tx.execute("UPDATE audit SET prev_hash = ?, hash = ? WHERE seq = ?",
                       (link, digest, record.seq))  # fmt: skip
            previous = digest
        end = records[-1].hash if previous is None else previous
        tx.execute("UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1", (records[-1].seq, end))
        tx.execute("DELETE FROM audit_checkpoints")
    db.close()


def test_dropping_the_newest_records_and_moving_the_head_misses_the_checkpoint(
    url: str, agencies: Agencies, tmp_path: Path
) -> None:
    queue = busy_queue(url, agencies)  # records 1-5
    checkpoints = exported(queue, agencies, tmp_path)  # signs record 5; record 6 audits it
    auditor = tokens(agencies)["auditor"]
    assert queue.verify_audit(auditor, checkpoints).ok
    attack(url, "DELETE FROM audit WHERE seq >= 4", rechain_from=4)  # the claim is gone
    assert queue.verify_audit(auditor).ok  # the chain alone still verifies (record 4 says so)
    result = queue.verify_audit(auditor, checkpoints)
    assert not result.ok and result.first_bad == 5
    assert "ends at record 4 but a checkpoint signed record 5" in result.reason


def test_a_rewritten_and_rechained_log_misses_the_checkpoint(
    url: str, agencies: Agencies, tmp_path: Path
) -> None:
    queue = busy_queue(url, agencies)
    checkpoints = exported(queue, agencies, tmp_path)
    auditor = tokens(agencies)["auditor"]
    attack(url, "UPDATE audit SET actor = 'someone@A1' WHERE seq = 2", rechain_from=2)
    assert queue.verify_audit(auditor).ok
    result = queue.verify_audit(auditor, checkpoints)
    assert not result.ok and result.first_bad == 5 and "rewritten" in result.reason


def test_the_stored_checkpoints_are_checked_too(url: str, agencies: Agencies) -> None:
    queue = busy_queue(url, agencies)
    auditor = tokens(agencies)["auditor"]
    signed = queue.checkpoint(auditor)
    assert queue.scheduled_checkpoint() is not None  # the record of the request moved the head
    assert queue.scheduled_checkpoint() is None  # signed already
    db = Database(url)
    with db.transaction(lock_audit=False) as tx:  # an attacker who forgets the checkpoints
        tx.execute("DROP TRIGGER IF EXISTS audit_no_delete" if db.engine == "sqlite" else
                   "DROP TRIGGER IF EXISTS audit_no_change ON audit")  # fmt: skip
        tx.execute("DELETE FROM audit WHERE seq > ?", (signed.seq - 1,))
        row = tx.one("SELECT hash FROM audit WHERE seq = ?", (signed.seq - 1,))
        assert row is not None
        tx.execute("UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1", (signed.seq - 1, row[0]))
    result = queue.verify_audit(auditor)
    assert not result.ok and "records were removed" in result.reason


def test_checkpoints_verify_only_with_the_queues_key(
    url: str, agencies: Agencies, tmp_path: Path
) -> None:
    queue = busy_queue(url, agencies)
    auditor = tokens(agencies)["auditor"]
    real = exported(queue, agencies, tmp_path)[-1]
    other = QueueKey(Ed25519PrivateKey.generate())
    forged = other.sign(real.seq, real.hash, real.at)
    result = queue.verify_audit(auditor, [forged])
    assert not result.ok and "not signed by the queue's key" in result.reason
    result = queue.verify_audit(auditor, [real], public_pem(other.public_key))
    assert not result.ok and "the key was replaced" in result.reason
    assert queue.verify_audit(auditor, [real], queue.public_key).ok
    with pytest.raises(AccessDeniedError):
        queue.checkpoint(tokens(agencies)["supervisor"])
    with pytest.raises(AccessDeniedError):
        queue.checkpoints(tokens(agencies)["analyst"])


def test_the_key_is_created_with_the_queue_outside_its_database(
    agencies: Agencies, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'q.db'}"
    queue = open_queue(url, agencies)
    key = tmp_path / "q.db.key"
    assert queue.key is not None and queue.key.path == key
    assert key.stat().st_mode & 0o777 == 0o600
    assert b"PRIVATE KEY" not in (tmp_path / "q.db").read_bytes()
    public = queue.public_key
    queue.close()
    assert open_queue(url, agencies).public_key == public  # the same key on every open
    os.chmod(key, 0o640)
    with pytest.raises(QueueError, match="only its owner may read"):
        open_queue(url, agencies)
    os.chmod(key, 0o600)
    with pytest.raises(QueueError, match="is missing"):  # never silently a new one
        ReviewQueue(url, agencies.trust, key=tmp_path / "other.key")
    QueueKey.open(tmp_path / "other.key")  # another queue's key
    with pytest.raises(QueueError, match="not this queue's key"):
        ReviewQueue(url, agencies.trust, key=tmp_path / "other.key")
    key.unlink()
    with pytest.raises(QueueError, match="is missing"):  # never silently a new one
        open_queue(url, agencies)


def test_a_postgresql_queue_needs_its_key_file(url: str, agencies: Agencies) -> None:
    if queue_key(url) is None:
        pytest.skip("a SQLite queue's key is beside its file")
    with pytest.raises(QueueError, match="needs its key file"):
        ReviewQueue(url, agencies.trust)


def test_a_checkpoint_file_is_checked(tmp_path: Path) -> None:
    bad: list[Any] = [{"seq": "1", "hash": "x", "at": "t", "signature": "s"}, {"seq": 1}, 3]
    for entry in bad:
        with pytest.raises(QueueError):
            read_export([entry])
    with pytest.raises(QueueError):
        read_export({"checkpoints": "none"})

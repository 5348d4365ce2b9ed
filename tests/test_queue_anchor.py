"""The queue's own key, the signed checkpoints of its audit head and the keyed digests of its
items, on both engines: a log whose newest records were dropped, or that was rewritten and
rechained, verifies as a chain but no longer reaches the checkpoints an auditor exported; an
item row edited in the database no longer matches the digest its audit record carries."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from queue_support import GENOTYPE_TEXT, Agencies, new_item, open_queue, queue_key
from test_queue import older_schema

from kinmatch.errors import AccessDeniedError, InvalidTransitionError, QueueError
from kinmatch.queue import ReviewQueue
from kinmatch.queue.anchor import item_digest
from kinmatch.queue.database import ANCHOR_VERSION, Database
from kinmatch.queue.rows import AUDIT, record_of
from kinmatch.security.audit import record_hash
from kinmatch.security.checkpoints import Checkpoint, QueueKey, export, public_pem, read_export


def tokens(agencies: Agencies) -> dict[str, str]:
    return {role: agencies.token(f"{role[:3]}", [role])
            for role in ("analyst", "reviewer", "supervisor", "auditor")}  # fmt: skip


def busy_queue(url: str, agencies: Agencies, items: int = 4) -> ReviewQueue:
    """A queue with ``items`` items pushed and the first claimed, then listed twice (records
    1-7 with 4 items)."""
    queue = open_queue(url, agencies)
    t = tokens(agencies)
    ids = [i for i, _ in queue.push(t["analyst"], [new_item(f"C{i}") for i in range(items)])]
    queue.claim(t["reviewer"], ids[0])
    queue.list_items(t["supervisor"])
    queue.list_items(t["supervisor"])
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
                                 record.operation, record.item_id, record.outcome, link,
                                 record.item_digest)  # fmt: skip
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
    queue = busy_queue(url, agencies)  # records 1-7
    checkpoints = exported(queue, agencies, tmp_path)  # signs record 7; record 8 audits it
    auditor = tokens(agencies)["auditor"]
    assert queue.verify_audit(auditor, checkpoints).ok
    attack(url, "DELETE FROM audit WHERE seq >= 6", rechain_from=6)  # who listed is gone
    assert queue.verify_audit(auditor).ok  # the chain alone still verifies (record 6 says so)
    result = queue.verify_audit(auditor, checkpoints)
    assert not result.ok and result.first_bad == 7
    assert "ends at record 6 but a checkpoint signed record 7" in result.reason


def test_a_rewritten_and_rechained_log_misses_the_checkpoint(
    url: str, agencies: Agencies, tmp_path: Path
) -> None:
    queue = busy_queue(url, agencies)
    checkpoints = exported(queue, agencies, tmp_path)
    auditor = tokens(agencies)["auditor"]
    attack(url, "UPDATE audit SET actor = 'someone@A1' WHERE seq = 2", rechain_from=2)
    assert queue.verify_audit(auditor).ok
    result = queue.verify_audit(auditor, checkpoints)
    assert not result.ok and result.first_bad == 7 and "rewritten" in result.reason


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


# -- item digests (issue 13, item 7) ------------------------------------------------------------

EDITS = {
    "state": ["UPDATE items SET state = 'confirmed', decided_by = 'sue@A1' WHERE id = 1"],
    "decider": ["UPDATE items SET reviewed_by = 'someone@A1' WHERE id = 2"],
    "genotypes": ["UPDATE items SET loci = replace(loci, '14/17.3', '14/18') WHERE id = 3"],
    "handlers": ["DELETE FROM item_handlers WHERE item_id = 2"],
    "added": [
        "INSERT INTO items (key, state, agency, query_id, reference_ids, relationship, lr, "
        "inconsistent_loci, loci, parameters, store_version, created_at, pushed_by, "
        "updated_at) SELECT 'A1/forged', 'confirmed', agency, 'C9', reference_ids, "
        "relationship, lr, inconsistent_loci, loci, parameters, store_version, "
        "created_at, pushed_by, updated_at FROM items WHERE id = 1"
    ],
    "deleted": [
        "DELETE FROM item_handlers WHERE item_id = 4",
        "DELETE FROM item_agencies WHERE item_id = 4",
        "DELETE FROM items WHERE id = 4",
    ],
}


def reviewed_queue(url: str, agencies: Agencies) -> ReviewQueue:
    """Items 1-4: 1 claimed, 2 reviewed (by rev, with its handler), 3 and 4 pending."""
    queue = busy_queue(url, agencies)
    t = tokens(agencies)
    queue.claim(t["reviewer"], 2)
    queue.review(t["reviewer"], 2, "supports", "fits")
    return queue


@pytest.mark.parametrize("edit", list(EDITS))
def test_an_item_edited_in_the_database_fails_verification(
    url: str, agencies: Agencies, edit: str
) -> None:
    queue = reviewed_queue(url, agencies)
    auditor = tokens(agencies)["auditor"]
    assert queue.verify_audit(auditor).ok
    db = Database(url)
    with db.transaction(lock_audit=False) as tx:
        for statement in EDITS[edit]:
            tx.execute(statement)
    db.close()
    result = queue.verify_audit(auditor)
    assert not result.ok, edit
    item = {"state": 1, "decider": 2, "genotypes": 3, "handlers": 2, "added": 5, "deleted": 4}
    assert f"item {item[edit]} " in result.reason, result
    assert not any(g in result.reason for g in GENOTYPE_TEXT)


def test_no_change_digests_an_edit_over(url: str, agencies: Agencies) -> None:
    """An item edited in the database takes no change (the change would digest the edit
    and hide it): refused and audited, and its lease does not expire, so verify-audit still
    names it."""
    queue = reviewed_queue(url, agencies)
    t = tokens(agencies)
    db = Database(url)
    with db.transaction(lock_audit=False) as tx:  # item 2 "reviewed" -> "escalated"; 1 edited
        tx.execute("UPDATE items SET state = 'escalated' WHERE id = 2")
        tx.execute("UPDATE items SET lease_expires = '2000-01-01T00:00:00.000000Z' WHERE id = 1")
    db.close()
    supervisor = agencies.token("sam", ["supervisor"])
    for step in (queue.confirm, queue.return_to_pending):
        with pytest.raises(InvalidTransitionError, match="verify-audit"):
            step(supervisor, 2, "looks fine")
    with pytest.raises(InvalidTransitionError, match="verify-audit"):
        queue.review(t["reviewer"], 1, "supports", "fits")  # claimed, lease edited away
    records = queue.audit(t["auditor"])
    refused = [r for r in records if r.outcome == "refused: item altered outside the queue"]
    assert [(r.operation, r.item_id) for r in refused] == [
        ("confirm", 2), ("return", 2), ("review", 1)
    ]  # fmt: skip
    assert not any(r.operation == "lease-expired" for r in records)
    result = queue.verify_audit(t["auditor"])
    assert not result.ok and "item 1 " in result.reason


def test_digests_are_keyed_and_carry_no_genotype(url: str, agencies: Agencies) -> None:
    queue = reviewed_queue(url, agencies)
    records = queue.audit(tokens(agencies)["auditor"])
    changes = [r for r in records if r.operation in ("push", "claim", "review")]
    assert changes and all(r.item_digest and len(r.item_digest) == 64 for r in changes)
    assert all(r.item_digest is None for r in records if r.operation == "audit")
    assert not any(g in repr(records) for g in GENOTYPE_TEXT)
    assert queue.key is not None
    other = QueueKey(Ed25519PrivateKey.generate())
    db = Database(url)
    with db.transaction(lock_audit=False) as tx:  # the same row, another key: another digest
        assert (
            item_digest(tx, queue.key, 3) == [r for r in changes if r.item_id == 3][-1].item_digest
        )
        assert item_digest(tx, other, 3) != item_digest(tx, queue.key, 3)
    db.close()


def test_a_queue_before_digests_upgrades_and_its_old_chain_verifies(
    url: str, agencies: Agencies, monkeypatch: pytest.MonkeyPatch
) -> None:
    t = tokens(agencies)
    older_schema(monkeypatch, ANCHOR_VERSION - 1)
    old = open_queue(url, agencies)  # the schema before the queue's key
    assert old.key is None
    ids = [i for i, _ in old.push(t["analyst"], [new_item("C1"), new_item("C2")])]
    old.claim(t["reviewer"], ids[0])
    assert old.verify_audit(t["auditor"]).ok
    old.close()
    monkeypatch.undo()

    queue = open_queue(url, agencies)  # upgraded in place: key, checkpoints, digests
    records = queue.audit(t["auditor"])
    assert [r.item_digest for r in records[:4]] == [None] * 4  # hashed as before
    assert [(r.operation, r.item_id) for r in records[4:6]] == [("item-digest", i) for i in ids]
    assert queue.verify_audit(t["auditor"]).ok  # the old chain still verifies
    db = Database(url)
    with db.transaction(lock_audit=False) as tx:  # an item of the old version, edited now
        tx.execute("UPDATE items SET state = 'confirmed' WHERE id = ?", (ids[1],))
    db.close()
    result = queue.verify_audit(t["auditor"])
    assert not result.ok and f"item {ids[1]} is not as record" in result.reason

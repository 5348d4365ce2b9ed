"""The queue's key and its checkpoints in the queue's database (see
:mod:`kinmatch.security.checkpoints`).

The key file of ``sqlite:///path/queue.db`` is ``path/queue.db.key`` unless another is named;
a PostgreSQL queue needs one named. The database records the key's public half on first
open: a queue refuses another key, and refuses to start without its key once it has one
(a new key would not verify what the old one signed).

Each audit record of a change to an item carries the item's keyed digest as changed
(:func:`item_digest`); verification recomputes it from the item's current row.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Sequence
from pathlib import Path

from kinmatch.errors import QueueError
from kinmatch.queue.database import Database, Transaction
from kinmatch.queue.rows import record_of
from kinmatch.security.audit import (
    AuditRecord,
    AuditVerification,
    canonical_json,
    record_hash,
    verify_chain,
)
from kinmatch.security.checkpoints import (
    Checkpoint,
    QueueKey,
    load_public_key,
    public_pem,
    unreached,
)

DIGESTED = ("id, key, state, agency, query_id, reference_ids, father_id, mother_id, case_id, "
            "relationship, lr, log10_lr, inconsistent_loci, loci, parameters, store_version, "
            "created_at, pushed_by, claimed_by, lease_expires, reviewed_by, finding, "
            "review_reason, escalated_by, escalation_reason, decided_by, decision_reason, "
            "updated_at, p_unrelated, expected_unrelated, n_searched, "
            "database_verdict")  # fmt: skip
"""The columns of an item its digest covers (with its handlers): every one that means
something."""
_DIGEST_LABEL = "kinmatch queue item digest v1"
KEY_SUFFIX = ".key"
"""The default key file of a SQLite queue: the database file's name with this appended."""


def key_path(db: Database, key: str | Path | None) -> Path:
    """Where the queue's key lives: ``key``, or beside a SQLite database file."""
    if key is not None:
        return Path(key)
    if db.engine != "sqlite":
        raise QueueError("a PostgreSQL queue needs its key file (--queue-key FILE), kept "
                         "outside the database")  # fmt: skip
    return db.path.with_name(db.path.name + KEY_SUFFIX)


def open_key(
    db: Database, key: str | Path | None, recorded: Callable[[Transaction, QueueKey], None]
) -> QueueKey:
    """The queue's key, created with the queue (or on the first open of an older one) and
    recorded in its database, ``recorded(tx, key)`` in the same transaction (the items of
    an older version are there, none with a digest yet)."""
    path = key_path(db, key)
    with db.transaction() as tx:  # one transaction: the check, the key, its record
        row = tx.one("SELECT public_key FROM queue_key WHERE id = 1")
        if row is not None and not path.exists():
            raise QueueError(f"the queue's key {path} is missing: it was created with the "
                             "queue and cannot be replaced")  # fmt: skip
        opened = QueueKey.open(path)
        if row is None:
            tx.execute("INSERT INTO queue_key (id, public_key) VALUES (1, ?)",
                       (opened.public_pem,))  # fmt: skip
            recorded(tx, opened)
        elif row[0] != opened.public_pem:
            raise QueueError(f"{path} is not this queue's key")
    return opened


def append_record(
    tx: Transaction,
    key: QueueKey | None,
    columns: str,
    now: str,
    who: str,
    roles: str,
    operation: str,
    item_id: int | None,
    outcome: str,
    changed: bool,
) -> None:
    """Append one record to the audit chain in ``tx`` (``changed``: a change to the item,
    recorded with its digest; ``key`` None: a schema before digests, ``columns`` its)."""
    head = tx.one("SELECT seq, hash, (SELECT max(seq) FROM audit) FROM audit_head WHERE id = 1")
    assert head is not None
    # after the head, and after any record smuggled in past it: a tampered log still takes
    # new records (verify_audit names the damage)
    seq, previous = max(int(head[0]), int(head[2] or 0)) + 1, str(head[1])
    item = None
    if key is not None and changed and item_id is not None:
        item = item_digest(tx, key, item_id)
    digest = record_hash(seq, now, who, roles, operation, item_id, outcome, previous, item)
    values = [seq, now, who, roles, operation, item_id, outcome, previous, digest]
    values += [item] if key is not None else []  # a schema with item digests
    tx.execute(f"INSERT INTO audit ({columns}) VALUES ({', '.join('?' * len(values))})", values)
    tx.execute("UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1", (seq, digest))


def item_digest(tx: Transaction, key: QueueKey, item_id: int) -> str | None:
    """HMAC-SHA256, keyed with a secret derived from the queue's key, of the canonical JSON
    of the item's :data:`DIGESTED` columns and handlers as they are now (None: no item).
    Keyed, so that a digest in an audit export does not let anyone test guessed
    genotypes against it."""
    row = tx.one(f"SELECT {DIGESTED} FROM items WHERE id = ?", (item_id,))
    if row is None:
        return None
    handlers = tx.all("SELECT seq, officer FROM item_handlers WHERE item_id = ? ORDER BY seq",
                      (item_id,))  # fmt: skip
    payload = canonical_json([list(row), [list(h) for h in handlers]])
    return hmac.new(key.derived(_DIGEST_LABEL), payload, hashlib.sha256).hexdigest()


def intact(tx: Transaction, key: QueueKey | None, item_id: int) -> bool:
    """Whether the item's row is what the newest record of a change to it digested (True
    without a key: a schema before digests). Checked before every change, so that a change
    never digests an edit made outside the queue and hides it from ``verify-audit``."""
    if key is None:
        return True
    row = tx.one("SELECT item_digest FROM audit WHERE item_id = ? AND item_digest IS NOT NULL "
                 "ORDER BY seq DESC LIMIT 1", (item_id,))  # fmt: skip
    current = item_digest(tx, key, item_id)
    return row is not None and current is not None and hmac.compare_digest(current, str(row[0]))


def _altered_item(
    tx: Transaction, key: QueueKey, records: Sequence[AuditRecord]
) -> AuditVerification | None:
    """The first item whose row is not what the newest record of a change to it digested,
    or that no such record covers (inserted outside the queue)."""
    newest = {r.item_id: r for r in records if r.item_id is not None and r.item_digest}
    for (item_id,) in tx.all("SELECT id FROM items ORDER BY id"):
        record = newest.pop(int(item_id), None)
        if record is None:
            return AuditVerification(False, len(records), None, f"item {item_id} has no "
                                     "audit record of a change: it was added outside the "
                                     "queue")  # fmt: skip
        if not hmac.compare_digest(str(item_digest(tx, key, int(item_id))),
                                   str(record.item_digest)):  # fmt: skip
            return AuditVerification(False, len(records), record.seq, f"item {item_id} is "
                                     f"not as record {record.seq} left it: its row was "
                                     "altered outside the queue")  # fmt: skip
    if newest:  # records of items that are no longer there
        item_id, record = min(newest.items(), key=lambda pair: pair[1].seq)
        return AuditVerification(False, len(records), record.seq, f"item {item_id} of record "
                                 f"{record.seq} is missing: it was deleted")  # fmt: skip
    return None


def sign_head(tx: Transaction, key: QueueKey, now: str, *, unless_signed: bool = False) -> (
        Checkpoint | None):  # fmt: skip
    """Sign the audit head and store the checkpoint (``unless_signed``: none when the newest
    checkpoint already signs this head)."""
    head = tx.one("SELECT seq, hash FROM audit_head WHERE id = 1")
    assert head is not None
    if unless_signed and tx.one("SELECT 1 FROM audit_checkpoints WHERE seq = ?", (head[0],)):
        return None
    checkpoint = key.sign(int(head[0]), str(head[1]), now)
    tx.execute("INSERT INTO audit_checkpoints (seq, hash, at, signature) VALUES (?, ?, ?, ?) "
               "ON CONFLICT (seq) DO NOTHING",
               (checkpoint.seq, checkpoint.hash, checkpoint.at, checkpoint.signature))  # fmt: skip
    return checkpoint


def stored(tx: Transaction, after: int = -1, limit: int | None = None) -> list[Checkpoint]:
    """The stored checkpoints of the records after ``after``, oldest first."""
    rows = tx.all("SELECT seq, hash, at, signature FROM audit_checkpoints WHERE seq > ? "
                  "ORDER BY seq LIMIT ?", (after, 2**62 if limit is None else limit))  # fmt: skip
    return [Checkpoint(int(s), str(h), str(a), str(g)) for s, h, a, g in rows]


def verify_anchors(
    tx: Transaction,
    key: QueueKey,
    records: Sequence[AuditRecord],
    checkpoints: Sequence[Checkpoint],
    public_key: str | None,
) -> AuditVerification | None:
    """A failure when the verified chain ``records`` does not reach every checkpoint, those
    stored and ``checkpoints`` (signed by ``public_key``, PEM, else by the queue's key),
    when the queue's key is not ``public_key``, or when an item is not what the newest
    record of a change to it digested; None when all is well."""
    count = len(records)
    if public_key is not None and public_pem(load_public_key(public_key)) != key.public_pem:
        return AuditVerification(False, count, None, "the queue's key is not the public key "
                                 "given: the key was replaced")  # fmt: skip
    wanted = [*stored(tx), *checkpoints]
    seqs = {c.seq for c in wanted}
    hashes = {r.seq: r.hash for r in records if r.seq in seqs}
    failed = unreached(hashes, count, wanted, key.public_key)
    if failed is not None:
        return AuditVerification(False, count, failed[0], failed[1])
    return _altered_item(tx, key, records)


def verify(
    tx: Transaction,
    key: QueueKey | None,
    columns: str,
    checkpoints: Sequence[Checkpoint],
    public_key: str | None,
) -> AuditVerification:
    """The whole chain recomputed (``columns``: the audit's), and with the queue's ``key``
    every item's digest and every checkpoint given (signed by ``public_key`` when given)."""
    head = tx.one("SELECT seq, hash FROM audit_head WHERE id = 1")
    records = [record_of(row) for row in tx.all(f"SELECT {columns} FROM audit ORDER BY seq")]
    result = verify_chain(records, None if head is None else (int(head[0]), str(head[1])))
    if not result.ok or (key is None and not checkpoints and public_key is None):
        return result
    if key is None:
        raise QueueError("the queue's database predates its key: reopen it to upgrade")
    failed = verify_anchors(tx, key, records, checkpoints, public_key)
    return result if failed is None else failed

"""The queue's key and its checkpoints in the queue's database (see
:mod:`kinmatch.security.checkpoints`).

The key file of ``sqlite:///path/queue.db`` is ``path/queue.db.key`` unless another is named;
a PostgreSQL queue needs one named. The database records the key's public half on first
open: a queue refuses another key, and refuses to start without its key once it has one
(a new key would not verify what the old one signed).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from kinmatch.errors import QueueError
from kinmatch.queue.database import Database, Transaction
from kinmatch.security.audit import AuditRecord, AuditVerification
from kinmatch.security.checkpoints import (
    Checkpoint,
    QueueKey,
    load_public_key,
    public_pem,
    unreached,
)

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


def open_key(db: Database, key: str | Path | None) -> QueueKey:
    """The queue's key, created with the queue (or on the first open of an older one) and
    recorded in its database."""
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
        elif row[0] != opened.public_pem:
            raise QueueError(f"{path} is not this queue's key")
    return opened


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
    stored and ``checkpoints`` (signed by ``public_key``, PEM, else by the queue's key), or
    when the queue's key is not ``public_key``; None when it does."""
    count = len(records)
    if public_key is not None and public_pem(load_public_key(public_key)) != key.public_pem:
        return AuditVerification(False, count, None, "the queue's key is not the public key "
                                 "given: the key was replaced")  # fmt: skip
    wanted = [*stored(tx), *checkpoints]
    seqs = {c.seq for c in wanted}
    hashes = {r.seq: r.hash for r in records if r.seq in seqs}
    failed = unreached(hashes, count, wanted, key.public_key)
    if failed is None:
        return None
    return AuditVerification(False, count, failed[0], failed[1])

"""The append-only, hash-chained audit log of the review queue.

Record ``n`` stores ``hash_n = SHA-256(canonical JSON of [seq, at, actor, roles, operation,
item_id, outcome, hash_{n-1}])`` with ``hash_0`` = 64 zeros (a record of a change to an item
appends its keyed digest of the item, ``item_digest``, to that list; older records have none
and hash as before), and a one-row head table keeps the last ``(seq, hash)``; both are written
in the transaction of the change they record.
:func:`verify_chain` recomputes the chain: an edited record breaks its own hash, a deleted,
inserted or reordered one breaks the sequence numbers or the next record's link, and a
deleted tail no longer reaches the head. (Whoever can rewrite the whole database can
recompute a whole chain: signed checkpoints of the head, :mod:`kinmatch.security.checkpoints`,
anchor it outside the database.) Records name who did what to which item and with what
outcome, never a genotype.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass

GENESIS = "0" * 64


def canonical_json(value: object) -> bytes:
    """The bytes a hash or signature covers: compact JSON (no spaces), UTF-8, as given."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def record_hash(
    seq: int,
    at: str,
    actor: str,
    roles: str,
    operation: str,
    item_id: int | None,
    outcome: str,
    prev_hash: str,
    item_digest: str | None = None,
) -> str:
    """The chained hash of one record (hex SHA-256 of its canonical JSON)."""
    fields: list[object] = [seq, at, actor, roles, operation, item_id, outcome, prev_hash]
    if item_digest is not None:  # records without one hash as before the digests
        fields.append(item_digest)
    return hashlib.sha256(canonical_json(fields)).hexdigest()


@dataclass(frozen=True)
class AuditRecord:
    """One audited operation: who (``officer@agency``), in which roles, what, on which item,
    when (UTC, ISO 8601) and with what outcome (``allowed`` or ``refused: <why>``); for a
    change to an item, the keyed digest of the item as changed (HMAC-SHA256, hex)."""

    seq: int
    at: str
    actor: str
    roles: str
    operation: str
    item_id: int | None
    outcome: str
    prev_hash: str
    hash: str
    item_digest: str | None = None

    def expected_hash(self) -> str:
        return record_hash(self.seq, self.at, self.actor, self.roles, self.operation,
                           self.item_id, self.outcome, self.prev_hash,
                           self.item_digest)  # fmt: skip


@dataclass(frozen=True)
class AuditVerification:
    """The outcome of :func:`verify_chain`: ``first_bad`` is the position (1-based, in
    sequence order) of the first record that does not verify."""

    ok: bool
    records: int
    first_bad: int | None = None
    reason: str = ""


def verify_chain(records: Iterable[AuditRecord], head: tuple[int, str] | None) -> AuditVerification:
    """Check sequence numbers, links and hashes of ``records`` (in stored order) and that
    the last one is the ``head``."""
    previous = GENESIS
    count = 0
    for count, record in enumerate(records, start=1):
        if record.seq != count:
            return AuditVerification(False, count, count, f"record {count} has sequence "
                                     f"number {record.seq}: a record was deleted, inserted "
                                     "or moved")  # fmt: skip
        if record.prev_hash != previous:
            return AuditVerification(False, count, count, f"record {count} does not link to "
                                     "the record before it")  # fmt: skip
        if record.hash != record.expected_hash():
            return AuditVerification(False, count, count, f"record {count} was altered")
        previous = record.hash
    last = (count, previous) if count else None
    if last != head and not (last is None and head in (None, (0, GENESIS))):
        return AuditVerification(False, count, count + 1 if head and head[0] > count else count,
                                 f"the log ends at record {count} but its head says "
                                 f"{head[0] if head else 0}: records were removed or the "
                                 "head was altered")  # fmt: skip
    return AuditVerification(True, count)

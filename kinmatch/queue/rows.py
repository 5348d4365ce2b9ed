"""The review queue's rows as values: the columns the service reads and their decoding."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from kinmatch.queue.database import Transaction
from kinmatch.queue.models import Item, ItemSummary, NewItem, State
from kinmatch.security.audit import AuditRecord
from kinmatch.security.tokens import AGENCIES_JOIN, Caller
from kinmatch.security.trust import NATIONAL

T = TypeVar("T")

SUMMARY = ("id, state, agency, query_id, reference_ids, case_id, relationship, lr, log10_lr, "
           "inconsistent_loci, created_at, p_unrelated, expected_unrelated, "
           "database_verdict")  # fmt: skip
"""The columns of an item's summary (:func:`summary_of`)."""
DETAIL = ("father_id, mother_id, loci, parameters, store_version, claimed_by, lease_expires, "
          "reviewed_by, finding, review_reason, escalated_by, escalation_reason, decided_by, "
          "decision_reason, n_searched")  # fmt: skip
"""The columns an item adds to its summary (:func:`item_of` reads both)."""
_N_SUMMARY = len(SUMMARY.split(","))
AUDIT = "seq, at, actor, roles, operation, item_id, outcome, prev_hash, hash, item_digest"
"""The columns of an audit record (:func:`record_of`); :data:`AUDIT_BEFORE_DIGESTS` before
the schema had item digests."""
AUDIT_BEFORE_DIGESTS = AUDIT.removesuffix(", item_digest")


def timestamp(seconds: float) -> str:
    """UTC, ISO 8601 with microseconds and a fixed width, so that text order is time order."""
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


INSERT_ITEM = (
    "INSERT INTO items (key, state, agency, query_id, reference_ids, father_id, mother_id, "
    "case_id, relationship, lr, log10_lr, inconsistent_loci, loci, parameters, store_version, "
    "created_at, pushed_by, updated_at, p_unrelated, expected_unrelated, n_searched, "
    "database_verdict) VALUES "
    "(?, 'pending', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (key) DO NOTHING RETURNING id"
)
"""A new item, ``pending`` (none when its key is queued already): :func:`item_values`."""


def item_values(new: NewItem, key: str, agency: str, pushed_by: str, now: str) -> tuple[Any, ...]:
    """The values of :data:`INSERT_ITEM` for ``new``, stored under ``key``."""
    return (key, agency, new.query_id, json.dumps(list(new.reference_ids)), new.father_id,
            new.mother_id, new.case_id, new.relationship, new.lr, new.log10_lr,
            json.dumps(list(new.inconsistent_loci)),
            json.dumps([dict(x) for x in new.loci], default=str),
            json.dumps(dict(new.parameters), sort_keys=True, default=str), new.store_version,
            now, pushed_by, now, optional(float, new.p_unrelated),
            optional(float, new.expected_unrelated), new.n_searched,
            new.database_verdict)  # fmt: skip


def queue_item(
    tx: Transaction, new: NewItem, owners: Sequence[str], pushed_by: str, now: str
) -> tuple[int, bool]:
    """``new`` as an item of the agencies ``owners`` (its ``agency`` column: them joined by
    ``+``), under the key ``<agencies>/<hit key>`` (duplicates are per set of agencies):
    ``(id, True)`` when added, ``(id of the item queued already, False)`` otherwise."""
    agency = AGENCIES_JOIN.join(owners)
    key = f"{agency}/{new.key}"
    row = tx.one(INSERT_ITEM, item_values(new, key, agency, pushed_by, now))
    if row is None:
        found = tx.one("SELECT id FROM items WHERE key = ?", (key,))
        assert found is not None  # of these agencies, which the caller sees
        return int(found[0]), False
    for owner in owners:
        tx.execute("INSERT INTO item_agencies (item_id, agency) VALUES (?, ?)", (row[0], owner))
    return int(row[0]), True


ITEMS_OF_AGENCY = "SELECT item_id FROM item_agencies WHERE agency = ?"
"""The items one agency's jurisdiction covers (by :data:`item_agencies`)."""


def jurisdiction_sql(caller: Caller) -> tuple[str, list[Any]]:
    """The SQL condition (and its parameters) for items in the caller's jurisdiction."""
    if caller.jurisdiction == NATIONAL:
        return "1 = 1", []
    return f"id IN ({ITEMS_OF_AGENCY})", [caller.jurisdiction]


def optional(kind: Callable[[Any], T], value: Any) -> T | None:
    return None if value is None else kind(value)


def texts(stored: str) -> tuple[str, ...]:
    """A stored JSON list of names as text: versions before one validation for every entry
    point could store other values (numbers, say), which are shown as their JSON."""
    return tuple(x if isinstance(x, str) else json.dumps(x) for x in json.loads(stored))


def summary_of(row: Sequence[Any]) -> ItemSummary:
    inconsistent = json.loads(row[9])
    return ItemSummary(int(row[0]), State(row[1]), row[2], row[3], texts(row[4]),
                       row[5], row[6], float(row[7]), optional(float, row[8]),
                       len(inconsistent), row[10], optional(float, row[11]),
                       optional(float, row[12]), row[13])  # fmt: skip


def item_of(row: Sequence[Any]) -> Item:
    detail = row[_N_SUMMARY:]
    return Item(
        summary=summary_of(row),
        father_id=detail[0],
        mother_id=detail[1],
        inconsistent_loci=texts(row[9]),
        loci=tuple(json.loads(detail[2])),
        parameters=json.loads(detail[3]),
        store_version=detail[4],
        claimed_by=detail[5],
        lease_expires=detail[6],
        reviewed_by=detail[7],
        finding=detail[8],
        review_reason=detail[9],
        escalated_by=detail[10],
        escalation_reason=detail[11],
        decided_by=detail[12],
        decision_reason=detail[13],
        n_searched=optional(int, detail[14]),
    )


def record_of(row: Sequence[Any]) -> AuditRecord:
    return AuditRecord(int(row[0]), row[1], row[2], row[3], row[4],
                       None if row[5] is None else int(row[5]), row[6], row[7], row[8],
                       row[9] if len(row) > 9 else None)  # fmt: skip

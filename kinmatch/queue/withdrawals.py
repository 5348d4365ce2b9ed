"""Withdrawals: a profile's review items closed when its sample leaves the database (a sample
taken in error, consent withdrawn, a case closed), and its genotypes erased on request.

:meth:`ReviewQueue.withdraw <kinmatch.queue.service.ReviewQueue.withdraw>` (supervisors of the
profile's agency, or national) does in one transaction, with an audit record of each change:

* every open item that holds the sample (pending, claimed, reviewed or escalated; as the query,
  a reference, the father or the mother; items of every agency, cross-agency ones included)
  moves to the terminal state ``withdrawn``, its decision reason ``withdrawn: <code>``, which
  each agency of the item reads (never the withdrawn genotypes, once erased);
* with ``erase``, every item that holds it, in any state, has its genotypes replaced by
  :data:`ERASED`, all of them: the item compared the pair, and the other person's genotypes
  there would still give away half of the erased person's (its own profile stays in the store);
* the withdrawal is recorded (``withdrawals``) under its id, so that the same withdrawal again
  (a retry, or the recovery of a process killed midway) changes nothing.

The audit never held genotypes: it keeps its records, and those of an erasure carry the
items' new digests, so the chain still verifies and says when and by whom. After an erasure
the database is compacted (:meth:`~kinmatch.queue.database.Database.compact`) so that no page
of it, its write-ahead log included, keeps the old values.

Which agency a sample belongs to is the store's to say: the caller of this module (the
service that writes the store's tombstone) gives it, never the requester.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from kinmatch.errors import InvalidTransitionError, QueueError
from kinmatch.queue import values
from kinmatch.queue.anchor import intact
from kinmatch.queue.database import Transaction
from kinmatch.queue.models import Item, State, check_reason
from kinmatch.security.checkpoints import QueueKey
from kinmatch.security.tokens import Caller

ERASED = "erased"
"""What an erased genotype reads as in an item."""
WITHHELD = "withheld"
"""What a withdrawn sample's item shows another agency instead of a genotype."""
MAX_WITHDRAWAL_ID = 128
OPEN = (State.PENDING, State.CLAIMED, State.REVIEWED, State.ESCALATED)


class WithdrawalReason(StrEnum):
    SAMPLING_ERROR = "sampling-error"
    CONSENT_WITHDRAWN = "consent-withdrawn"
    CASE_CLOSED = "case-closed"
    OTHER = "other"


@dataclass(frozen=True)
class Withdrawal:
    """A sample of ``agency`` (None: no such sample) withdrawn for ``reason`` (``other``:
    with a ``note``), its genotypes erased when ``erase``; ``id`` names the withdrawal (a
    retry reuses it)."""

    id: str
    sample_id: str
    agency: str | None
    reason: WithdrawalReason | str
    note: str | None = None
    erase: bool = False

    def checked(self) -> Withdrawal:
        """This withdrawal, validated (:class:`QueueError` names what is wrong)."""
        if self.reason not in set(WithdrawalReason):
            raise QueueError(f"reason must be one of {', '.join(WithdrawalReason)}")
        note = None if self.note is None else check_reason(self.note)
        if self.reason == WithdrawalReason.OTHER and note is None:
            raise QueueError("reason 'other' needs a note saying why")
        try:
            values.text(self.id, MAX_WITHDRAWAL_ID)
            values.text(self.sample_id)
            if self.agency is not None:
                values.agency(self.agency)
        except ValueError as exc:
            raise QueueError(f"withdrawal id, sample_id or agency: {exc}") from None
        return Withdrawal(self.id, self.sample_id, self.agency, WithdrawalReason(self.reason),
                          note, bool(self.erase))  # fmt: skip


@dataclass(frozen=True)
class Withdrawn:
    """What a withdrawal did: the items it closed and those whose genotypes it erased."""

    withdrawal: str
    closed: tuple[int, ...]
    erased: tuple[int, ...]
    replayed: bool = False


def items_holding(tx: Transaction, sample_id: str) -> list[tuple[int, State, str]]:
    """(id, state, loci) of every item that holds ``sample_id``, oldest first."""
    pattern = "%" + json.dumps(sample_id).replace("\\", "\\\\").replace("%", "\\%").replace(
        "_", "\\_") + "%"  # fmt: skip
    rows = tx.all("SELECT id, state, loci, query_id, reference_ids, father_id, mother_id FROM "
                  "items WHERE query_id = ? OR father_id = ? OR mother_id = ? OR "
                  "reference_ids LIKE ? ESCAPE '\\' ORDER BY id",
                  (sample_id, sample_id, sample_id, pattern))  # fmt: skip
    return [(int(r[0]), State(r[1]), str(r[2])) for r in rows
            if sample_id in (r[3], r[5], r[6]) or sample_id in json.loads(r[4])]  # fmt: skip


def erased_loci(loci: str) -> str:
    """An item's per-locus details with every genotype replaced by :data:`ERASED`."""
    entries: list[dict[str, Any]] = json.loads(loci)
    for entry in entries:
        genotypes = entry.get("genotypes")
        if isinstance(genotypes, dict):
            entry["genotypes"] = {role: None if g is None else ERASED
                                  for role, g in genotypes.items()}  # fmt: skip
    return json.dumps(entries, default=str)


def withheld(tx: Transaction, caller: Caller, item: Item) -> Item:
    """``item`` as ``caller`` may read it: when it holds a sample withdrawn after it was
    created, of an agency outside the caller's jurisdiction, every genotype reads
    :data:`WITHHELD` (the state and the reason code stay: the other agency knows what became
    of its item, never the withdrawn person's genotypes, nor the other person's, which give
    away half of them)."""
    summary = item.summary
    persons = sorted(p for p in {summary.query_id, *summary.reference_ids, item.father_id,
                                 item.mother_id} if p is not None)  # fmt: skip
    marks = ", ".join("?" for _ in persons)
    agencies = tx.all(f"SELECT agency FROM withdrawals WHERE sample_id IN ({marks}) AND "
                      "withdrawn_at >= ?", (*persons, summary.created_at))  # fmt: skip
    if all(agency is None or caller.sees(str(agency)) for (agency,) in agencies):
        return item
    loci = tuple({**entry, "genotypes": {role: None if g is None else WITHHELD
                                         for role, g in entry["genotypes"].items()}}
                 if isinstance(entry.get("genotypes"), dict) else entry
                 for entry in item.loci)  # fmt: skip
    return dataclasses.replace(item, loci=loci)


Audit = Callable[[int | None, str], None]
"""Appends an audit record of the withdrawal: (item id or None, outcome); an item's is a
change, recorded with its new digest."""


def withdraw_items(
    tx: Transaction, withdrawal: Withdrawal, by: str, now: str, key: QueueKey | None,
    audit: Audit,
) -> Withdrawn:  # fmt: skip
    """The withdrawal's changes in ``tx`` (module docstring), each audited; the recorded
    result when it was done before. Raises :class:`InvalidTransitionError` for an item
    altered outside the queue (a change would digest the edit over), changing nothing."""
    done = recorded(tx, withdrawal.id)
    if done is not None:
        audit(None, f"allowed: withdrawal {withdrawal.id} done before")
        return done
    closed: list[int] = []
    erased: list[int] = []
    code = str(withdrawal.reason)
    for item_id, state, loci in items_holding(tx, withdrawal.sample_id):
        if not intact(tx, key, item_id):
            raise InvalidTransitionError(
                f"withdraw: item {item_id} is not as the audit log "
                "last recorded it: have an auditor run verify-audit"
            )
        if state in OPEN:
            tx.execute("UPDATE items SET state = 'withdrawn', decided_by = ?, "
                       "decision_reason = ?, lease_expires = NULL, updated_at = ? WHERE id = ?",
                       (by, f"withdrawn: {code}", now, item_id))  # fmt: skip
            audit(item_id, f"allowed: withdrawn ({code})")
            closed.append(item_id)
        if withdrawal.erase and (blank := erased_loci(loci)) != loci:
            tx.execute("UPDATE items SET loci = ?, updated_at = ? WHERE id = ?",
                       (blank, now, item_id))  # fmt: skip
            audit(item_id, "allowed: genotypes erased")
            erased.append(item_id)
    result = Withdrawn(withdrawal.id, tuple(closed), tuple(erased))
    record(tx, withdrawal, result, by, now)
    audit(
        None,
        f"allowed: withdrawal {withdrawal.id} of sample {withdrawal.sample_id!r} "
        f"({code}): {len(closed)} items withdrawn, {len(erased)} erased",
    )
    return result


def recorded(tx: Transaction, withdrawal_id: str) -> Withdrawn | None:
    row = tx.one("SELECT closed, erased FROM withdrawals WHERE id = ?", (withdrawal_id,))
    if row is None:
        return None
    return Withdrawn(withdrawal_id, tuple(json.loads(row[0])), tuple(json.loads(row[1])), True)


def record(tx: Transaction, withdrawal: Withdrawal, done: Withdrawn, by: str, now: str) -> None:
    tx.execute("INSERT INTO withdrawals (id, sample_id, agency, reason, note, erased, closed, "
               "withdrawn_by, withdrawn_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
               (withdrawal.id, withdrawal.sample_id, withdrawal.agency, str(withdrawal.reason),
                withdrawal.note, json.dumps(list(done.erased)), json.dumps(list(done.closed)),
                by, now))  # fmt: skip

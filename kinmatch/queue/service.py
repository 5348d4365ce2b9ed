"""ReviewQueue: the review workflow behind one authorization check per call.

Every method takes the caller's token first. In order, each call

1. verifies the token (:class:`~kinmatch.security.tokens.TokenVerifier`) and that it is not
   revoked (:mod:`kinmatch.queue.revocations`; again in step 3);
2. checks the caller's roles against the policy (:mod:`kinmatch.security.policy`);
3. in one database transaction: returns expired leases to ``pending``, checks the item
   (in the caller's jurisdiction, else it reads as missing; state; lease holder; the
   two-person rule), makes the change and appends the audit record.

A refusal at any step is audited too, in a transaction of its own (the refused change is
rolled back), and raised as a :class:`~kinmatch.errors.QueueError` whose message carries no
genotype.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

from kinmatch.errors import (
    AccessDeniedError,
    AuthenticationError,
    InvalidTransitionError,
    ItemNotFoundError,
    QueueError,
)
from kinmatch.queue import anchor
from kinmatch.queue.database import ANCHOR_VERSION, Database, Transaction
from kinmatch.queue.models import (
    TRANSITIONS,
    Finding,
    Item,
    ItemSummary,
    NewItem,
    State,
    check_page,
    check_reason,
)
from kinmatch.queue.revocations import REVOKED, Revocation, revoked, store
from kinmatch.queue.rows import (
    AUDIT,
    AUDIT_BEFORE_DIGESTS,
    DETAIL,
    ITEMS_OF_AGENCY,
    SUMMARY,
    item_of,
    jurisdiction_sql,
    queue_item,
    record_of,
    summary_of,
    timestamp,
)
from kinmatch.queue.withdrawals import Withdrawal, Withdrawn, withdraw_items, withheld
from kinmatch.security.audit import AuditRecord, AuditVerification
from kinmatch.security.checkpoints import Checkpoint, QueueKey
from kinmatch.security.policy import Operation, require, role_names
from kinmatch.security.tokens import AGENCIES_JOIN, MAX_LIFETIME, Caller, TokenVerifier
from kinmatch.security.trust import NATIONAL, TrustStore, WatchedTrust

T = TypeVar("T")

DEFAULT_LEASE = 30 * 60.0
"""Seconds a claim lasts before the item returns to ``pending``."""

INVALID = "invalid request"
"""The audited outcome (after ``refused: ``) of a request whose arguments do not validate."""


class _RefusedError(Exception):
    """A refusal to audit and raise once the transaction is rolled back."""

    def __init__(self, error: QueueError, item_id: int | None, audit_reason: str) -> None:
        self.error = error
        self.item_id = item_id
        self.audit_reason = audit_reason


class ReviewQueue:
    """The review queue in a database (see :mod:`kinmatch.queue.database` for URLs)."""

    def __init__(
        self,
        url: str,
        trust: TrustStore | WatchedTrust | TokenVerifier,
        *,
        lease: float = DEFAULT_LEASE,
        clock: Callable[[], float] = time.time,
        max_token_lifetime: float = MAX_LIFETIME,
        key: str | Path | None = None,
    ) -> None:
        """``trust``: the trust file's agencies, or a watched trust file (tokens then live at
        most ``max_token_lifetime`` seconds), or a configured verifier; ``key``: the queue's
        key file (:mod:`kinmatch.queue.anchor`; created with the queue)."""
        self.db = Database(url)
        self.lease = lease
        self.clock = clock
        self.key: QueueKey | None = None  # None: a schema before the key (tests of upgrades)
        self._columns = AUDIT if self.db.version >= ANCHOR_VERSION else AUDIT_BEFORE_DIGESTS
        if self.db.version >= ANCHOR_VERSION:
            self.key = anchor.open_key(self.db, key, self._upgrade)
        self.verifier = trust if isinstance(trust, TokenVerifier) else TokenVerifier(
            trust, clock=clock, max_lifetime=max_token_lifetime)  # fmt: skip

    # -- operations ---------------------------------------------------------------------

    def push(self, token: str, items: Sequence[NewItem]) -> list[tuple[int, bool]]:
        """Add candidate matches; returns ``(item id, created)`` per item: pushing the same
        hit again for the same agencies (same idempotency key) returns the existing item with
        ``created`` False (unchanged: it keeps the evidence it was first pushed with), to any
        pusher within the item's jurisdiction (an agency of a cross-agency item's included).
        A pusher outside all of the item's agencies is refused, whether it exists or not."""
        return self.push_as(self._authorize(token, Operation.PUSH), items)

    def push_as(self, caller: Caller, items: Sequence[NewItem]) -> list[tuple[int, bool]]:
        """:meth:`push` for a caller verified earlier by :meth:`authorize` (the analyst of a
        batch the server compares after its submission); revocations are checked again."""
        require(caller, Operation.PUSH)
        ids: list[tuple[int, bool]] = []

        def run(tx: Transaction, now: str) -> None:
            for new in items:
                owners = new.owners(caller.agency)
                agency = AGENCIES_JOIN.join(owners)
                if not caller.sees(agency):
                    raise _RefusedError(AccessDeniedError(f"push: agency {agency!r} is outside "
                                        "the caller's jurisdiction"), None,
                                        "outside jurisdiction")  # fmt: skip
                item_id, created = queue_item(tx, new, owners, caller.name, now)
                ids.append((item_id, created))
                self._audit(tx, now, caller, Operation.PUSH, item_id,
                            "allowed" if created else "allowed: already queued",
                            changed=created)  # fmt: skip

        self._run(caller, Operation.PUSH, None, run)
        return ids

    def list_items(
        self, token: str, *, state: State | str | None = None, limit: int = 100, after: int = 0
    ) -> list[ItemSummary]:
        """Items in the caller's jurisdiction, oldest first (``after`` an item id, at most
        ``limit``): pseudonymous IDs, LR, state and database evidence, no genotypes."""
        caller = self._authorize(token, Operation.LIST)

        def check() -> None:
            if state is not None and state not in set(State):
                raise QueueError(f"unknown state {state!r}: one of {', '.join(State)}")
            check_page(after, limit, 10_000)

        self._checked(caller, Operation.LIST, None, check)
        out: list[ItemSummary] = []

        def run(tx: Transaction, now: str) -> None:
            covered, parameters = jurisdiction_sql(caller)
            sql = f"SELECT {SUMMARY} FROM items WHERE id > ? AND {covered}"
            parameters.insert(0, after)
            if state is not None:
                sql += " AND state = ?"
                parameters.append(str(state))
            rows = tx.all(sql + " ORDER BY id LIMIT ?", [*parameters, limit])
            # the item's own (digested) agencies decide, not only the table listing them
            out.extend(s for s in map(summary_of, rows) if caller.sees(s.agency))
            self._audit(tx, now, caller, Operation.LIST, None, f"allowed: {len(rows)} items")

        self._run(caller, Operation.LIST, None, run)
        return out

    def show(self, token: str, item_id: int) -> Item:
        """One item in full with its genotypes: supervisors, and the reviewer holding it."""
        caller = self._authorize(token, Operation.SHOW)
        out: list[Item] = []

        def run(tx: Transaction, now: str) -> None:
            item = self._item(tx, caller, item_id)
            if "supervisor" not in caller.roles and not (
                item.state == State.CLAIMED and item.claimed_by == caller.name
            ):
                raise _RefusedError(AccessDeniedError(f"show: item {item_id} is not claimed by "
                                    "the caller"), item_id, "not the holder")  # fmt: skip
            out.append(item)
            self._audit(tx, now, caller, Operation.SHOW, item_id, "allowed")

        self._run(caller, Operation.SHOW, item_id, run)
        return out[0]

    def claim(self, token: str, item_id: int | None = None) -> ItemSummary | None:
        """Claim ``item_id``, or the oldest pending item in the caller's jurisdiction (None
        when there is none), for ``lease`` seconds. Never the same item twice."""
        caller = self._authorize(token, Operation.CLAIM)
        out: list[ItemSummary] = []

        def run(tx: Transaction, now: str) -> None:
            target = item_id
            if target is None:
                covered, parameters = jurisdiction_sql(caller)
                row = tx.one(f"SELECT id FROM items WHERE state = 'pending' AND {covered} "
                             "ORDER BY id LIMIT 1", parameters)  # fmt: skip
                if row is None:
                    self._audit(tx, now, caller, Operation.CLAIM, None, "allowed: none pending")
                    return
                target = int(row[0])
            item = self._item(tx, caller, target)
            self._check_state(tx, item, "claim")
            expires = timestamp(self.clock() + self.lease)
            tx.execute("UPDATE items SET state = 'claimed', claimed_by = ?, lease_expires = ?, "
                       "updated_at = ? WHERE id = ?",
                       (caller.name, expires, now, target))  # fmt: skip
            self._audit(tx, now, caller, Operation.CLAIM, target, "allowed", changed=True)
            out.append(self._item(tx, caller, target).summary)

        self._run(caller, Operation.CLAIM, item_id, run)
        return out[0] if out else None

    def release(self, token: str, item_id: int) -> None:
        """Give a claimed item back (``pending``); only its holder may."""
        caller = self._authorize(token, Operation.RELEASE)
        self._holder_step(caller, Operation.RELEASE, item_id, "release",
                          "claimed_by = NULL, lease_expires = NULL", ())  # fmt: skip

    def review(self, token: str, item_id: int, finding: Finding | str, reason: str) -> None:
        """The holder's finding (``supports`` or ``rejects``) with a reason: ``reviewed``."""
        caller = self._authorize(token, Operation.REVIEW)

        def check() -> tuple[str, str]:
            if finding not in set(Finding):
                raise QueueError(f"finding must be one of {', '.join(Finding)}")
            return str(finding), check_reason(reason)

        parameters = self._checked(caller, Operation.REVIEW, item_id, check)
        self._holder_step(caller, Operation.REVIEW, item_id, "review",
                          "reviewed_by = claimed_by, finding = ?, review_reason = ?, "
                          "lease_expires = NULL", parameters)  # fmt: skip

    def escalate(self, token: str, item_id: int, reason: str) -> None:
        """The holder hands the item to the supervisors, with a reason: ``escalated``."""
        caller = self._authorize(token, Operation.ESCALATE)
        why = self._checked(caller, Operation.ESCALATE, item_id, lambda: check_reason(reason))
        self._holder_step(caller, Operation.ESCALATE, item_id, "escalate",
                          "escalated_by = claimed_by, escalation_reason = ?, "
                          "lease_expires = NULL", (why,))  # fmt: skip

    def confirm(self, token: str, item_id: int, reason: str) -> None:
        """A supervisor confirms the match of a reviewed or escalated item (not one they
        reviewed or escalated)."""
        self._decide(token, Operation.CONFIRM, item_id, "confirm", reason)

    def reject(self, token: str, item_id: int, reason: str) -> None:
        """A supervisor rejects the match of a reviewed or escalated item (not one they
        reviewed or escalated)."""
        self._decide(token, Operation.REJECT, item_id, "reject", reason)

    def return_to_pending(self, token: str, item_id: int, reason: str) -> None:
        """A supervisor sends an escalated item back to ``pending`` for another review."""
        self._decide(token, Operation.RETURN, item_id, "return", reason)

    def audit(self, token: str, *, after: int = 0, limit: int = 10_000) -> list[AuditRecord]:
        """Audit records after sequence number ``after``, oldest first (auditors): with a
        national jurisdiction all of them, otherwise those of the agency's own officers and
        items (refused tokens count as the officer and agency they claim; anonymous ones and
        claims of unknown agencies only a national auditor sees)."""
        caller = self._authorize(token, Operation.AUDIT)
        self._checked(caller, Operation.AUDIT, None, lambda: check_page(after, limit, 1_000_000))
        out: list[AuditRecord] = []

        def run(tx: Transaction, now: str) -> None:
            sql = f"SELECT {self._columns} FROM audit WHERE seq > ?"
            parameters: list[Any] = [after]
            if caller.jurisdiction != NATIONAL:  # records by its officers or on its items
                # the actor ends in "@<agency>", compared exactly (SQLite's LIKE ignores case)
                suffix = f"@{caller.jurisdiction}"
                sql += (" AND ((length(actor) >= ? AND substr(actor, length(actor) - ? + 1) = ?)"
                        f" OR item_id IN ({ITEMS_OF_AGENCY}))")  # fmt: skip
                parameters += [len(suffix), len(suffix), suffix, caller.jurisdiction]
            rows = tx.all(sql + " ORDER BY seq LIMIT ?", [*parameters, limit])
            out.extend(record_of(row) for row in rows)
            self._audit(tx, now, caller, Operation.AUDIT, None, f"allowed: {len(rows)} records")

        self._run(caller, Operation.AUDIT, None, run)
        return out

    def verify_audit(
        self,
        token: str,
        checkpoints: Sequence[Checkpoint] = (),
        public_key: str | None = None,
    ) -> AuditVerification:
        """Recompute the whole audit chain and the items' digests (auditors); names the first
        bad record. The chain must reach the head of every checkpoint, stored or given (an
        auditor's export), signed by the queue's key, which must be ``public_key`` if given."""
        caller = self._authorize(token, Operation.VERIFY_AUDIT)
        out: list[AuditVerification] = []

        def run(tx: Transaction, now: str) -> None:
            out.append(anchor.verify(tx, self.key, self._columns, checkpoints, public_key))
            outcome = "allowed: chain verifies" if out[0].ok else "allowed: chain BROKEN"
            self._audit(tx, now, caller, Operation.VERIFY_AUDIT, None, outcome)

        self._run(caller, Operation.VERIFY_AUDIT, None, run)
        return out[0]

    def checkpoint(self, token: str) -> Checkpoint:
        """Sign the audit head now and store the checkpoint (auditors)."""
        caller = self._authorize(token, Operation.CHECKPOINT)
        key = self._checked(caller, Operation.CHECKPOINT, None, self._key)
        out: list[Checkpoint] = []

        def run(tx: Transaction, now: str) -> None:
            signed = anchor.sign_head(tx, key, now)
            assert signed is not None
            out.append(signed)
            self._audit(tx, now, caller, Operation.CHECKPOINT, None,
                        f"allowed: checkpoint of record {signed.seq}")  # fmt: skip

        self._run(caller, Operation.CHECKPOINT, None, run)
        return out[0]

    def scheduled_checkpoint(self) -> Checkpoint | None:
        """The server's checkpoint of the head, not audited (None: it is signed already)."""
        key = self._key()
        with self.db.transaction() as tx:
            return anchor.sign_head(tx, key, timestamp(self.clock()), unless_signed=True)

    def checkpoints(
        self, token: str, *, after: int = 0, limit: int = 1_000_000
    ) -> list[Checkpoint]:
        """The stored checkpoints of records after ``after``, oldest first (auditors), to
        keep outside the database with the queue's :attr:`public_key`."""
        caller = self._authorize(token, Operation.CHECKPOINTS)
        self._checked(caller, Operation.CHECKPOINTS, None,
                      lambda: check_page(after, limit, 1_000_000))  # fmt: skip
        out: list[Checkpoint] = []

        def run(tx: Transaction, now: str) -> None:
            out.extend(anchor.stored(tx, after, limit))
            self._audit(tx, now, caller, Operation.CHECKPOINTS, None,
                        f"allowed: {len(out)} checkpoints")  # fmt: skip

        self._run(caller, Operation.CHECKPOINTS, None, run)
        return out

    @property
    def public_key(self) -> str:
        """The public half of the queue's key (PEM): what checkpoints are verified with."""
        return self._key().public_pem

    def revoke(self, token: str, revocation: Revocation) -> Revocation:
        """Revoke a token or an officer's tokens (:mod:`kinmatch.queue.revocations`)."""
        caller = self._authorize(token, Operation.REVOKE)
        stored = self._checked(caller, Operation.REVOKE, None,
                               lambda: revocation.checked(caller, self.clock()))  # fmt: skip

        def run(tx: Transaction, now: str) -> None:
            store(tx, stored, caller, now)
            self._audit(tx, now, caller, Operation.REVOKE, None, f"allowed: {stored.target}")

        self._run(caller, Operation.REVOKE, None, run)
        return stored

    def withdraw(self, token: str, withdrawal: Withdrawal) -> Withdrawn:
        """A sample's items withdrawn (:mod:`~kinmatch.queue.withdrawals`): supervisors."""
        return self.withdraw_as(self._authorize(token, Operation.WITHDRAW), withdrawal)

    def withdraw_as(self, caller: Caller, withdrawal: Withdrawal) -> Withdrawn:
        """:meth:`withdraw` for a caller verified earlier by :meth:`authorize`."""
        require(caller, Operation.WITHDRAW)
        checked = self._checked(caller, Operation.WITHDRAW, None, withdrawal.checked)
        out: list[Withdrawn] = []

        def run(tx: Transaction, now: str) -> None:
            if checked.agency is None or not caller.sees(checked.agency):
                raise _RefusedError(ItemNotFoundError(f"no sample {checked.sample_id!r}"), None,
                                    "no such sample")  # fmt: skip

            def audit(item_id: int | None, outcome: str) -> None:  # an item's: a change
                self._audit(tx, now, caller, Operation.WITHDRAW, item_id, outcome,
                            changed=item_id is not None)  # fmt: skip

            try:
                out.append(withdraw_items(tx, checked, caller.name, now, self.key, audit))
            except InvalidTransitionError as exc:
                raise _RefusedError(exc, None, "item altered outside the queue") from None

        self._run(caller, Operation.WITHDRAW, None, run)
        if checked.erase:
            self.db.compact()
        return out[0]

    def authorize(self, token: str, operation: Operation) -> Caller:
        """The caller, if ``token`` verifies and its roles allow ``operation``, which is not
        carried out: a refusal is audited and raised as by the operation itself. (The HTTP
        front checks a request's token first; the operation's own check then passes, and an
        allowed check is not audited, so each refused request is audited once.)"""
        return self._authorize(token, operation)

    def audit_refusal(
        self, caller: Caller, operation: Operation, item_id: int | None, why: str
    ) -> None:
        """Audit that a front (HTTP) refused an authorised caller's request for ``operation``
        before the queue saw it (a body too large, a request that does not validate); ``why``
        is a fixed phrase, never the request's text."""
        self._audit_refusal(caller.name, role_names(caller), operation, item_id, why)

    def record(self, caller: Caller, operation: Operation, outcome: str) -> None:
        """Audit an operation a front carried out for an authorised caller (a batch of
        profiles submitted); ``outcome`` a fixed phrase and numbers, never a genotype."""

        def run(tx: Transaction, now: str) -> None:
            self._audit(tx, now, caller, operation, None, outcome)

        self._run(caller, operation, None, run)

    def close(self) -> None:
        self.db.close()

    # -- the steps every operation shares -----------------------------------------------

    def _authorize(self, token: str, operation: Operation) -> Caller:
        try:
            caller = self.verifier.verify(token)
        except AuthenticationError as exc:
            issuer = TokenVerifier.claimed_issuer(token) if isinstance(token, str) else None
            subject = TokenVerifier.claimed_subject(token) if isinstance(token, str) else None
            actor = f"unverified:{subject or '?'}@{issuer or '?'}"
            self._audit_refusal(actor, "", operation, None, f"token: {exc}")
            raise
        self._run(caller, operation, None, None)  # not revoked (nothing else is done)
        try:
            require(caller, operation)
        except AccessDeniedError:
            self._audit_refusal(caller.name, role_names(caller), operation, None, "role")
            raise
        return caller

    def _checked(
        self, caller: Caller, operation: Operation, item_id: int | None, check: Callable[[], T]
    ) -> T:
        """``check()``, the validation of a request's arguments once the caller is known; a
        :class:`QueueError` it raises is audited (invalid, or outside jurisdiction) and raised."""
        try:
            return check()
        except QueueError as exc:
            why = "outside jurisdiction" if isinstance(exc, AccessDeniedError) else INVALID
            self.audit_refusal(caller, operation, item_id, why)
            raise

    def _run(
        self,
        caller: Caller,
        operation: Operation,
        item_id: int | None,
        body: Callable[[Transaction, str], None] | None,
    ) -> None:
        try:
            with self.db.transaction() if body is not None else self.db.snapshot() as tx:
                now = timestamp(self.clock())
                if revoked(tx, caller):  # in the transaction: no revocation committed before
                    raise _RefusedError(AuthenticationError(REVOKED), None, f"token: {REVOKED}")
                if body is not None:  # None: the check of _authorize alone
                    self._expire_leases(tx, now)
                    body(tx, now)
        except _RefusedError as refused:
            self._audit_refusal(caller.name, role_names(caller), operation,
                                refused.item_id if refused.item_id is not None else item_id,
                                refused.audit_reason)  # fmt: skip
            raise refused.error from None

    def _audit(
        self,
        tx: Transaction,
        now: str,
        caller: Caller | None,
        operation: Operation | str,
        item_id: int | None,
        outcome: str,
        *,
        actor: str | None = None,
        roles: str | None = None,
        changed: bool = False,
    ) -> None:
        """Append one record to the chain, in the caller's transaction (``changed``: the
        item's, with its digest)."""
        who = actor if actor is not None else caller.name if caller else "system"
        shown = roles if roles is not None else role_names(caller, operation) if caller else ""
        anchor.append_record(tx, self.key, self._columns, now, who, shown, str(operation),
                             item_id, outcome, changed)  # fmt: skip

    def _audit_refusal(
        self, actor: str, roles: str, operation: Operation, item_id: int | None, why: str
    ) -> None:
        with self.db.transaction() as tx:
            now = timestamp(self.clock())
            self._audit(tx, now, None, operation, item_id, f"refused: {why}", actor=actor,
                        roles=roles)  # fmt: skip

    def _expire_leases(self, tx: Transaction, now: str) -> None:
        rows = tx.all("SELECT id FROM items WHERE state = 'claimed' AND lease_expires <= ? "
                      "ORDER BY id", (now,))  # fmt: skip
        for (item_id,) in rows:
            if not anchor.intact(tx, self.key, int(item_id)):  # left as found, for the audit
                continue
            tx.execute("UPDATE items SET state = 'pending', claimed_by = NULL, "
                       "lease_expires = NULL, updated_at = ? WHERE id = ?",
                       (now, item_id))  # fmt: skip
            self._audit(tx, now, None, "lease-expired", int(item_id), "allowed", changed=True)

    def _item(self, tx: Transaction, caller: Caller, item_id: int) -> Item:
        """The item, if the caller's jurisdiction covers it; missing and out of jurisdiction
        read alike, in the answer and in the audit (which the caller's own auditor reads)."""
        row = tx.one(f"SELECT {SUMMARY}, {DETAIL} FROM items WHERE id = ?", (item_id,))
        if row is None or not caller.sees(row[2]):
            raise _RefusedError(ItemNotFoundError(f"no item {item_id}"), item_id, "no such item")
        handlers = tx.all("SELECT officer FROM item_handlers WHERE item_id = ? ORDER BY seq",
                          (item_id,))  # fmt: skip
        item = replace(item_of(row), handled_by=tuple(str(h[0]) for h in handlers))
        return withheld(tx, caller, item)  # a withdrawn sample's genotypes: its agency's

    def _check_state(self, tx: Transaction, item: Item, step: str) -> None:
        if not anchor.intact(tx, self.key, item.id):  # a change would digest the edit over
            raise _RefusedError(InvalidTransitionError(f"{step}: item {item.id} is not as the "
                                "audit log last recorded it: have an auditor run verify-audit"),
                                item.id, "item altered outside the queue")  # fmt: skip
        sources, _ = TRANSITIONS[step]
        if item.state not in sources:
            raise _RefusedError(
                InvalidTransitionError(
                    f"{step}: item {item.id} is {item.state.value}, not {' or '.join(sources)}"
                ),
                item.id,
                f"state {item.state.value}",
            )

    def _holder_step(
        self,
        caller: Caller,
        operation: Operation,
        item_id: int,
        step: str,
        assignments: str,
        parameters: Sequence[Any],
    ) -> None:

        def run(tx: Transaction, now: str) -> None:
            item = self._item(tx, caller, item_id)
            self._check_state(tx, item, step)
            if item.claimed_by != caller.name:
                raise _RefusedError(AccessDeniedError(f"{step}: item {item_id} is claimed by "
                                    "someone else"), item_id, "not the holder")  # fmt: skip
            target = TRANSITIONS[step][1]
            tx.execute(f"UPDATE items SET state = ?, {assignments}, updated_at = ? WHERE id = ?",
                       (target.value, *parameters, now, item_id))  # fmt: skip
            if step in ("review", "escalate"):  # kept for good: none of them may decide it
                tx.execute("INSERT INTO item_handlers (item_id, seq, officer) VALUES (?, "
                           "(SELECT coalesce(max(seq), 0) + 1 FROM item_handlers WHERE "
                           "item_id = ?), ?) ON CONFLICT (item_id, officer) DO NOTHING",
                           (item_id, item_id, caller.name))  # fmt: skip
            self._audit(tx, now, caller, operation, item_id, "allowed", changed=True)

        self._run(caller, operation, item_id, run)

    def _decide(
        self, token: str, operation: Operation, item_id: int, step: str, reason: str
    ) -> None:
        caller = self._authorize(token, operation)
        why = self._checked(caller, operation, item_id, lambda: check_reason(reason))

        def run(tx: Transaction, now: str) -> None:
            item = self._item(tx, caller, item_id)
            self._check_state(tx, item, step)
            if caller.name in (item.reviewed_by, item.escalated_by, *item.handled_by):
                raise _RefusedError(AccessDeniedError(f"{step}: a supervisor may not decide an "
                                    "item they reviewed or escalated (two-person rule)"),
                                    item_id, "two-person rule")  # fmt: skip
            if step == "return":
                tx.execute("UPDATE items SET state = 'pending', claimed_by = NULL, "
                           "lease_expires = NULL, decision_reason = ?, updated_at = ? "
                           "WHERE id = ?", (why, now, item_id))  # fmt: skip
            else:
                target = TRANSITIONS[step][1]
                tx.execute("UPDATE items SET state = ?, decided_by = ?, decision_reason = ?, "
                           "updated_at = ? WHERE id = ?",
                           (target.value, caller.name, why, now, item_id))  # fmt: skip
            self._audit(tx, now, caller, operation, item_id, "allowed", changed=True)

        self._run(caller, operation, item_id, run)

    def _key(self) -> QueueKey:
        if self.key is None:
            raise QueueError("the queue's database predates its key: reopen it to upgrade")
        return self.key

    def _upgrade(self, tx: Transaction, key: QueueKey) -> None:
        """The key just recorded: a record, with its digest, of each item already there."""
        self.key = key
        for (item_id,) in tx.all("SELECT id FROM items ORDER BY id"):
            self._audit(tx, timestamp(self.clock()), None, "item-digest", int(item_id),
                        "allowed: on upgrade", changed=True)  # fmt: skip

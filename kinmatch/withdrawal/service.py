"""Withdrawals: a sample's profile out of the store and its review items closed, in one
recoverable sequence, on a supervisor's request.

:meth:`Withdrawals.withdraw`, in order, under a lock:

1. the caller's token and role (``withdraw``: supervisors), through the review queue, which
   audits a refusal (:meth:`~kinmatch.queue.ReviewQueue.authorize`);
2. the sample's agency, read from the store, never from the request (a profile stored without
   one is national supervisors' only); an unknown or withdrawn sample, one outside the
   caller's jurisdiction or a request that does not validate (a reason code missing, ``other``
   without a note) is refused by the queue, audited, and answers as a missing item does;
3. the withdrawal recorded in the store's ledger (:meth:`~kinmatch.ledger.Ledger.
   receive_withdrawal`) with the verified caller, before any change;
4. the store's tombstone, a new store version (:meth:`~kinmatch.store.ReferenceStore.
   withdraw`): from then on no search, intake or campaign returns the profile, and intake
   pushes no item compared before it;
5. the review queue's withdrawal (:meth:`~kinmatch.queue.ReviewQueue.withdraw_as`): every open
   item holding the sample, of every agency, ``withdrawn``; each change audited;
6. with ``erase``: the ledger's recorded items holding the sample deleted and its file
   rewritten (:meth:`~kinmatch.ledger.Ledger.erase`), the queue's genotypes erased in step 5,
   and the store compacted (:meth:`~kinmatch.store.ReferenceStore.compact`), so that no
   fragment keeps the profile's row;
7. the ledger's record marked done.

Every step is idempotent under the withdrawal's id, so a process killed anywhere after step 3
leaves a record the service finishes when it next starts or takes a request: afterwards either
nothing changed (killed before step 3) or all of it did.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kinmatch.bulk import REJECTS, erase_rejects
from kinmatch.errors import KinmatchError, QueueError, WithdrawalConflictError
from kinmatch.ledger import Ledger
from kinmatch.queue import ReviewQueue
from kinmatch.queue.withdrawals import Withdrawal, Withdrawn
from kinmatch.security.policy import Operation
from kinmatch.security.tokens import Caller, caller_of, caller_record
from kinmatch.security.trust import NATIONAL
from kinmatch.store import ReferenceStore

_log = logging.getLogger("kinmatch.withdrawal")


@dataclass(frozen=True)
class WithdrawalRequest:
    """What a supervisor asks: withdraw ``sample_id`` for ``reason`` (``other``: with a
    ``note``), erasing its genotypes when ``erase``; ``id`` names the request (a retry
    reuses it)."""

    id: str
    sample_id: str
    reason: str
    note: str | None = None
    erase: bool = False


@dataclass(frozen=True)
class WithdrawalDone:
    """What a withdrawal did: the store version of its tombstone, the review items it closed
    and erased, and with ``erase`` the ledger items deleted and the compaction's version."""

    id: str
    sample_id: str
    version: int
    closed: tuple[int, ...]
    erased: tuple[int, ...]
    ledger_items_erased: int = 0
    compacted: int | None = None
    replayed: bool = False


class Withdrawals:
    """Withdrawals from the store at ``store_path`` and from ``queue`` (module docstring)."""

    def __init__(self, store_path: str | Path, queue: ReviewQueue) -> None:
        self.store = ReferenceStore.open(store_path)
        self.queue = queue
        with self._locked(), Ledger(self.store.path) as ledger:
            self._recover(ledger)

    def withdraw(self, token: str, request: WithdrawalRequest) -> WithdrawalDone:
        """Carry out ``request`` for the caller of ``token`` (module docstring)."""
        return self.withdraw_as(self.queue.authorize(token, Operation.WITHDRAW), request)

    def withdraw_as(self, caller: Caller, request: WithdrawalRequest) -> WithdrawalDone:
        """:meth:`withdraw` for a caller verified earlier by the queue's ``authorize``."""
        with self._locked(), Ledger(self.store.path) as ledger:
            self._recover(ledger)
            known = ledger.withdrawal(request.id)
            if known is not None:
                return self._again(ledger, caller, request, *known)
            self.store.refresh()
            withdrawal = Withdrawal(request.id, request.sample_id, self._agency(request, caller),
                                    request.reason, request.note, request.erase)  # fmt: skip
            try:
                withdrawal = withdrawal.checked()
                refused = withdrawal.agency is None or not caller.sees(withdrawal.agency)
            except QueueError:
                refused = True
            if refused:  # the queue audits the refusal and raises it, as for a missing item
                self.queue.withdraw_as(caller, withdrawal)
                raise AssertionError("the queue allowed a withdrawal it must refuse")
            record = _record(request, withdrawal.agency, caller)
            ledger.receive_withdrawal(request.id, record)
            return self._finish(ledger, request.id, record)

    def _again(
        self,
        ledger: Ledger,
        caller: Caller,
        request: WithdrawalRequest,
        record: Mapping[str, Any],
        done: bool,
    ) -> WithdrawalDone:
        """A request whose id was recorded before: refused with other terms; answered again
        (the queue's record of it, audited) to a caller who may know of it."""
        if _asked(record) != _asked(_record(request, record["agency"], caller)):
            self.queue.audit_refusal(caller, Operation.WITHDRAW, None, "id reused")
            raise WithdrawalConflictError(
                f"withdrawal {request.id!r} was asked before with other terms"
            )
        withdrawal = _withdrawal_of(request.id, record)
        if not caller.sees(withdrawal.agency or ""):  # refused, audited: "no sample" alike
            self.queue.withdraw_as(caller, dataclasses.replace(withdrawal, agency=None))
        if not done:  # its recovery failed before: try again, as its recorded caller
            return self._finish(ledger, request.id, record, replayed=True)
        replay = self.queue.withdraw_as(caller, withdrawal)  # audited: done before
        self.store.refresh()
        tombstone = self.store.manifest.tombstone(request.id)
        version = self.store.generation if tombstone is None else tombstone.generation
        return WithdrawalDone(request.id, withdrawal.sample_id, version, replay.closed,
                              replay.erased, replayed=True)  # fmt: skip

    def _agency(self, request: WithdrawalRequest, caller: Caller) -> str | None:
        """The stored profile's agency (None: no such profile); a profile stored without one
        is a national supervisor's to withdraw, under the supervisor's own agency."""
        found = self.store.find(request.sample_id)
        if found is None:
            return None
        fragment, row = found
        agency = fragment.table.column("agency")[row].as_py()
        if agency:
            return str(agency)
        return caller.agency if caller.jurisdiction == NATIONAL else None

    def _finish(
        self, ledger: Ledger, withdrawal_id: str, record: Mapping[str, Any], replayed: bool = False
    ) -> WithdrawalDone:
        """Steps 4 to 7 of the module docstring, each idempotent."""
        withdrawal = _withdrawal_of(withdrawal_id, record)
        sample = withdrawal.sample_id
        tombstone = self.store.withdraw(sample, withdrawal_id, str(withdrawal.reason),
                                        erase=withdrawal.erase)  # fmt: skip
        done: Withdrawn = self.queue.withdraw_as(caller_of(record["caller"]), withdrawal)
        erased, compacted = 0, None
        if withdrawal.erase:
            erased = ledger.erase(sample)
            erase_rejects(self.store.path / REJECTS, sample)
            compacted = self.store.compact().generation
        ledger.withdrawal_done(withdrawal_id)
        return WithdrawalDone(withdrawal_id, sample, tombstone.generation, done.closed,
                              done.erased, erased, compacted, replayed)  # fmt: skip

    def _recover(self, ledger: Ledger) -> None:
        """Finish the withdrawals a killed process left recorded but not done."""
        for withdrawal_id, record in ledger.unfinished_withdrawals():
            try:
                self._finish(ledger, withdrawal_id, record)
            except KinmatchError as exc:  # e.g. its caller revoked since: an auditor's case
                _log.error("withdrawal %s could not be finished: %s", withdrawal_id,
                           type(exc).__name__)  # fmt: skip

    def _locked(self) -> contextlib.AbstractContextManager[None]:
        return self.store.withdrawing(exclusive=True)


def _record(request: WithdrawalRequest, agency: str | None, caller: Caller) -> dict[str, Any]:
    return {"sample_id": request.sample_id, "agency": agency, "reason": str(request.reason),
            "note": request.note, "erase": bool(request.erase),
            "caller": caller_record(caller)}  # fmt: skip


def _asked(record: Mapping[str, Any]) -> tuple[Any, ...]:
    """The terms of a request, by which a retry is known (not who sent it)."""
    return record["sample_id"], record["reason"], record["note"], record["erase"]


def _withdrawal_of(withdrawal_id: str, record: Mapping[str, Any]) -> Withdrawal:
    return Withdrawal(withdrawal_id, record["sample_id"], record["agency"], record["reason"],
                      record["note"], record["erase"]).checked()  # fmt: skip

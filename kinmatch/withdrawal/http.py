"""``POST /withdrawals``: a supervisor's withdrawal of a sample over HTTP, composed into the
review queue's app (:func:`~kinmatch.queue.http.create_app`) by :func:`withdrawing`, behind
the same token check and errors.

The request: ``Authorization: Bearer <supervisor's token>``, ``Idempotency-Key: <1-128
visible ASCII>`` (the withdrawal's id within the caller's agency: a retry with it is done
once), a JSON body ``{"sample_id": "...", "reason": "consent-withdrawn", "note": null,
"erase": false}``. The answer: 200 ``{"withdrawal", "sample_id", "store_version", "closed":
[item ids], "erased": [item ids], "ledger_items_erased", "compacted", "replayed"}``; 400 for
a request that does not validate (a reason code missing or unknown, ``other`` without a
note), 403 for a caller who is not a supervisor, 404 for a sample that is not in the store
or not in the caller's jurisdiction (alike), 409 for an id used before with other terms,
503 when the store or its ledger cannot be written (retry with the same key). Every refusal
is audited by the queue; no answer carries a genotype.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import Header
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from kinmatch.errors import KinmatchError, QueueError, WithdrawalConflictError
from kinmatch.queue import ReviewQueue
from kinmatch.queue.http import Endpoint, Extension, Token
from kinmatch.queue.service import INVALID
from kinmatch.security.policy import Operation
from kinmatch.withdrawal.service import WithdrawalDone, WithdrawalRequest, Withdrawals

MAX_KEY = 128
Key = Annotated[str, Header(alias="Idempotency-Key", description="The withdrawal's id within "
                            "the caller's agency (1-128 visible ASCII).")]  # fmt: skip


class WithdrawalIn(BaseModel):
    """A withdrawal's terms; the reason is checked by the queue, so a missing one is refused
    and audited there like any other."""

    model_config = ConfigDict(extra="forbid")
    sample_id: str = Field(min_length=1, max_length=256)
    reason: str = Field(default="", max_length=64)
    note: str | None = None
    erase: bool = False


def withdrawing(store_path: str | Path) -> Extension:
    """The extension of ``kinmatch serve --store``: withdrawals from the store at
    ``store_path`` (a killed server's unfinished one is finished when it starts)."""

    def extend(queue: ReviewQueue, endpoint: Endpoint) -> None:
        withdrawals = Withdrawals(store_path, queue)

        @endpoint("POST", "/withdrawals", Operation.WITHDRAW, 404, 409)
        def withdraw(body: WithdrawalIn, token: Token, idempotency_key: Key = "") -> Any:
            """Withdraw a sample (supervisors of its agency, or national), once per key."""
            caller = queue.authorize(token, Operation.WITHDRAW)  # checked: not audited again
            if not (0 < len(idempotency_key) <= MAX_KEY and idempotency_key.isascii()
                    and idempotency_key.isprintable() and " " not in idempotency_key):  # fmt: skip
                queue.audit_refusal(caller, Operation.WITHDRAW, None, INVALID)
                return JSONResponse({"error": f"Idempotency-Key: 1 to {MAX_KEY} visible ASCII "
                                     "characters"}, status_code=400)  # fmt: skip
            request = WithdrawalRequest(f"{caller.agency}:{idempotency_key}", body.sample_id,
                                        body.reason, body.note, body.erase)  # fmt: skip
            try:
                done = withdrawals.withdraw_as(caller, request)
            except WithdrawalConflictError as exc:
                return JSONResponse({"error": str(exc)}, status_code=409)
            except QueueError:
                raise  # the app's handlers: 400, 401, 403, 404, 503
            except KinmatchError as exc:  # the store or its ledger cannot be written
                return JSONResponse({"error": f"not done: {type(exc).__name__}; retry with "
                                     "the same Idempotency-Key"}, status_code=503)  # fmt: skip
            return JSONResponse(_answer(done))

    return extend


def _answer(done: WithdrawalDone) -> dict[str, Any]:
    return {"withdrawal": done.id, "sample_id": done.sample_id, "store_version": done.version,
            "closed": list(done.closed), "erased": list(done.erased),
            "ledger_items_erased": done.ledger_items_erased, "compacted": done.compacted,
            "replayed": done.replayed}  # fmt: skip

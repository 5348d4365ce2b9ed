"""``POST /submissions``: an analyst's batch of profiles over HTTP, composed into the review
queue's app (:func:`~kinmatch.queue.http.create_app`) by :func:`submission_endpoints`, behind
the same token check and errors.

The request: ``Authorization: Bearer <analyst's token>``, ``Idempotency-Key: <1-128 visible
ASCII>``, ``Content-Type: application/json`` or ``text/csv`` (:mod:`kinmatch.submission.batch`),
and ``Register-Again: S1, S2`` only to register withdrawn samples of the batch again (a
withdrawn sample is refused otherwise; the audit names those registered again).
The answer: 201 ``{"batch": 17, "profiles": 120, "replayed": false}`` once committed (200
with ``"replayed": true`` for a retry of a committed request); 422 ``{"error": ..., "total":
n, "problems": [{"record" or "line", "sample_id", "locus", "field", "reason"}, ...]}`` for a
batch refused for its content (nothing committed; the key may be used again), 403 for a
caller who is not an analyst or a profile of another agency, 409 for a key used before with
another body. No answer and no log line carries a submitted genotype.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from kinmatch.errors import KinmatchError, QueueError, SubmissionConflictError, SubmissionError
from kinmatch.intake import IntakeSettings
from kinmatch.queue import ReviewQueue
from kinmatch.queue.http import Endpoint, Extension, Token
from kinmatch.security.policy import Operation
from kinmatch.submission.batch import problem
from kinmatch.submission.comparing import Comparer
from kinmatch.submission.service import Submissions


def submitting(store_path: str | Path, settings: IntakeSettings) -> Extension:
    """The extension of ``kinmatch serve --store``: submissions into the store at
    ``store_path``, and a :class:`Comparer` started under ``settings``."""

    def extend(queue: ReviewQueue, endpoint: Endpoint) -> None:
        comparer = Comparer(store_path, settings, queue)
        submission_endpoints(Submissions(store_path, queue), comparer)(queue, endpoint)
        comparer.start()

    return extend


def submission_endpoints(submissions: Submissions, comparer: Comparer | None) -> Extension:
    """The extension registering ``POST /submissions`` (``comparer`` woken after each
    commit)."""

    def extend(queue: ReviewQueue, endpoint: Endpoint) -> None:
        del queue  # the submissions' own (the same queue)

        @endpoint("POST", "/submissions", Operation.SUBMIT, 409, openapi_extra=_OPENAPI)
        async def submit(request: Request, token: Token) -> Any:
            """Submit a batch of profiles of the caller's agency (analysts), once per key."""
            body = await request.body()
            headers = request.headers
            try:
                again = [s.strip() for s in headers.get("register-again", "").split(",")]
                done = await run_in_threadpool(submissions.submit, token,
                                               headers.get("idempotency-key", ""), body,
                                               headers.get("content-type", ""),
                                               [s for s in again if s])  # fmt: skip
            except SubmissionError as exc:
                return JSONResponse(
                    {"error": str(exc), "total": exc.total,
                     "problems": [problem(p, exc.by_line) for p in exc.problems]},
                    status_code=422)  # fmt: skip
            except SubmissionConflictError as exc:
                return JSONResponse({"error": str(exc)}, status_code=409)
            except QueueError:
                raise  # the app's handlers: 401, 403, 503
            except KinmatchError as exc:  # the store or its ledger cannot be written
                return JSONResponse({"error": f"not committed: {type(exc).__name__}; retry"},
                                    status_code=503)  # fmt: skip
            if comparer is not None and not done.replayed:
                comparer.wake()
            return JSONResponse({"batch": done.batch, "profiles": done.profiles,
                                 "replayed": done.replayed},
                                status_code=200 if done.replayed else 201)  # fmt: skip

    return extend


_OPENAPI: dict[str, Any] = {
    "parameters": [{"name": "Idempotency-Key", "in": "header", "required": True,
                    "schema": {"type": "string", "minLength": 1, "maxLength": 128}},
                   {"name": "Register-Again", "in": "header", "required": False,
                    "schema": {"type": "string"}, "description": "Withdrawn samples of the "
                    "batch to register again, comma-separated."}],
    "requestBody": {"required": True, "content": {
        "application/json": {"schema": {"type": "object", "required": ["profiles"],
                                        "properties": {"agency": {"type": "string"},
                                                       "profiles": {"type": "array"}}}},
        "text/csv": {"schema": {"type": "string"}}}},
}  # fmt: skip

"""The review queue over HTTP: one JSON endpoint per :class:`~kinmatch.queue.ReviewQueue`
operation (FastAPI; the OpenAPI document is served at ``/openapi.json``).

Every request to an endpoint carries the caller's token, ``Authorization: Bearer <jwt>``. An
ASGI middleware checks it, and the caller's roles for the endpoint's operation
(:meth:`ReviewQueue.authorize`, which audits a refusal), before anything else: before the
body is read or validated, so a request without a valid token gets 401 whatever its body.
Then the body is read (at most :data:`~kinmatch.queue.schemas.MAX_BODY` bytes) and validated
against the models of :mod:`kinmatch.queue.schemas`, and the endpoint runs the queue operation
with the same token (blocking database calls run in FastAPI's threadpool; the database keeps
one connection per thread).

Errors are JSON, ``{"error": "<message>"}``: 401 (with ``WWW-Authenticate: Bearer``) for a
refused token (a revoked one too, and every token while the trust file cannot be read), 403
for a role or a rule that forbids the operation, 404 for an item that does not exist or is
outside the caller's jurisdiction (both alike), 409 for an operation that
does not apply to the item's state, 413 for a body over
:data:`~kinmatch.queue.schemas.MAX_BODY`, 422 for a request that does not validate (413, 422
and 400 of an authorised caller are audited as refusals too), 503 when
the queue's database fails (retry), 400 for any other refusal of the queue; 500
``{"error": "internal error"}`` without any detail for anything else. No error message carries
a genotype.

The server holds no agency's private key: it verifies tokens with the agencies' public keys of
its trust file, which also says which jurisdictions each agency's tokens may carry. It holds
the queue's own key (:mod:`kinmatch.queue.anchor`), which signs checkpoints of the audit head
on a schedule (:func:`serve`) and on an auditor's request (``POST /checkpoints``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request, Security
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.security.utils import get_authorization_scheme_param
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kinmatch import __version__
from kinmatch.errors import (
    AccessDeniedError,
    AuthenticationError,
    InvalidTransitionError,
    ItemNotFoundError,
    QueueDatabaseError,
    QueueError,
)
from kinmatch.queue.models import TRANSITIONS, State
from kinmatch.queue.schemas import (
    MAX_BODY,
    After,
    AuditOut,
    CheckpointsOut,
    ClaimOut,
    ErrorOut,
    ItemId,
    ItemOut,
    ItemSummaryOut,
    Limit,
    ListOut,
    PushedOut,
    PushIn,
    PushOut,
    ReasonIn,
    ReviewIn,
    RevocationIn,
    RevocationOut,
    StepOut,
    VerificationOut,
    VerifyIn,
)
from kinmatch.queue.service import INVALID, ReviewQueue
from kinmatch.queue.values import MAX_ID, MAX_NAME
from kinmatch.security.audit import AuditRecord
from kinmatch.security.checkpoints import Checkpoint
from kinmatch.security.policy import Operation
from kinmatch.security.tokens import MAX_LIFETIME
from kinmatch.security.trust import WatchedTrust

__all__ = ["MAX_BODY", "Endpoint", "Extension", "create_app", "serve"]


# -- errors -----------------------------------------------------------------------------

_STATUS: tuple[tuple[type[QueueError], int], ...] = (
    (AuthenticationError, 401),
    (AccessDeniedError, 403),
    (ItemNotFoundError, 404),
    (InvalidTransitionError, 409),
    (QueueDatabaseError, 503),
    (QueueError, 400),
)


def _error(status: int, message: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=dict(headers or {}))


def _queue_error(exc: QueueError) -> JSONResponse:
    status = next(code for kind, code in _STATUS if isinstance(exc, kind))
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return _error(status, str(exc), headers)


async def _on_queue_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, QueueError)
    return _queue_error(exc)


def _printable(text: str) -> str:
    """``text`` as valid UTF-8 (a lone surrogate of the caller's JSON, escaped)."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


_CALLER = "kinmatch_caller"
"""Key of the request's state: (caller, operation, item id) once the token is checked."""


async def _audit_invalid(request: Request, why: str) -> JSONResponse | None:
    """Audit the refusal of an authorised request by this front (the queue never saw it);
    a response when even that fails (the database)."""
    checked = request.scope.get("state", {}).get(_CALLER)
    if checked is None:  # no endpoint, so no operation and no caller
        return None
    queue, caller, operation, item_id = checked
    try:
        await run_in_threadpool(queue.audit_refusal, caller, operation, item_id, why)
    except QueueError as exc:
        return _queue_error(exc)
    return None


async def _on_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    failed = await _audit_invalid(request, INVALID)
    if failed is not None:
        return failed
    problems = []
    for error in exc.errors():
        where = ".".join(_printable(str(part)[:MAX_NAME]) for part in error.get("loc", ()))
        problems.append(f"{where}: {_printable(str(error.get('msg', 'invalid')))}")
    shown = "; ".join(problems[:3]) + (
        f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
    )
    return _error(422, f"invalid request: {shown}")


async def _on_http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    failed = await _audit_invalid(request, INVALID)  # e.g. 400: a body that does not parse
    if failed is not None:
        return failed
    return _error(exc.status_code, str(exc.detail), exc.headers)


async def _on_anything_else(request: Request, exc: Exception) -> JSONResponse:
    return _error(500, "internal error")  # never the exception's text: it may quote data


# -- the token, checked first -----------------------------------------------------------


def _bearer_token(authorization: str | None) -> str:
    """The token of an ``Authorization: Bearer`` header ('' for none)."""
    scheme, credentials = get_authorization_scheme_param(authorization)
    return credentials if scheme.lower() == "bearer" else ""


class _TokenFirst:
    """ASGI middleware: the token and the caller's roles for the endpoint's operation are
    checked before the request reaches FastAPI (which reads and validates the body first);
    then the body is read, at most :data:`MAX_BODY` bytes, and handed on."""

    def __init__(
        self,
        app: ASGIApp,
        queue: ReviewQueue,
        router_of: Callable[[], list[Any]],
        operations: Mapping[str, Operation],
    ) -> None:
        self.app = app
        self.queue = queue
        self.router_of = router_of
        self.operations = operations

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        matched = self._operation(scope) if scope["type"] == "http" else None
        if matched is None:  # not an endpoint: 404, 405 or the OpenAPI document
            await self.app(scope, receive, send)
            return
        operation, item_id = matched
        headers = Headers(scope=scope)  # the first of repeated headers, as FastAPI reads them
        token = _bearer_token(headers.get("authorization"))
        try:
            caller = await run_in_threadpool(self.queue.authorize, token, operation)
        except QueueError as exc:  # refused (and audited once), or the database failed
            await _queue_error(exc)(scope, receive, send)
            return
        # for the error handlers: a request refused before the queue sees it is audited too
        checked = (self.queue, caller, operation, item_id)
        scope = {**scope, "state": {**scope.get("state", {}), _CALLER: checked}}
        body = await self._body(headers, receive)
        if body is None:
            try:
                await run_in_threadpool(self.queue.audit_refusal, caller, operation, item_id,
                                        "body too large")  # fmt: skip
            except QueueError as exc:
                await _queue_error(exc)(scope, receive, send)
                return
            await _error(413, f"request body over {MAX_BODY} bytes")(scope, receive, send)
            return
        pending = [{"type": "http.request", "body": body, "more_body": False}]

        async def replay() -> Message:
            return pending.pop() if pending else await receive()

        async def no_store(message: Message) -> None:
            if message["type"] == "http.response.start":  # genetic data: never cached
                extended = [*message.get("headers", ()), (b"cache-control", b"no-store")]
                message = {**message, "headers": extended}
            await send(message)

        await self.app(scope, replay, no_store)

    def _operation(self, scope: Scope) -> tuple[Operation, int | None] | None:
        """The endpoint's operation, and the item id of its path if that is a valid one."""
        for route in self.router_of():
            if not isinstance(route, APIRoute):
                continue
            match, child = route.matches(scope)
            if match is Match.FULL:
                text = str(child.get("path_params", {}).get("item_id", ""))
                valid = text.isascii() and text.isdigit() and len(text) <= 19
                valid = valid and 1 <= int(text) <= MAX_ID
                return self.operations[route.name], int(text) if valid else None
        return None

    @staticmethod
    async def _body(headers: Mapping[str, str], receive: Receive) -> bytes | None:
        declared = headers.get("content-length", "")
        if declared.isdigit() and (len(declared) > 18 or int(declared) > MAX_BODY):
            return None
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > MAX_BODY:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)


_bearer = HTTPBearer(
    auto_error=False, bearerFormat="JWT", description="An EdDSA JWT issued by a trusted agency."
)


def _token(credentials: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)]) -> str:
    return "" if credentials is None else credentials.credentials


Token = Annotated[str, Depends(_token)]


# -- the application --------------------------------------------------------------------


def _responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    described = {
        400: "The queue refused the request.",
        401: "No valid token (WWW-Authenticate: Bearer).",
        403: "The caller's roles or the workflow's rules forbid it.",
        404: "No such item in the caller's jurisdiction.",
        409: "The operation does not apply to the item's state.",
        413: "Request body too large.",
        422: "The request does not validate.",
        500: "Internal error (no detail).",
        503: "The queue's database is unavailable; retry.",
    }
    return {
        code: {"model": ErrorOut, "description": described[code]}
        for code in sorted({400, 401, 403, 413, 422, 500, 503, *codes})
    }


Endpoint = Callable[..., Callable[[Callable[..., Any]], Callable[..., Any]]]
"""``endpoint(method, path, operation, *error codes, **FastAPI route options)``: the
decorator that registers a route behind the token check of its operation (:func:`create_app`
hands it to its extensions)."""
Extension = Callable[[ReviewQueue, Endpoint], None]
"""Registers further endpoints (a front outside the queue package, such as the submission
of profiles, :mod:`kinmatch.submission.http`) with the queue's token check and errors."""


def create_app(queue: ReviewQueue, extensions: Sequence[Extension] = ()) -> FastAPI:
    """The HTTP API of ``queue`` (which it does not close), with the endpoints of
    ``extensions``."""
    app = FastAPI(
        title="kinmatch review queue",
        version=__version__,
        description=(
            "The review queue of kinmatch: candidate kinship matches reviewed by one officer "
            "and decided by another. Every endpoint takes `Authorization: Bearer <jwt>`; "
            'errors are `{"error": "<message>"}`.'
        ),
        docs_url=None,  # no interactive pages (they load scripts from elsewhere)
        redoc_url=None,
        redirect_slashes=False,
    )
    operations: dict[str, Operation] = {}

    def endpoint(
        method: str, path: str, operation: Operation, *codes: int, **route_options: Any
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        def register(function: Callable[..., Any]) -> Callable[..., Any]:
            operations[function.__name__] = operation
            summary = (function.__doc__ or "").split("\n")[0]
            route = app.api_route(
                path,
                methods=[method],
                name=function.__name__,
                responses=_responses(*codes),
                summary=summary,
                **route_options,
            )
            return route(function)

        return register

    @endpoint("POST", "/items", Operation.PUSH)
    def push(body: PushIn, token: Token) -> PushOut:
        """Queue candidate matches (analysts); the same hit again yields its item."""
        pushed = queue.push(token, [item.new_item() for item in body.items])
        return PushOut(items=[PushedOut(id=i, created=created) for i, created in pushed])

    @endpoint("GET", "/items", Operation.LIST)
    def list_items(
        token: Token, state: State | None = None, after: After = 0, limit: Limit = 100
    ) -> ListOut:
        """Items in the caller's jurisdiction, oldest first: no genotypes."""
        found = queue.list_items(token, state=state, after=after, limit=limit)
        return ListOut(items=[ItemSummaryOut.of(summary) for summary in found])

    @endpoint("POST", "/items/claim", Operation.CLAIM)
    def claim_next(token: Token) -> ClaimOut:
        """Claim the oldest pending item (reviewers); null when none is pending."""
        claimed = queue.claim(token)
        return ClaimOut(item=None if claimed is None else ItemSummaryOut.of(claimed))

    @endpoint("GET", "/items/{item_id}", Operation.SHOW, 404)
    def show(item_id: ItemId, token: Token) -> ItemOut:
        """One item in full, with genotypes (supervisors, and the reviewer holding it)."""
        return ItemOut.of_item(queue.show(token, item_id))

    @endpoint("POST", "/items/{item_id}/claim", Operation.CLAIM, 404, 409)
    def claim(item_id: ItemId, token: Token) -> ClaimOut:
        """Claim this item (reviewers)."""
        claimed = queue.claim(token, item_id)
        return ClaimOut(item=None if claimed is None else ItemSummaryOut.of(claimed))

    def step(name: str, item_id: int) -> StepOut:
        return StepOut(id=item_id, state=TRANSITIONS[name][1])

    @endpoint("POST", "/items/{item_id}/release", Operation.RELEASE, 404, 409)
    def release(item_id: ItemId, token: Token) -> StepOut:
        """Give a claimed item back (its holder)."""
        queue.release(token, item_id)
        return step("release", item_id)

    @endpoint("POST", "/items/{item_id}/review", Operation.REVIEW, 404, 409)
    def review(item_id: ItemId, body: ReviewIn, token: Token) -> StepOut:
        """The holder's finding, with a reason."""
        queue.review(token, item_id, body.finding, body.reason)
        return step("review", item_id)

    @endpoint("POST", "/items/{item_id}/escalate", Operation.ESCALATE, 404, 409)
    def escalate(item_id: ItemId, body: ReasonIn, token: Token) -> StepOut:
        """The holder hands the item to the supervisors, with a reason."""
        queue.escalate(token, item_id, body.reason)
        return step("escalate", item_id)

    @endpoint("POST", "/items/{item_id}/confirm", Operation.CONFIRM, 404, 409)
    def confirm(item_id: ItemId, body: ReasonIn, token: Token) -> StepOut:
        """A supervisor confirms the match (not one they reviewed or escalated)."""
        queue.confirm(token, item_id, body.reason)
        return step("confirm", item_id)

    @endpoint("POST", "/items/{item_id}/reject", Operation.REJECT, 404, 409)
    def reject(item_id: ItemId, body: ReasonIn, token: Token) -> StepOut:
        """A supervisor rejects the match (not one they reviewed or escalated)."""
        queue.reject(token, item_id, body.reason)
        return step("reject", item_id)

    @endpoint("POST", "/items/{item_id}/return", Operation.RETURN, 404, 409)
    def return_to_pending(item_id: ItemId, body: ReasonIn, token: Token) -> StepOut:
        """A supervisor sends an escalated item back to pending."""
        queue.return_to_pending(token, item_id, body.reason)
        return step("return", item_id)

    @endpoint("POST", "/revocations", Operation.REVOKE)
    def revoke(body: RevocationIn, token: Token) -> RevocationOut:
        """Revoke a token or an officer's tokens (supervisors), from the next request on."""
        return RevocationOut.of(queue.revoke(token, body.revocation()))

    @endpoint("GET", "/audit", Operation.AUDIT)
    def audit(token: Token, after: After = 0, limit: Limit = 1000) -> AuditOut:
        """Audit records after sequence number ``after``, oldest first (auditors)."""
        records: list[AuditRecord] = queue.audit(token, after=after, limit=limit)
        return AuditOut(records=records)

    @endpoint("GET", "/audit/verify", Operation.VERIFY_AUDIT)
    def verify_audit(token: Token) -> VerificationOut:
        """Recompute the whole audit chain (auditors)."""
        return VerificationOut.model_validate(asdict(queue.verify_audit(token)))

    @endpoint("POST", "/audit/verify", Operation.VERIFY_AUDIT)
    def verify_audit_reaching(body: VerifyIn, token: Token) -> VerificationOut:
        """Recompute the chain and check that it reaches the head of every checkpoint given."""
        given = [c.checkpoint() for c in body.checkpoints]
        result = queue.verify_audit(token, given, body.queue_public_key)
        return VerificationOut.model_validate(asdict(result))

    @endpoint("POST", "/checkpoints", Operation.CHECKPOINT)
    def checkpoint(token: Token) -> Checkpoint:
        """Sign the audit head now (auditors)."""
        return queue.checkpoint(token)

    @endpoint("GET", "/checkpoints", Operation.CHECKPOINTS)
    def checkpoints(token: Token, after: After = 0, limit: Limit = 1000) -> CheckpointsOut:
        """The signed checkpoints after record ``after``, with the queue's public key."""
        found = queue.checkpoints(token, after=after, limit=limit)
        return CheckpointsOut(queue_public_key=queue.public_key, checkpoints=found)

    for extend in extensions:
        extend(queue, endpoint)
    unguarded = [r.path for r in app.routes if isinstance(r, APIRoute) and r.name not in operations]
    if unguarded:
        raise RuntimeError(f"endpoints without an operation: {unguarded}")
    app.add_middleware(
        _TokenFirst, queue=queue, router_of=lambda: app.router.routes, operations=operations
    )
    app.add_exception_handler(QueueError, _on_queue_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(Exception, _on_anything_else)
    return app


def serve(
    queue_url: str,
    trust: Path,
    host: str = "127.0.0.1",
    port: int = 8750,
    max_token_lifetime: float = MAX_LIFETIME,
    key: Path | None = None,
    checkpoint_every: float = 3600.0,
    extensions: Sequence[Extension] = (),
) -> None:
    """Serve the queue at ``queue_url`` over HTTP until interrupted, accepting the tokens of
    the agencies of the trust file (or trust directory) ``trust``, each with the
    jurisdictions it grants them, that live at most ``max_token_lifetime`` seconds (no
    agency's private key is ever read; the trust file is read again when it changes,
    :class:`~kinmatch.security.trust.WatchedTrust`; the queue's own ``key`` signs a checkpoint
    of the audit head every ``checkpoint_every`` seconds when it moved, 0: only on request;
    ``extensions``: further endpoints, :func:`create_app`)."""
    import uvicorn

    queue = ReviewQueue(queue_url, WatchedTrust(trust), max_token_lifetime=max_token_lifetime,
                        key=key)  # fmt: skip
    stop = threading.Event()
    if checkpoint_every > 0:
        threading.Thread(target=_checkpoints, args=(queue, checkpoint_every, stop),
                         name="checkpoints", daemon=True).start()  # fmt: skip
    try:
        uvicorn.run(
            create_app(queue, extensions),
            host=host,
            port=port,
            server_header=False,
            proxy_headers=False,
            log_level="info",
        )
    finally:
        stop.set()
        queue.close()


def _checkpoints(queue: ReviewQueue, every: float, stop: threading.Event) -> None:
    """Sign the audit head every ``every`` seconds until ``stop`` (a failure is logged and
    the next period tried)."""
    while not stop.wait(every):
        try:
            queue.scheduled_checkpoint()
        except QueueError as exc:
            logging.getLogger("kinmatch.queue").warning("no checkpoint signed: %s", exc)

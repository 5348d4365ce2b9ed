"""Revocations: one token refused before it expires (by its ``jti``), or every token of an
officer issued before a time (a lost laptop, an officer who left).

A supervisor revokes (:meth:`ReviewQueue.revoke <kinmatch.queue.service.ReviewQueue.revoke>`,
``kinmatch queue revoke``, ``POST /revocations``); the revocation is stored in the queue's
database, in the transaction of its audit record. From the next request on, in every
process serving that database, a token it covers is refused (:class:`AuthenticationError`,
401, audited like any refused token): right after its signature verifies, and again inside
the request's own transaction.

**Scope.** A supervisor revokes tokens of their own agency only (the agency that issued them,
``iss``); a supervisor whose jurisdiction is ``national``, those of any agency. An officer is
named with their agency (by default the revoker's). A ``jti`` is chosen by the issuer, and
only the token itself says which agency issued it, so a revocation of a ``jti`` is stored
with the agency it applies to, the revoker's own: it refuses a token with that ``jti`` *and*
that issuer, never another agency's token that happens to carry the same ``jti``. A national
supervisor's applies to the agency named, or, if none is, to a token of any agency.

An officer's revocation refuses the tokens whose ``iat`` is before ``before`` (by default the
moment of the revocation; a later time also refuses the tokens issued until then). Nothing
here undoes a revocation: tokens live at most the server's longest lifetime, so a jti's is
moot after that, and an officer is let in again by tokens issued after ``before``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from kinmatch.errors import AccessDeniedError, QueueError
from kinmatch.queue.database import Transaction
from kinmatch.queue.models import check_reason
from kinmatch.security.tokens import MAX_OFFICER, TOKEN_ID, Caller
from kinmatch.security.trust import NATIONAL, check_agency_code

REVOKED = "token revoked"
"""The refusal of a revoked token (after ``token: `` in the audit)."""
LAST_TIME = 253402300800.0
"""Seconds since the epoch of 10000-01-01: ``before`` must be earlier (and not negative)."""


@dataclass(frozen=True)
class Revocation:
    """A token of ``agency`` by its ``jti`` (``agency`` None: of any agency), or the tokens of
    ``officer`` of ``agency`` issued before ``before`` (seconds since the epoch), with the
    supervisor's reason."""

    reason: str
    jti: str | None = None
    officer: str | None = None
    agency: str | None = None
    before: float | None = None

    def checked(self, caller: Caller, now: float) -> Revocation:
        """This revocation as ``caller`` makes it at ``now``: validated (:class:`QueueError`
        names what is wrong; :class:`AccessDeniedError`: an agency not the caller's, unless
        national), the agency by default the caller's (for a national caller's ``jti``: any),
        ``before`` by default ``now``."""
        checked = self._filled(caller, now)
        if not (caller.jurisdiction == NATIONAL or checked.agency == caller.agency):
            raise AccessDeniedError(f"revoke: agency {checked.agency!r} is outside the caller's "
                                    "jurisdiction")  # fmt: skip
        return checked

    def _filled(self, caller: Caller, now: float) -> Revocation:
        if (self.jti is None) == (self.officer is None):
            raise QueueError("revoke one token (its jti) or an officer's tokens: one of the two")
        if self.agency is not None:
            check_agency_code(self.agency)
        reason = check_reason(self.reason)
        if self.jti is not None:
            if not isinstance(self.jti, str) or not TOKEN_ID.match(self.jti):
                raise QueueError("a token's id (jti) is 1-128 visible ASCII characters")
            if self.before is not None:
                raise QueueError("'before' applies to an officer's tokens, not to one token")
            agency = self.agency
            if agency is None and caller.jurisdiction != NATIONAL:
                agency = caller.agency
            return replace(self, reason=reason, agency=agency)
        officer = self.officer
        if (
            not isinstance(officer, str)
            or not 0 < len(officer) <= MAX_OFFICER
            or not (officer.isprintable())
        ):
            raise QueueError(f"the officer is named in 1-{MAX_OFFICER} printable characters")
        before = now if self.before is None else self.before
        if (
            isinstance(before, bool)
            or not isinstance(before, int | float)
            or not (math.isfinite(before) and 0 <= before < LAST_TIME)
        ):
            raise QueueError("'before' must be a time between 1970 and 9999")
        return replace(self, reason=reason, agency=self.agency or caller.agency,
                       before=float(before))  # fmt: skip

    @property
    def target(self) -> str:
        """What it revokes, as the audit records it (checked: no reason, no genotype)."""
        if self.jti is not None:
            return f"token {self.jti} of {self.agency or 'any agency'}"
        assert self.before is not None
        moment = datetime.fromtimestamp(self.before, UTC).isoformat(timespec="microseconds")
        return f"tokens of {self.officer}@{self.agency} issued before {moment}"


def parse_time(text: str) -> float:
    """Seconds since the epoch of an ISO 8601 time with its zone (``2026-03-01T12:00:00Z``,
    ``...+08:00``)."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise QueueError(f"invalid time {text!r}: ISO 8601, e.g. 2026-03-01T12:00:00Z") from None
    if moment.tzinfo is None:
        raise QueueError(f"the time {text!r} needs its zone, e.g. Z or +08:00")
    return moment.timestamp()


def store(tx: Transaction, revocation: Revocation, caller: Caller, at: str) -> None:
    """Record a checked revocation made by ``caller`` at ``at`` (UTC, ISO 8601)."""
    if revocation.jti is not None:
        tx.execute("INSERT INTO revoked_tokens (jti, agency, revoked_by, reason, revoked_at) "
                   "VALUES (?, ?, ?, ?, ?)", (revocation.jti, revocation.agency, caller.name,
                                              revocation.reason, at))  # fmt: skip
    else:
        tx.execute("INSERT INTO revoked_officers (agency, officer, issued_before, revoked_by, "
                   "reason, revoked_at) VALUES (?, ?, ?, ?, ?, ?)",
                   (revocation.agency, revocation.officer, revocation.before, caller.name,
                    revocation.reason, at))  # fmt: skip


def revoked(tx: Transaction, caller: Caller) -> bool:
    """Whether a stored revocation covers the caller's token."""
    row = tx.one("SELECT 1 FROM revoked_tokens WHERE jti = ? AND (agency IS NULL OR agency = ?) "
                 "UNION ALL SELECT 1 FROM revoked_officers WHERE agency = ? AND officer = ? "
                 "AND issued_before > ?", (caller.token_id, caller.agency, caller.agency,
                                           caller.officer, caller.issued_at))  # fmt: skip
    return row is not None

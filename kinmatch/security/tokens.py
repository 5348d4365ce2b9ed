"""Caller credentials: EdDSA (Ed25519) JSON Web Tokens issued by police agencies.

An agency signs its officers' tokens with its own private key (:mod:`kinmatch.security.keys`,
never on the server). The server is configured with a trust file
(:mod:`kinmatch.security.trust`) of agency public keys and the jurisdictions each may grant;
it accepts a token only when

* its header names ``EdDSA`` (``none``, HMAC and every other algorithm are refused before any
  key is looked at, so a public key can never be used as an HMAC secret);
* its issuer ``iss`` is an agency of the trust file, and the signature verifies with
  that agency's key;
* it carries every claim: ``iss`` (agency), ``sub`` (officer), ``roles`` (a non-empty list of
  known roles), ``jurisdiction`` (an agency code, or ``national``), ``jti`` (the token's id,
  by which it can be revoked: 1-128 visible ASCII characters), ``iat``, ``nbf``, ``exp``;
* its ``jurisdiction`` is one the trust file grants its issuer (by default its own code);
* its times are finite numbers, its lifetime ``exp - iat`` at most :data:`MAX_LIFETIME`
  (configurable), and the time is within ``[max(iat, nbf), exp)`` (no leeway unless
  configured).

Whether the token was revoked since is the queue's question (its database holds the
revocations: :mod:`kinmatch.queue.revocations`). Verification is PyJWT's (RFC 7519, RFC 8037
for EdDSA), with the cryptography package.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import math
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import jwt

from kinmatch.errors import AuthenticationError, QueueError
from kinmatch.security.trust import AGENCY_CODE, NATIONAL, TrustStore, WatchedTrust

ALGORITHM = "EdDSA"
ROLES = ("analyst", "reviewer", "supervisor", "auditor")
REQUIRED_CLAIMS = ("iss", "sub", "roles", "jurisdiction", "jti", "iat", "nbf", "exp")
MAX_OFFICER = 128
"""Longest officer name (``sub``)."""
TOKEN_ID = re.compile(r"^[!-~]{1,128}$")
"""A token's id (``jti``): 1-128 visible ASCII characters (no space)."""
AGENCIES_JOIN = "+"
"""Joins the agencies of a cross-agency review item."""
MAX_LIFETIME = 12 * 3600.0
"""Longest token lifetime ``exp - iat`` accepted by default, in seconds (configurable)."""


@dataclass(frozen=True)
class Caller:
    """A verified caller: an officer (``sub``) of an agency (``iss``)."""

    agency: str
    officer: str
    roles: frozenset[str]
    jurisdiction: str
    token_id: str
    """The token's ``jti``."""
    issued_at: float
    """The token's ``iat``, in seconds since the epoch."""

    def sees(self, agency: str) -> bool:
        """Whether an item of ``agency`` is in this caller's jurisdiction: one agency code, or
        the agencies of a cross-agency item joined by ``+`` (codes hold no ``+``), any of
        which the jurisdiction may be."""
        return self.jurisdiction == NATIONAL or self.jurisdiction in agency.split(AGENCIES_JOIN)

    @property
    def name(self) -> str:
        """``officer@agency``, as the audit log records it."""
        return f"{self.officer}@{self.agency}"


def caller_record(caller: Caller) -> dict[str, object]:
    """``caller`` as JSON-ready fields, to act for it later (a batch compared after its
    submission, a withdrawal finished after a crash)."""
    return {**dataclasses.asdict(caller), "roles": sorted(caller.roles)}


def caller_of(record: Mapping[str, object]) -> Caller:
    """The :class:`Caller` of a :func:`caller_record` (verified when it was recorded)."""
    fields = dict(record)
    roles = fields.pop("roles")
    assert isinstance(roles, list)
    return Caller(**fields, roles=frozenset(str(role) for role in roles))  # type: ignore[arg-type]


class TokenVerifier:
    """Turns a bearer token into a :class:`Caller`, or raises :class:`AuthenticationError`.

    Error messages say why a token was refused, never what it contained.
    """

    def __init__(
        self,
        trust: TrustStore | WatchedTrust,
        *,
        leeway: float = 0.0,
        max_lifetime: float = MAX_LIFETIME,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not (math.isfinite(leeway) and leeway >= 0):
            raise QueueError("the leeway must be a finite number of seconds, at least 0")
        if not (math.isfinite(max_lifetime) and max_lifetime > 0):
            raise QueueError("the longest token lifetime must be a finite, positive number "
                             "of seconds")  # fmt: skip
        self.trust = trust
        self.leeway = leeway
        self.max_lifetime = max_lifetime
        self.clock = clock

    def verify(self, token: str) -> Caller:
        if not isinstance(token, str) or not token:
            raise AuthenticationError("no token")
        if not token.isascii():  # a compact JWS is base64url and dots
            raise AuthenticationError("malformed token")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise AuthenticationError("malformed token") from None
        if header.get("alg") != ALGORITHM:
            raise AuthenticationError(f"token algorithm must be {ALGORITHM}")
        trust = self.trust.current()  # a trust file that changed is read again, here
        issuer = self.claimed_issuer(token)
        if issuer is None or issuer not in trust:
            raise AuthenticationError("token issuer is not a trusted agency")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                trust.key(issuer),
                algorithms=[ALGORITHM],
                issuer=issuer,
                # the times are checked below against one (injectable) clock
                options={"require": list(REQUIRED_CLAIMS), "verify_exp": False,
                         "verify_nbf": False, "verify_iat": False},
            )  # fmt: skip
        except jwt.MissingRequiredClaimError as exc:
            raise AuthenticationError(f"token lacks the {exc.claim!r} claim") from None
        except jwt.InvalidSignatureError:
            raise AuthenticationError("token signature does not verify") from None
        except jwt.PyJWTError:
            raise AuthenticationError("invalid token") from None
        return self._caller(claims, trust)

    def _caller(self, claims: dict[str, Any], trust: TrustStore) -> Caller:
        now = self.clock()
        times = [claims[name] for name in ("iat", "nbf", "exp")]
        # NaN compares false with everything and would pass every check below; 1e400 reads
        # as Infinity; a huge integer is finite but caught by the lifetime
        if not all(_finite_number(t) for t in times):
            raise AuthenticationError("token times 'iat', 'nbf', 'exp' must be finite numbers")
        iat, nbf, exp = times
        if not exp - iat <= self.max_lifetime:
            raise AuthenticationError(f"token lifetime 'exp' - 'iat' exceeds the "
                                      f"{self.max_lifetime:g} s this server accepts")  # fmt: skip
        if now >= exp + self.leeway:
            raise AuthenticationError("token expired")
        if now < nbf - self.leeway or now < iat - self.leeway:
            raise AuthenticationError("token not yet valid")
        sub, roles, jurisdiction = claims["sub"], claims["roles"], claims["jurisdiction"]
        # the name goes into the audit log and the items: printable text (no NUL, control
        # character or lone surrogate) of bounded length, even under a trusted signature
        if not isinstance(sub, str) or not sub or len(sub) > MAX_OFFICER or not sub.isprintable():
            raise AuthenticationError(f"token 'sub' must name the officer (1-{MAX_OFFICER} "
                                      "printable characters)")  # fmt: skip
        if (
            not isinstance(roles, list)
            or not roles
            or not all(isinstance(r, str) and r in ROLES for r in roles)
        ):
            raise AuthenticationError(f"token 'roles' must be a list of {', '.join(ROLES)}")
        if not isinstance(jurisdiction, str) or not (
            jurisdiction == NATIONAL or AGENCY_CODE.match(jurisdiction)
        ):
            raise AuthenticationError("token 'jurisdiction' must be an agency code or national")
        # the signature proves the issuer, not what it may grant: the trust file says that
        if jurisdiction not in trust.jurisdictions(claims["iss"]):
            raise AuthenticationError("token 'jurisdiction' is not one the trust file grants "
                                      "its issuer")  # fmt: skip
        jti = claims["jti"]
        if not isinstance(jti, str) or not TOKEN_ID.match(jti):
            raise AuthenticationError("token 'jti' must be its id (1-128 visible ASCII "
                                      "characters)")  # fmt: skip
        return Caller(claims["iss"], sub, frozenset(roles), jurisdiction, jti, float(iat))

    @staticmethod
    def claimed_issuer(token: str) -> str | None:
        """The ``iss`` a token claims, before any check (to pick the key, and to audit
        refused tokens by who they claim to be)."""
        iss = _unverified_claims(token).get("iss")
        return iss if isinstance(iss, str) and AGENCY_CODE.match(iss) else None

    @staticmethod
    def claimed_subject(token: str) -> str | None:
        """The ``sub`` a token claims, made safe to audit: escaped and bounded
        (:func:`safe_text`)."""
        sub = _unverified_claims(token).get("sub")
        return safe_text(sub) if isinstance(sub, str) else None


def safe_text(text: str, limit: int = MAX_OFFICER) -> str:
    """``text`` as printable text of at most ``limit`` characters (then ``...``): a backslash
    and every character that is not printable (NUL, control characters, line breaks, lone
    surrogates) written as its Python escape (``\\\\``, ``\\x00``, ``\\ud800``), so that an
    unverified claim can be stored and shown as it came, without being mistaken for another."""
    shown: list[str] = []
    size = 0
    for character in text:
        printable = character.isprintable() and character != "\\"
        piece = character if printable else character.encode("unicode_escape").decode("ascii")
        if size + len(piece) > limit:
            shown.append("...")
            break
        shown.append(piece)
        size += len(piece)
    return "".join(shown)


def _finite_number(value: object) -> bool:
    """A JSON number (not a boolean) that is finite as a float."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an integer beyond the floats
        return False


def _unverified_claims(token: str) -> dict[str, Any]:
    """The payload of a compact JWS as it stands (nothing verified; {} if unreadable)."""
    parts = token.split(".") if isinstance(token, str) else []
    if len(parts) != 3 or len(parts[1]) > 8192:
        return {}
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, binascii.Error):
        return {}
    return claims if isinstance(claims, dict) else {}

"""Caller credentials: EdDSA (Ed25519) JSON Web Tokens issued by police agencies.

An agency signs its officers' tokens with its own private key (:mod:`kinmatch.security.keys`,
never on the server). The server is configured with a trust directory of agency public keys,
``<agency>.pub`` (PEM); it accepts a token only when

* its header names ``EdDSA`` (``none``, HMAC and every other algorithm are refused before any
  key is looked at, so a public key can never be used as an HMAC secret);
* its issuer ``iss`` is an agency of the trust directory, and the signature verifies with
  that agency's key;
* it carries every claim: ``iss`` (agency), ``sub`` (officer), ``roles`` (a non-empty list of
  known roles), ``jurisdiction`` (an agency code, or ``national``), ``iat``, ``nbf``, ``exp``;
  and the time is within ``[max(iat, nbf), exp)`` (no leeway unless configured).

Verification is PyJWT's (RFC 7519, RFC 8037 for EdDSA), with the cryptography package.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from kinmatch.errors import AuthenticationError, QueueError

ALGORITHM = "EdDSA"
NATIONAL = "national"
ROLES = ("analyst", "reviewer", "supervisor", "auditor")
REQUIRED_CLAIMS = ("iss", "sub", "roles", "jurisdiction", "iat", "nbf", "exp")
AGENCY_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
"""Agency codes: also the file names of their keys, so no path characters."""


@dataclass(frozen=True)
class Caller:
    """A verified caller: an officer (``sub``) of an agency (``iss``)."""

    agency: str
    officer: str
    roles: frozenset[str]
    jurisdiction: str

    def sees(self, agency: str) -> bool:
        """Whether an item of ``agency`` is in this caller's jurisdiction."""
        return self.jurisdiction in (NATIONAL, agency)

    @property
    def name(self) -> str:
        """``officer@agency``, as the audit log records it."""
        return f"{self.officer}@{self.agency}"


def check_agency_code(code: str) -> str:
    """``code`` if it is a valid agency code (letters, digits, ``_ . -``; at most 64)."""
    if not AGENCY_CODE.match(code) or code == NATIONAL:
        raise QueueError(f"invalid agency code {code!r}: letters, digits, '_', '.', '-' "
                         f"(not {NATIONAL!r})")  # fmt: skip
    return code


class TrustStore:
    """Public keys of the agencies whose tokens the server accepts, by agency code."""

    def __init__(self, keys: Mapping[str, Ed25519PublicKey]) -> None:
        self._keys = dict(keys)

    @classmethod
    def from_directory(cls, directory: str | Path) -> TrustStore:
        """Every ``<agency>.pub`` (PEM, Ed25519) of ``directory``."""
        folder = Path(directory)
        if not folder.is_dir():
            raise QueueError(f"trust directory {folder} does not exist")
        keys: dict[str, Ed25519PublicKey] = {}
        for path in sorted(folder.glob("*.pub")):
            agency = check_agency_code(path.stem)
            try:
                key = load_pem_public_key(path.read_bytes())
            except ValueError as exc:
                raise QueueError(f"{path}: not a PEM public key ({exc})") from None
            if not isinstance(key, Ed25519PublicKey):
                raise QueueError(f"{path}: not an Ed25519 public key")
            keys[agency] = key
        if not keys:
            raise QueueError(f"trust directory {folder} holds no <agency>.pub key")
        return cls(keys)

    def __contains__(self, agency: object) -> bool:
        return agency in self._keys

    def key(self, agency: str) -> Ed25519PublicKey:
        return self._keys[agency]

    @property
    def agencies(self) -> tuple[str, ...]:
        return tuple(sorted(self._keys))


class TokenVerifier:
    """Turns a bearer token into a :class:`Caller`, or raises :class:`AuthenticationError`.

    Error messages say why a token was refused, never what it contained.
    """

    def __init__(
        self, trust: TrustStore, *, leeway: float = 0.0, clock: Callable[[], float] = time.time
    ) -> None:
        self.trust = trust
        self.leeway = leeway
        self.clock = clock

    def verify(self, token: str) -> Caller:
        if not isinstance(token, str) or not token:
            raise AuthenticationError("no token")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise AuthenticationError("malformed token") from None
        if header.get("alg") != ALGORITHM:
            raise AuthenticationError(f"token algorithm must be {ALGORITHM}")
        issuer = self.claimed_issuer(token)
        if issuer is None or issuer not in self.trust:
            raise AuthenticationError("token issuer is not a trusted agency")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self.trust.key(issuer),
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
        return self._caller(claims)

    def _caller(self, claims: dict[str, Any]) -> Caller:
        now = self.clock()
        times = [claims[name] for name in ("iat", "nbf", "exp")]
        if not all(isinstance(t, int | float) and not isinstance(t, bool) for t in times):
            raise AuthenticationError("token times 'iat', 'nbf', 'exp' must be numbers")
        iat, nbf, exp = times
        if now >= exp + self.leeway:
            raise AuthenticationError("token expired")
        if now < nbf - self.leeway or now < iat - self.leeway:
            raise AuthenticationError("token not yet valid")
        sub, roles, jurisdiction = claims["sub"], claims["roles"], claims["jurisdiction"]
        if not isinstance(sub, str) or not sub or len(sub) > 128:
            raise AuthenticationError("token 'sub' must name the officer")
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
        return Caller(claims["iss"], sub, frozenset(roles), jurisdiction)

    @staticmethod
    def claimed_issuer(token: str) -> str | None:
        """The ``iss`` a token claims, before any check (to pick the key, and to audit
        refused tokens by who they claim to be)."""
        iss = _unverified_claims(token).get("iss")
        return iss if isinstance(iss, str) and AGENCY_CODE.match(iss) else None

    @staticmethod
    def claimed_subject(token: str) -> str | None:
        sub = _unverified_claims(token).get("sub")
        return sub[:128] if isinstance(sub, str) else None


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

"""An agency's own key pair and the tokens it issues to its officers.

This module is for the agency's side only: the server never imports it and never holds a
private key (it reads public keys from its trust file, :mod:`kinmatch.security.trust`).
"""

from __future__ import annotations

import math
import os
import secrets
import time
from collections.abc import Sequence
from pathlib import Path

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
    load_pem_private_key,
)

from kinmatch.atomic import atomic_path
from kinmatch.errors import QueueError
from kinmatch.security.tokens import ALGORITHM, MAX_OFFICER, ROLES
from kinmatch.security.trust import NATIONAL, check_agency_code


def new_key_pair(agency: str, directory: str | Path) -> tuple[Path, Path]:
    """Write ``<agency>.key`` (PKCS#8 PEM, owner-only) and ``<agency>.pub`` (PEM) into
    ``directory``; refuses to overwrite an existing key."""
    check_agency_code(agency)
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    private_path, public_path = folder / f"{agency}.key", folder / f"{agency}.pub"
    for path in (private_path, public_path):
        if path.exists():
            raise QueueError(f"{path} exists: a key is never overwritten")
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    public = key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    with atomic_path(private_path) as temporary:
        os.chmod(temporary, 0o600)
        temporary.write_bytes(private)
    with atomic_path(public_path) as temporary:
        temporary.write_bytes(public)
    return private_path, public_path


def load_private_key(path: str | Path) -> Ed25519PrivateKey:
    """An agency's Ed25519 private key (PEM)."""
    try:
        key = load_pem_private_key(Path(path).read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise QueueError(f"{path}: cannot read a PEM private key ({exc})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise QueueError(f"{path}: not an Ed25519 private key")
    return key


def issue_token(
    key: Ed25519PrivateKey,
    *,
    agency: str,
    officer: str,
    roles: Sequence[str],
    jurisdiction: str,
    ttl: float,
    now: float | None = None,
) -> str:
    """A signed token for ``officer`` of ``agency``, valid for ``ttl`` seconds from ``now``,
    with a random id ``jti`` (by which a supervisor can revoke it)."""
    check_agency_code(agency)
    unknown = [role for role in roles if role not in ROLES]
    if not roles or unknown:
        raise QueueError(f"roles must be among {', '.join(ROLES)}")
    if jurisdiction != NATIONAL:
        check_agency_code(jurisdiction)
    if not officer or not (math.isfinite(ttl) and ttl > 0):
        raise QueueError("a token needs an officer and a positive, finite lifetime")
    if len(officer) > MAX_OFFICER or not officer.isprintable():  # as servers require
        raise QueueError(f"the officer's name must be 1-{MAX_OFFICER} printable characters "
                         "(valid UTF-8)")  # fmt: skip
    issued = int(time.time() if now is None else now)
    claims = {"iss": agency, "sub": officer, "roles": list(roles), "jurisdiction": jurisdiction,
              "jti": secrets.token_urlsafe(16), "iat": issued, "nbf": issued,
              "exp": issued + int(ttl)}  # fmt: skip
    return jwt.encode(claims, key, algorithm=ALGORITHM)


def parse_ttl(text: str) -> float:
    """Seconds in ``30s``, ``15m``, ``8h`` or ``7d`` (or a plain number of seconds)."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    try:
        scale = units.get(text[-1:], 1)
        value = float(text[:-1] if text[-1:] in units else text) * scale
    except ValueError:
        raise QueueError(f"invalid lifetime {text!r}: e.g. 30m, 8h, 7d") from None
    if not (math.isfinite(value) and value > 0):
        raise QueueError(f"invalid lifetime {text!r}: must be positive and finite")
    return value

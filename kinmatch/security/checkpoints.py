"""The review queue's own key, and the signed checkpoints that anchor its audit head.

A queue has one Ed25519 key pair, created with the queue and kept outside its database: a
PKCS#8 PEM file readable by its owner only (for ``sqlite:///path/queue.db`` by default
``path/queue.db.key``). The database records the public half, so that a queue never runs on
another queue's key, nor on a new key once the old one is lost.

A :class:`Checkpoint` is the queue's signature over the audit head at one moment,
``Ed25519(canonical JSON of ["kinmatch-audit-checkpoint", seq, hash, at])``. An auditor
exports checkpoints and keeps them (and the queue's public key) outside the database; a chain
verified against them must reach each one's head, record ``seq`` with hash ``hash``, so that
records dropped from its end, or a rewritten and rechained log, no longer verify. Whoever
holds the private key as well as the database can sign checkpoints of a rewritten chain:
only the checkpoints exported before the rewrite, and a public key saved before it, still
catch it.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import os
import stat
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
    load_pem_private_key,
    load_pem_public_key,
)

from kinmatch.atomic import fsync_path
from kinmatch.errors import QueueError
from kinmatch.security.audit import canonical_json

_LABEL = "kinmatch-audit-checkpoint"


@dataclass(frozen=True)
class Checkpoint:
    """The queue's signature (base64) over its audit head ``(seq, hash)`` at ``at`` (UTC)."""

    seq: int
    hash: str
    at: str
    signature: str

    def message(self) -> bytes:
        return canonical_json([_LABEL, self.seq, self.hash, self.at])

    def signed_by(self, public_key: Ed25519PublicKey) -> bool:
        try:
            public_key.verify(base64.b64decode(self.signature, validate=True), self.message())
        except (InvalidSignature, binascii.Error, ValueError):
            return False
        return True

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Checkpoint:
        """A checkpoint of an export (:func:`export`); :class:`QueueError` when malformed."""
        try:
            seq, head, at, signature = (data[k] for k in ("seq", "hash", "at", "signature"))
        except (KeyError, TypeError):
            raise QueueError("a checkpoint has seq, hash, at and signature") from None
        if not (type(seq) is int and seq >= 0 and all(isinstance(v, str) for v in
                                                       (head, at, signature))):  # fmt: skip
            raise QueueError("a checkpoint's seq is a number, its hash, at and signature text")
        return cls(seq, head, at, signature)


def public_pem(public_key: Ed25519PublicKey) -> str:
    return public_key.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()


def load_public_key(pem: str | bytes) -> Ed25519PublicKey:
    """A queue's Ed25519 public key (PEM)."""
    try:
        key = load_pem_public_key(pem.encode() if isinstance(pem, str) else pem)
    except (ValueError, TypeError):
        raise QueueError("not a PEM public key") from None
    if not isinstance(key, Ed25519PublicKey):
        raise QueueError("not an Ed25519 public key")
    return key


class QueueKey:
    """The queue's private key: signs checkpoints and keys the item digests."""

    def __init__(self, private_key: Ed25519PrivateKey, path: Path | None = None) -> None:
        self._private = private_key
        self.path = path
        self.public_key = private_key.public_key()
        self.public_pem = public_pem(self.public_key)

    @classmethod
    def open(cls, path: str | Path) -> QueueKey:
        """The key in ``path``, created there when missing (atomically, owner-only); refuses
        a key file that its group or others may read or write."""
        target = Path(path)
        if not target.exists():
            _create(target)
        try:
            mode = target.stat().st_mode
            data = target.read_bytes()
        except OSError as exc:
            raise QueueError(f"{target}: cannot read the queue's key ({exc.strerror})") from None
        if not stat.S_ISREG(mode) or mode & 0o077:
            raise QueueError(f"{target}: the queue's key must be a file only its owner may "
                             "read (chmod 600)")  # fmt: skip
        try:
            key = load_pem_private_key(data, password=None)
        except (ValueError, TypeError):
            raise QueueError(f"{target}: not a PEM private key") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise QueueError(f"{target}: not an Ed25519 private key")
        return cls(key, target)

    def sign(self, seq: int, head: str, at: str) -> Checkpoint:
        unsigned = Checkpoint(seq, head, at, "")
        signature = base64.b64encode(self._private.sign(unsigned.message())).decode("ascii")
        return Checkpoint(seq, head, at, signature)

    def derived(self, label: str) -> bytes:
        """A 32-byte secret for one purpose, HMAC-SHA256 of ``label`` keyed with the private
        key's raw bytes (never the key itself, nothing it can be recomputed from)."""
        raw = self._private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        return hmac.new(raw, label.encode("utf-8"), hashlib.sha256).digest()


def _create(path: Path) -> None:
    """A new key at ``path``, or none if another process created one first: written to an
    owner-only temporary file and linked into place, which never replaces a file."""
    if not path.parent.is_dir():
        raise QueueError(f"no directory {path.parent} for the queue's key")
    pem = Ed25519PrivateKey.generate().private_bytes(Encoding.PEM, PrivateFormat.PKCS8,
                                                     NoEncryption())  # fmt: skip
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:  # mkstemp: mode 0600
            handle.write(pem)
            handle.flush()
            os.fsync(handle.fileno())
        with contextlib.suppress(FileExistsError):  # the other process's key is the key
            os.link(name, path)
    finally:
        os.unlink(name)
    fsync_path(path.parent)


def unreached(
    hashes: Mapping[int, str],
    length: int,
    checkpoints: list[Checkpoint],
    public_key: Ed25519PublicKey,
) -> tuple[int, str] | None:
    """The first checkpoint that a verified chain of ``length`` records (``hashes``: the
    hash of record ``seq``, for the checkpoints' ``seq``) does not reach, as (the record it
    names, why); None when the chain reaches them all."""
    for checkpoint in sorted(checkpoints, key=lambda c: c.seq):
        if not checkpoint.signed_by(public_key):
            return checkpoint.seq, (f"the checkpoint of record {checkpoint.seq} is not signed "
                                    "by the queue's key")  # fmt: skip
        if checkpoint.seq > length:
            return length + 1, (f"the log ends at record {length} but a checkpoint signed "
                                f"record {checkpoint.seq}: records were removed")  # fmt: skip
        if checkpoint.seq and hashes.get(checkpoint.seq) != checkpoint.hash:
            return checkpoint.seq, (f"record {checkpoint.seq} is not the one its checkpoint "
                                    f"of {checkpoint.at} signed: the log was "
                                    "rewritten, or cut and continued")  # fmt: skip
    return None


def export(public_key: str, checkpoints: list[Checkpoint]) -> dict[str, Any]:
    """The JSON form of an export: the queue's public key (PEM) and its checkpoints."""
    return {"queue_public_key": public_key,
            "checkpoints": [vars(c) for c in checkpoints]}  # fmt: skip


def read_export(data: Any) -> tuple[str | None, list[Checkpoint]]:
    """The public key and checkpoints of an export (:func:`export`), or a list of
    checkpoints alone."""
    if isinstance(data, list):
        return None, [Checkpoint.from_dict(c) for c in data]
    if not isinstance(data, dict) or not isinstance(data.get("checkpoints"), list):
        raise QueueError('a checkpoint file holds {"queue_public_key", "checkpoints"}')
    key = data.get("queue_public_key")
    return key if isinstance(key, str) else None, [
        Checkpoint.from_dict(c) for c in data["checkpoints"]]  # fmt: skip

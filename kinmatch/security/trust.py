"""The server's trust configuration: which agencies it accepts tokens from, with which public
key, and which jurisdictions each agency's tokens may carry.

A signature proves who issued a token, not what the issuer may grant: an agency could sign its
own officers a ``national`` jurisdiction, or another agency's. So the deployment, not the
agency, says what each key may grant, in a **trust file** (TOML, or JSON when the file name
ends in ``.json``, same structure)::

    # kinmatch trust file
    [agencies.A1]
    public_key_file = "keys/A1.pub"     # PEM, relative to this file (or public_key = "PEM")

    [agencies.NPB]
    public_key_file = "keys/NPB.pub"
    jurisdictions = ["national"]         # default: ["NPB"], the agency's own code only

A token whose ``jurisdiction`` is not among its issuer's is refused. ``national`` is granted
only where the file names it. A plain **trust directory** of ``<agency>.pub`` files is still
read: each agency then has its own jurisdiction only. Agency codes are compared exactly, and
two that differ only in case are refused.

A server watches its trust file (:class:`WatchedTrust`): when the file, a key file it names,
or the directory or one of its ``.pub`` files changes (``stat``: device, inode, size, times),
the next request reads it again, so a key removed from the file stops working on that
request. A reading that fails (bad TOML, a key file missing, ...) leaves nothing trusted:
every token is refused until a valid file is read, and the failure is logged.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from kinmatch.errors import AuthenticationError, QueueError

_log = logging.getLogger(__name__)

Stamp = tuple[int, int, int, int, int] | None
"""What ``stat`` says of a file when it is read (device, inode, size, mtime and ctime in ns;
None: it does not exist): a file whose stamp changed has changed."""
NATIONAL = "national"
AGENCY_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
"""Agency codes: also the file names of their keys, so no path characters."""
_ENTRY_KEYS = frozenset({"public_key", "public_key_file", "jurisdictions"})


def check_agency_code(code: str) -> str:
    """``code`` if it is a valid agency code (letters, digits, ``_ . -``; at most 64)."""
    if not isinstance(code, str) or not AGENCY_CODE.match(code) or code == NATIONAL:
        raise QueueError(f"invalid agency code {code!r}: letters, digits, '_', '.', '-' "
                         f"(not {NATIONAL!r})")  # fmt: skip
    return code


def _stamp_of(st: os.stat_result) -> Stamp:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def stamp(path: Path) -> Stamp:
    """The :data:`Stamp` of ``path`` now."""
    try:
        return _stamp_of(os.stat(path))
    except OSError:
        return None


def _read(path: Path, read: list[tuple[Path, Stamp]]) -> bytes:
    """The bytes of ``path``, its :data:`Stamp` (taken as it is opened) appended to ``read``."""
    with path.open("rb") as handle:
        read.append((path, _stamp_of(os.fstat(handle.fileno()))))
        return handle.read()


def _public_key(data: bytes, where: str) -> Ed25519PublicKey:
    try:
        key = load_pem_public_key(data)
    except ValueError as exc:
        raise QueueError(f"{where}: not a PEM public key ({exc})") from None
    if not isinstance(key, Ed25519PublicKey):
        raise QueueError(f"{where}: not an Ed25519 public key")
    return key


class TrustStore:
    """Public keys of the agencies whose tokens the server accepts, by agency code, and the
    jurisdictions each may grant (by default its own code only)."""

    def __init__(
        self,
        keys: Mapping[str, Ed25519PublicKey],
        jurisdictions: Mapping[str, Iterable[str]] | None = None,
        *,
        files: Iterable[tuple[Path, Stamp]] = (),
    ) -> None:
        """``files``: those it was read from, with their stamps then (see :meth:`changed`)."""
        self.files = tuple(files)
        self._keys = {check_agency_code(agency): key for agency, key in keys.items()}
        folded: dict[str, str] = {}
        for agency in sorted(self._keys):
            if agency.casefold() in folded:  # one engine or file system may not tell them apart
                raise QueueError(f"agency codes {folded[agency.casefold()]!r} and {agency!r} "
                                 "differ only in case: codes are compared exactly, so give "
                                 "each agency one that differs in more")  # fmt: skip
            folded[agency.casefold()] = agency
        granted = dict(jurisdictions or {})
        unknown = set(granted) - set(self._keys)
        if unknown:
            raise QueueError(f"jurisdictions granted to agencies without a key: "
                             f"{', '.join(sorted(unknown))}")  # fmt: skip
        self._jurisdictions: dict[str, frozenset[str]] = {}
        for agency in self._keys:
            allowed = frozenset(granted.get(agency, (agency,)))
            for code in allowed:
                if code != NATIONAL:
                    check_agency_code(code)
            if not allowed:
                raise QueueError(f"agency {agency}: no jurisdiction granted")
            self._jurisdictions[agency] = allowed

    @classmethod
    def load(cls, path: str | Path) -> TrustStore:
        """A trust file, or a trust directory (each agency: its own jurisdiction only)."""
        location = Path(path)
        if location.is_dir():
            return cls.from_directory(location)
        return cls.from_file(location)

    @classmethod
    def from_directory(cls, directory: str | Path) -> TrustStore:
        """Every ``<agency>.pub`` (PEM, Ed25519) of ``directory``; each agency may grant only
        its own jurisdiction."""
        folder = Path(directory)
        read: list[tuple[Path, Stamp]] = [(folder, stamp(folder))]  # before it is listed
        if not folder.is_dir():
            raise QueueError(f"trust directory {folder} does not exist")
        keys: dict[str, Ed25519PublicKey] = {}
        for path in sorted(folder.glob("*.pub")):
            agency = check_agency_code(path.stem)
            try:
                data = _read(path, read)
            except OSError as exc:
                raise QueueError(f"cannot read {path} ({type(exc).__name__})") from None
            keys[agency] = _public_key(data, str(path))
        if not keys:
            raise QueueError(f"trust directory {folder} holds no <agency>.pub key")
        return cls(keys, files=read)

    @classmethod
    def from_file(cls, path: str | Path) -> TrustStore:
        """A trust file (TOML; JSON if its name ends in ``.json``): see the module's doc."""
        source = Path(path)
        read: list[tuple[Path, Stamp]] = []
        try:
            text = _read(source, read).decode("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise QueueError(f"cannot read the trust file {source} ({type(exc).__name__})"
                             ) from None  # fmt: skip
        try:
            data: Any = json.loads(text) if source.suffix == ".json" else tomllib.loads(text)
        except ValueError as exc:  # tomllib.TOMLDecodeError and json's errors are ValueErrors
            raise QueueError(f"{source}: not a valid trust file ({exc})") from None
        if not isinstance(data, dict) or set(data) != {"agencies"}:
            raise QueueError(f"{source}: a trust file holds one table, 'agencies'")
        agencies = data["agencies"]
        if not isinstance(agencies, dict) or not agencies:
            raise QueueError(f"{source}: 'agencies' must name at least one agency")
        keys: dict[str, Ed25519PublicKey] = {}
        granted: dict[str, list[str]] = {}
        for agency, entry in agencies.items():
            where = f"{source}, agency {agency!r}"
            check_agency_code(agency)
            keys[agency], granted[agency] = _entry(entry, where, source.parent, agency, read)
        return cls(keys, granted, files=read)

    def current(self) -> TrustStore:
        """This store (it is read once; :class:`WatchedTrust` is the one that changes)."""
        return self

    def changed(self) -> bool:
        """Whether a file this store was read from has changed since (or is gone)."""
        return any(stamp(path) != seen for path, seen in self.files)

    def __contains__(self, agency: object) -> bool:
        return agency in self._keys

    def key(self, agency: str) -> Ed25519PublicKey:
        return self._keys[agency]

    def jurisdictions(self, agency: str) -> frozenset[str]:
        """The jurisdictions the tokens of ``agency`` may carry."""
        return self._jurisdictions.get(agency, frozenset())

    @property
    def agencies(self) -> tuple[str, ...]:
        return tuple(sorted(self._keys))


def _entry(
    entry: Any, where: str, folder: Path, agency: str, read: list[tuple[Path, Stamp]]
) -> tuple[Ed25519PublicKey, list[str]]:
    """One agency's key and granted jurisdictions from the trust file (a key file read is
    appended to ``read``)."""
    if not isinstance(entry, dict):
        raise QueueError(f"{where}: must be a table")
    unknown = set(entry) - _ENTRY_KEYS
    if unknown:
        raise QueueError(f"{where}: unknown field(s) {', '.join(sorted(map(str, unknown)))} "
                         f"(known: {', '.join(sorted(_ENTRY_KEYS))})")  # fmt: skip
    inline, file_name = entry.get("public_key"), entry.get("public_key_file")
    if (inline is None) == (file_name is None):
        raise QueueError(f"{where}: give exactly one of public_key, public_key_file")
    if inline is not None:
        if not isinstance(inline, str):
            raise QueueError(f"{where}: public_key must be a PEM text")
        key = _public_key(inline.encode("ascii", "replace"), where)
    else:
        if not isinstance(file_name, str) or not file_name:
            raise QueueError(f"{where}: public_key_file must be a path")
        key_path = folder / file_name
        try:
            data = _read(key_path, read)
        except OSError as exc:
            raise QueueError(f"{where}: cannot read {key_path} ({type(exc).__name__})") from None
        key = _public_key(data, f"{where}, {key_path}")
    jurisdictions = entry.get("jurisdictions", [agency])
    if (
        not isinstance(jurisdictions, list)
        or not jurisdictions
        or not all(isinstance(j, str) for j in jurisdictions)
        or len(set(jurisdictions)) != len(jurisdictions)
    ):
        raise QueueError(f"{where}: jurisdictions must be a non-empty list of distinct agency "
                         f"codes or {NATIONAL!r}")  # fmt: skip
    for code in jurisdictions:
        if code != NATIONAL and not AGENCY_CODE.match(code):
            raise QueueError(f"{where}: invalid jurisdiction {code!r}")
    return key, jurisdictions


class WatchedTrust:
    """A trust file (or directory) read again whenever it has changed (:meth:`current`, on
    every request): fail closed, a reading that fails trusts no agency until one succeeds.

    The first reading happens here and raises :class:`QueueError` (a server does not start
    on a bad file). After a failure every call tries again, and the failure is logged once
    for each different message. (A file rewritten in place to the same size within one tick
    of the file system's clock after it was read keeps its stamp: replace files by renaming a
    new one over them, which changes the inode.)"""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._store: TrustStore | None = TrustStore.load(self.path)
        self._failure: str | None = None

    def current(self) -> TrustStore:
        """The trust store as the file says now; :class:`AuthenticationError` while the file
        cannot be read as a valid one."""
        with self._lock:
            if self._store is not None and not self._store.changed():
                return self._store
            self._store = None  # nothing of the old file is trusted from here on
            try:
                store = TrustStore.load(self.path)
            except QueueError as exc:
                if str(exc) != self._failure:
                    _log.error("the trust file %s changed and cannot be read (%s): every "
                               "token is refused until it can", self.path, exc)  # fmt: skip
                self._failure = str(exc)
                raise AuthenticationError("the server's trust file is not valid: every token "
                                          "is refused until it is") from None  # fmt: skip
            _log.warning("the trust file %s changed and was read again: agencies %s",
                         self.path, ", ".join(store.agencies))  # fmt: skip
            self._store, self._failure = store, None
            return store

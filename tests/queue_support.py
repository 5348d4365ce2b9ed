"""Agencies with key pairs, tokens for their officers, and queues on both engines."""

from __future__ import annotations

import itertools
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from kinmatch.queue import NewItem, ReviewQueue
from kinmatch.security.keys import issue_token, load_private_key, new_key_pair
from kinmatch.security.trust import TrustStore

ENGINES = ("sqlite", "postgresql")
_serial = itertools.count()
_KEYS: dict[str, Path] = {}


@dataclass
class Agencies:
    """Key pairs of agencies A1, A2 and A3, of the national agency NAT (and of X9, whose key
    the server does not trust). The trust file grants A1, A2 and A3 their own jurisdiction and
    NAT ``national``; the trust directory holds the public keys of A1, A2, A3 and NAT."""

    keys: Path
    trust_dir: Path
    trust_file: Path

    @classmethod
    def create(cls, root: Path) -> Agencies:
        keys, trust = root / "agency-keys", root / "trust"
        trust.mkdir()
        for agency in ("A1", "A2", "A3", "NAT", "X9"):
            _, public = new_key_pair(agency, keys)
            if agency != "X9":
                (trust / public.name).write_bytes(public.read_bytes())
        trust_file = root / "trust.toml"
        write_trust_file(trust_file, {"A1": ["A1"], "A2": ["A2"], "A3": ["A3"],
                                      "NAT": ["national"]}, trust)  # fmt: skip
        return cls(keys, trust, trust_file)

    @property
    def trust(self) -> TrustStore:
        return TrustStore.from_file(self.trust_file)

    def trust_granting(self, path: Path, grants: dict[str, list[str]]) -> TrustStore:
        """A trust file at ``path`` with other grants (agencies among A1, A2, NAT)."""
        write_trust_file(path, grants, self.trust_dir)
        return TrustStore.from_file(path)

    def token(
        self,
        officer: str,
        roles: Sequence[str],
        *,
        agency: str | None = None,
        jurisdiction: str | None = None,
        ttl: float = 3600,
        now: float | None = None,
    ) -> str:
        """A token of ``agency`` (default: NAT for a national jurisdiction, else A1)."""
        if agency is None:
            agency = "NAT" if jurisdiction == "national" else "A1"
        key = load_private_key(self.keys / f"{agency}.key")
        return issue_token(key, agency=agency, officer=officer, roles=list(roles),
                           jurisdiction=jurisdiction or agency, ttl=ttl, now=now)  # fmt: skip


def write_trust_file(path: Path, grants: dict[str, list[str]], keys: Path) -> None:
    """A trust file granting each agency's key (``keys/<agency>.pub``) its jurisdictions."""
    lines = ["# test deployment"]
    for agency, jurisdictions in grants.items():
        listed = ", ".join(f'"{j}"' for j in jurisdictions)
        lines += [f"[agencies.{agency}]", f'public_key_file = "{keys / agency}.pub"',
                  f"jurisdictions = [{listed}]"]  # fmt: skip
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def postgres_database(server_url: str) -> str:
    """A new, empty database on the throwaway server; its URL."""
    import psycopg

    name = f"q_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_url, autocommit=True) as connection:
        connection.execute(f"CREATE DATABASE {name}")
    return re.sub(r"^(postgres(?:ql)?://[^/?]*)/[^?]*", rf"\1/{name}", server_url)


def queue_url(engine: str, tmp_path: Path, server_url: str | None) -> str:
    """A new queue database; a PostgreSQL one's key file is in ``tmp_path`` (a SQLite
    one's beside its file)."""
    if engine == "sqlite":
        return f"sqlite:///{tmp_path / f'queue-{next(_serial)}.db'}"
    assert server_url is not None
    url = postgres_database(server_url)
    _KEYS[url] = tmp_path / f"queue-{next(_serial)}.key"
    return url


def queue_key(url: str) -> Path | None:
    """The key file of the queue at ``url`` (None: the default, beside a SQLite file)."""
    return _KEYS.get(url)


def key_setting(url: str) -> str | None:
    """:func:`queue_key` as a worker process's JSON setting."""
    key = queue_key(url)
    return None if key is None else str(key)


def new_item(query: str = "C1", reference: str = "F1", *, agency: str | None = None,
             lr: float = 1e6, agencies: tuple[str, ...] = ()) -> NewItem:  # fmt: skip
    """A parent-child hit with a per-locus breakdown holding genotypes."""
    return NewItem(
        query_id=query,
        reference_ids=(reference,),
        relationship="parent-child",
        lr=lr,
        log10_lr=6.0,
        inconsistent_loci=(),
        loci=({"locus": "vWA", "lr": 2.5, "genotypes": {"child": "14/17.3", "parent": "17.3/19"}},),
        parameters={
            "frequencies": "freq_China_GBT37223.csv",
            "theta": 0.01,
            "mutation": "stepwise",
        },
        store_version="3",
        agency=agency,
        agencies=agencies,
    )


def evidence_item(query: str = "C1", reference: str = "F1", *, caution: bool = True,
                  agency: str | None = None) -> NewItem:  # fmt: skip
    """:func:`new_item` with its database-size-aware evidence: a support that a database of
    5000 references calls into question (``caution``), or one it does not."""
    p = 1e-5 if caution else 1e-9
    verdict = "support-database-caution" if caution else "support"
    return replace(new_item(query, reference, agency=agency), p_unrelated=p,
                   expected_unrelated=5000 * p, n_searched=5000,
                   database_verdict=verdict)  # fmt: skip


GENOTYPE_TEXT = ("14/17.3", "17.3/19")
"""Genotype strings of :func:`new_item`: never in a listing, an error or the audit log."""


def open_queue(url: str, agencies: Agencies, **options: float) -> ReviewQueue:
    return ReviewQueue(url, agencies.trust, key=queue_key(url), **options)  # type: ignore[arg-type]

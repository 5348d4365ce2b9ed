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
from kinmatch.security.tokens import TrustStore

ENGINES = ("sqlite", "postgresql")
_serial = itertools.count()


@dataclass
class Agencies:
    """Key pairs of agencies A1 and A2 (and X9, whose key the server does not trust)."""

    keys: Path
    trust_dir: Path

    @classmethod
    def create(cls, root: Path) -> Agencies:
        keys, trust = root / "agency-keys", root / "trust"
        for agency in ("A1", "A2", "X9"):
            _, public = new_key_pair(agency, keys)
            if agency != "X9":
                trust.mkdir(exist_ok=True)
                (trust / public.name).write_bytes(public.read_bytes())
        return cls(keys, trust)

    @property
    def trust(self) -> TrustStore:
        return TrustStore.from_directory(self.trust_dir)

    def token(
        self,
        officer: str,
        roles: Sequence[str],
        *,
        agency: str = "A1",
        jurisdiction: str | None = None,
        ttl: float = 3600,
        now: float | None = None,
    ) -> str:
        key = load_private_key(self.keys / f"{agency}.key")
        return issue_token(key, agency=agency, officer=officer, roles=list(roles),
                           jurisdiction=jurisdiction or agency, ttl=ttl, now=now)  # fmt: skip


def postgres_database(server_url: str) -> str:
    """A new, empty database on the throwaway server; its URL."""
    import psycopg

    name = f"q_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_url, autocommit=True) as connection:
        connection.execute(f"CREATE DATABASE {name}")
    return re.sub(r"^(postgres(?:ql)?://[^/?]*)/[^?]*", rf"\1/{name}", server_url)


def queue_url(engine: str, tmp_path: Path, server_url: str | None) -> str:
    if engine == "sqlite":
        return f"sqlite:///{tmp_path / f'queue-{next(_serial)}.db'}"
    assert server_url is not None
    return postgres_database(server_url)


def new_item(query: str = "C1", reference: str = "F1", *, agency: str | None = None,
             lr: float = 1e6) -> NewItem:  # fmt: skip
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
    return ReviewQueue(url, agencies.trust, **options)  # type: ignore[arg-type]

"""Review items and their workflow.

::

    pending --claim--> claimed --review--> reviewed --confirm/reject--> confirmed | rejected
       ^                 |  |                          (a supervisor who did not review it)
       +----release------+  +--escalate--> escalated --confirm/reject--> confirmed | rejected
       +----lease expiry-+                     |
       +----------------return-----------------+

A claim is a lease: it expires ``lease`` seconds after the claim, and an expired claim is
back to ``pending`` (audited as done by ``system``) before any other operation sees it.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from enum import StrEnum
from typing import Any

from kinmatch.errors import QueueError
from kinmatch.hits import Hit, HitEvidence
from kinmatch.queue import values
from kinmatch.queue.values import MAX_LOCI, MAX_NAME, MAX_REFERENCES, MAX_TEXT
from kinmatch.security.tokens import AGENCIES_JOIN
from kinmatch.verdict import SUPPORT_DATABASE_CAUTION


class State(StrEnum):
    PENDING = "pending"
    CLAIMED = "claimed"
    REVIEWED = "reviewed"
    ESCALATED = "escalated"
    CONFIRMED = "confirmed"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"
    """Terminal: a sample of the item left the database (:mod:`kinmatch.queue.withdrawals`)."""


class Finding(StrEnum):
    """A reviewer's finding on a candidate match."""

    SUPPORTS = "supports"
    REJECTS = "rejects"


TRANSITIONS: dict[str, tuple[tuple[State, ...], State]] = {
    "claim": ((State.PENDING,), State.CLAIMED),
    "release": ((State.CLAIMED,), State.PENDING),
    "review": ((State.CLAIMED,), State.REVIEWED),
    "escalate": ((State.CLAIMED,), State.ESCALATED),
    "confirm": ((State.REVIEWED, State.ESCALATED), State.CONFIRMED),
    "reject": ((State.REVIEWED, State.ESCALATED), State.REJECTED),
    "return": ((State.ESCALATED,), State.PENDING),
    "withdraw": ((State.PENDING, State.CLAIMED, State.REVIEWED, State.ESCALATED), State.WITHDRAWN),
}
"""operation -> (states it applies to, state it leads to)."""

MAX_VERDICT = 64
"""Longest database verdict accepted."""
MAX_COUNT = 2**63 - 1
"""Largest ``n_searched`` (both engines store 64-bit integers)."""
VERDICT_PATTERN = re.compile(r"[a-z][a-z0-9-]*")
"""A database verdict: lower-case words joined by hyphens (``support``, ``exclusion``,
``inconclusive``, ``support-database-caution``)."""


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _optional_float(data: Mapping[str, Any], name: str) -> float | None:
    """A JSON number (not a boolean or a string), or None."""
    value = data.get(name)
    if value is None:
        return None
    if not _is_number(value):
        raise TypeError(f"{name} must be a number or null")
    return float(value)


def _list(data: Mapping[str, Any], name: str, *, required: bool = False) -> list[Any]:
    """A JSON list (not a string, whose characters would be taken one by one)."""
    value = data[name] if required else data.get(name, [])
    if not isinstance(value, list | tuple):
        raise TypeError(f"{name} must be a list")
    return list(value)


def _optional_int(data: Mapping[str, Any], name: str) -> int | None:
    """A JSON integer (an integral float too), or None."""
    value = data.get(name)
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an integer or null")
    return value


def caution_text(
    expected_unrelated: float | None, n_searched: int | None = None, couples: bool = False
) -> str:
    """The caution of a ``support-database-caution`` item, in words."""
    kind = "couples" if couples else "references"
    expected = "some" if expected_unrelated is None else f"{expected_unrelated:.3g}"
    where = "in the database searched" if n_searched is None else (
        f"in a database of {n_searched} {kind}")  # fmt: skip
    return (f"caution: {where}, {expected} unrelated {kind} are expected to score this high; "
            "confirm with more loci or other evidence")  # fmt: skip


@dataclass(frozen=True)
class NewItem:
    """A candidate match to push: what the search found and with which parameters.

    ``loci`` is the per-locus breakdown (locus, LR, genotypes of the persons compared):
    genetic data, shown only to callers allowed to see it. ``parameters`` names the
    frequency table, theta and mutation model. The item belongs to ``agencies``, those of the
    hit's profiles (a child entered by one agency, its mother registered by another: both),
    and to ``agency`` when given; with neither, to the pusher's agency (:meth:`owners`).
    """

    query_id: str
    reference_ids: tuple[str, ...]
    relationship: str
    lr: float
    log10_lr: float | None
    inconsistent_loci: tuple[str, ...]
    loci: tuple[Mapping[str, Any], ...]
    parameters: Mapping[str, Any]
    store_version: str
    father_id: str | None = None
    mother_id: str | None = None
    case_id: str | None = None
    agency: str | None = None
    agencies: tuple[str, ...] = ()
    p_unrelated: float | None = None
    expected_unrelated: float | None = None
    n_searched: int | None = None
    database_verdict: str | None = None

    def __post_init__(self) -> None:
        if not self.query_id or not self.reference_ids or not self.relationship:
            raise QueueError("an item needs a query_id, reference_ids and a relationship")
        self._check_values()
        self._check_evidence()

    def _check_values(self) -> None:
        """The checks of the HTTP API's models (:mod:`kinmatch.queue.values`), for every
        entry point: what one accepts, the others accept, and all of it can be shown."""
        checks: list[tuple[str, Any]] = [
            ("query_id", lambda: values.text(self.query_id)),
            ("relationship", lambda: values.relationship(self.relationship)),
            ("lr", lambda: values.number(self.lr, minimum=0.0)),
            ("log10_lr", lambda: self.log10_lr is None or values.number(self.log10_lr)),
            ("store_version", lambda: values.text(self.store_version, empty=True)),
            ("agency", lambda: self.agency is None or values.agency(self.agency)),
            ("agencies", self._check_agencies),
            ("reference_ids", self._check_references),
            ("inconsistent_loci", self._check_inconsistent),
            ("loci", self._check_loci),
            ("parameters", self._check_parameters),
        ]
        for name in ("father_id", "mother_id", "case_id"):
            value = getattr(self, name)
            checks.append((name, lambda v=value: v is None or values.text(v)))
        for name, check in checks:
            try:
                check()
            except ValueError as exc:
                raise QueueError(f"an item's {name}: {exc}") from None

    def _check_references(self) -> None:
        if not isinstance(self.reference_ids, tuple) or not (
            1 <= len(self.reference_ids) <= MAX_REFERENCES
        ):
            raise ValueError(f"1-{MAX_REFERENCES} reference IDs")
        for reference in self.reference_ids:
            values.text(reference)

    def _check_agencies(self) -> None:
        if not isinstance(self.agencies, tuple) or len(self.agencies) > MAX_REFERENCES + 1:
            raise ValueError(f"at most {MAX_REFERENCES + 1} agency codes")
        for code in self.agencies:
            values.agency(code)

    def owners(self, pusher: str) -> tuple[str, ...]:
        """The agencies the item belongs to, sorted: ``agencies`` and ``agency``, or the
        ``pusher``'s agency when neither is given."""
        given = {*self.agencies, *([self.agency] if self.agency else [])}
        return tuple(sorted(given)) if given else (pusher,)

    def _check_inconsistent(self) -> None:
        if not isinstance(self.inconsistent_loci, tuple) or len(self.inconsistent_loci) > MAX_LOCI:
            raise ValueError(f"at most {MAX_LOCI} locus names")
        for name in self.inconsistent_loci:
            values.text(name, MAX_NAME)

    def _check_loci(self) -> None:
        if not isinstance(self.loci, tuple) or len(self.loci) > MAX_LOCI:
            raise ValueError(f"at most {MAX_LOCI} loci")
        for entry in self.loci:
            values.locus(values.as_stored(entry))

    def _check_parameters(self) -> None:
        parameters = values.as_stored(self.parameters)
        if not isinstance(parameters, dict):
            raise ValueError("must be an object")
        values.bounded(parameters)

    def _check_evidence(self) -> None:
        """The database-size-aware evidence, when given: finite, in range, a short verdict."""
        p, expected, n = self.p_unrelated, self.expected_unrelated, self.n_searched
        if p is not None and not (_is_number(p) and math.isfinite(p) and 0.0 <= p <= 1.0):
            raise QueueError("an item's p_unrelated must be a number in [0, 1] (or null)")
        if expected is not None and not (
            _is_number(expected) and math.isfinite(expected) and expected >= 0.0
        ):
            raise QueueError("an item's expected_unrelated must be a finite non-negative "
                             "number (or null)")  # fmt: skip
        if n is not None and not (
            isinstance(n, int) and not isinstance(n, bool) and 0 <= n <= MAX_COUNT
        ):
            raise QueueError("an item's n_searched must be a non-negative integer (or null)")
        verdict = self.database_verdict
        if verdict is not None and not (
            isinstance(verdict, str)
            and len(verdict) <= MAX_VERDICT
            and VERDICT_PATTERN.fullmatch(verdict)
        ):
            raise QueueError(f"an item's database_verdict must be at most {MAX_VERDICT} "
                             "lower-case letters, digits and hyphens (or null)")  # fmt: skip

    @property
    def key(self) -> str:
        """The idempotency key: SHA-256 of query, sorted references, relationship and the
        search parameters; pushing the same hit twice yields one item. The database-size-aware
        evidence is not part of it (it changes with the database's size, the hit does not):
        the item keeps the evidence it was first pushed with."""
        payload = json.dumps([self.query_id, sorted(self.reference_ids), self.relationship,
                              dict(self.parameters)], sort_keys=True, separators=(",", ":"),
                             default=str)  # fmt: skip
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()

    @classmethod
    def from_hit(
        cls, hit: Hit, parameters: Mapping[str, Any], store_version: str,
        agency: str | None = None, evidence: HitEvidence | None = None,
        unknown_agency: str | None = None,
    ) -> NewItem:  # fmt: skip
        """The review item of a search hit, with its per-locus details (the search's tables'
        LRs and consistency, :attr:`~kinmatch.hits.Hit.details`) and the
        genotypes of the compared persons (by their role in the relationship), and the hit's
        database-size-aware ``evidence`` (:func:`kinmatch.evidence.assess`) when given. Its
        ``agencies`` are those of the compared profiles, ``unknown_agency`` standing for a
        profile that records none (the pushing analyst's, for their own queries)."""
        if evidence is not None:
            theirs = (evidence.query_id, evidence.reference_id, evidence.relationship)
            if theirs != (hit.query_id, hit.reference_id, hit.relationship):
                raise QueueError("the evidence is of another hit")
        details = hit.details
        loci = tuple(
            {
                "locus": name,
                "lr": locus.lr,
                "compared": locus.compared,
                "consistent": locus.consistent,
                "genotypes": {
                    role: "/".join(person.genotypes[name]) if name in person.genotypes else None
                    for role, person in hit.persons.items()
                },
            }
            for name, locus in details.loci.items()
        )
        references = tuple(i for i in (hit.father_id, hit.mother_id) if i) or (hit.reference_id,)
        found = {p.agency or unknown_agency for p in hit.persons.values()}
        owners = tuple(sorted(a for a in found if a))
        return cls(
            query_id=hit.query_id, reference_ids=references, relationship=hit.relationship,
            lr=hit.lr, log10_lr=hit.log10_lr, inconsistent_loci=details.inconsistent_loci,
            loci=loci, parameters=dict(parameters), store_version=store_version,
            father_id=hit.father_id, mother_id=hit.mother_id, case_id=hit.case_id,
            agency=agency,
            agencies=owners,
            # the tail estimate is a bracket's midpoint: rounding may put it a hair above 1
            p_unrelated=None if evidence is None else min(max(evidence.p_unrelated, 0.0), 1.0),
            expected_unrelated=None if evidence is None else evidence.expected_unrelated,
            n_searched=None if evidence is None else evidence.n_searched,
            database_verdict=None if evidence is None else evidence.verdict,
        )  # fmt: skip

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> NewItem:
        """From the JSON form (HTTP, CLI): the fields of this class."""
        try:
            unknown = set(data) - {f.name for f in fields(cls)}
            if unknown:  # as the HTTP API: a misspelt field is not silently dropped
                raise ValueError(f"unknown fields {', '.join(sorted(map(str, unknown)))}")
            loci = _list(data, "loci")
            if not all(isinstance(x, dict) for x in loci):
                raise TypeError("each of loci must be an object")
            parameters = data.get("parameters", {})
            if not isinstance(parameters, dict):
                raise TypeError("parameters must be an object")
            lr = _optional_float(data, "lr")
            if lr is None:
                raise TypeError("lr must be a number")
            return cls(
                query_id=data["query_id"],
                reference_ids=tuple(_list(data, "reference_ids", required=True)),
                relationship=data["relationship"],
                lr=lr,
                log10_lr=_optional_float(data, "log10_lr"),
                inconsistent_loci=tuple(_list(data, "inconsistent_loci")),
                loci=tuple(dict(x) for x in loci),
                parameters=dict(parameters),
                store_version=data.get("store_version", ""),
                father_id=data.get("father_id"),
                mother_id=data.get("mother_id"),
                case_id=data.get("case_id"),
                agency=data.get("agency"),
                agencies=tuple(_list(data, "agencies")),
                p_unrelated=_optional_float(data, "p_unrelated"),
                expected_unrelated=_optional_float(data, "expected_unrelated"),
                n_searched=_optional_int(data, "n_searched"),
                database_verdict=data.get("database_verdict"),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise QueueError(f"malformed item: {type(exc).__name__} {exc}") from None


@dataclass(frozen=True)
class ItemSummary:
    """What a listing shows: pseudonymous sample IDs, LR, state and the database-size-aware
    evidence (``p_unrelated``, ``expected_unrelated``, ``database_verdict``; None for an item
    pushed without it); no genotypes."""

    id: int
    state: State
    agency: str
    query_id: str
    reference_ids: tuple[str, ...]
    case_id: str | None
    relationship: str
    lr: float
    log10_lr: float | None
    n_inconsistent: int
    created_at: str
    p_unrelated: float | None = None
    expected_unrelated: float | None = None
    database_verdict: str | None = None

    @property
    def agencies(self) -> tuple[str, ...]:
        """The agencies the item belongs to (``agency``: them joined by ``+``)."""
        return tuple(self.agency.split(AGENCIES_JOIN))

    @property
    def cautioned(self) -> bool:
        """Whether the hit's database verdict is ``support-database-caution``."""
        return self.database_verdict == SUPPORT_DATABASE_CAUTION

    def caution(self, n_searched: int | None = None) -> str | None:
        """The caution in words, for a ``support-database-caution`` item (else None)."""
        if not self.cautioned:
            return None
        return caution_text(self.expected_unrelated, n_searched, len(self.reference_ids) > 1)


@dataclass(frozen=True)
class Item:
    """One review item in full, with its per-locus breakdown and history of decisions."""

    summary: ItemSummary
    father_id: str | None
    mother_id: str | None
    inconsistent_loci: tuple[str, ...]
    loci: tuple[dict[str, Any], ...]
    parameters: dict[str, Any]
    store_version: str
    claimed_by: str | None
    lease_expires: str | None
    reviewed_by: str | None
    finding: str | None
    review_reason: str | None
    escalated_by: str | None
    escalation_reason: str | None
    decided_by: str | None
    decision_reason: str | None
    n_searched: int | None = None
    """References (or couples) the search met: the N of ``expected_unrelated = N p``."""
    handled_by: tuple[str, ...] = ()
    """Every officer who reviewed or escalated the item, first to last: none of them may
    decide it (``reviewed_by`` and ``escalated_by`` name only the latest)."""

    @property
    def id(self) -> int:
        return self.summary.id

    @property
    def state(self) -> State:
        return self.summary.state

    @property
    def agencies(self) -> tuple[str, ...]:
        return self.summary.agencies

    @property
    def caution(self) -> str | None:
        """The caution in words, for a ``support-database-caution`` item (else None)."""
        return self.summary.caution(self.n_searched)


def check_reason(reason: str) -> str:
    """A non-blank reason of at most :data:`MAX_TEXT` characters, as the HTTP API takes it:
    valid Unicode without NUL (a command line's bytes that are not UTF-8 arrive as lone
    surrogates, which no database can store)."""
    if not isinstance(reason, str) or not reason.strip() or len(reason) > MAX_TEXT:
        raise QueueError(f"a reason is required (1-{MAX_TEXT} characters)")
    try:
        values.clean(reason)
    except ValueError as exc:
        raise QueueError(f"the reason: {exc} (is it UTF-8?)") from None
    return reason.strip()


def check_page(after: int, limit: int, most: int) -> None:
    """A page of a listing: after a non-negative id or sequence number, 1 to ``most`` long."""
    if not 1 <= limit <= most or after < 0:
        raise QueueError(f"limit must be 1-{most} and after non-negative")

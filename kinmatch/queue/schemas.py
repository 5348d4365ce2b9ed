"""The request and response models of the review queue's HTTP API (:mod:`kinmatch.queue.http`),
with the limits and validators they need.

The models are tight (bounded lengths, counts and nesting; finite numbers; text without NUL or
lone surrogates), so that the OpenAPI document says exactly what is accepted.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import Path as PathParameter
from fastapi import Query
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from kinmatch.queue import values
from kinmatch.queue.models import (
    MAX_COUNT,
    MAX_VERDICT,
    VERDICT_PATTERN,
    Finding,
    Item,
    ItemSummary,
    NewItem,
    State,
)
from kinmatch.queue.revocations import Revocation
from kinmatch.queue.values import (
    MAX_DEPTH,
    MAX_ENTRIES,
    MAX_ID,
    MAX_LOCI,
    MAX_NAME,
    MAX_REFERENCES,
    MAX_ROLES,
    MAX_TEXT,
)
from kinmatch.relationships import RELATIONSHIPS
from kinmatch.security.audit import AuditRecord
from kinmatch.security.checkpoints import Checkpoint
from kinmatch.security.tokens import MAX_OFFICER, TOKEN_ID
from kinmatch.security.trust import AGENCY_CODE, NATIONAL
from kinmatch.verdict import SUPPORT_DATABASE_CAUTION

MAX_BODY = 16 * 1024 * 1024
"""Largest request body accepted, in bytes (413 above)."""
MAX_PUSH = 1000
"""Most items in one push."""
_HTTP_LIMIT = 10_000
"""Most items or audit records in one response (page with ``after``)."""

# -- request bodies: tight, so that the OpenAPI document says what is accepted ----------------


_clean = values.clean
_agency = values.agency
_relationship = values.relationship
_bounded = values.bounded


Text = Annotated[str, StringConstraints(min_length=1, max_length=MAX_TEXT), AfterValidator(_clean)]
Name = Annotated[str, StringConstraints(min_length=1, max_length=MAX_NAME), AfterValidator(_clean)]
Reason = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_TEXT, pattern=r"\S"),
    AfterValidator(_clean),
    Field(description="Why: not blank."),
]
Agency = Annotated[
    str,
    StringConstraints(pattern=AGENCY_CODE.pattern),
    AfterValidator(_agency),
    Field(description=f"An agency code (not {NATIONAL!r})."),
]
Relationship = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_NAME),
    AfterValidator(_relationship),
    Field(json_schema_extra={"enum": list(RELATIONSHIPS)}),
]
Finite = Annotated[float, Field(strict=True, allow_inf_nan=False)]
NonNegative = Annotated[float, Field(strict=True, allow_inf_nan=False, ge=0)]
Probability = Annotated[float, Field(strict=True, allow_inf_nan=False, ge=0, le=1)]
Count = Annotated[int, Field(strict=True, ge=0, le=MAX_COUNT)]
Verdict = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_VERDICT, pattern=f"^{VERDICT_PATTERN.pattern}$"),
    Field(
        description="The hit's verdict with the database's size: support, "
        f"{SUPPORT_DATABASE_CAUTION}, inconclusive, exclusion.",
        examples=[SUPPORT_DATABASE_CAUTION],
    ),
]
Detail = Annotated[
    Any,
    AfterValidator(_bounded),
    Field(description=f"Any JSON value: finite numbers, at most {MAX_DEPTH} levels deep."),
]
TokenId = Annotated[
    str, StringConstraints(pattern=TOKEN_ID.pattern), Field(description="A token's jti claim.")
]
Officer = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_OFFICER), AfterValidator(_clean)
]
ItemId = Annotated[int, PathParameter(ge=1, le=MAX_ID, description="The item's id.")]
After = Annotated[int, Query(ge=0, le=MAX_ID, description="Start after this id.")]
Limit = Annotated[int, Query(ge=1, le=_HTTP_LIMIT, description="At most this many.")]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


class LocusIn(BaseModel):
    """One locus of the per-locus breakdown: its name, LR, the genotypes of the persons
    compared (by role) and any further details."""

    model_config = ConfigDict(extra="allow")
    __pydantic_extra__: dict[str, Detail] = Field(init=False)

    locus: Name
    lr: NonNegative | None = None
    genotypes: Annotated[dict[Name, Name | None], Field(max_length=MAX_ROLES)] | None = Field(
        None, description="Genotype by role (null: not typed at this locus)."
    )

    @model_validator(mode="after")
    def _few_details(self) -> LocusIn:
        extra = self.__pydantic_extra__ or {}
        if len(extra) > MAX_ENTRIES or any(not 0 < len(key) <= MAX_NAME for key in extra):
            raise ValueError(
                f"a locus has at most {MAX_ENTRIES} details, named in 1-{MAX_NAME} characters"
            )
        for key in extra:
            _clean(key)
        return self

    def plain(self) -> dict[str, Any]:
        return self.model_dump(exclude_unset=True)


class NewItemIn(_Body):
    """A candidate match to push (see :class:`kinmatch.queue.NewItem`)."""

    query_id: Text
    reference_ids: Annotated[list[Text], Field(min_length=1, max_length=MAX_REFERENCES)]
    relationship: Relationship
    lr: NonNegative
    log10_lr: Finite | None = Field(description="Null for an LR of 0.")
    inconsistent_loci: Annotated[list[Name], Field(max_length=MAX_LOCI)] = []
    loci: Annotated[list[LocusIn], Field(max_length=MAX_LOCI)] = []
    parameters: Annotated[dict[Name, Detail], Field(max_length=MAX_ENTRIES)] = {}
    store_version: Annotated[
        str, StringConstraints(max_length=MAX_TEXT), AfterValidator(_clean)
    ] = ""
    father_id: Text | None = None
    mother_id: Text | None = None
    case_id: Text | None = None
    agency: Agency | None = Field(None, description="Defaults to the caller's agency.")
    agencies: Annotated[list[Agency], Field(max_length=MAX_REFERENCES + 1)] = Field(
        [], description="The agencies of the hit's profiles: the item belongs to all of them."
    )
    p_unrelated: Probability | None = Field(
        None, description="P(an unrelated reference scores at least this LR)."
    )
    expected_unrelated: NonNegative | None = Field(
        None, description="Unrelated references expected to score this high: n_searched p."
    )
    n_searched: Count | None = Field(None, description="References (or couples) searched.")
    database_verdict: Verdict | None = None

    def new_item(self) -> NewItem:
        return NewItem(
            query_id=self.query_id,
            reference_ids=tuple(self.reference_ids),
            relationship=self.relationship,
            lr=self.lr,
            log10_lr=self.log10_lr,
            inconsistent_loci=tuple(self.inconsistent_loci),
            loci=tuple(locus.plain() for locus in self.loci),
            parameters=dict(self.parameters),
            store_version=self.store_version,
            father_id=self.father_id,
            mother_id=self.mother_id,
            case_id=self.case_id,
            agency=self.agency,
            agencies=tuple(self.agencies),
            p_unrelated=self.p_unrelated,
            expected_unrelated=self.expected_unrelated,
            n_searched=self.n_searched,
            database_verdict=self.database_verdict,
        )


class PushIn(_Body):
    items: Annotated[list[NewItemIn], Field(min_length=1, max_length=MAX_PUSH)]


class ReasonIn(_Body):
    reason: Reason


class ReviewIn(_Body):
    finding: Finding
    reason: Reason


class RevocationIn(_Body):
    """One token by its ``jti``, or an officer's tokens issued before a time."""

    jti: TokenId | None = None
    officer: Officer | None = Field(
        None, description="An officer (sub): refuse their tokens issued before 'before'."
    )
    agency: Agency | None = Field(
        None,
        description="The issuing agency: the caller's by default (a national caller's jti: any "
        "agency); another only for a national caller.",
    )
    before: AwareDatetime | None = Field(
        None, description="With officer: refuse the tokens issued before it (default: now)."
    )
    reason: Reason

    @model_validator(mode="after")
    def _one_target(self) -> RevocationIn:
        if (self.jti is None) == (self.officer is None):
            raise ValueError("give one of jti, officer")
        return self

    def revocation(self) -> Revocation:
        before = None if self.before is None else self.before.timestamp()
        return Revocation(self.reason, self.jti, self.officer, self.agency, before)


# -- responses --------------------------------------------------------------------------


class ErrorOut(BaseModel):
    error: str


class PushedOut(BaseModel):
    id: int
    created: bool = Field(description="False: the same hit was queued before, as this item.")


class PushOut(BaseModel):
    items: list[PushedOut]


class ItemSummaryOut(BaseModel):
    """A listing's view of an item: pseudonymous IDs, LR, state and the database-size-aware
    evidence; no genotypes."""

    id: int
    state: State
    agency: str = Field(description="The item's agencies joined by '+'.")
    agencies: list[str] = Field(description="The agencies the item belongs to.")
    query_id: str
    reference_ids: list[str]
    case_id: str | None
    relationship: str
    lr: float
    log10_lr: float | None
    n_inconsistent: int
    created_at: str
    p_unrelated: float | None = Field(
        description="P(an unrelated reference scores at least this LR); null: not given."
    )
    expected_unrelated: float | None = Field(
        description="Unrelated references expected to score this high in the database searched."
    )
    database_verdict: str | None = Field(
        description=f"The verdict with the database's size ({SUPPORT_DATABASE_CAUTION}: "
        "unrelated references scoring this high are not unlikely)."
    )
    caution: str | None = Field(
        description=f"For a {SUPPORT_DATABASE_CAUTION} item, the caution in words; else null."
    )

    @classmethod
    def of(cls, summary: ItemSummary) -> ItemSummaryOut:
        return cls.model_validate({**asdict(summary), "agencies": list(summary.agencies),
                                   "caution": summary.caution()})  # fmt: skip


class ListOut(BaseModel):
    items: list[ItemSummaryOut]


class ItemOut(ItemSummaryOut):
    """One item in full, with the per-locus breakdown (genotypes) and its decisions."""

    father_id: str | None
    mother_id: str | None
    inconsistent_loci: list[str]
    loci: list[dict[str, Any]]
    parameters: dict[str, Any]
    store_version: str
    claimed_by: str | None
    lease_expires: str | None
    reviewed_by: str | None
    finding: Finding | None
    review_reason: str | None
    escalated_by: str | None
    escalation_reason: str | None
    decided_by: str | None
    decision_reason: str | None
    n_searched: int | None = Field(description="References (or couples) the search met.")
    handled_by: list[str] = Field(
        description="Every officer who reviewed or escalated it: none of them may decide it."
    )

    @classmethod
    def of_item(cls, item: Item) -> ItemOut:
        fields = asdict(item)
        return cls.model_validate({**fields.pop("summary"), **fields, "caution": item.caution,
                                   "agencies": list(item.agencies)})  # fmt: skip


class ClaimOut(BaseModel):
    item: ItemSummaryOut | None = Field(description="Null when no item is pending.")


class StepOut(BaseModel):
    id: int
    state: State = Field(description="The item's state after the operation.")


class RevocationOut(BaseModel):
    """A revocation as stored."""

    jti: str | None
    officer: str | None
    agency: str | None = Field(description="The issuer whose tokens it refuses; null: any.")
    before: float | None = Field(description="With officer: tokens issued before (epoch s).")
    reason: str
    revoked: str = Field(description="What it revokes, as the audit records it.")

    @classmethod
    def of(cls, revocation: Revocation) -> RevocationOut:
        return cls.model_validate({**asdict(revocation), "revoked": revocation.target})


class AuditOut(BaseModel):
    records: list[AuditRecord]  # the audit log's own record type, as its schema


MAX_CHECKPOINTS = 100_000
"""Most checkpoints in one verification request."""


class CheckpointIn(_Body):
    """A checkpoint as exported (``GET /checkpoints``)."""

    seq: int = Field(ge=0, le=2**63 - 1)
    hash: str = Field(pattern=r"^[0-9a-f]{64}$")
    at: str = Field(min_length=1, max_length=40, pattern=r"^[0-9T:.Z-]+$")
    signature: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9+/=]+$")

    def checkpoint(self) -> Checkpoint:
        return Checkpoint(self.seq, self.hash, self.at, self.signature)


class VerifyIn(_Body):
    checkpoints: list[CheckpointIn] = Field(default=[], max_length=MAX_CHECKPOINTS)
    queue_public_key: str | None = Field(
        default=None, max_length=2000, description="The queue's public key (PEM) as saved."
    )


class CheckpointsOut(BaseModel):
    queue_public_key: str = Field(description="PEM: what the checkpoints are signed with.")
    checkpoints: list[Checkpoint]


class VerificationOut(BaseModel):
    ok: bool
    records: int
    first_bad: int | None = Field(description="Position of the first bad record, if any.")
    reason: str

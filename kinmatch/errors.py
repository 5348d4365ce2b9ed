"""The one exception hierarchy of kinmatch.

Every error a user can cause is a :class:`KinmatchError`. Input errors name where the problem
is (file, line, family, person, sample, locus, field) so that a lab can fix the record. They
may quote the offending text back, because it comes from the person who supplied the file; no
other error message carries a genotype.
"""

from __future__ import annotations

from collections.abc import Sequence


class KinmatchError(Exception):
    """Base class of every error kinmatch raises on purpose."""


class InputError(KinmatchError):
    """A record of an input file (or an argument) is invalid.

    The message starts with the location: ``profiles.csv line 12, sample 'C7', locus 'vWA',
    field 'allele2': ...``; errors of a family file also name the family and the person
    (``families.csv line 7, family 'F12', person 'uncle': ...``). Parts not given are left out.
    """

    def __init__(
        self,
        reason: str,
        *,
        source: str | None = None,
        line: int | None = None,
        sample: str | None = None,
        locus: str | None = None,
        field: str | None = None,
        family: str | None = None,
        person: str | None = None,
    ) -> None:
        self.reason = reason
        self.source = source
        self.line = line
        self.sample = sample
        self.locus = locus
        self.field = field
        self.family = family
        self.person = person
        super().__init__(self._render())

    def _render(self) -> str:
        where: list[str] = []
        if self.source is not None:
            where.append(self.source if self.line is None else f"{self.source} line {self.line}")
        elif self.line is not None:
            where.append(f"line {self.line}")
        if self.family is not None:
            where.append(f"family {self.family!r}")
        if self.person is not None:
            where.append(f"person {self.person!r}")
        if self.sample is not None:
            where.append(f"sample {self.sample!r}")
        if self.locus is not None:
            where.append(f"locus {self.locus!r}")
        if self.field is not None:
            where.append(f"field {self.field!r}")
        return f"{', '.join(where)}: {self.reason}" if where else self.reason

    def located(
        self,
        *,
        source: str | None = None,
        line: int | None = None,
        sample: str | None = None,
        locus: str | None = None,
        field: str | None = None,
        family: str | None = None,
        person: str | None = None,
    ) -> InputError:
        """Return a copy of this error with missing location parts filled in."""
        return type(self)(
            self.reason,
            source=self.source if self.source is not None else source,
            line=self.line if self.line is not None else line,
            sample=self.sample if self.sample is not None else sample,
            locus=self.locus if self.locus is not None else locus,
            field=self.field if self.field is not None else field,
            family=self.family if self.family is not None else family,
            person=self.person if self.person is not None else person,
        )


class AlleleError(InputError):
    """An allele designation is malformed, off-ladder ("OL") or there are too many alleles."""


class LocusError(InputError):
    """A locus name is not in the catalogue, or a locus is given twice for one sample."""


class ProfileError(InputError):
    """A profile file is malformed: bad header, duplicate sample ID, bad metadata."""


class FrequencyTableError(InputError):
    """An allele-frequency table is malformed or its frequencies do not add up."""


class MutationModelError(InputError):
    """A mutation model or rates file is invalid, or a locus has no rate."""


class CaseError(InputError):
    """A kinship case is malformed (cases file) or cannot be computed for this data."""


class FamilyError(InputError):
    """A registered family is malformed: bad families or ped file, impossible pedigree, a loop,
    too large for the engine, or no typed member.

    An :class:`InputError` rather than a :class:`CaseError`: it is a fault of the file the
    family was registered from, found when it is read, while a CaseError also stands for a
    comparison that cannot be computed, which the search reports per query and goes on.
    """


class SubmissionError(KinmatchError):
    """A batch of profiles submitted over HTTP was refused for its content; nothing was
    committed. ``problems`` are the bad records (the first ones; ``total`` counts them all),
    each named by record and field, their reasons without any genotype."""

    def __init__(
        self, problems: Sequence[InputError], total: int | None = None, *, by_line: bool = True
    ) -> None:
        self.problems = tuple(problems)
        self.total = len(self.problems) if total is None else total
        self.by_line = by_line
        """Whether a problem's line is the body's (CSV); else line 1 + its record (JSON)."""
        super().__init__(f"{self.total} bad records; nothing was committed")


class SubmissionConflictError(KinmatchError):
    """An idempotency key was used again with another body."""


class WithdrawalConflictError(KinmatchError):
    """A withdrawal's id was used again for another sample, reason, note or erasure."""


class QueueError(KinmatchError):
    """A review-queue operation cannot be carried out. Messages never carry a genotype."""


class AuthenticationError(QueueError):
    """The caller's credential is missing, malformed, expired, not yet valid, wrongly signed
    or from an issuer the server does not trust."""


class AccessDeniedError(QueueError):
    """The caller's roles do not allow the operation, or the two-person rule forbids it."""


class ItemNotFoundError(QueueError):
    """No such item, or none the caller may see: both read alike, so that a caller cannot
    learn that an item of another jurisdiction exists."""


class InvalidTransitionError(QueueError):
    """The operation does not apply to the item in its current state (or lease)."""


class QueueDatabaseError(QueueError):
    """The queue's database failed (connection, lock timeout, disk); the request may be
    retried. The message names the error class only: engine messages may quote values."""

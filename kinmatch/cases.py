"""The cases file of ``kinmatch lr``: which profiles to compare under which relationship.

One header for all relationships, ``case_id,relationship,child,parent,mother,father,person1,
person2``, unused cells empty: ``parent-child`` uses child and parent; ``paternity-trio``
child, parent (the alleged father) and mother; ``parents-child`` child, father and mother;
the pairwise relationships person1 and person2.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from kinmatch.csvfile import csv_rows
from kinmatch.errors import CaseError, InputError
from kinmatch.frequencies import AlleleFrequencies
from kinmatch.mutation import MutationModel
from kinmatch.profiles import Profile
from kinmatch.relationships import get_relationship

CASE_COLUMNS: tuple[str, ...] = (
    "case_id", "relationship", "child", "parent", "mother", "father", "person1", "person2",
)  # fmt: skip
ROLE_COLUMNS = CASE_COLUMNS[2:]


@dataclass(frozen=True)
class Case:
    """One comparison: roles mapped to sample IDs, with the line it came from."""

    case_id: str
    relationship: str
    samples: Mapping[str, str]
    line: int

    def persons(self, profiles: Mapping[str, Profile]) -> dict[str, Profile]:
        """The profiles of this case by role."""
        return {role: profiles[sample] for role, sample in self.samples.items()}


def read_cases(path: str | Path, profiles: Mapping[str, Profile]) -> list[Case]:
    """Read and validate a cases file against the loaded profiles.

    Raises :class:`CaseError` naming file, line and field for a bad header, an empty or
    repeated case_id, an unknown relationship, a missing or superfluous role cell, a sample
    not among the profiles, or one sample in two roles.
    """
    path = Path(path)
    source = str(path)
    rows = list(csv_rows(path, CaseError))
    if not rows or [name.strip() for name in rows[0][1]] != list(CASE_COLUMNS):
        raise CaseError(f"header must be {','.join(CASE_COLUMNS)}", source=source, line=1)
    cases: list[Case] = []
    seen: dict[str, int] = {}
    for line, row in rows[1:]:
        if not any(cell.strip() for cell in row):
            continue
        try:
            if len(row) != len(CASE_COLUMNS):
                raise CaseError(f"row has {len(row)} fields but the header has {len(CASE_COLUMNS)}")
            record = {name: cell.strip() for name, cell in zip(CASE_COLUMNS, row, strict=True)}
            case = _case(record, line, profiles)
            if case.case_id in seen:
                raise CaseError(
                    f"case_id {case.case_id!r} repeated (first on line {seen[case.case_id]})",
                    field="case_id",
                )
        except InputError as exc:
            raise exc.located(source=source, line=line) from None
        seen[case.case_id] = line
        cases.append(case)
    return cases


def _case(record: dict[str, str], line: int, profiles: Mapping[str, Profile]) -> Case:
    case_id = record["case_id"]
    if not case_id:
        raise CaseError("empty case_id", field="case_id")
    relationship = get_relationship(record["relationship"])
    samples: dict[str, str] = {}
    for role in ROLE_COLUMNS:
        sample = record[role]
        if role not in relationship.roles:
            if sample:
                raise CaseError(
                    f"{relationship.name} does not use {role}; leave the cell empty", field=role
                )
            continue
        if not sample:
            raise CaseError(f"{relationship.name} needs a {role}", field=role)
        if sample not in profiles:
            raise CaseError(f"sample {sample!r} is not in the profiles", field=role)
        if sample in samples.values():
            raise CaseError(f"sample {sample!r} is in two roles", field=role)
        samples[role] = sample
    return Case(case_id, relationship.name, samples, line)


def check_rates(
    cases: Sequence[Case],
    profiles: Mapping[str, Profile],
    frequencies: AlleleFrequencies,
    mutation: MutationModel,
    *,
    source: str | None = None,
) -> None:
    """Every locus a case may compare (typed in one of its persons and in the table) has a
    mutation rate: fail before computing anything, naming the cases file (``source``), the
    case's line and the locus."""
    if mutation.rates is None:
        return
    for case in cases:
        for profile in case.persons(profiles).values():
            for locus in profile.genotypes:
                if locus in frequencies:
                    try:
                        mutation.rates.rates(locus)
                    except InputError as exc:
                        raise exc.located(source=source, line=case.line) from None

"""The cases file of ``kinmatch lr``: which profiles to compare under which relationship.

The header names ``case_id``, ``relationship`` and the role columns its cases use, in any
order: ``child,parent,mother,father,person1,person2`` and, for registered families, ``poi``
and ``family_id``; unused cells stay empty. ``parent-child`` uses child and parent;
``paternity-trio`` child, parent (the alleged father) and mother; ``parents-child`` child,
father and mother; the pairwise relationships person1 and person2; ``family`` the person of
interest (``poi``) and the ``family_id`` of a families file (:mod:`kinmatch.families`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from kinmatch.csvfile import csv_rows
from kinmatch.errors import CaseError, InputError
from kinmatch.families import Family
from kinmatch.frequencies import AlleleFrequencies
from kinmatch.mutation import MutationModel
from kinmatch.profiles import Profile
from kinmatch.relationships import get_relationship

CASE_COLUMNS: tuple[str, ...] = (
    "case_id", "relationship", "child", "parent", "mother", "father", "person1", "person2",
    "poi", "family_id",
)  # fmt: skip
ROLE_COLUMNS = CASE_COLUMNS[2:8]
FAMILY = "family"
"""The relationship of a person of interest against a registered family."""


@dataclass(frozen=True)
class Case:
    """One comparison: roles mapped to sample IDs, with the line it came from."""

    case_id: str
    relationship: str
    samples: Mapping[str, str]
    line: int
    family_id: str | None = None
    """The family of a ``family`` case (``samples`` then holds the ``poi`` only)."""

    def persons(self, profiles: Mapping[str, Profile]) -> dict[str, Profile]:
        """The profiles of this case by role."""
        return {role: profiles[sample] for role, sample in self.samples.items()}


def read_cases(
    path: str | Path,
    profiles: Mapping[str, Profile],
    families: Mapping[str, Family] | None = None,
) -> list[Case]:
    """Read and validate a cases file against the loaded profiles (and families).

    Raises :class:`CaseError` naming file, line and field for a bad header, an empty or
    repeated case_id, an unknown relationship, a missing or superfluous role cell, a sample
    not among the profiles, one sample in two roles, a family not among ``families`` or a
    person of interest who is a typed member of their family.
    """
    path = Path(path)
    source = str(path)
    rows = list(csv_rows(path, CaseError))
    header = [name.strip() for name in rows[0][1]] if rows else []
    unknown = [name for name in header if name not in CASE_COLUMNS]
    if (
        not rows
        or unknown
        or len(set(header)) != len(header)
        or header[:2] != list(CASE_COLUMNS[:2])
    ):
        raise CaseError(
            f"header must be case_id,relationship followed by role columns among "
            f"{','.join(CASE_COLUMNS[2:])}, each once",
            source=source, line=1,
        )  # fmt: skip
    cases: list[Case] = []
    seen: dict[str, int] = {}
    for line, row in rows[1:]:
        if not any(cell.strip() for cell in row):
            continue
        try:
            if len(row) != len(header):
                raise CaseError(f"row has {len(row)} fields but the header has {len(header)}")
            record = dict.fromkeys(CASE_COLUMNS, "")
            record.update((name, cell.strip()) for name, cell in zip(header, row, strict=True))
            case = _case(record, line, profiles, families)
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


def _case(
    record: dict[str, str],
    line: int,
    profiles: Mapping[str, Profile],
    families: Mapping[str, Family] | None,
) -> Case:
    case_id = record["case_id"]
    if not case_id:
        raise CaseError("empty case_id", field="case_id")
    if record["relationship"] == FAMILY:
        return _family_case(record, line, profiles, families)
    for column in ("poi", "family_id"):
        if record[column]:
            raise CaseError(f"{record['relationship']} does not use {column}; leave the cell "
                            "empty", field=column)  # fmt: skip
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


def _family_case(
    record: dict[str, str],
    line: int,
    profiles: Mapping[str, Profile],
    families: Mapping[str, Family] | None,
) -> Case:
    for role in ROLE_COLUMNS:
        if record[role]:
            raise CaseError(f"family does not use {role}; leave the cell empty", field=role)
    poi, family_id = record["poi"], record["family_id"]
    if not poi:
        raise CaseError("family needs a poi (the person of interest)", field="poi")
    if poi not in profiles:
        raise CaseError(f"sample {poi!r} is not in the profiles", field="poi")
    if not family_id:
        raise CaseError("family needs a family_id", field="family_id")
    if families is None:
        raise CaseError("family cases need a families file (--families)", field="family_id")
    family = families.get(family_id)
    if family is None:
        raise CaseError(f"family {family_id!r} is not in the families file", field="family_id")
    for person, sample in family.typed.items():
        if sample == poi:
            raise CaseError(f"sample {poi!r} is also member {person!r} of family "
                            f"{family_id!r}", field="poi")  # fmt: skip
    return Case(record["case_id"], FAMILY, {"poi": poi}, line, family_id)


def check_rates(
    cases: Sequence[Case],
    profiles: Mapping[str, Profile],
    frequencies: AlleleFrequencies,
    mutation: MutationModel,
    *,
    source: str | None = None,
    families: Mapping[str, Family] | None = None,
) -> None:
    """Every locus a case may compare (typed in one of its persons and in the table) has a
    mutation rate: fail before computing anything, naming the cases file (``source``), the
    case's line and the locus."""
    if mutation.rates is None:
        return
    for case in cases:
        persons = list(case.persons(profiles).values())
        if case.family_id is not None and families is not None:
            persons += [profiles[s] for s in families[case.family_id].typed.values()]
        for profile in persons:
            for locus in profile.genotypes:
                if locus in frequencies:
                    try:
                        mutation.rates.rates(locus)
                    except InputError as exc:
                        raise exc.located(source=source, line=case.line) from None

"""Registered families: who is related to whom, who is typed, and who is missing.

A family is a small pedigree around one missing person (the place a person of interest is
tested in): typed relatives, untyped persons who only link them, and the missing member. The
families file has one row per person::

    family_id,person_id,father,mother,sex,sample_id,missing
    F12,mo,,,F,K12-M,
    F12,fa,,,M,,
    F12,sib,fa,mo,F,K12-S,
    F12,child,fa,mo,U,,1

Columns may come in any order (names are case-insensitive). ``father``/``mother`` are person
IDs within the family, both empty for a founder; ``sex`` is M, F (or male, female), U or empty
for unknown (only for a person without children); an empty ``sample_id`` means untyped;
``missing`` marks the one missing member (1, yes, true, x, y; empty, 0, no, n, false for the
others). The rows of a family need not be contiguous or ordered.

Families are refused, with an error naming file, line, family and person, when the pedigree
is impossible (unknown parent, a person their own ancestor, a father not male, ...), when it
has a marriage loop (inbreeding, two siblings marrying two siblings: not supported by the
engine yet), when it is larger than the engine supports (:data:`MAX_PERSONS`,
:data:`MAX_MEIOSES`), or when it has nothing to compare (no typed member). Families files
hold no genotypes, and no message quotes one.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn

from kinmatch.csvfile import csv_rows
from kinmatch.errors import FamilyError, InputError
from kinmatch.pedigree import Pedigree, Person
from kinmatch.profiles import Profile

MAX_PERSONS = 12
"""Most persons in a family (the missing member and untyped persons included)."""
MAX_MEIOSES = 14
"""Most meioses in a family: two per non-founder. At theta > 0 the compiled program lists
2^meioses inheritance patterns once per family shape (:mod:`kinmatch.descent`)."""

FAMILY_COLUMNS: tuple[str, ...] = (
    "family_id", "person_id", "father", "mother", "sex", "sample_id", "missing",
)  # fmt: skip
SEXES: tuple[str, ...] = ("M", "F", "U")

_SEX_WORDS = {"m": "M", "male": "M", "f": "F", "female": "F", "u": "U", "": "U"}
_TRUE = frozenset({"1", "yes", "true", "x", "y"})
_FALSE = frozenset({"", "0", "no", "n", "false"})


@dataclass(frozen=True)
class Member:
    """One person of a family. ``line`` (where it was read) takes no part in equality."""

    person_id: str
    sex: str
    """"M", "F" or "U" (unknown; allowed only for a person with no children)."""
    father: str | None
    """Person ID of the father within the family; None for a founder."""
    mother: str | None
    sample_id: str | None
    """The member's profile; None when untyped."""
    line: int | None = field(default=None, compare=False)

    @property
    def is_founder(self) -> bool:
        return self.father is None


@dataclass(frozen=True)
class Family:
    """A validated family: members listed parents before children, exactly one missing.

    The member order is canonical (a topological order, ties broken by person ID), so the
    same family read from rows in any order is equal.
    """

    family_id: str
    members: tuple[Member, ...]
    missing: str
    """Person ID of the missing member: untyped, the place of the person of interest."""
    source: str | None = None

    @property
    def typed(self) -> dict[str, str]:
        """Person ID -> sample ID of every typed member (never the missing member)."""
        return {m.person_id: m.sample_id for m in self.members if m.sample_id is not None}

    @property
    def meioses(self) -> int:
        """Number of meioses: two per non-founder."""
        return 2 * sum(1 for member in self.members if not member.is_founder)

    def member(self, person_id: str) -> Member:
        """The member with this person ID (KeyError when there is none)."""
        for member in self.members:
            if member.person_id == person_id:
                return member
        raise KeyError(person_id)

    def pedigree(self, *, poi: str | None = None) -> Pedigree:
        """The family as a pedigree of the core, persons named by person ID.

        With ``poi`` the missing member is named ``poi`` instead (it must not be another
        member's ID). Sex U becomes M: only persons without children may have it, and a
        person's sex matters only for the meioses it transmits (autosomal loci).
        """
        names = {member.person_id: member.person_id for member in self.members}
        if poi is not None:
            if poi != self.missing and poi in names:
                raise FamilyError(
                    f"cannot name the missing member {poi!r}: another member has that ID",
                    source=self.source,
                    family=self.family_id,
                    person=poi,
                )
            names[self.missing] = poi
        persons = tuple(
            Person(
                names[m.person_id],
                "M" if m.sex == "U" else m.sex,
                None if m.father is None else names[m.father],
                None if m.mother is None else names[m.mother],
            )
            for m in self.members
        )
        return Pedigree(persons)


def read_families(
    path: str | Path, profiles: Mapping[str, Profile] | None = None
) -> dict[str, Family]:
    """Read and validate a families file (see the module docstring), by family ID in file
    order. With ``profiles``, every typed member's sample must be among them.

    Raises :class:`FamilyError` naming file, line, family and person (and field, for a bad
    cell) at the first problem.
    """
    path = Path(path)
    source = str(path)
    rows = csv_rows(path, FamilyError)
    header_line, header = next(rows, (1, []))
    columns = _header(header, source, header_line)
    drafts: dict[str, list[tuple[Member, bool]]] = {}
    for line, row in rows:
        if not any(cell.strip() for cell in row):
            continue
        cells = [cell.strip() for cell in row]
        family_id, person_id = (
            cells[columns[name]] if columns[name] < len(cells) else ""
            for name in ("family_id", "person_id")
        )
        try:
            if len(cells) != len(columns):
                raise FamilyError(f"row has {len(cells)} fields but the header has {len(columns)}")
            record = {name: cells[index] for name, index in columns.items()}
            member, missing = _member(record, line)
        except InputError as exc:
            where = {"family": family_id or None, "person": person_id or None}
            raise exc.located(source=source, line=line, **where) from None
        drafts.setdefault(family_id, []).append((member, missing))
    if not drafts:
        raise FamilyError("no family rows after the header", source=source, line=header_line)
    families: dict[str, Family] = {}
    for family_id, draft in drafts.items():
        members = [member for member, _ in draft]
        families[family_id] = make_family(
            family_id, members, _the_missing(family_id, draft, source), source=source,
            profiles=profiles,
        )  # fmt: skip
    return families


def _header(header: list[str], source: str, line: int) -> dict[str, int]:
    names = [name.strip().lower() for name in header]
    expected = ",".join(FAMILY_COLUMNS)
    if not any(names):
        raise FamilyError(f"empty file or empty header; expected {expected}", source=source)
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise FamilyError(f"repeated columns {repeated}", source=source, line=line)
    unknown = [name for name in names if name not in FAMILY_COLUMNS]
    if unknown:
        raise FamilyError(
            f"unknown columns {unknown}: the columns are {expected}", source=source, line=line
        )
    absent = [name for name in FAMILY_COLUMNS if name not in names]
    if absent:
        raise FamilyError(
            f"missing columns {absent}: the columns are {expected}", source=source, line=line
        )
    return {name: names.index(name) for name in FAMILY_COLUMNS}


def _member(record: dict[str, str], line: int) -> tuple[Member, bool]:
    """One row: the member and whether it is marked missing."""
    for name in ("family_id", "person_id"):
        if not record[name]:
            raise FamilyError(f"empty {name}", field=name)
    sex = _SEX_WORDS.get(record["sex"].lower())
    if sex is None:
        raise FamilyError(
            f"unknown sex {record['sex']!r}: expected M, F, male, female, U or empty",
            field="sex",
        )
    flag = record["missing"].lower()
    if flag not in _TRUE | _FALSE:
        raise FamilyError(
            f"missing must be 1, yes, true, x or y for the missing member and empty, 0, no, "
            f"n or false for the others, not {record['missing']!r}",
            field="missing",
        )
    member = Member(
        person_id=record["person_id"],
        sex=sex,
        father=record["father"] or None,
        mother=record["mother"] or None,
        sample_id=record["sample_id"] or None,
        line=line,
    )
    return member, flag in _TRUE


def _the_missing(family_id: str, draft: list[tuple[Member, bool]], source: str) -> str:
    """Person ID of the one member marked missing."""
    marked = [member for member, missing in draft if missing]
    if not marked:
        first = draft[0][0]
        raise FamilyError(
            "no missing member: mark the missing person (the place of the person of "
            "interest) with 1 in the missing column",
            source=source,
            line=first.line,
            family=family_id,
        )
    if len(marked) > 1:
        names = ", ".join(repr(member.person_id) for member in marked)
        raise FamilyError(
            f"{len(marked)} missing members ({names}): a family has exactly one; register "
            "a family per missing person",
            source=source,
            line=marked[1].line,
            family=family_id,
            person=marked[1].person_id,
        )
    return marked[0].person_id


def make_family(
    family_id: str,
    members: Sequence[Member],
    missing: str,
    *,
    source: str | None = None,
    profiles: Mapping[str, Profile] | None = None,
) -> Family:
    """Validate members and build the family, parents sorted before children.

    The checks every reader shares (see the module docstring); raises :class:`FamilyError`
    naming ``source``, the member's line, the family and a person.
    """
    check = _Checker(family_id, members, source)
    check.unique()
    by_id = check.by_id
    if missing not in by_id:
        raise FamilyError(
            "the missing member is not in the family", source=source, family=family_id,
            person=missing,
        )  # fmt: skip
    check.parents()
    ordered = check.sorted()
    check.samples(by_id[missing], profiles)
    check.connected(ordered, missing)
    check.no_loop(ordered)
    family = Family(family_id, tuple(ordered), missing, source)
    first = members[0]  # family-level errors point at the family's first line
    if len(ordered) > MAX_PERSONS or family.meioses > MAX_MEIOSES:
        check.fail(
            f"{len(ordered)} persons and {family.meioses} meioses: the engine supports at most "
            f"{MAX_PERSONS} persons and {MAX_MEIOSES} meioses (two per person with parents); "
            "leave out untyped persons who link no typed relative",
            first,
            person=False,
        )
    if not family.typed:
        check.fail("no typed member: nothing to compare", first, person=False)
    return family


class _Checker:
    """The family-level checks, each raising a located :class:`FamilyError`."""

    def __init__(self, family_id: str, members: Sequence[Member], source: str | None) -> None:
        self.family_id = family_id
        self.members = list(members)
        self.source = source
        self.by_id: dict[str, Member] = {}

    def fail(self, reason: str, member: Member, *, person: bool = True) -> NoReturn:
        raise FamilyError(
            reason,
            source=self.source,
            line=member.line,
            family=self.family_id,
            person=member.person_id if person else None,
        )

    def unique(self) -> None:
        for member in self.members:
            first = self.by_id.get(member.person_id)
            if first is not None:
                where = f" (first on line {first.line})" if first.line is not None else ""
                self.fail(f"person_id listed twice in the family{where}", member)
            self.by_id[member.person_id] = member

    def parents(self) -> None:
        """Both parents or neither, each a member of the right sex; sex U has no children."""
        for member in self.members:
            if (member.father is None) != (member.mother is None):
                given, other = ("father", "mother") if member.father else ("mother", "father")
                self.fail(
                    f"only the {given} is given: give both parents or neither (add the "
                    f"{other} as an untyped member)",
                    member,
                )
            for role, parent, sex in (
                ("father", member.father, "M"),
                ("mother", member.mother, "F"),
            ):
                if parent is None:
                    continue
                if parent not in self.by_id:
                    self.fail(
                        f"{role} {parent!r} is not a member of the family (add them, untyped "
                        "if need be)",
                        member,
                    )
                found = self.by_id[parent].sex
                if found != sex:
                    wanted = "male (M)" if sex == "M" else "female (F)"
                    self.fail(
                        f"{role} {parent!r} has sex {found}: a {role} must be {wanted}", member
                    )

    def sorted(self) -> list[Member]:
        """Parents before children (Kahn's algorithm, ties by person ID); a cycle fails."""
        children: dict[str, list[str]] = {pid: [] for pid in self.by_id}
        waiting: dict[str, int] = {}
        for member in self.members:
            parents = {p for p in (member.father, member.mother) if p is not None}
            waiting[member.person_id] = len(parents)
            for parent in parents:
                children[parent].append(member.person_id)
        ready = [pid for pid, count in waiting.items() if count == 0]
        heapq.heapify(ready)
        ordered: list[Member] = []
        while ready:
            pid = heapq.heappop(ready)
            ordered.append(self.by_id[pid])
            for child in children[pid]:
                waiting[child] -= 1
                if waiting[child] == 0:
                    heapq.heappush(ready, child)
        if len(ordered) < len(self.members):
            left = {pid for pid, count in waiting.items() if count > 0}
            cycle = self._cycle(min(left), left)
            chain = ", ".join(f"{pid!r} is a child of {parent!r}" for pid, parent in cycle)
            self.fail(f"{cycle[0][0]!r} is their own ancestor ({chain})", self.by_id[cycle[0][0]])
        return ordered

    def _cycle(self, start: str, left: set[str]) -> list[tuple[str, str]]:
        """(child, parent) steps of an ancestry cycle among ``left`` (all on or below one)."""
        path: list[str] = []
        seen: dict[str, int] = {}
        pid = start
        while pid not in seen:
            seen[pid] = len(path)
            path.append(pid)
            member = self.by_id[pid]
            pid = next(p for p in sorted({member.father or "", member.mother or ""}) if p in left)
        loop = path[seen[pid] :]
        return [(child, loop[(i + 1) % len(loop)]) for i, child in enumerate(loop)]

    def samples(self, missing: Member, profiles: Mapping[str, Profile] | None) -> None:
        """The missing member untyped; each sample in one role, with a profile if asked."""
        if missing.sample_id is not None:
            self.fail(
                f"the missing member has sample {missing.sample_id!r}: it is the place of the "
                "person of interest and must be untyped",
                missing,
            )
        seen: dict[str, Member] = {}
        for member in self.members:
            sample = member.sample_id
            if sample is None:
                continue
            if sample in seen:
                self.fail(
                    f"sample {sample!r} is in two roles (also person {seen[sample].person_id!r})",
                    member,
                )
            seen[sample] = member
            if profiles is not None and sample not in profiles:
                self.fail(f"sample {sample!r} is not in the profiles", member)

    def connected(self, ordered: Sequence[Member], missing: str) -> None:
        """Every member linked to the missing member through parent-child links."""
        groups = _Components()
        for member in ordered:
            for parent in (member.father, member.mother):
                if parent is not None:
                    groups.join(member.person_id, parent)
        root = groups.find(missing)
        apart = [m for m in self.members if groups.find(m.person_id) != root]
        if apart:
            self.fail(
                f"not connected to the missing member {missing!r} through parent-child links "
                "(add the persons who link them, untyped, or register a separate family)",
                apart[0],
            )

    def no_loop(self, ordered: Sequence[Member]) -> None:
        """No marriage loop: the graph of persons and matings (each parent linked to the
        mating, the mating to each child) is a forest. Full siblings share a mating and
        make no loop; a child of relatives, or two siblings marrying two siblings, do."""
        groups = _Components()
        links: dict[str, list[str]] = {}
        for member in ordered:
            if member.father is None or member.mother is None:
                continue
            mating = f"\0{member.father}\0{member.mother}"
            edges = [(member.person_id, mating)]
            if mating not in links:
                edges = [(member.father, mating), (member.mother, mating), *edges]
            for person, node in edges:
                if groups.find(person) == groups.find(node):
                    loop = [n for n in _path(links, node, person) if not n.startswith("\0")]
                    names = ", ".join(repr(name) for name in loop)
                    self.fail(
                        f"marriage loop through {names} (a child of relatives, or two couples "
                        "of relatives): pedigrees with loops are not supported yet",
                        self.by_id[person],
                    )
                groups.join(person, node)
                links.setdefault(person, []).append(node)
                links.setdefault(node, []).append(person)


class _Components:
    """Union-find over names."""

    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, name: str) -> str:
        root = self.parent.setdefault(name, name)
        while root != self.parent[root]:
            root = self.parent[root]
        while name != root:
            name, self.parent[name] = self.parent[name], root
        return root

    def join(self, first: str, second: str) -> None:
        self.parent[self.find(first)] = self.find(second)


def _path(links: Mapping[str, Iterable[str]], start: str, end: str) -> list[str]:
    """The path from ``start`` to ``end`` in a forest (breadth-first)."""
    previous: dict[str, str] = {start: start}
    queue = [start]
    for node in queue:
        if node == end:
            break
        for other in links.get(node, ()):
            if other not in previous:
                previous[other] = node
                queue.append(other)
    path = [end]
    while path[-1] != start:
        path.append(previous[path[-1]])
    return path[::-1]

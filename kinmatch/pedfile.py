"""Families in the ``ped`` layout of the R package pedtools (``writePed``), as forrel users
keep them.

``writePed(x, prefix)`` writes ``write.table(as.data.frame(x), sep = "\\t", quote = FALSE,
row.names = FALSE)``: a header line ``id fid mid sex <marker> ...`` (a first ``famid`` column
with ``famid = TRUE``), one line per person; ``fid``/``mid`` are ``0`` for a founder; ``sex``
is 1 (male), 2 (female) or 0 (unknown); a genotype is ``a/b`` with ``-`` for a missing allele,
so an untyped person reads ``-/-`` (pedtools' ``format.marker``). Read here: tab- or
whitespace-separated fields, founders' parents as ``0``, empty or ``NA``; untyped as ``-/-``,
``0/0``, empty or ``NA``; lines starting with ``#`` are comments (``read.table``'s default).

A person typed at one marker or more becomes a typed member whose sample ID is its ``id``.
The family ID and the missing member are not in the file: the caller gives them. The family
is validated like a families file (:func:`kinmatch.families.make_family`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TextIO

from kinmatch.alleles import Genotype, make_genotype, parse_allele
from kinmatch.errors import AlleleError, FamilyError, InputError, LocusError
from kinmatch.families import Family, Member, make_family
from kinmatch.loci import canonical_locus, is_sex_marker
from kinmatch.profiles import Profile, ProfileTable

PED_COLUMNS: tuple[str, ...] = ("id", "fid", "mid", "sex")
_NO_PARENT = frozenset({"0", "", "NA"})
_UNTYPED = frozenset({"", "NA", "-/-", "0/0"})
_NO_ALLELE = frozenset({"-", "0", "NA", ""})
_SEX_CODES = {"1": "M", "2": "F", "0": "U", "NA": "U"}
_SEX_WRITTEN = {"M": "1", "F": "2", "U": "0"}


def read_ped(path: str | Path, *, family_id: str, missing: str) -> tuple[Family, ProfileTable]:
    """Read one family from a pedtools ped file: the family and the typed members' profiles.

    ``missing`` is the person ID of the missing member; it must be in the file, untyped.
    Raises :class:`FamilyError` for the file and the family, :class:`LocusError` for a
    marker name, :class:`AlleleError` for a genotype cell, each naming file, line, family,
    person and marker.
    """
    path = Path(path)
    source = str(path)
    lines = _lines(path, source)
    header_line, header = next(lines, (1, []))
    names = [name.lower() for name in header]
    start = 1 if names[:1] == ["famid"] else 0
    if names[start : start + 4] != list(PED_COLUMNS):
        raise FamilyError(
            "header must start with id fid mid sex (optionally after famid), as pedtools' "
            "writePed writes it with header = TRUE",
            source=source,
            line=header_line,
            family=family_id,
        )
    loci = _markers(header[start + 4 :], source, header_line, family_id)
    members: list[Member] = []
    profiles: dict[str, Profile] = {}
    first_line: dict[str, int] = {}
    famids: dict[str, int] = {}
    for line, cells in lines:
        person = cells[start] if len(cells) > start else ""
        try:
            if len(cells) != len(header):
                raise FamilyError(f"line has {len(cells)} fields but the header has {len(header)}")
            if start:
                famids.setdefault(cells[0], line)
                if len(famids) > 1:
                    raise FamilyError(
                        "the file holds more than one famid (first "
                        f"{next(iter(famids))!r}); read_ped reads one family",
                        field="famid",
                    )
            member, genotypes = _person(cells[start:], loci, header[start + 4 :], line)
        except InputError as exc:
            where = {"family": family_id, "person": person or None}
            raise exc.located(source=source, line=line, **where) from None
        if member.person_id == missing and genotypes:
            typed = ", ".join(genotypes)
            raise FamilyError(
                f"the missing member is typed (at {typed}): it is the place of the person "
                "of interest and must be untyped (-/-)",
                source=source,
                line=line,
                family=family_id,
                person=missing,
            )
        members.append(member)
        if genotypes and member.person_id not in profiles:
            sex = member.sex if member.sex != "U" else None
            profiles[member.person_id] = Profile(
                member.person_id, genotypes, case_id=family_id, sex=sex
            )
            first_line[member.person_id] = line
    if not members:
        raise FamilyError(
            "no person after the header", source=source, line=header_line, family=family_id
        )
    table = ProfileTable(profiles, "ped", lines=first_line, source=source)
    family = make_family(family_id, members, missing, source=source, profiles=table)
    return family, table


def _lines(path: Path, source: str) -> Iterator[tuple[int, list[str]]]:
    """Non-blank, non-comment lines split into fields: on tabs when the header has one
    (writePed's separator; marker names may hold spaces), else on whitespace."""
    try:
        with path.open("rb") as handle:
            raw_lines = handle.read().splitlines()
    except OSError as exc:
        raise FamilyError(f"cannot read file: {exc.strerror}", source=source) from None
    on_tabs: bool | None = None
    for number, raw in enumerate(raw_lines, start=1):
        try:
            text = raw.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError as exc:
            raise FamilyError(
                f"not UTF-8 text ({exc.reason})", source=source, line=number
            ) from None
        if not text.strip() or text.lstrip().startswith("#"):
            continue
        if on_tabs is None:
            on_tabs = "\t" in text
        yield number, [cell.strip() for cell in text.split("\t")] if on_tabs else text.split()


def _markers(columns: list[str], source: str, line: int, family_id: str) -> list[str]:
    """Canonical locus names of the marker columns."""
    loci: list[str] = []
    for column in columns:
        try:
            locus = canonical_locus(column)
            if is_sex_marker(locus):
                raise LocusError(
                    "Amelogenin is a sex marker, not an STR: give the sex in the sex column "
                    "and leave the marker out"
                )
            if locus in loci:
                raise LocusError(f"marker repeats locus {locus!r}")
        except InputError as exc:
            raise exc.located(source=source, line=line, family=family_id, field=column) from None
        loci.append(locus)
    return loci


def _person(
    cells: list[str], loci: list[str], columns: list[str], line: int
) -> tuple[Member, dict[str, Genotype]]:
    """One person's line (after any famid): the member and its typed genotypes."""
    person_id, father, mother, sex_code = cells[:4]
    if not person_id or person_id in _NO_PARENT:
        raise FamilyError(f"invalid id {person_id!r}", field="id")
    sex = _SEX_CODES.get(sex_code)
    if sex is None:
        raise FamilyError(f"sex {sex_code!r}: expected 1 (male), 2 (female) or 0", field="sex")
    genotypes: dict[str, Genotype] = {}
    for locus, column, cell in zip(loci, columns, cells[4:], strict=True):
        try:
            genotype = _genotype(cell)
        except InputError as exc:
            raise exc.located(locus=locus, field=column) from None
        if genotype is not None:
            genotypes[locus] = genotype
    member = Member(
        person_id=person_id,
        sex=sex,
        father=None if father in _NO_PARENT else father,
        mother=None if mother in _NO_PARENT else mother,
        sample_id=person_id if genotypes else None,
        line=line,
    )
    return member, genotypes


def _genotype(cell: str) -> Genotype | None:
    """``a/b`` as a genotype; None for untyped. Never quotes the cell (it holds alleles)."""
    if cell in _UNTYPED:
        return None
    parts = cell.split("/")
    if len(parts) != 2:
        raise AlleleError(
            f"{len(parts)} allele(s) in the cell: a genotype is a/b (-/- for untyped)"
        )
    if any(part.strip() in _NO_ALLELE for part in parts):
        raise AlleleError("one allele is missing: give both alleles, or -/- for untyped")
    first, second = (parse_allele(part) for part in parts)
    return make_genotype(first, second)


def write_ped(
    handle: TextIO, family: Family, profiles: Mapping[str, Profile], loci: Sequence[str]
) -> None:
    """Write ``family`` as writePed does (tab-separated, header, ``0`` for no parent, ``-/-``
    for untyped), members in the family's order. Locus names lose their spaces
    (``PentaD``) so that R's whitespace-splitting ``read.table`` reads them; this reader
    maps them back."""
    handle.write("\t".join([*PED_COLUMNS, *(locus.replace(" ", "") for locus in loci)]) + "\n")
    for member in family.members:
        profile = profiles[member.sample_id] if member.sample_id is not None else None
        cells = [
            member.person_id,
            member.father or "0",
            member.mother or "0",
            _SEX_WRITTEN[member.sex],
        ]
        for locus in loci:
            genotype = profile.genotypes.get(locus) if profile is not None else None
            cells.append("/".join(genotype) if genotype is not None else "-/-")
        handle.write("\t".join(cells) + "\n")

"""STR profiles and the two CSV layouts labs export.

* **long**: ``sample_id,locus,allele1,allele2`` plus optional metadata columns, one row per
  sample and locus; an empty ``allele2`` means a homozygote.
* **wide**: ``sample_id``, metadata columns, then one column per locus; cells ``12/14``,
  ``12,14``, ``12`` (homozygote) or ``12/12``.

The layout is detected from the header. Metadata columns: ``role``, ``case_id``, ``sex``,
``agency``. A locus that was not typed (empty wide cell, no long row) is *missing*: it is
absent from :attr:`Profile.genotypes`, never an error and never a fake allele.

Every problem is a :class:`~kinmatch.errors.InputError` subclass naming file, line, sample,
locus and field. Nothing is skipped silently: unknown loci are an error unless the caller asks
to ignore them, and then the ignored names are reported in :attr:`ProfileTable.ignored_loci`.
"""

from __future__ import annotations

import csv
import functools
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from kinmatch.alleles import Genotype, make_genotype, parse_allele
from kinmatch.csvfile import csv_rows
from kinmatch.errors import AlleleError, InputError, LocusError, ProfileError
from kinmatch.loci import canonical_locus, is_known_locus, is_sex_marker, locus_sort_key

ROLES: tuple[str, ...] = ("father", "mother", "parent", "sibling", "unknown-origin", "other")
SEXES: tuple[str, ...] = ("M", "F")
METADATA_COLUMNS: tuple[str, ...] = ("role", "case_id", "sex", "agency")
LONG_COLUMNS: tuple[str, ...] = ("sample_id", "locus", "allele1", "allele2")


@dataclass(frozen=True)
class Profile:
    """One person's STR profile.

    ``genotypes`` maps canonical autosomal locus names to sorted allele pairs; untyped loci are
    absent. ``amelogenin`` holds the sex-marker call (``("X", "Y")``) when typed: it is
    metadata, never part of a likelihood ratio.
    """

    sample_id: str
    genotypes: Mapping[str, Genotype] = field(repr=False)  # kept out of logs and tracebacks
    role: str | None = None
    case_id: str | None = None
    sex: str | None = None
    agency: str | None = None
    amelogenin: tuple[str, str] | None = field(default=None, repr=False)

    @property
    def loci(self) -> list[str]:
        """Typed autosomal loci in catalogue order."""
        return sorted(self.genotypes, key=locus_sort_key)


@dataclass(frozen=True)
class ProfileTable(Mapping[str, Profile]):
    """Profiles by sample ID, in file order, with what reading them had to ignore."""

    profiles: Mapping[str, Profile]
    layout: str
    ignored_loci: tuple[str, ...] = field(default=())
    errors: tuple[InputError, ...] = field(default=())
    """With ``collect_errors``: every bad record, located; its sample is left out whole."""
    rejected: frozenset[str] = field(default=frozenset())
    """Sample IDs left out because one of their records is bad."""
    lines: Mapping[str, int] = field(default_factory=dict)
    """Line of each profile's first record, by sample ID."""
    source: str | None = None
    """The file read (None for a table built in memory)."""

    def __getitem__(self, sample_id: str) -> Profile:
        return self.profiles[sample_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self.profiles)

    def __len__(self) -> int:
        return len(self.profiles)


@functools.lru_cache(maxsize=1 << 16)
def parse_genotype_cell(cell: str) -> Genotype | None:
    """Parse a wide-layout cell: ``12/14``, ``12,14``, ``12`` or ``12/12``; empty is missing.

    Memoised: a locus has a few hundred distinct cells in a million profiles (errors are
    raised anew each time)."""
    text = cell.strip()
    if not text:
        return None
    parts = [part.strip() for part in text.replace(",", "/").split("/")]
    if len(parts) > 2:
        raise AlleleError(f"{len(parts)} alleles in {text!r}: a genotype has at most two")
    if any(not part for part in parts):
        raise AlleleError(f"empty allele in {text!r}")
    alleles = [parse_allele(part) for part in parts]
    return make_genotype(alleles[0], alleles[-1])


def _parse_amelogenin(text: str) -> tuple[str, str] | None:
    compact = text.replace("/", "").replace(",", "").replace(" ", "").upper()
    if not compact:
        return None
    if len(compact) > 2 or any(c not in "XY" for c in compact):
        raise AlleleError(f"invalid Amelogenin call {text.strip()!r}: expected X, Y, X/Y or X/X")
    first, second = sorted(compact * 2 if len(compact) == 1 else compact)
    return (first, second)


def _parse_metadata(name: str, value: str) -> str | None:
    value = value.strip()
    if not value:
        return None
    if name == "role" and value not in ROLES:
        raise ProfileError(f"unknown role {value!r}: expected one of {', '.join(ROLES)}")
    if name == "sex" and value not in SEXES:
        raise ProfileError(f"unknown sex {value!r}: expected M or F")
    return value


@dataclass
class _Draft:
    """A profile being assembled from rows."""

    sample_id: str
    line: int
    metadata: dict[str, str | None] = field(default_factory=dict)
    genotypes: dict[str, Genotype] = field(default_factory=dict)
    amelogenin: tuple[str, str] | None = None

    def build(self) -> Profile:
        return Profile(
            sample_id=self.sample_id,
            genotypes={k: self.genotypes[k] for k in sorted(self.genotypes, key=locus_sort_key)},
            role=self.metadata.get("role"),
            case_id=self.metadata.get("case_id"),
            sex=self.metadata.get("sex"),
            agency=self.metadata.get("agency"),
            amelogenin=self.amelogenin,
        )


def read_profiles(
    path: str | Path, *, ignore_unknown_loci: bool = False, collect_errors: bool = False
) -> ProfileTable:
    """Read and validate a profile CSV in the long or the wide layout.

    With ``ignore_unknown_loci`` columns or rows naming loci outside the catalogue are skipped
    and listed in :attr:`ProfileTable.ignored_loci`; otherwise they are an error. By default
    the first bad record raises; with ``collect_errors`` every bad record is collected in
    :attr:`ProfileTable.errors` and its sample is left out whole (never half a profile).
    Header errors and a file with no record after its header always raise.
    """
    source = str(Path(path))
    reader, rows, header_line = open_reader(path, ignore_unknown_loci=ignore_unknown_loci)
    try:
        table = reader.read(rows, collect_errors)
    except InputError as exc:
        raise exc.located(source=source) from None
    if not table and not table.errors:
        raise ProfileError(
            "no records after the header (empty or truncated file)",
            source=source,
            line=header_line,
        )
    return table


def open_reader(
    path: str | Path, *, ignore_unknown_loci: bool = False
) -> tuple[RowReader, Iterator[tuple[int, list[str]]], int]:
    """The checked header of a profile CSV: its reader (wide or long), the rows after the
    header with their line numbers, and the header's line. Header errors raise."""
    path = Path(path)
    source = str(path)
    rows = csv_rows(path, ProfileError)
    header_line, header = next(rows, (1, []))
    header = [name.strip() for name in header]
    if not any(header):
        raise ProfileError("empty file or empty header", source=source, line=header_line)
    if "sample_id" not in header:
        raise ProfileError("header has no 'sample_id' column", source=source, line=header_line)
    if len(set(header)) != len(header):
        dupes = sorted({name for name in header if header.count(name) > 1})
        raise ProfileError(f"repeated columns {dupes}", source=source, line=header_line)
    is_long = "locus" in header and "allele1" in header
    try:
        reader = (LongReader if is_long else WideReader)(source, header, ignore_unknown_loci)
    except InputError as exc:
        raise exc.located(source=source) from None
    return reader, rows, header_line


class RowReader:
    """Validates the rows of one file into profiles (:class:`WideReader`, :class:`LongReader`)."""

    layout = ""

    def __init__(self, source: str, header: list[str], ignore_unknown_loci: bool) -> None:
        self.source = source
        self.header = header
        self.ignore_unknown_loci = ignore_unknown_loci
        self.ignored: dict[str, None] = {}
        self.drafts: dict[str, _Draft] = {}

    def read(self, rows: Iterator[tuple[int, list[str]]], collect_errors: bool) -> ProfileTable:
        errors: list[InputError] = []
        rejected: set[str] = set()
        for line, row in rows:
            if not any(cell.strip() for cell in row):
                continue  # blank line
            sample_id = self.row_sample(row)
            try:
                record = self.record(row)
                sample_id = record["sample_id"].strip()
                if not sample_id:
                    raise ProfileError("empty sample_id", field="sample_id")
                self.add(line, sample_id, record)
            except InputError as exc:
                located = exc.located(source=self.source, line=line, sample=sample_id or None)
                if not collect_errors:
                    raise located from None
                errors.append(located)
                rejected.add(sample_id)
        profiles = {sid: draft.build() for sid, draft in self.drafts.items() if sid not in rejected}
        lines = {sid: self.drafts[sid].line for sid in profiles}
        return ProfileTable(
            profiles, self.layout, tuple(self.ignored), tuple(errors), frozenset(rejected), lines,
            self.source,
        )  # fmt: skip

    def row_sample(self, row: list[str]) -> str:
        """The sample ID of a row as read (before its checks), or ''."""
        return row[0].strip() if row and self.header[0] == "sample_id" else ""

    def record(self, row: list[str]) -> dict[str, str]:
        """The row by column name; a row of the wrong length raises."""
        if len(row) != len(self.header):
            raise ProfileError(
                f"row has {len(row)} fields but the header has {len(self.header)}"
                " (truncated or misaligned record)"
            )
        return dict(zip(self.header, row, strict=True))

    def add(self, line: int, sample_id: str, record: dict[str, str]) -> None:
        raise NotImplementedError

    def _locus(self, name: str) -> str | None:
        """Canonical locus name, or None when it is unknown and unknown loci are ignored."""
        if self.ignore_unknown_loci and not is_known_locus(name):
            self.ignored[name.strip()] = None
            return None
        return canonical_locus(name)

    @staticmethod
    def _set_metadata(draft: _Draft, record: dict[str, str]) -> None:
        for name in METADATA_COLUMNS:
            if name not in record:
                continue
            try:
                value = _parse_metadata(name, record[name])
            except InputError as exc:
                raise exc.located(field=name) from None
            if name in draft.metadata and draft.metadata[name] != value:
                raise ProfileError(
                    f"conflicting {name} {value!r}; earlier rows (line {draft.line}) say "
                    f"{draft.metadata[name]!r}",
                    field=name,
                )
            draft.metadata[name] = value

    @staticmethod
    def _set_genotype(draft: _Draft, locus: str, genotype: Genotype | None) -> None:
        if locus in draft.genotypes:
            raise LocusError("locus given twice for this sample", locus=locus)
        if genotype is not None:
            draft.genotypes[locus] = genotype


class WideReader(RowReader):
    layout = "wide"

    def __init__(self, source: str, header: list[str], ignore_unknown_loci: bool) -> None:
        super().__init__(source, header, ignore_unknown_loci)
        self.loci: dict[str, str] = {}
        for column in header:
            if column in ("sample_id", *METADATA_COLUMNS):
                continue
            try:
                locus = self._locus(column)
            except InputError as exc:
                raise exc.located(line=1, field=column) from None
            if locus is None:
                continue
            if locus in self.loci.values():
                raise LocusError(f"column {column!r} repeats locus {locus!r}", line=1)
            self.loci[column] = locus

    def add(self, line: int, sample_id: str, record: dict[str, str]) -> None:
        if sample_id in self.drafts:
            first = self.drafts[sample_id].line
            raise ProfileError(
                f"duplicate sample_id (first seen on line {first})", field="sample_id"
            )
        draft = _Draft(sample_id, line)
        self._set_metadata(draft, record)
        for column, locus in self.loci.items():
            try:
                if is_sex_marker(locus):
                    draft.amelogenin = _parse_amelogenin(record[column])
                else:
                    self._set_genotype(draft, locus, parse_genotype_cell(record[column]))
            except InputError as exc:
                raise exc.located(locus=locus, field=column) from None
        self.drafts[sample_id] = draft


class LongReader(RowReader):
    layout = "long"

    def __init__(self, source: str, header: list[str], ignore_unknown_loci: bool) -> None:
        super().__init__(source, header, ignore_unknown_loci)
        for column in LONG_COLUMNS:
            if column not in header:
                raise ProfileError(f"long layout needs a {column!r} column", line=1)
        for column in header:
            if column not in LONG_COLUMNS and column not in METADATA_COLUMNS:
                raise ProfileError(
                    "unknown column in the long layout (a genotype has at most two alleles; "
                    f"metadata columns are {', '.join(METADATA_COLUMNS)})",
                    line=1,
                    field=column,
                )
        self.seen: set[tuple[str, str]] = set()

    def add(self, line: int, sample_id: str, record: dict[str, str]) -> None:
        draft = self.drafts.get(sample_id)
        if draft is None:
            draft = self.drafts[sample_id] = _Draft(sample_id, line)
        self._set_metadata(draft, record)
        name = record["locus"]
        if not name.strip():
            raise LocusError("empty locus name", field="locus")
        try:
            locus = self._locus(name)
        except InputError as exc:
            raise exc.located(field="locus") from None
        if locus is None:
            return
        if (sample_id, locus) in self.seen:
            raise LocusError("locus given twice for this sample", locus=locus, field="locus")
        self.seen.add((sample_id, locus))
        first, second = record["allele1"].strip(), record["allele2"].strip()
        if not first and second:
            raise AlleleError(
                "allele1 is empty but allele2 is set (a homozygote is written in allele1)",
                locus=locus,
                field="allele1",
            )
        if not first:
            return  # untyped
        if is_sex_marker(locus):
            try:
                draft.amelogenin = _parse_amelogenin(f"{first}/{second}")
            except InputError as exc:
                raise exc.located(locus=locus, field="allele1") from None
            return
        alleles = []
        for column, text in (("allele1", first), ("allele2", second or first)):
            try:
                alleles.append(parse_allele(text))
            except InputError as exc:
                raise exc.located(locus=locus, field=column) from None
        self._set_genotype(draft, locus, make_genotype(alleles[0], alleles[1]))


class ProfileWriter:
    """Writes profiles as CSV in the wide or the long layout, with role, case_id and sex."""

    def __init__(self, handle: TextIO, loci: Sequence[str], layout: str = "wide") -> None:
        self.writer = csv.writer(handle, lineterminator="\n")
        self.loci = list(loci)
        self.layout = layout
        meta = ["role", "case_id", "sex"]
        header = ["sample_id", *meta, *self.loci] if layout == "wide" else [*LONG_COLUMNS, *meta]
        self.writer.writerow(header)

    def write(self, profiles: Iterable[Profile]) -> None:
        for p in profiles:
            meta = [p.role or "", p.case_id or "", p.sex or ""]
            if self.layout == "wide":
                cells = ["/".join(p.genotypes[locus]) if locus in p.genotypes else ""
                         for locus in self.loci]  # fmt: skip
                self.writer.writerow([p.sample_id, *meta, *cells])
            else:
                for locus in self.loci:
                    if locus in p.genotypes:
                        self.writer.writerow([p.sample_id, locus, *p.genotypes[locus], *meta])

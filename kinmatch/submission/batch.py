"""A submitted batch: a JSON or CSV body checked, given its agency, and written as the CSV
file the store ingests (:meth:`~kinmatch.store.ReferenceStore.ingest_csv`), so that every
profile goes through the one validation of ``kinmatch ingest``.

* **CSV** (``text/csv``): either layout of :mod:`kinmatch.profiles`, as a laboratory exports
  it; a problem is named by the body's ``line``.
* **JSON** (``application/json``): ``{"agency": "A1", "profiles": [{"sample_id": "C7",
  "role": "unknown-origin", "case_id": null, "sex": "F", "genotypes": {"D3S1358": "15/16",
  ...}}, ...]}`` (``agency`` optional everywhere); a problem is named by its ``record``, the
  profile's position in ``profiles`` from 1.

Every profile is the submitting agency's: an empty or missing ``agency`` is filled in with it,
and a profile of another agency refuses the whole batch
(:class:`~kinmatch.errors.AccessDeniedError`). Problems never quote a genotype
(:func:`problem`), unlike the errors of ``kinmatch ingest``, which a laboratory reads about
its own file: here the answer crosses the network and may be logged by proxies.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kinmatch.errors import (
    AccessDeniedError,
    AlleleError,
    InputError,
    LocusError,
    SubmissionError,
)
from kinmatch.loci import canonical_locus, is_known_locus

JSON = "application/json"
CSV = "text/csv"
MAX_PROFILES = 100_000
"""Most profiles in one submission."""
SHOWN = 20
"""Problems a refused submission lists (all are counted)."""

_METADATA = ("role", "case_id", "sex")
_PROFILE_KEYS = frozenset({"sample_id", *_METADATA, "agency", "genotypes"})
_QUOTED = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"")
_BREAKS = ("\n", "\r", "\x00")


@dataclass(frozen=True)
class Batch:
    """The rows of the CSV file to ingest, a header first, one per line (a JSON profile's
    row is line 1 + its record; a CSV body's, the body's line), and the sample IDs."""

    rows: list[list[str]]
    by_line: bool
    samples: tuple[str, ...]

    def write(self, path: Path) -> None:
        """The CSV file, owner-only (it holds genotypes)."""
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with open(descriptor, "w", encoding="utf-8", newline="") as handle:
            csv.writer(handle, lineterminator="\n").writerows(self.rows)


def read_batch(body: bytes, content_type: str, agency: str) -> Batch:
    """The batch of ``body`` for ``agency`` (module docstring); raises
    :class:`~kinmatch.errors.SubmissionError` naming the bad records and fields, or
    :class:`~kinmatch.errors.AccessDeniedError` for a profile of another agency."""
    kind = content_type.split(";")[0].strip().lower()
    if kind == JSON:
        return _json_batch(body, agency)
    if kind == CSV:
        return _csv_batch(body, agency)
    raise SubmissionError([InputError(f"content type must be {JSON} or {CSV}",
                                      field="Content-Type")])  # fmt: skip


def problem(error: InputError, by_line: bool) -> dict[str, Any]:
    """One bad record as the answer shows it: its line (CSV) or record (JSON: the line of
    the file written, less its header), sample, locus, field and the reason, any quoted value
    of a genotype withheld."""
    reason = error.reason
    if isinstance(error, AlleleError) or error.locus is not None:
        reason = _QUOTED.sub("(value withheld)", reason)
    line = error.line
    where = {"line": line} if by_line else {"record": None if line is None else line - 1}
    return {**where, "sample_id": error.sample, "locus": error.locus, "field": error.field,
            "reason": reason}  # fmt: skip


def _refused(problems: Sequence[InputError], by_line: bool = True) -> SubmissionError:
    return SubmissionError(problems[:SHOWN], len(problems), by_line=by_line)


def _json_refused(problems: Sequence[InputError]) -> SubmissionError:
    return _refused(problems, by_line=False)


def _other_agency(where: str, sample: str, given: str) -> AccessDeniedError:
    del given  # never echoed: the caller learns which record, not what it said
    return AccessDeniedError(f"submit: {where}, sample {sample!r}, field 'agency': a profile "
                             "of another agency (submit only your own agency's)")  # fmt: skip


# -- JSON -------------------------------------------------------------------------------


def _json_batch(body: bytes, agency: str) -> Batch:
    try:
        document = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError:
        raise _json_refused([InputError("not UTF-8 text")]) from None
    except json.JSONDecodeError as exc:
        raise _json_refused([InputError(f"not JSON: {exc.msg} at line {exc.lineno} column "
                                   f"{exc.colno}")]) from None  # fmt: skip
    if not isinstance(document, dict) or not isinstance(document.get("profiles"), list):
        raise _json_refused(
            [InputError('expected an object {"profiles": [...]}', field="profiles")]
        )
    if unknown := sorted(set(document) - {"agency", "profiles"}):
        raise _json_refused([InputError("unknown fields: expected agency and profiles",
                                   field=str(unknown[0])[:64])])  # fmt: skip
    if document.get("agency") not in (None, agency):
        raise AccessDeniedError("submit: field 'agency': another agency's batch (submit only "
                                "your own agency's)")  # fmt: skip
    profiles: list[Any] = document["profiles"]
    if not profiles or len(profiles) > MAX_PROFILES:
        raise _json_refused(
            [InputError(f"between 1 and {MAX_PROFILES} profiles", field="profiles")]
        )
    loci: dict[str, None] = {}
    records: list[dict[str, str]] = []
    problems: list[InputError] = []
    for number, profile in enumerate(profiles, start=1):
        line = number + 1  # of the file written
        try:
            record = _json_record(profile, agency, number)
        except InputError as exc:
            problems.append(exc.located(line=line))
            continue
        loci.update(dict.fromkeys(k for k in record if k not in _PROFILE_KEYS))
        records.append(record)
    if problems:
        raise _json_refused(problems)
    header = ["sample_id", *_METADATA, "agency", *loci]
    rows = [header] + [[record.get(column, "") for column in header] for record in records]
    samples = tuple(dict.fromkeys(record["sample_id"] for record in records))
    return Batch(rows, False, samples)


def _json_record(profile: Any, agency: str, number: int) -> dict[str, str]:
    """One profile as the cells of its row: sample_id, metadata, agency and one per locus."""
    if not isinstance(profile, dict):
        raise InputError("a profile is an object", field="profiles")
    if unknown := sorted(set(profile) - _PROFILE_KEYS):
        raise InputError(f"unknown field: expected {', '.join(sorted(_PROFILE_KEYS))}",
                         field=str(unknown[0])[:64])  # fmt: skip
    sample = profile.get("sample_id")
    if not isinstance(sample, str) or not sample.strip():
        raise InputError("a non-empty string", field="sample_id")
    record = {"sample_id": _cell(sample, "sample_id", sample)}
    for name in (*_METADATA, "agency"):
        value = profile.get(name)
        if value is not None and not isinstance(value, str):
            raise InputError("a string or null", sample=sample, field=name)
        record[name] = _cell(value or "", name, sample)
    if record["agency"] not in ("", agency):
        raise _other_agency(f"record {number}", sample, record["agency"])
    record["agency"] = agency
    genotypes = profile.get("genotypes")
    if not isinstance(genotypes, dict):
        raise InputError('an object {"locus": "12/14", ...}', sample=sample, field="genotypes")
    for locus, genotype in genotypes.items():
        if locus in _PROFILE_KEYS or any(c in locus for c in _BREAKS) or not locus.strip():
            raise InputError("not a locus name", sample=sample, field="genotypes")
        if not is_known_locus(locus):
            raise LocusError("unknown locus", sample=sample, locus=locus[:64], field="genotypes")
        if (name := canonical_locus(locus)) in record:
            raise LocusError("locus given twice", sample=sample, locus=name, field="genotypes")
        if genotype is not None and not isinstance(genotype, str):
            raise AlleleError('a string such as "12/14", or null', sample=sample, locus=name)
        record[name] = _cell(genotype or "", None, sample, name)
    return record


def _cell(value: str, field: str | None, sample: str, locus: str | None = None) -> str:
    if any(c in value for c in _BREAKS):
        raise InputError("a value holds a line break or NUL", sample=sample[:64],
                         locus=None if locus is None else locus[:64], field=field)  # fmt: skip
    return value


# -- CSV --------------------------------------------------------------------------------


def _csv_batch(body: bytes, agency: str) -> Batch:
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise _refused([InputError("not UTF-8 text")]) from None
    reader = csv.reader(io.StringIO(text, newline=""))
    rows: list[list[str]] = []
    try:
        for row in reader:
            if any(c in cell for cell in row for c in _BREAKS):  # one row per line, always
                raise _refused([InputError("a value holds a line break or NUL",
                                           line=reader.line_num)])  # fmt: skip
            rows.append(row)
    except csv.Error as exc:
        raise _refused([InputError(f"malformed CSV: {exc}", line=reader.line_num)]) from None
    if not rows or "sample_id" not in rows[0]:
        raise _refused([InputError("header has no 'sample_id' column", line=1)])
    header = rows[0]
    sample_at = header.index("sample_id")
    if "agency" not in header:
        header.append("agency")
        for row in rows[1:]:
            if len(row) == len(header) - 1:  # a row of another length is ingest's to refuse
                row.append("")
    agency_at = header.index("agency")
    samples: dict[str, None] = {}
    for line, row in enumerate(rows[1:], start=2):
        if not row:
            continue
        sample = row[sample_at].strip() if sample_at < len(row) else ""
        if agency_at < len(row):
            if row[agency_at].strip() not in ("", agency):
                raise _other_agency(f"line {line}", sample, row[agency_at])
            row[agency_at] = agency
        if sample:
            samples[sample] = None
    if not samples:
        raise _refused([InputError("no profiles after the header", line=1)])
    if len(samples) > MAX_PROFILES:
        raise _refused([InputError(f"more than {MAX_PROFILES} profiles", line=1)])
    return Batch(rows, True, tuple(samples))

"""Profile CSV files read in bounded chunks: pyarrow's CSV reader, validated column by column.

A chunk is a block of whole lines of about ``block_bytes``. A wide-layout block whose lines are
all plain (no quote, one field per header column, no stray carriage return) is parsed by
pyarrow's CSV reader, and each *distinct* cell of a column is validated once by the code of
:mod:`kinmatch.profiles` (:func:`~kinmatch.profiles.parse_genotype_cell` and its siblings), so
the errors are the same, word for word, as :func:`~kinmatch.profiles.read_profiles`. Any other
block (quotes, a truncated or misaligned line) is read by the :mod:`csv` module, whose line
numbers are exact, and validated the same way. Long-layout blocks go through
:class:`~kinmatch.profiles.LongReader` itself; a sample's rows must be together (one block of
consecutive lines), since a sample that reappears further down cannot be assembled in bounded
memory: it is refused at the line where it reappears.

What a chunk holds per record (one row of the wide layout, one sample of the long layout): the
sample ID, the line, a status (:data:`OK`, :data:`BAD` with its error among the chunk's errors,
:data:`EMPTY` for no typed locus), the metadata codes and per locus the genotypes as indices
into the chunk's distinct values. Duplicate sample IDs are left to :mod:`kinmatch.bulk`.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from numpy.typing import NDArray

from kinmatch.alleles import Genotype
from kinmatch.errors import InputError, ProfileError
from kinmatch.fragments import NO_ROLE, NO_SEX, ROLE_CODES, SEXES
from kinmatch.loci import is_sex_marker
from kinmatch.profiles import (
    METADATA_COLUMNS,
    LongReader,
    WideReader,
    _parse_amelogenin,
    _parse_metadata,
    open_reader,
    parse_genotype_cell,
)

OK, BAD, EMPTY = 0, 1, 2
BLOCK_BYTES = 16 << 20
REAPPEARS = (
    "rows of this sample are not together: it reappears here after other samples (first seen "
    "on line {first}); the long layout needs each sample's rows in one block of lines"
)
_NEWLINE, _CR, _COMMA, _QUOTE = 10, 13, 44, 34


@dataclass
class Chunk:
    """The records of one block of lines (see the module docstring)."""

    source: str
    layout: str
    sample_ids: list[str]
    lines: NDArray[np.int64]
    status: NDArray[np.uint8]
    roles: NDArray[np.uint8]
    sexes: NDArray[np.uint8]
    case_ids: list[str | None]
    agencies: list[str | None]
    genotypes: dict[str, tuple[list[Genotype | None], NDArray[np.int64]]]
    errors: list[InputError] = field(default_factory=list)
    end: int = 0
    """Byte offset in the file after this chunk (for progress)."""


def read_chunks(
    path: Path, *, ignore_unknown_loci: bool = False, block_bytes: int = BLOCK_BYTES
) -> Iterator[Chunk]:
    """The chunks of one profile CSV; header errors, undecodable text and a file without a
    record raise as in :func:`~kinmatch.profiles.read_profiles`."""
    source = str(path)
    reader, rows, header_line = open_reader(path, ignore_unknown_loci=ignore_unknown_loci)
    rows.close()  # type: ignore[attr-defined]
    records = 0
    pending: list[tuple[int, list[str]]] = []  # long layout: the last sample's rows, carried
    for first_line, block, end in _blocks(path, header_line, block_bytes):
        text = _decode(block, source, first_line)
        if isinstance(reader, LongReader):
            chunk, pending = _long_chunk(reader, text, first_line, pending, last=end < 0)
        else:
            chunk = _wide_chunk(reader, block, text, first_line)  # type: ignore[arg-type]
        chunk.end = abs(end)
        records += len(chunk.lines)
        yield chunk
    if pending and isinstance(reader, LongReader):  # the file ended at a block's end
        chunk, _ = _long_chunk(reader, "", 0, pending, last=True)
        chunk.end = path.stat().st_size
        records += len(chunk.lines)
        yield chunk
    if not records:
        raise ProfileError("no records after the header (empty or truncated file)",
                           source=source, line=header_line)  # fmt: skip


def _blocks(path: Path, header_line: int, block_bytes: int) -> Iterator[tuple[int, bytes, int]]:
    """(first line number, whole lines, end offset) after the header; the end offset of the
    last block is negated."""
    with path.open("rb") as handle:
        skipped = offset = 0
        while skipped < header_line:  # skip the header's lines
            data = handle.read(1 << 16)
            if not data:
                return
            position = -1
            while skipped < header_line:
                position = data.find(b"\n", position + 1)
                if position < 0:
                    break
                skipped += 1
            offset += len(data) if position < 0 else position + 1
        handle.seek(offset)
        carry = b""
        line = header_line + 1
        while True:
            data = handle.read(block_bytes)
            if not data:
                if carry:
                    yield line, carry, -(offset + len(carry))
                return
            data = carry + data
            cut = data.rfind(b"\n") + 1
            # a cut inside a quoted field (an odd count of quotes before it: "" escapes one)
            # waits for the field's end, up to a few blocks; a stray quote is then an error
            inside = data.count(b'"', 0, cut) % 2 == 1 and len(data) < 4 * block_bytes
            if cut == 0 or inside:
                carry = data
                continue
            block, carry = data[:cut], data[cut:]
            offset += len(block)
            yield line, block, offset
            line += block.count(b"\n")


def _decode(block: bytes, source: str, first_line: int) -> str:
    try:
        return block.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = first_line + block.count(b"\n", 0, exc.start)
        raise ProfileError(f"not UTF-8 text ({exc.reason})", source=source, line=line) from None


def _csv_rows(text: str, first_line: int, source: str) -> Iterator[tuple[int, list[str]]]:
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        for row in reader:
            yield first_line - 1 + reader.line_num, row
    except csv.Error as exc:
        raise ProfileError(f"malformed CSV: {exc}", source=source) from None


def _plain_lines(block: bytes, columns: int) -> NDArray[np.int64] | None:
    """Offsets of the non-empty lines' ends when every line is plain (see the module), else
    None. ``block`` ends with a newline or at the end of the file."""
    if b'"' in block:
        return None
    data = np.frombuffer(block, dtype=np.uint8)
    ends = np.flatnonzero(data == _NEWLINE)
    if len(data) and data[-1] != _NEWLINE:
        ends = np.append(ends, len(data))
    starts = np.concatenate([[0], ends[:-1] + 1])
    carriage = np.flatnonzero(data == _CR)
    if len(carriage) and (carriage[-1] + 1 >= len(data) or np.any(data[carriage + 1] != _NEWLINE)):
        return None
    commas = np.concatenate([[0], np.cumsum(data == _COMMA)])
    count = commas[ends] - commas[starts]
    length = ends - starts
    length -= (length > 0) & (data[np.maximum(ends - 1, 0)] == _CR)
    filled = length > 0
    if np.any(count[filled] != columns - 1):
        return None
    kept: NDArray[np.int64] = ends[filled].astype(np.int64)
    return kept


def _wide_chunk(reader: WideReader, block: bytes, text: str, first_line: int) -> Chunk:
    header = reader.header
    plain = _plain_lines(block, len(header))
    errors: list[tuple[int, InputError]] = []
    if plain is not None and not len(plain):
        columns = {name: pa.array([], type=pa.string()) for name in header}
        return _validate_wide(reader, columns, np.zeros(0, dtype=np.int64), errors)
    if plain is not None:
        newlines = np.concatenate([[0], np.cumsum(np.frombuffer(block, np.uint8) == _NEWLINE)])
        lines = first_line + newlines[plain].astype(np.int64)
        names = [f"c{i}" for i in range(len(header))]
        table = pacsv.read_csv(
            io.BytesIO(block),
            read_options=pacsv.ReadOptions(column_names=names),
            parse_options=pacsv.ParseOptions(quote_char=False),
            convert_options=pacsv.ConvertOptions(column_types=dict.fromkeys(names, pa.string()),
                                                 strings_can_be_null=False),
        )  # fmt: skip
        if table.num_rows != len(lines):
            raise ProfileError("malformed CSV: lines and records disagree", source=reader.source)
        columns = {name: table.column(i).combine_chunks() for i, name in enumerate(header)}
    else:
        kept: list[list[str]] = []
        kept_lines: list[int] = []
        bad_lines: list[int] = []
        bad_ids: list[str] = []
        for line, row in _csv_rows(text, first_line, reader.source):
            if not any(cell.strip() for cell in row):
                continue
            try:
                reader.record(row)
            except InputError as exc:
                sample = reader.row_sample(row)
                errors.append((line, exc.located(source=reader.source, line=line,
                                                 sample=sample or None)))  # fmt: skip
                bad_lines.append(line)
                bad_ids.append(sample)
                continue
            kept.append(row)
            kept_lines.append(line)
        lines = np.array(kept_lines, dtype=np.int64)
        columns = {name: pa.array([row[i] for row in kept], type=pa.string())
                   for i, name in enumerate(header)}  # fmt: skip
        chunk = _validate_wide(reader, columns, lines, errors)
        if bad_lines:
            _append_bad(chunk, bad_ids, bad_lines)
        return chunk
    return _validate_wide(reader, columns, lines, errors)


def _append_bad(chunk: Chunk, ids: list[str], lines: list[int]) -> None:
    """Add records refused before validation (their errors are in the chunk already)."""
    n = len(ids)
    chunk.sample_ids += ids
    chunk.lines = np.concatenate([chunk.lines, np.array(lines, dtype=np.int64)])
    chunk.status = np.concatenate([chunk.status, np.full(n, BAD, dtype=np.uint8)])
    chunk.roles = np.concatenate([chunk.roles, np.full(n, NO_ROLE, dtype=np.uint8)])
    chunk.sexes = np.concatenate([chunk.sexes, np.full(n, NO_SEX, dtype=np.uint8)])
    chunk.case_ids += [None] * n
    chunk.agencies += [None] * n
    for locus, (values, index) in chunk.genotypes.items():
        chunk.genotypes[locus] = (values, np.concatenate([index, np.full(n, -1)]))


def _validate_wide(
    reader: WideReader,
    columns: dict[str, pa.Array],
    lines: NDArray[np.int64],
    errors: list[tuple[int, InputError]],
) -> Chunk:
    """Validate the records of a block, each distinct cell once; a row's first error (in the
    order of :class:`~kinmatch.profiles.WideReader`) is its error."""
    n = len(lines)
    blank = np.ones(n, dtype=bool)
    for column in columns.values():
        blank &= pc.utf8_length(pc.utf8_trim_whitespace(column)).to_numpy() == 0
    if blank.any():
        keep = pa.array(~blank)
        columns = {name: column.filter(keep) for name, column in columns.items()}
        lines = lines[~blank]
        n = len(lines)
    ids = [sid.strip() for sid in columns["sample_id"].to_pylist()]
    bad = np.zeros(n, dtype=bool)
    found: list[tuple[int, InputError]] = []

    def mark(rows: NDArray[np.bool_], error: InputError) -> None:
        for row in np.flatnonzero(rows & ~bad).tolist():
            found.append((row, error))
        bad[rows] = True

    mark(np.array([not sid for sid in ids], dtype=bool),
         ProfileError("empty sample_id", field="sample_id"))  # fmt: skip
    metadata: dict[str, list[str | None]] = {}
    for name in METADATA_COLUMNS:
        if name not in columns:
            continue
        values, index = _distinct(columns[name])
        parsed: list[str | None] = []
        for k, value in enumerate(values):
            try:
                parsed.append(_parse_metadata(name, value))
            except InputError as exc:
                mark(index == k, exc.located(field=name))
                parsed.append(None)
        metadata[name] = [parsed[k] for k in index.tolist()]
    genotypes: dict[str, tuple[list[Genotype | None], NDArray[np.int64]]] = {}
    typed = np.zeros(n, dtype=np.int64)
    for column, locus in reader.loci.items():
        values, index = _distinct(columns[column])
        cells: list[Genotype | None] = []
        for k, value in enumerate(values):
            try:
                if is_sex_marker(locus):
                    _parse_amelogenin(value)
                    cells.append(None)
                else:
                    cells.append(parse_genotype_cell(value))
            except InputError as exc:
                mark(index == k, exc.located(locus=locus, field=column))
                cells.append(None)
        if not is_sex_marker(locus):
            typed += np.array([cell is not None for cell in cells], dtype=np.int64)[index]
            genotypes[locus] = (cells, index)
    for row, error in found:
        line = int(lines[row])
        errors.append((line, error.located(source=reader.source, line=line,
                                           sample=ids[row] or None)))  # fmt: skip
    errors.sort(key=lambda item: item[0])
    status = np.where(bad, BAD, np.where(typed == 0, EMPTY, OK)).astype(np.uint8)
    roles = metadata.get("role", [None] * n)
    sexes = metadata.get("sex", [None] * n)
    return Chunk(
        reader.source, "wide", ids, lines, status,
        np.array([ROLE_CODES.get(r or "", NO_ROLE) for r in roles], dtype=np.uint8),
        np.array([SEXES.index(s) if s else NO_SEX for s in sexes], dtype=np.uint8),
        metadata.get("case_id", [None] * n), metadata.get("agency", [None] * n),
        genotypes, [error for _, error in errors],
    )  # fmt: skip


def _distinct(column: pa.Array) -> tuple[list[str], NDArray[np.int64]]:
    encoded = pc.dictionary_encode(column)
    values: list[str] = encoded.dictionary.to_pylist()
    return values, encoded.indices.to_numpy().astype(np.int64)


def _long_chunk(
    reader: LongReader,
    text: str,
    first_line: int,
    pending: list[tuple[int, list[str]]],
    *,
    last: bool,
) -> tuple[Chunk, list[tuple[int, list[str]]]]:
    """Records of a long-layout block; the last sample's rows wait for the next block."""
    groups: list[tuple[str, list[tuple[int, list[str]]]]] = []
    for line, row in [*pending, *_csv_rows(text, first_line, reader.source)]:
        if not any(cell.strip() for cell in row):
            continue
        sample = reader.row_sample(row)
        if groups and groups[-1][0] == sample:
            groups[-1][1].append((line, row))
        else:
            groups.append((sample, [(line, row)]))
    carried: list[tuple[int, list[str]]] = []
    if groups and not last:
        carried = groups.pop()[1]
    first_seen: dict[str, int] = {}
    fed: list[tuple[int, list[str]]] = []
    records: list[tuple[str, int, int]] = []  # sample, line, status
    located: list[tuple[int, InputError]] = []
    for sample, rows in groups:
        line = rows[0][0]
        if sample in first_seen:
            error = ProfileError(REAPPEARS.format(first=first_seen[sample]), field="sample_id")
            located.append((line, error.located(source=reader.source, line=line, sample=sample)))
            records.append((sample, line, BAD))
            continue
        first_seen[sample] = line
        fed.extend(rows)
        records.append((sample, line, OK))
    reader.drafts = {}
    reader.seen = set()
    table = reader.read(iter(fed), collect_errors=True)
    located += [(error.line or 0, error) for error in table.errors]
    located.sort(key=lambda item: item[0])
    genotypes: dict[str, tuple[list[Genotype | None], NDArray[np.int64]]] = {}
    values: dict[str, dict[Genotype, int]] = {}
    n = len(records)
    status = np.zeros(n, dtype=np.uint8)
    roles = np.full(n, NO_ROLE, dtype=np.uint8)
    sexes = np.full(n, NO_SEX, dtype=np.uint8)
    case_ids: list[str | None] = [None] * n
    agencies: list[str | None] = [None] * n
    for i, (sample, _, state) in enumerate(records):
        profile = table.profiles.get(sample) if state == OK else None
        if profile is None:
            status[i] = BAD
            continue
        status[i] = OK if profile.genotypes else EMPTY
        roles[i] = ROLE_CODES.get(profile.role or "", NO_ROLE)
        sexes[i] = SEXES.index(profile.sex) if profile.sex else NO_SEX
        case_ids[i], agencies[i] = profile.case_id, profile.agency
        for locus, genotype in profile.genotypes.items():
            if locus not in genotypes:
                genotypes[locus] = ([None], np.zeros(n, dtype=np.int64))
                values[locus] = {}
            code = values[locus].get(genotype)
            if code is None:
                code = values[locus][genotype] = len(genotypes[locus][0])
                genotypes[locus][0].append(genotype)
            genotypes[locus][1][i] = code
    lines = np.array([line for _, line, _ in records], dtype=np.int64)
    chunk = Chunk(reader.source, "long", [s for s, _, _ in records], lines, status, roles,
                  sexes, case_ids, agencies, genotypes,
                  [error for _, error in located])  # fmt: skip
    return chunk, carried

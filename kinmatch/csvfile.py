"""Reading the CSV files users supply: rows with their line numbers, located read errors."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

from kinmatch.errors import InputError


def csv_rows(path: Path, error: type[InputError]) -> Iterator[tuple[int, list[str]]]:
    """Rows of a UTF-8 CSV file (a byte-order mark is allowed) with their line numbers.

    A file that cannot be opened, is not UTF-8 or is not CSV raises ``error`` naming it.
    """
    source = str(path)
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            for row in reader:
                yield reader.line_num, row
    except UnicodeDecodeError as exc:
        line = _undecodable_line(path)
        raise error(f"not UTF-8 text ({exc.reason})", source=source, line=line) from None
    except csv.Error as exc:
        raise error(f"malformed CSV: {exc}", source=source) from None
    except OSError as exc:
        raise error(f"cannot read file: {exc.strerror}", source=source) from None


def _undecodable_line(path: Path) -> int | None:
    """Number of the first line that is not UTF-8 (read again only on that error: the text
    reader decodes in blocks and cannot say where). A newline byte never occurs inside a
    UTF-8 sequence, so lines decode on their own."""
    try:
        with path.open("rb") as handle:
            for number, raw in enumerate(handle, start=1):
                try:
                    raw.decode("utf-8")
                except UnicodeDecodeError:
                    return number
    except OSError:
        return None
    return None

"""The limits and checks of a review item's values, shared by every entry point (the library's
:class:`~kinmatch.queue.NewItem`, the command line, and the HTTP models of
:mod:`kinmatch.queue.schemas`), so that what one accepts every other accepts and what is stored
can always be shown. The checks raise :class:`ValueError` (as pydantic's validators do)."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from kinmatch.relationships import RELATIONSHIPS
from kinmatch.security.trust import AGENCY_CODE, NATIONAL

MAX_TEXT = 2000
"""Longest reason or identifier accepted."""
MAX_ID = 2**63 - 1
"""Largest item id or audit sequence number (both engines store 64-bit integers)."""
MAX_REFERENCES = 8
"""Most reference IDs of one item."""
MAX_LOCI = 256
"""Most loci in an item's per-locus breakdown."""
MAX_NAME = 64
"""Longest locus name, role name or key of the per-locus breakdown and parameters."""
MAX_ENTRIES = 256
"""Most entries of one list or mapping inside the per-locus breakdown and parameters."""
MAX_DEPTH = 4
"""Deepest nesting of a value inside the per-locus breakdown and parameters."""
MAX_ROLES = 8
"""Most genotypes (by role) of one locus."""


def clean(text: str) -> str:
    """Text the databases store as sent: no NUL, no lone surrogate."""
    if "\x00" in text:
        raise ValueError("text may not contain NUL characters")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("text must be valid Unicode (no lone surrogates)") from None
    return text


def text(value: Any, limit: int = MAX_TEXT, *, empty: bool = False) -> str:
    """A string of 1 (0 if ``empty``) to ``limit`` characters, clean."""
    if not isinstance(value, str) or not (0 if empty else 1) <= len(value) <= limit:
        raise ValueError(f"must be text of {0 if empty else 1}-{limit} characters")
    return clean(value)


def agency(code: Any) -> str:
    """An agency code (not ``national``, a jurisdiction)."""
    if code == NATIONAL:
        raise ValueError(f"{NATIONAL!r} is a jurisdiction, not an agency")
    if not isinstance(code, str) or not AGENCY_CODE.match(code):
        raise ValueError("must be an agency code (letters, digits, '_', '.', '-')")
    return code


def relationship(name: Any) -> str:
    if name not in RELATIONSHIPS:
        raise ValueError(f"unknown relationship: one of {', '.join(RELATIONSHIPS)}")
    return str(name)


def number(value: Any, *, minimum: float | None = None) -> float:
    """A finite JSON number (not a boolean, not a string), at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("must be a number")
    try:
        finite = math.isfinite(value)
    except OverflowError:
        finite = False
    if not finite or (minimum is not None and value < minimum):
        raise ValueError("must be a finite number" + ("" if minimum is None else
                                                      f" of at least {minimum:g}"))  # fmt: skip
    return float(value)


def bounded(value: Any, depth: int = 0) -> Any:
    """A plain JSON value of bounded size: finite numbers, clean text."""
    if depth > MAX_DEPTH:
        raise ValueError(f"nested more than {MAX_DEPTH} levels deep")
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        if not -MAX_ID <= value <= MAX_ID:
            raise ValueError("integers must fit in 64 bits")
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("numbers must be finite")
        return value
    if isinstance(value, str):
        if len(value) > MAX_TEXT:
            raise ValueError(f"text of at most {MAX_TEXT} characters")
        return clean(value)
    if isinstance(value, list):
        if len(value) > MAX_ENTRIES:
            raise ValueError(f"lists of at most {MAX_ENTRIES} entries")
        return [bounded(v, depth + 1) for v in value]
    if isinstance(value, dict):
        check_keys(value)
        return {k: bounded(v, depth + 1) for k, v in value.items()}
    raise ValueError("not a JSON value")


def check_keys(mapping: Mapping[Any, Any]) -> None:
    """At most :data:`MAX_ENTRIES` keys, each a name of 1-:data:`MAX_NAME` clean characters."""
    if len(mapping) > MAX_ENTRIES:
        raise ValueError(f"objects of at most {MAX_ENTRIES} entries")
    for key in mapping:
        if not isinstance(key, str) or not key or len(key) > MAX_NAME:
            raise ValueError(f"object keys of 1-{MAX_NAME} characters")
        clean(key)


def as_stored(value: Any) -> Any:
    """``value`` as the queue stores it (JSON text; other values as strings) and reads it
    back."""
    return json.loads(json.dumps(value, default=str))


def locus(entry: Any) -> None:
    """One locus of the per-locus breakdown: ``locus`` (a name), ``lr`` (a non-negative
    number or null), ``genotypes`` (by role: a name or null; or null) and further details."""
    if not isinstance(entry, dict):
        raise ValueError("a locus must be an object")
    check_keys(entry)
    text(entry.get("locus"), MAX_NAME)
    if entry.get("lr") is not None:
        number(entry["lr"], minimum=0.0)
    genotypes = entry.get("genotypes")
    if genotypes is not None:
        if not isinstance(genotypes, dict) or len(genotypes) > MAX_ROLES:
            raise ValueError(f"genotypes: an object of at most {MAX_ROLES} roles")
        for role, genotype in genotypes.items():
            text(role, MAX_NAME)
            if genotype is not None:
                text(genotype, MAX_NAME)
    for value in entry.values():
        bounded(value)

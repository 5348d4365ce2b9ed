"""STR allele designations: parsing, canonical text and a total order.

An allele is the number of complete repeats, optionally followed by a microvariant suffix
giving the extra bases of an incomplete repeat: ``9.3`` is nine repeats and three bases.
Alleles are kept as canonical strings (``"9.3"``, ``"12"``) so that they round-trip through
files unchanged; :func:`allele_sort_key` orders them by repeat number, then suffix.
"""

from __future__ import annotations

import re
from typing import TypeAlias

from kinmatch.errors import AlleleError

Allele: TypeAlias = str
Genotype: TypeAlias = tuple[Allele, Allele]
"""An unordered genotype stored as a sorted pair; a homozygote repeats its allele."""

_ALLELE = re.compile(r"(\d{1,3})(?:\.(\d))?")
_OFF_LADDER = {"OL", "O.L.", "OFF-LADDER", "OFFLADDER"}


def parse_allele(text: str) -> Allele:
    """Parse one allele designation into its canonical text.

    Accepts ``12``, ``012`` (leading zeros dropped), ``9.3`` and ``12.0`` (read as ``12``).
    Raises :class:`AlleleError` for off-ladder calls (``OL``), which carry no repeat number
    and cannot be given a frequency, and for anything else that is not a repeat number.
    """
    stripped = text.strip()
    if stripped.upper() in _OFF_LADDER:
        raise AlleleError(
            f"off-ladder allele {stripped!r} has no repeat number; "
            "size it against the ladder or leave the locus untyped"
        )
    match = _ALLELE.fullmatch(stripped)
    if match is None:
        raise AlleleError(f"invalid allele {stripped!r}: expected a repeat number like 12 or 9.3")
    repeats = int(match.group(1))
    if repeats == 0:
        raise AlleleError(f"invalid allele {stripped!r}: repeat number must be at least 1")
    suffix = match.group(2)
    return str(repeats) if suffix in (None, "0") else f"{repeats}.{suffix}"


def allele_sort_key(allele: Allele) -> tuple[int, int]:
    """Total order of canonical alleles: by repeat number, then microvariant suffix."""
    repeats, _, suffix = allele.partition(".")
    return (int(repeats), int(suffix or 0))


def allele_value(allele: Allele) -> float:
    """Numeric value used by the stepwise models (``9.3`` -> 9.3)."""
    repeats, suffix = allele_sort_key(allele)
    return repeats + suffix / 10


def is_microvariant(allele: Allele) -> bool:
    """True for alleles with an incomplete repeat (``9.3``)."""
    return "." in allele


def make_genotype(first: Allele, second: Allele) -> Genotype:
    """The unordered genotype of two canonical alleles, smaller allele first."""
    if allele_sort_key(second) < allele_sort_key(first):
        return (second, first)
    return (first, second)


def sort_alleles(alleles: set[Allele] | list[Allele]) -> list[Allele]:
    """Alleles in their total order."""
    return sorted(alleles, key=allele_sort_key)

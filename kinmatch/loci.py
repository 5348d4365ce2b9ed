"""Locus catalogue: canonical names, common aliases and kit panels.

Names are matched after folding case and dropping spaces, ``_``, ``-`` and ``/``, so
``Penta D``, ``PentaD``, ``PENTA_D`` and ``penta-d`` are one locus; explicit aliases cover
older names (``THO1``, ``ACTBP2``, ``FES/FPS``). Amelogenin is a sex marker: it is recognised
so that files carrying it read cleanly, and it never enters a likelihood ratio.
"""

from __future__ import annotations

import re

from kinmatch.errors import LocusError

AMELOGENIN = "AMEL"

#: The 20 expanded CODIS core loci (FBI, in force since 2017).
CODIS_20: tuple[str, ...] = (
    "CSF1PO", "FGA", "TH01", "TPOX", "vWA", "D3S1358", "D5S818", "D7S820", "D8S1179",
    "D13S317", "D16S539", "D18S51", "D21S11", "D1S1656", "D2S441", "D2S1338", "D10S1248",
    "D12S391", "D19S433", "D22S1045",
)  # fmt: skip

#: The 19-locus Chinese paternity panel: 13 original CODIS loci plus D2S1338, D19S433,
#: D12S391, D6S1043, Penta D and Penta E (GB/T 37223-2018).
CHINA_PATERNITY_19: tuple[str, ...] = (
    "D3S1358", "D13S317", "D7S820", "D16S539", "Penta E", "D2S1338", "D5S818", "TPOX",
    "D8S1179", "D21S11", "D18S51", "D6S1043", "Penta D", "D19S433", "FGA", "CSF1PO",
    "vWA", "TH01", "D12S391",
)  # fmt: skip

_OTHER_LOCI: tuple[str, ...] = (
    "Penta C", "Penta D", "Penta E", "D6S1043", "SE33", "F13A01", "F13B", "FESFPS", "LPL",
    "D10S1435", "D10S2325", "D11S2368", "D11S4463", "D12ATA63", "D13S325", "D14S1434",
    "D14S608", "D15S659", "D17S1290", "D17S1301", "D18S1364", "D18S535", "D18S853",
    "D19S253", "D1GATA113", "D1S1627", "D1S1677", "D20S470", "D20S482", "D21S1270",
    "D21S2055", "D22GATA198B05", "D2S1360", "D2S1776", "D3S1744", "D3S3045", "D3S4529",
    "D4S2366", "D4S2408", "D5S2500", "D5S2800", "D6S1017", "D6S474", "D6S477", "D7S1517",
    "D7S3048", "D8S1132", "D9S1122", "D9S925",
)  # fmt: skip

#: Every autosomal STR locus kinmatch knows, canonical names, in catalogue order.
AUTOSOMAL_LOCI: tuple[str, ...] = tuple(dict.fromkeys(CODIS_20 + CHINA_PATERNITY_19 + _OTHER_LOCI))

_ALIASES: dict[str, str] = {
    "THO1": "TH01",
    "TH1": "TH01",
    "CSF": "CSF1PO",
    "FIBRA": "FGA",
    "VWA31": "vWA",
    "ACTBP2": "SE33",
    "FES": "FESFPS",
    "F13A1": "F13A01",
    "D22GATA": "D22GATA198B05",
    "AMELOGENIN": AMELOGENIN,
    "AMELO": AMELOGENIN,
    "AM": AMELOGENIN,
}

_FOLD = re.compile(r"[\s_\-/]+")


def _fold(name: str) -> str:
    return _FOLD.sub("", name).upper()


_LOOKUP: dict[str, str] = {_fold(name): name for name in (*AUTOSOMAL_LOCI, AMELOGENIN)}
_LOOKUP.update({_fold(alias): name for alias, name in _ALIASES.items()})
_ORDER: dict[str, int] = {name: i for i, name in enumerate(AUTOSOMAL_LOCI)}


def canonical_locus(name: str) -> str:
    """Return the canonical name of a locus, or raise :class:`LocusError` naming it."""
    found = _LOOKUP.get(_fold(name))
    if found is None:
        raise LocusError(f"unknown locus {name.strip()!r}")
    return found


def is_known_locus(name: str) -> bool:
    """True when ``name`` is a locus or alias in the catalogue."""
    return _fold(name) in _LOOKUP


def is_sex_marker(locus: str) -> bool:
    """True for Amelogenin, which is never part of a likelihood ratio."""
    return locus == AMELOGENIN


def locus_sort_key(locus: str) -> tuple[int, str]:
    """Catalogue order: CODIS 20 first, then the Chinese panel, then the rest."""
    return (_ORDER.get(locus, len(_ORDER)), locus)

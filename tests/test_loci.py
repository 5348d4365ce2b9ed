"""Locus catalogue."""

import csv
from pathlib import Path

import pytest

from kinmatch.errors import LocusError
from kinmatch.loci import (
    AMELOGENIN,
    AUTOSOMAL_LOCI,
    CHINA_PATERNITY_19,
    CODIS_20,
    canonical_locus,
    is_sex_marker,
)

FIXTURES = Path(__file__).parent.parent / "fixtures"


@pytest.mark.parametrize(
    ("alias", "name"),
    [
        ("vWA", "vWA"), ("VWA", "vWA"), ("vwa", "vWA"), ("Penta D", "Penta D"),
        ("PentaD", "Penta D"), ("PENTA_D", "Penta D"), ("penta-e", "Penta E"),
        ("THO1", "TH01"), ("d21s11", "D21S11"), ("ACTBP2", "SE33"), ("FES/FPS", "FESFPS"),
        ("D22GATA", "D22GATA198B05"), ("Amelogenin", AMELOGENIN), ("AMEL", AMELOGENIN),
    ],
)  # fmt: skip
def test_aliases(alias: str, name: str) -> None:
    assert canonical_locus(alias) == name


def test_unknown_locus_is_named() -> None:
    with pytest.raises(LocusError, match="D99S999"):
        canonical_locus("D99S999")


def test_catalogue_covers_panels_and_every_shipped_table() -> None:
    assert len(CODIS_20) == 20
    assert len(CHINA_PATERNITY_19) == 19
    required = {*CODIS_20, *CHINA_PATERNITY_19, "Penta D", "Penta E", "D6S1043", "SE33"}
    for path in FIXTURES.glob("freq_*.csv"):
        with path.open() as handle:
            required |= {row["locus"] for row in csv.DictReader(handle)}
    assert required <= set(AUTOSOMAL_LOCI)
    assert all(canonical_locus(name) == name for name in AUTOSOMAL_LOCI)
    assert is_sex_marker(AMELOGENIN)
    assert AMELOGENIN not in AUTOSOMAL_LOCI

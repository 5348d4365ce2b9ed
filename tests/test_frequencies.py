"""Frequency tables: validation, minimum frequencies, the allele set of a comparison."""

from pathlib import Path

import numpy as np
import pytest

from kinmatch.errors import AlleleError, FrequencyTableError, InputError, LocusError
from kinmatch.frequencies import load_frequencies

FIXTURES = Path(__file__).parent.parent / "fixtures"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "freq.csv"
    path.write_text(text)
    return path


def test_loads_and_sorts(tmp_path: Path) -> None:
    table = load_frequencies(write(tmp_path, "locus,allele,frequency\nVWA,9.3,0.5\nVWA,10,0.2\n"
                                             "VWA,9,0.3\n"))  # fmt: skip
    assert table["vWA"].alleles == ("9", "9.3", "10")
    assert table["vWA"].frequencies == (0.3, 0.5, 0.2)
    assert table.min_frequency("vWA") == 0.001
    assert table.min_frequency("vWA", 0.002) == 0.002


def test_n_column_gives_five_over_2n(tmp_path: Path) -> None:
    table = load_frequencies(write(tmp_path, "locus,allele,frequency,n\nTH01,6,0.4,500\n"
                                             "TH01,7,0.6,500\n"))  # fmt: skip
    assert table.min_frequency("TH01") == pytest.approx(5 / 500)
    alleles = table.locus_alleles("TH01", ["7", "9.3", "6"])
    assert alleles.alleles == ("6", "7", "9.3")
    assert alleles.rare == ("9.3",)
    assert np.allclose(alleles.frequencies, [0.4, 0.6, 0.01])  # not renormalised


def test_renormalise(tmp_path: Path) -> None:
    path = write(tmp_path, "locus,allele,frequency\nTH01,6,0.4\nTH01,7,0.598\n")
    assert sum(load_frequencies(path)["TH01"].frequencies) == pytest.approx(0.998)
    assert sum(load_frequencies(path, renormalise=True)["TH01"].frequencies) == pytest.approx(1)


@pytest.mark.parametrize(
    ("text", "error", "fragments"),
    [
        ("locus,allele,frequency\nTH01,6,0.4\nTH01,7,0.5\nFGA,20,0.9\nFGA,21,0.08\n",
         FrequencyTableError, ["'TH01'", "0.900000", "1 other loci"]),
        ("locus,allele,frequency\nTH01,6,-0.1\nTH01,7,1.1\n", FrequencyTableError,
         ["line 2", "'TH01'", "'frequency'"]),
        ("locus,allele,frequency\nTH01,6,0\nTH01,7,1\n", FrequencyTableError, ["line 2"]),
        ("locus,allele,frequency\nTH01,6,nan\nTH01,7,1\n", FrequencyTableError,
         ["line 2", "not a number"]),
        ("locus,allele,frequency\nTH01,6,abc\n", FrequencyTableError, ["line 2", "'abc'"]),
        ("locus,allele,frequency\nTH01,6,0.5\nTH01,6.0,0.5\n", FrequencyTableError,
         ["line 3", "twice"]),
        ("locus,allele,frequency\nTH01,OL,0.5\n", AlleleError, ["line 2", "'allele'"]),
        ("locus,allele,frequency\nD99S9,6,0.5\n", LocusError, ["line 2", "D99S9"]),
        ("locus,allele,frequency\nAMEL,X,0.5\n", FrequencyTableError, ["sex marker"]),
        ("locus,allele,freq\nTH01,6,1\n", FrequencyTableError, ["header"]),
        ("locus,allele,frequency,n\nTH01,6,0.5,100\nTH01,7,0.5,90\n", FrequencyTableError,
         ["line 3", "'n'"]),
        ("locus,allele,frequency,n\nTH01,6,1,2.5\n", FrequencyTableError, ["whole number"]),
        ("locus,allele,frequency\nTH01,6\n", FrequencyTableError, ["line 2", "fields"]),
        ("locus,allele,frequency\n", FrequencyTableError, ["no frequency rows"]),
        ("", FrequencyTableError, ["empty"]),
    ],
)  # fmt: skip
def test_malformed_tables(
    tmp_path: Path, text: str, error: type[InputError], fragments: list[str]
) -> None:
    with pytest.raises(error) as caught:
        load_frequencies(write(tmp_path, text))
    for fragment in fragments:
        assert fragment in str(caught.value)


def test_shipped_tables_are_valid() -> None:
    names = {path.name for path in FIXTURES.glob("freq_*.csv")}
    assert {"freq_China_GBT37223.csv", "freq_US-all_NIST1036.csv"} <= names
    for name in names:
        table = load_frequencies(FIXTURES / name)
        for locus in table.values():
            assert abs(sum(locus.frequencies) - 1) < 0.001
    nist = load_frequencies(FIXTURES / "freq_US-all_NIST1036.csv")
    assert nist["TPOX"].n_alleles == 2070 and nist["vWA"].n_alleles == 2072

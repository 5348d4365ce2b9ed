"""Allele parsing and ordering."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kinmatch.alleles import allele_sort_key, allele_value, make_genotype, parse_allele
from kinmatch.errors import AlleleError


@pytest.mark.parametrize(
    ("text", "canonical"),
    [("12", "12"), (" 9.3 ", "9.3"), ("012", "12"), ("21.2", "21.2"), ("12.0", "12")],
)
def test_parse_allele_canonical(text: str, canonical: str) -> None:
    assert parse_allele(text) == canonical


@pytest.mark.parametrize("text", ["OL", "ol", "x", "", "9.33", "9.", ".3", "-1", "0", "1e3", "12a"])
def test_parse_allele_rejects(text: str) -> None:
    with pytest.raises(AlleleError):
        parse_allele(text)


def test_off_ladder_message_is_specific() -> None:
    with pytest.raises(AlleleError, match="off-ladder"):
        parse_allele("OL")


def test_total_order_with_microvariants() -> None:
    alleles = ["10", "9.3", "9", "31.2", "31", "9.1"]
    assert sorted(alleles, key=allele_sort_key) == ["9", "9.1", "9.3", "10", "31", "31.2"]
    assert allele_value("9.3") == pytest.approx(9.3)


@given(st.integers(1, 999), st.integers(0, 9), st.integers(1, 999), st.integers(0, 9))
def test_order_matches_numeric_value(r1: int, s1: int, r2: int, s2: int) -> None:
    a, b = parse_allele(f"{r1}.{s1}"), parse_allele(f"{r2}.{s2}")
    assert (allele_sort_key(a) < allele_sort_key(b)) == (r1 * 10 + s1 < r2 * 10 + s2)
    assert make_genotype(a, b) == make_genotype(b, a)

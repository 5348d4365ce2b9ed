"""Profile readers: both layouts, missing loci, and every malformed input's specific error."""

from pathlib import Path

import pytest

from kinmatch.errors import AlleleError, InputError, LocusError, ProfileError
from kinmatch.profiles import read_profiles


def write(tmp_path: Path, text: str, name: str = "profiles.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_wide_layout_cells_and_metadata(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "sample_id,role,case_id,sex,agency,vWA,TH01,PentaD,Amelogenin,D21S11\n"
        "A1,father,K1,M,BJ,17/14,9.3,12,X/Y,\n"
        'A2,unknown-origin,,F,,16 / 16,"6,9.3",11/12,X,30.2/31\n',
    )
    table = read_profiles(path)
    assert table.layout == "wide"
    a1, a2 = table["A1"], table["A2"]
    assert a1.genotypes == {"vWA": ("14", "17"), "TH01": ("9.3", "9.3"), "Penta D": ("12", "12")}
    assert "D21S11" not in a1.genotypes  # empty cell: missing, not an allele
    assert (a1.role, a1.case_id, a1.sex, a1.agency) == ("father", "K1", "M", "BJ")
    assert a1.amelogenin == ("X", "Y")
    assert a2.case_id is None and a2.amelogenin == ("X", "X")
    assert a2.genotypes["TH01"] == ("6", "9.3")
    assert a2.genotypes["D21S11"] == ("30.2", "31")


def test_long_layout_homozygote_and_missing(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "sample_id,locus,allele1,allele2,role,sex\n"
        "B1,VWA,12,,mother,F\n"
        "B1,d21s11,30.2,29,mother,F\n"
        "B2,TH01,,,unknown-origin,\n"
        "B2,FGA,22,24,unknown-origin,\n",
    )
    table = read_profiles(path)
    assert table.layout == "long"
    assert table["B1"].genotypes == {"vWA": ("12", "12"), "D21S11": ("29", "30.2")}
    assert table["B2"].genotypes == {"FGA": ("22", "24")}
    assert table["B1"].role == "mother"


@pytest.mark.parametrize(
    ("text", "error", "fragments"),
    [
        # off-ladder, junk, three alleles, empty allele
        ("sample_id,vWA\nS1,OL/14\n", AlleleError, ["line 2", "'S1'", "'vWA'", "off-ladder"]),
        ("sample_id,vWA\nS1,1x/14\n", AlleleError, ["line 2", "'S1'", "'vWA'", "'1x'"]),
        ("sample_id,vWA\nS1,14/15/16\n", AlleleError, ["'S1'", "'vWA'", "3 alleles"]),
        ("sample_id,vWA\nS1,14/\n", AlleleError, ["'S1'", "empty allele"]),
        # unknown locus, repeated locus column, duplicate sample
        ("sample_id,D99S1\nS1,12\n", LocusError, ["line 1", "D99S1"]),
        ("sample_id,vWA,VWA\nS1,12,13\n", LocusError, ["repeats locus 'vWA'"]),
        ("sample_id,vWA\nS1,12\nS1,13\n", ProfileError, ["line 3", "'S1'", "duplicate"]),
        # metadata
        ("sample_id,role,vWA\nS1,uncle,12\n", ProfileError, ["'S1'", "'role'", "uncle"]),
        ("sample_id,sex,vWA\nS1,X,12\n", ProfileError, ["'S1'", "'sex'"]),
        # truncated record and bad header
        ("sample_id,vWA,TH01\nS1,12\n", ProfileError, ["line 2", "truncated"]),
        ("id,vWA\nS1,12\n", ProfileError, ["sample_id"]),
        ("", ProfileError, ["empty"]),
        ("sample_id,vWA\n,12\n", ProfileError, ["line 2", "empty sample_id"]),
        # long layout specifics
        ("sample_id,locus,allele1,allele2\nS1,vWA,,14\n", AlleleError, ["'S1'", "allele1"]),
        ("sample_id,locus,allele1,allele2\nS1,vWA,12,13\nS1,VWA,12,14\n", LocusError,
         ["line 3", "'S1'", "twice"]),
        ("sample_id,locus,allele1,allele2\nS1,D99S1,12,13\n", LocusError, ["line 2", "D99S1"]),
        ("sample_id,locus,allele1,allele2,allele3\nS1,vWA,12,13,14\n", ProfileError,
         ["allele3", "at most two"]),
        ("sample_id,locus,allele1\nS1,vWA,12\n", ProfileError, ["allele2"]),
        ("sample_id,locus,allele1,allele2,sex\nS1,vWA,12,13,M\nS1,TH01,6,7,F\n", ProfileError,
         ["line 3", "conflicting sex"]),
    ],
)  # fmt: skip
def test_malformed_input_gives_located_error(
    tmp_path: Path, text: str, error: type[InputError], fragments: list[str]
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(error) as caught:
        read_profiles(path)
    message = str(caught.value)
    assert message.startswith(str(path))
    for fragment in fragments:
        assert fragment in message


def test_ignore_unknown_loci_reports_them(tmp_path: Path) -> None:
    wide = write(tmp_path, "sample_id,vWA,D99S1,Foo\nS1,12,13,4\n")
    table = read_profiles(wide, ignore_unknown_loci=True)
    assert table["S1"].genotypes == {"vWA": ("12", "12")}
    assert table.ignored_loci == ("D99S1", "Foo")
    long = write(tmp_path, "sample_id,locus,allele1,allele2\nS1,D99S1,12,13\nS1,vWA,12,\n")
    table = read_profiles(long, ignore_unknown_loci=True)
    assert table.ignored_loci == ("D99S1",)


def test_not_utf8_and_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes("sample_id,vWA\nJosé,12\n".encode("latin-1"))
    with pytest.raises(ProfileError, match="UTF-8"):
        read_profiles(path)
    with pytest.raises(ProfileError, match="cannot read"):
        read_profiles(tmp_path / "absent.csv")


def test_shipped_examples_read() -> None:
    examples = Path(__file__).parent.parent / "fixtures" / "examples" / "profiles.csv"
    table = read_profiles(examples)
    assert len(table) >= 10
    assert all(len(profile.genotypes) >= 20 for profile in table.values())


def test_profile_repr_has_no_genotypes(tmp_path: Path) -> None:
    table = read_profiles(write(tmp_path, "sample_id,vWA,AMEL\nS1,14/17,X/Y\n"))
    assert "17" not in repr(table["S1"]) and "'Y'" not in repr(table["S1"])


def test_collect_errors_reports_every_bad_record_and_drops_its_sample(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "sample_id,locus,allele1,allele2\n"
        "S1,vWA,12,13\nS1,TH01,OL,\nS2,vWA,14,15\nS3,vWA,x,1\nS3,TH01,6,\nS4,D99,1,2\n",
    )
    with pytest.raises(AlleleError):
        read_profiles(path)
    table = read_profiles(path, collect_errors=True)
    assert list(table) == ["S2"]
    assert table.rejected == {"S1", "S3", "S4"}
    assert [(e.line, e.sample) for e in table.errors] == [(3, "S1"), (5, "S3"), (7, "S4")]
    assert "off-ladder" in str(table.errors[0]) and str(table.errors[0]).startswith(str(path))

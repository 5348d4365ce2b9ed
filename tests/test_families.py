"""Registered families: the families file and the pedtools ped layout, every refusal located.

Families are written as rows ``(family_id, person_id, father, mother, sex, sample_id,
missing)``; the tests write them to tmp_path.
"""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kinmatch.errors import AlleleError, FamilyError, InputError, LocusError
from kinmatch.families import (
    FAMILY_COLUMNS,
    MAX_MEIOSES,
    MAX_PERSONS,
    Family,
    Member,
    read_families,
)
from kinmatch.pedfile import read_ped, write_ped
from kinmatch.pedigree import Pedigree, Person, pedigree_likelihood, pedigree_likelihood_grid
from kinmatch.profiles import Profile, read_profiles

EXAMPLES = Path(__file__).resolve().parent.parent / "fixtures" / "examples"
Row = tuple[str, str, str, str, str, str, str]
HEADER = ",".join(FAMILY_COLUMNS)


def rows_text(rows: list[Row], header: str = HEADER) -> str:
    return header + "\n" + "".join(",".join(row) + "\n" for row in rows)


def write(tmp_path: Path, rows: list[Row], header: str = HEADER) -> Path:
    path = tmp_path / "families.csv"
    path.write_text(rows_text(rows, header), encoding="utf-8")
    return path


def profiles_for(*samples: str) -> dict[str, Profile]:
    return {sample: Profile(sample, {"vWA": ("14", "17")}) for sample in samples}


# The six shapes of the brief; the missing member is always "child".
SHAPES: dict[str, list[Row]] = {
    "mother and full sibling": [
        ("F1", "mo", "", "", "F", "K1-M", ""),
        ("F1", "fa", "", "", "M", "", ""),
        ("F1", "sib", "fa", "mo", "F", "K1-S", ""),
        ("F1", "child", "fa", "mo", "U", "", "1"),
    ],
    "paternal grandparents": [
        ("F2", "gf", "", "", "M", "K2-GF", ""),
        ("F2", "gm", "", "", "F", "K2-GM", ""),
        ("F2", "fa", "gf", "gm", "M", "", ""),
        ("F2", "mo", "", "", "F", "", ""),
        ("F2", "child", "fa", "mo", "", "", "yes"),
    ],
    "father and paternal half-sibling": [
        ("F3", "fa", "", "", "male", "K3-F", ""),
        ("F3", "mo", "", "", "female", "", ""),
        ("F3", "hsmo", "", "", "F", "", ""),
        ("F3", "hs", "fa", "hsmo", "M", "K3-HS", "0"),
        ("F3", "child", "fa", "mo", "M", "", "x"),
    ],
    "mother and maternal uncle": [
        ("F4", "gf", "", "", "M", "", ""),
        ("F4", "gm", "", "", "F", "", ""),
        ("F4", "mo", "gf", "gm", "F", "K4-M", "no"),
        ("F4", "uncle", "gf", "gm", "M", "K4-U", "false"),
        ("F4", "fa", "", "", "M", "", ""),
        ("F4", "child", "fa", "mo", "F", "", "TRUE"),
    ],
    "two full siblings": [
        ("F5", "fa", "", "", "M", "", ""),
        ("F5", "mo", "", "", "F", "", ""),
        ("F5", "s1", "fa", "mo", "M", "K5-S1", ""),
        ("F5", "s2", "fa", "mo", "F", "K5-S2", ""),
        ("F5", "child", "fa", "mo", "U", "", "Y"),
    ],
    "grandmother and maternal aunt": [
        ("F6", "gf", "", "", "M", "", ""),
        ("F6", "gm", "", "", "F", "K6-GM", ""),
        ("F6", "mo", "gf", "gm", "F", "", ""),
        ("F6", "aunt", "gf", "gm", "F", "K6-A", ""),
        ("F6", "fa", "", "", "M", "", ""),
        ("F6", "child", "fa", "mo", "", "", "1"),
    ],
}


def expected_persons(rows: list[Row]) -> set[Person]:
    return {
        Person(pid, {"F": "F", "female": "F"}.get(sex, "M"), father or None, mother or None)
        for _, pid, father, mother, sex, _, _ in rows
    }


# ---------------------------------------------------------------- valid families


@pytest.mark.parametrize("shape", list(SHAPES))
def test_shape_parses_to_its_pedigree(tmp_path: Path, shape: str) -> None:
    rows = SHAPES[shape]
    samples = [row[5] for row in rows if row[5]]
    families = read_families(write(tmp_path, rows), profiles_for(*samples))
    (family,) = families.values()
    assert family.family_id == rows[0][0]
    assert family.missing == "child"
    assert family.typed == {row[1]: row[5] for row in rows if row[5]}
    assert family.meioses == 2 * sum(1 for row in rows if row[2])
    pedigree = family.pedigree()
    assert set(pedigree.persons) == expected_persons(rows)
    assert len(pedigree.persons) == len(rows)
    lines = {row[1]: number for number, row in enumerate(rows, start=2)}
    assert all(member.line == lines[member.person_id] for member in family.members)


def test_pedigree_names_the_missing_member_poi(tmp_path: Path) -> None:
    (family,) = read_families(write(tmp_path, SHAPES["two full siblings"])).values()
    pedigree = family.pedigree(poi="U07")
    assert "U07" in pedigree.names and "child" not in pedigree.names
    assert Person("U07", "M", "fa", "mo") in pedigree.persons
    with pytest.raises(FamilyError, match="another member has that ID"):
        family.pedigree(poi="s1")


def test_family_pedigree_feeds_the_core(tmp_path: Path) -> None:
    """The grid over the missing child's genotypes sums to the relatives' likelihood."""
    (family,) = read_families(write(tmp_path, SHAPES["mother and full sibling"])).values()
    p = np.array([0.2, 0.3, 0.5])
    genotypes = {"mo": (0, 1), "sib": (1, 2)}
    grid = pedigree_likelihood_grid(family.pedigree(), genotypes, "child", p)
    assert grid.sum() == pytest.approx(pedigree_likelihood(family.pedigree(), genotypes, p))
    assert grid[2, 2] == 0.0  # the child has one of its mother's alleles


def test_shipped_example_reads_with_the_shipped_profiles() -> None:
    profiles = read_profiles(EXAMPLES / "profiles.csv")
    families = read_families(EXAMPLES / "families.csv", profiles)
    assert list(families) == ["K01", "K02", "K04"]
    k04 = families["K04"]
    assert (len(k04.members), k04.meioses, k04.missing) == (11, 12, "grandson")
    assert set(k04.typed.values()) == {"K04-GF", "K04-S2", "K04-SIB", "K04-HS", "K04-COUS"}


def test_several_families_interleaved_and_columns_in_any_order(tmp_path: Path) -> None:
    rows = SHAPES["two full siblings"] + SHAPES["paternal grandparents"]
    rows = rows[::2] + rows[1::2]
    order = [6, 1, 0, 5, 4, 3, 2]
    header = ",".join(FAMILY_COLUMNS[i].upper() for i in order)
    text = header + "\n" + "".join(",".join(row[i] for i in order) + "\n" for row in rows)
    path = tmp_path / "families.csv"
    path.write_text(text + "\n", encoding="utf-8")
    families = read_families(path)
    assert list(families) == ["F5", "F2"]
    assert set(families["F2"].pedigree().persons) == expected_persons(
        SHAPES["paternal grandparents"]
    )


@settings(max_examples=40, deadline=None)
@given(shape=st.sampled_from(list(SHAPES)), data=st.data())
def test_row_order_never_changes_the_family(shape: str, data: st.DataObject) -> None:
    rows = SHAPES[shape]
    shuffled = data.draw(st.permutations(rows))
    with tempfile.TemporaryDirectory() as directory:
        first = read_families(write(Path(directory), rows))
        again = read_families(write(Path(directory), shuffled))
    assert again == first
    (family,) = again.values()
    listed: set[str] = set()
    for member in family.members:  # parents before children
        assert {member.father, member.mother} - {None} <= listed
        listed.add(member.person_id)


@st.composite
def tree_families(draw: st.DrawFn) -> tuple[list[Row], set[tuple[str, str]]]:
    """A loop-free family grown from the missing child "c": parents added to a founder, a
    child added to a couple or to a person with a new partner. Returns rows and couples."""
    sexes = st.sampled_from("MF")
    persons: dict[str, tuple[str, str, str]] = {"c": (draw(sexes), "", "")}
    couples: set[tuple[str, str]] = set()

    def new(sex: str, father: str = "", mother: str = "") -> str:
        name = f"p{len(persons)}"
        persons[name] = (sex, father, mother)
        return name

    more = draw(st.lists(st.sampled_from(["parents", "child", "partner"]), max_size=3))
    operations = ["parents", *more]
    for operation in operations:
        names = sorted(persons)
        if operation == "parents":
            founders = [name for name in names if not persons[name][1]]
            person = draw(st.sampled_from(founders))
            father, mother = new("M"), new("F")
            persons[person] = (persons[person][0], father, mother)
            couples.add((father, mother))
        elif operation == "child" and couples:
            father, mother = draw(st.sampled_from(sorted(couples)))
            new(draw(sexes), father, mother)
        else:
            person = draw(st.sampled_from(names))
            partner = new("F" if persons[person][0] == "M" else "M")
            couple = (person, partner) if persons[person][0] == "M" else (partner, person)
            couples.add(couple)
            new(draw(sexes), *couple)
    others = sorted(set(persons) - {"c"})
    typed = {others[0]} | {name for name in others if draw(st.booleans())}
    rows: list[Row] = [
        ("T", name, father, mother, sex, f"S-{name}" if name in typed else "",
         "1" if name == "c" else "")
        for name, (sex, father, mother) in persons.items()
    ]  # fmt: skip
    return rows, couples


@settings(max_examples=60, deadline=None)
@given(family=tree_families(), data=st.data())
def test_loop_free_families_parse_and_a_marriage_of_relatives_is_refused(
    family: tuple[list[Row], set[tuple[str, str]]], data: st.DataObject
) -> None:
    rows, couples = family
    with tempfile.TemporaryDirectory() as directory:
        (parsed,) = read_families(write(Path(directory), rows)).values()
        assert set(parsed.pedigree().persons) == expected_persons(rows)
        males = sorted(row[1] for row in rows if row[4] == "M")
        females = sorted(row[1] for row in rows if row[4] == "F")
        pairs = [(m, f) for m in males for f in females if (m, f) not in couples]
        if not pairs:
            return
        father, mother = data.draw(st.sampled_from(pairs))
        inbred = [*rows, ("T", "kid", father, mother, "M", "", "")]
        with pytest.raises(FamilyError, match="marriage loop"):
            read_families(write(Path(directory), inbred))


# ---------------------------------------------------------------- refusals


def refused(
    tmp_path: Path,
    rows: list[Row],
    *fragments: str,
    profiles: dict[str, Profile] | None = None,
    error: type[InputError] = FamilyError,
) -> str:
    path = write(tmp_path, rows)
    with pytest.raises(error) as caught:
        read_families(path, profiles)
    message = str(caught.value)
    assert message.startswith(f"{path} line ")
    for fragment in fragments:
        assert fragment in message, message
    return message


def base() -> list[Row]:
    return list(SHAPES["mother and full sibling"])


@pytest.mark.parametrize(
    ("header", "fragment"),
    [
        ("family_id,person_id,father,mother,sex,sample_id", "missing columns ['missing']"),
        (HEADER + ",notes", "unknown columns ['notes']"),
        (HEADER + ",SEX", "repeated columns ['sex']"),
    ],
)
def test_bad_header(tmp_path: Path, header: str, fragment: str) -> None:
    path = tmp_path / "families.csv"
    path.write_text(header + "\nF1,child,,,M,,1\n", encoding="utf-8")
    with pytest.raises(FamilyError, match=r"line 1: .*" + fragment.replace("[", r"\[")):
        read_families(path)


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "families.csv"
    path.write_text("", encoding="utf-8")
    with pytest.raises(FamilyError, match="empty"):
        read_families(path)
    path.write_text(HEADER + "\n", encoding="utf-8")
    with pytest.raises(FamilyError, match="line 1: no family rows"):
        read_families(path)


def test_empty_family_id(tmp_path: Path) -> None:
    rows = [*base(), ("", "aunt", "", "", "F", "", "")]
    refused(tmp_path, rows, "line 6, person 'aunt', field 'family_id': empty family_id")


def test_empty_person_id(tmp_path: Path) -> None:
    rows = [*base(), ("F1", "", "", "", "F", "", "")]
    refused(tmp_path, rows, "line 6, family 'F1', field 'person_id': empty person_id")


def test_row_with_wrong_number_of_fields(tmp_path: Path) -> None:
    path = tmp_path / "families.csv"
    path.write_text(rows_text(base()) + "F1,aunt,,F\n", encoding="utf-8")
    with pytest.raises(FamilyError, match="line 6, family 'F1', person 'aunt': row has 4"):
        read_families(path)


def test_duplicate_person(tmp_path: Path) -> None:
    rows = [*base(), ("F1", "sib", "", "", "M", "", "")]
    refused(tmp_path, rows, "line 6, family 'F1', person 'sib'", "twice", "first on line 4")


def test_unknown_parent(tmp_path: Path) -> None:
    rows = [*base(), ("F1", "half", "stepfa", "mo", "M", "K1-H", "")]
    refused(tmp_path, rows, "line 6, family 'F1', person 'half'", "father 'stepfa' is not a")


def test_own_ancestor(tmp_path: Path) -> None:
    rows = [
        *base(),
        ("F1", "x", "y", "mo", "M", "", ""),
        ("F1", "y", "x", "mo", "M", "", ""),
    ]
    message = refused(tmp_path, rows, "family 'F1', person 'x'", "'x' is their own ancestor")
    assert "'x' is a child of 'y', 'y' is a child of 'x'" in message


def test_own_parent(tmp_path: Path) -> None:
    rows = [*base(), ("F1", "z", "z", "mo", "M", "", "")]
    refused(tmp_path, rows, "line 6, family 'F1', person 'z'", "their own ancestor")


def test_no_missing_member(tmp_path: Path) -> None:
    rows = [(*row[:6], "") for row in base()]
    refused(tmp_path, rows, "line 2, family 'F1': no missing member")


def test_two_missing_members(tmp_path: Path) -> None:
    rows = [*base(), ("F1", "twin", "fa", "mo", "F", "", "1")]
    refused(tmp_path, rows, "line 6, family 'F1', person 'twin'", "2 missing members")
    refused(tmp_path, rows, "'child', 'twin'")


def test_bad_missing_flag(tmp_path: Path) -> None:
    rows = [*base(), ("F1", "aunt", "", "", "F", "", "maybe")]
    refused(tmp_path, rows, "line 6, family 'F1', person 'aunt', field 'missing'", "'maybe'")


def test_bad_sex(tmp_path: Path) -> None:
    rows = [*base(), ("F1", "aunt", "", "", "woman", "", "")]
    refused(tmp_path, rows, "line 6, family 'F1', person 'aunt', field 'sex'", "'woman'")


def test_father_not_male(tmp_path: Path) -> None:
    rows = base()
    rows[1] = ("F1", "fa", "", "", "F", "", "")
    refused(tmp_path, rows, "line 4, family 'F1', person 'sib'", "father 'fa' has sex F")


def test_mother_not_female(tmp_path: Path) -> None:
    rows = base()
    rows[0] = ("F1", "mo", "", "", "M", "K1-M", "")
    refused(tmp_path, rows, "line 4, family 'F1', person 'sib'", "mother 'mo' has sex M")


def test_unknown_sex_with_children(tmp_path: Path) -> None:
    rows = base()
    rows[1] = ("F1", "fa", "", "", "U", "", "")
    refused(tmp_path, rows, "family 'F1', person 'sib'", "father 'fa' has sex U")


def test_one_parent_only(tmp_path: Path) -> None:
    rows = base()
    rows[2] = ("F1", "sib", "", "mo", "F", "K1-S", "")
    refused(
        tmp_path, rows, "line 4, family 'F1', person 'sib'", "only the mother",
        "add the father as an untyped member",
    )  # fmt: skip


def test_sample_without_profile(tmp_path: Path) -> None:
    refused(
        tmp_path, base(), "line 4, family 'F1', person 'sib'", "'K1-S' is not in the profiles",
        profiles=profiles_for("K1-M"),
    )  # fmt: skip


def test_missing_member_typed(tmp_path: Path) -> None:
    rows = base()
    rows[3] = ("F1", "child", "fa", "mo", "U", "U01", "1")
    refused(tmp_path, rows, "line 5, family 'F1', person 'child'", "must be untyped")


def test_one_sample_in_two_roles(tmp_path: Path) -> None:
    rows = base()
    rows[2] = ("F1", "sib", "fa", "mo", "F", "K1-M", "")
    refused(tmp_path, rows, "family 'F1', person 'sib'", "'K1-M' is in two roles", "'mo'")


def test_disconnected_member(tmp_path: Path) -> None:
    rows = [*base(), ("F1", "neighbour", "", "", "F", "K9", "")]
    refused(tmp_path, rows, "line 6, family 'F1', person 'neighbour'", "not connected")


LOOPS: dict[str, list[Row]] = {
    "child of half-siblings": [
        ("L1", "a", "", "", "M", "", ""),
        ("L1", "b", "", "", "F", "", ""),
        ("L1", "c", "", "", "F", "", ""),
        ("L1", "hs1", "a", "b", "M", "K-1", ""),
        ("L1", "hs2", "a", "c", "F", "K-2", ""),
        ("L1", "child", "hs1", "hs2", "U", "", "1"),
    ],
    "children of full siblings": [
        ("L2", "a", "", "", "M", "", ""),
        ("L2", "b", "", "", "F", "", ""),
        ("L2", "bro", "a", "b", "M", "K-1", ""),
        ("L2", "sis", "a", "b", "F", "", ""),
        ("L2", "child", "bro", "sis", "U", "", "1"),
    ],
    "two siblings marry two siblings": [
        ("L3", "a", "", "", "M", "", ""),
        ("L3", "b", "", "", "F", "", ""),
        ("L3", "c", "", "", "M", "", ""),
        ("L3", "d", "", "", "F", "", ""),
        ("L3", "a1", "a", "b", "M", "", ""),
        ("L3", "a2", "a", "b", "F", "", ""),
        ("L3", "c1", "c", "d", "M", "", ""),
        ("L3", "c2", "c", "d", "F", "", ""),
        ("L3", "x", "a1", "c2", "M", "K-X", ""),
        ("L3", "child", "c1", "a2", "U", "", "1"),
    ],
}


@pytest.mark.parametrize("shape", list(LOOPS))
def test_marriage_loop(tmp_path: Path, shape: str) -> None:
    rows = LOOPS[shape]
    message = refused(tmp_path, rows, f"family '{rows[0][0]}', person ", "marriage loop")
    person = message.split("person '")[1].split("'")[0]
    assert f"'{person}'" in message.split("marriage loop through")[1]


def test_too_many_persons(tmp_path: Path) -> None:
    rows = [*base(), *[(("F1", f"s{i}", "fa", "mo", "M", "", "")) for i in range(9)]]
    refused(
        tmp_path, rows, "line 2, family 'F1': 13 persons", f"at most {MAX_PERSONS} persons",
        f"{MAX_MEIOSES} meioses",
    )  # fmt: skip


def test_too_many_meioses(tmp_path: Path) -> None:
    rows = [*base(), *[(("F1", f"s{i}", "fa", "mo", "M", "", "")) for i in range(6)]]
    assert len(rows) <= MAX_PERSONS
    refused(tmp_path, rows, "family 'F1': 10 persons and 16 meioses", f"{MAX_MEIOSES} meioses")


def test_no_typed_member(tmp_path: Path) -> None:
    rows = [(*row[:5], "", row[6]) for row in base()]
    refused(tmp_path, rows, "line 2, family 'F1': no typed member")


def test_unreadable_files(tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes((HEADER + "\nF1,José,,,M,,1\n").encode("latin-1"))
    with pytest.raises(FamilyError, match="line 2: not UTF-8"):
        read_families(path)
    path.write_text(HEADER + "\nF1," + "a" * 200_000 + ",,,M,,1\n", encoding="utf-8")
    with pytest.raises(FamilyError, match="malformed CSV"):
        read_families(path)
    with pytest.raises(FamilyError, match="cannot read"):
        read_families(tmp_path / "absent.csv")


def test_located_rendering() -> None:
    assert str(InputError("bad", source="p.csv", line=3, sample="S1")) == (
        "p.csv line 3, sample 'S1': bad"
    )
    error = FamilyError("bad", family="F12", person="uncle").located(source="f.csv", line=7)
    assert str(error) == "f.csv line 7, family 'F12', person 'uncle': bad"
    assert isinstance(error, FamilyError)


def test_members_are_plain_data() -> None:
    member = Member("mo", "F", None, None, "K1-M", line=3)
    assert member == Member("mo", "F", None, None, "K1-M", line=9)  # the line is no part
    family = Family("F", (member, Member("c", "U", None, None, None)), "c")
    assert family.typed == {"mo": "K1-M"}
    assert family.meioses == 0


# ---------------------------------------------------------------- pedtools ped files

# As writePed(x, prefix) writes it: write.table(sep = "\t", quote = FALSE), "-" for a
# missing allele (format.marker), 0 for no parent; marker names as given in R.
PED = (
    "id\tfid\tmid\tsex\tD3S1358\tvWA\tPenta D\n"
    "fa\t0\t0\t1\t-/-\t-/-\t-/-\n"
    "mo\t0\t0\t2\t15/16\t14/17\t9/12\n"
    "sib\tfa\tmo\t2\t15/17\t14/14\t-/-\n"
    "child\tfa\tmo\t0\t-/-\t-/-\t-/-\n"
)


def write_text(tmp_path: Path, text: str, name: str = "family.ped") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_read_ped(tmp_path: Path) -> None:
    family, profiles = read_ped(write_text(tmp_path, PED), family_id="F1", missing="child")
    assert family.typed == {"mo": "mo", "sib": "sib"}
    assert set(family.pedigree().persons) == {
        Person("fa", "M"), Person("mo", "F"), Person("sib", "F", "fa", "mo"),
        Person("child", "M", "fa", "mo"),
    }  # fmt: skip
    assert profiles["mo"].genotypes == {
        "D3S1358": ("15", "16"), "vWA": ("14", "17"), "Penta D": ("9", "12"),
    }  # fmt: skip
    assert profiles["sib"].genotypes == {"D3S1358": ("15", "17"), "vWA": ("14", "14")}
    assert profiles["mo"].sex == "F" and profiles["mo"].case_id == "F1"
    assert profiles.lines == {"mo": 3, "sib": 4}
    assert family.member("sib").line == 4


def test_ped_round_trip(tmp_path: Path) -> None:
    family, profiles = read_ped(write_text(tmp_path, PED), family_id="F1", missing="child")
    out = io.StringIO()
    write_ped(out, family, profiles, ["D3S1358", "vWA", "Penta D"])
    again, again_profiles = read_ped(
        write_text(tmp_path, out.getvalue()), family_id="F1", missing="child"
    )
    assert again == family
    assert dict(again_profiles) == dict(profiles)
    canonical = out.getvalue()  # members in the family's order, Penta D as PentaD
    assert canonical.splitlines()[0] == "id\tfid\tmid\tsex\tD3S1358\tvWA\tPentaD"
    out = io.StringIO()
    write_ped(out, again, again_profiles, ["D3S1358", "vWA", "Penta D"])
    assert out.getvalue() == canonical


def test_ped_with_famid_whitespace_na_and_comments(tmp_path: Path) -> None:
    text = (
        "# exported from R\n"
        "famid id fid mid sex vWA TH01\n"
        "A 1 NA NA 1 0/0 NA\n"
        "A 2 0 0 2 14/17 6/9.3\n"
        "\n"
        "A 3 1 2 1 -/- -/-\n"
    )
    family, profiles = read_ped(write_text(tmp_path, text), family_id="K7", missing="3")
    assert family.family_id == "K7"
    assert family.typed == {"2": "2"}
    assert profiles["2"].genotypes == {"vWA": ("14", "17"), "TH01": ("6", "9.3")}
    assert family.member("3").line == 6


def ped_refused(
    tmp_path: Path, text: str, error: type[InputError], *fragments: str, missing: str = "child"
) -> str:
    path = write_text(tmp_path, text)
    with pytest.raises(error) as caught:
        read_ped(path, family_id="F1", missing=missing)
    message = str(caught.value)
    assert message.startswith(str(path))
    for fragment in fragments:
        assert fragment in message, message
    return message


def test_ped_bad_allele(tmp_path: Path) -> None:
    text = PED.replace("14/17", "14/OL")
    ped_refused(
        tmp_path, text, AlleleError,
        "line 3, family 'F1', person 'mo', locus 'vWA', field 'vWA'", "off-ladder",
    )  # fmt: skip


@pytest.mark.parametrize("cell", ["15/-", "-/15", "15/0", "15", "15/16/17"])
def test_ped_single_allele(tmp_path: Path, cell: str) -> None:
    text = PED.replace("15/17", cell)
    message = ped_refused(
        tmp_path, text, AlleleError, "line 4, family 'F1', person 'sib', locus 'D3S1358'"
    )
    assert cell not in message.split(": ", 1)[1]  # the cell is not quoted back


def test_ped_unknown_marker(tmp_path: Path) -> None:
    text = PED.replace("vWA\t", "D99S99\t", 1)
    ped_refused(tmp_path, text, LocusError, "line 1, family 'F1', field 'D99S99'", "unknown")
    text = PED.replace("vWA\t", "VWA31\t", 1).replace("D3S1358", "vWA", 1)
    ped_refused(tmp_path, text, LocusError, "line 1", "repeats locus 'vWA'")


def test_ped_amelogenin_is_refused(tmp_path: Path) -> None:
    text = PED.replace("Penta D", "AMEL")
    ped_refused(tmp_path, text, LocusError, "line 1, family 'F1', field 'AMEL'", "sex column")


def test_ped_missing_member_typed_or_absent(tmp_path: Path) -> None:
    message = ped_refused(
        tmp_path, PED, FamilyError, "line 3, family 'F1', person 'mo'", "must be untyped",
        missing="mo",
    )  # fmt: skip
    assert "D3S1358, vWA, Penta D" in message and "15/16" not in message
    ped_refused(tmp_path, PED, FamilyError, "family 'F1', person 'nobody'", missing="nobody")


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        ("name\tfather\tmother\tsex\n", ["line 1", "id fid mid sex"]),
        (PED.replace("\t2\t15/16", "\tF\t15/16"), ["line 3", "person 'mo'", "sex 'F'"]),
        (PED.replace("\t-/-\n", "\n", 1), ["line 2", "person 'fa'", "6 fields"]),
        (PED.replace("fa\tmo\t2", "fa\t0\t2"), ["line 4", "person 'sib'", "only the father"]),
        (PED + "half\tfa\tstepmo\t1\t-/-\t-/-\t-/-\n", ["line 6", "'stepmo' is not a member"]),
        (PED + "sib\t0\t0\t1\t-/-\t-/-\t-/-\n", ["line 6", "person 'sib'", "twice"]),
        (PED.replace("\t0\t0\t1\t", "\t0\t0\t0\t", 1), ["person 'sib'", "'fa' has sex U"]),
        (PED.replace("15/16\t14/17\t9/12", "-/-\t-/-\t-/-").replace("15/17\t14/14", "-/-\t-/-"),
         ["line 2", "no typed member"]),
        ("id\tfid\tmid\tsex\tvWA\n", ["line 1", "no person"]),
        ("famid id fid mid sex vWA\nA mo 0 0 2 14/17\nB child 0 mo 1 -/-\n",
         ["line 3", "more than one famid"]),
    ],
)  # fmt: skip
def test_ped_refusals(tmp_path: Path, text: str, fragments: list[str]) -> None:
    ped_refused(tmp_path, text, FamilyError, *fragments)


def test_ped_loop_is_refused_like_the_csv(tmp_path: Path) -> None:
    text = (
        "id fid mid sex vWA\n"
        "a 0 0 1 -/-\nb 0 0 2 -/-\n"
        "bro a b 1 14/17\nsis a b 2 -/-\n"
        "child bro sis 0 -/-\n"
    )
    ped_refused(tmp_path, text, FamilyError, "family 'F1', person 'sis'", "marriage loop")


def test_ped_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "latin1.ped"
    path.write_bytes((PED + "José\t0\t0\t1\t-/-\t-/-\t-/-\n").encode("latin-1"))
    with pytest.raises(FamilyError, match="line 6: not UTF-8"):
        read_ped(path, family_id="F1", missing="child")
    with pytest.raises(FamilyError, match="cannot read"):
        read_ped(tmp_path / "absent.ped", family_id="F1", missing="child")


def test_pedigree_of_ped_family_is_valid(tmp_path: Path) -> None:
    family, _ = read_ped(write_text(tmp_path, PED), family_id="F1", missing="child")
    assert isinstance(family.pedigree(poi="U1"), Pedigree)

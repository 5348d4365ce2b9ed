"""Family and pairwise LRs against forrel and pedprobr, from the files they wrote themselves.

``fixtures/forrel/make_values.R`` (its header says what and how; versions in
``versions.txt``) wrote eight families as pedtools' ``writePed`` writes them, two persons of
interest per family (the simulated missing member with one allele moved a repeat, and an
unrelated person), and the per-locus LR of every person against its family: forrel's
``missingPersonLR`` at theta 0, and at theta 0.02 the ratio of pedprobr likelihoods of H1 and
of H2 with the POI joined to the family's urn (forrel refuses theta there). Models: none;
equal, stepwise, onestep, plain and stabilised; proportional, with per-locus sex-specific
rates. Some members are untyped at some loci, the POI at one, and no member at one (a
one-sided locus, exact); 64 values are exclusions (LR 0).

``fixtures/forrel/make_pairs.R`` wrote every pairwise relationship as its pedigree, related
and unrelated persons with a one-sided locus each way, and per locus forrel's
``missingPersonLR`` at theta 0 with the relationship's person of interest as the missing
member (H2: the POI unrelated, the relatives in the pedigree with the POI untyped) and
pedprobr's likelihood ratio at theta 0.02 (H2 joined into one pedigree through an untyped
child).
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

import pytest

from kinmatch import kinship_lr, load_frequencies, read_profiles
from kinmatch.alleles import make_genotype
from kinmatch.family_lr import family_lr
from kinmatch.loci import canonical_locus
from kinmatch.mutation import MutationModel, load_mutation_rates
from kinmatch.pedfile import read_ped
from kinmatch.profiles import Profile
from kinmatch.relationships import get_relationship

FORREL = Path(__file__).resolve().parents[1] / "fixtures" / "forrel"
TOLERANCE = 1e-10
"""Relative; forrel's LRs are ``exp`` of differences of log-likelihoods (the largest
difference seen is 1.6e-12)."""
STEPWISE = {"rate2": 1e-6, "range": 0.1}  # as make_values.R

Key = tuple[str, str, str, bool, float]


def reference_values() -> dict[Key, dict[str, tuple[float, str]]]:
    """(family, poi, model, stationary, theta) -> {locus: (lr, program)}."""
    values: dict[Key, dict[str, tuple[float, str]]] = defaultdict(dict)
    with (FORREL / "values.csv").open(newline="") as handle:
        for row in csv.DictReader(handle):
            key = (row["family"], row["poi"], row["model"], row["stationary"] == "TRUE",
                   float(row["theta"]))  # fmt: skip
            values[key][canonical_locus(row["locus"])] = (float(row["lr"]), row["program"])
    return dict(values)


VALUES = reference_values()
FREQUENCIES = load_frequencies(FORREL / "frequencies.csv")
RATES = load_mutation_rates(FORREL / "rates.csv")
PROFILES = read_profiles(FORREL / "profiles.csv")


def model(kind: str, stationary: bool) -> MutationModel:
    if kind == "none":
        return MutationModel()
    extra = STEPWISE if kind == "stepwise" else {}
    return MutationModel(kind, RATES, stationary=stationary, **extra)  # type: ignore[arg-type]


def test_the_reference_covers_every_family_model_and_theta() -> None:
    """The fixture is what its header says, so a short file cannot pass for a check."""
    assert len({key[0] for key in VALUES}) == 8
    at_zero = [key for key in VALUES if key[4] == 0]
    assert len(at_zero) == 8 * 2 * 8  # every family, person of interest and model
    assert len(VALUES) - len(at_zero) >= 100  # theta > 0 where pedprobr's sum is small
    programs = {program for loci in VALUES.values() for _, program in loci.values()}
    assert programs == {"forrel", "pedprobr", "pedprobr-theta0"}
    one_sided = [loci["D3S1358"][0] for loci in VALUES.values() if "D3S1358" in loci]
    assert any(abs(lr - 1) > 1e-4 for lr in one_sided)  # non-stationary models move them


@pytest.mark.parametrize("key", sorted(VALUES), ids=lambda key: "-".join(map(str, key)))
def test_family_lr_equals_forrel_and_pedprobr(key: Key) -> None:
    family_id, poi_id, kind, stationary, theta = key
    expected = VALUES[key]
    family, members = read_ped(FORREL / f"{family_id}.ped", family_id=family_id, missing="MP")
    loci = set(expected)

    def restricted(sample: str) -> Profile:
        profile = PROFILES[sample] if sample in PROFILES else members[sample]
        return replace(profile, genotypes={k: g for k, g in profile.genotypes.items()
                                           if k in loci})  # fmt: skip

    poi = restricted(poi_id)
    typed = {sample: restricted(sample) for sample in members}
    result = family_lr(poi, family, typed, FREQUENCIES, theta=theta,
                       mutation=model(kind, stationary))  # fmt: skip
    for locus, (lr, _) in expected.items():
        assert result.loci[locus].lr == pytest.approx(lr, rel=TOLERANCE, abs=0), locus


def test_kinmatch_lr_reads_the_ped_file_and_gives_forrel_s_numbers(tmp_path: Path) -> None:
    """The command on a file pedtools wrote: same per-locus LRs as forrel at theta 0."""
    family_id = "mother_uncle"
    cases = tmp_path / "cases.csv"
    pois = [f"{family_id}_related", f"{family_id}_unrelated"]
    cases.write_text("case_id,relationship,poi,family_id\n"
                     + "".join(f"{poi},family,{poi},{family_id}\n" for poi in pois))  # fmt: skip
    command = [
        sys.executable, "-m", "kinmatch", "lr", "--frequencies", FORREL / "frequencies.csv",
        "--profiles", FORREL / "profiles.csv", "--cases", cases,
        "--ped", FORREL / f"{family_id}.ped", "--family-id", family_id, "--missing", "MP",
        "--mutation-model", "stepwise", "--mutation-rates", FORREL / "rates.csv",
        "--mutation-rate2", "1e-6", "--mutation-range", "0.1", "--stationary-mutation",
    ]  # fmt: skip
    done = subprocess.run([str(part) for part in command], capture_output=True, text=True,
                          check=False, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr
    records = {json.loads(line)["case_id"]: json.loads(line) for line in done.stdout.splitlines()}
    for poi in pois:
        expected = VALUES[(family_id, poi, "stepwise", True, 0.0)]
        got = records[poi]["loci"]
        for locus, (lr, _) in expected.items():
            assert got[locus]["lr"] == pytest.approx(lr, rel=TOLERANCE, abs=0), (poi, locus)


PairKey = tuple[str, str, str, bool, float]


def pair_values() -> dict[PairKey, dict[str, float]]:
    """(relationship, kind, model, stationary, theta) -> {locus: lr} from pairs.csv."""
    values: dict[PairKey, dict[str, float]] = defaultdict(dict)
    with (FORREL / "pairs.csv").open(newline="") as handle:
        for row in csv.DictReader(handle):
            key = (row["relationship"], row["kind"], row["model"], row["stationary"] == "TRUE",
                   float(row["theta"]))  # fmt: skip
            values[key][canonical_locus(row["locus"])] = float(row["lr"])
    return dict(values)


def pair_profiles() -> dict[tuple[str, str], dict[str, Profile]]:
    """(relationship, kind) -> {role: profile} from pair_genotypes.csv."""
    genotypes: dict[tuple[str, str], dict[str, dict[str, tuple[str, str]]]] = defaultdict(
        lambda: defaultdict(dict)
    )
    with (FORREL / "pair_genotypes.csv").open(newline="") as handle:
        for row in csv.DictReader(handle):
            by_role = genotypes[(row["relationship"], row["kind"])]
            by_role[row["role"]][canonical_locus(row["locus"])] = make_genotype(
                row["allele1"], row["allele2"]
            )
    return {
        key: {role: Profile(f"{key[0]}-{key[1]}-{role}", loci,
                            sex="F" if key[0] == "parent-child-mother" and role == "parent"
                            else None)
              for role, loci in by_role.items()}
        for key, by_role in genotypes.items()
    }  # fmt: skip


PAIRS = pair_values()
PAIR_PROFILES = pair_profiles()


def test_the_pairs_cover_every_relationship_and_model() -> None:
    at_zero = [key for key in PAIRS if key[4] == 0]
    assert len(at_zero) == 9 * 2 * 8
    assert len({key[0] for key in PAIRS if key[4] > 0}) == 9  # every form at theta > 0 too
    # make_pairs.R leaves its first typed person untyped at vWA, its second at D3S1358
    first_two = {"paternity-trio": ("child", "mother"), "parents-child": ("child", "mother")}
    poi_alone = []
    for key in at_zero:
        if key[2] != "stepwise" or key[3]:
            continue
        rel = get_relationship("parent-child" if key[0] == "parent-child-mother" else key[0])
        roles = first_two.get(key[0], rel.required)
        for role, locus in zip(roles, ("vWA", "D3S1358"), strict=True):
            lr = PAIRS[key][locus]
            if role == rel.poi:  # the POI untyped: the relatives' pedigree is H1's and H2's
                assert lr == pytest.approx(1, rel=1e-12), (key, locus)
            elif rel.poi == "person2":  # person2 alone, after person1's meioses under H1
                poi_alone.append(lr)
    assert len(poi_alone) == 5 * 2 and all(abs(lr - 1) > 1e-4 for lr in poi_alone)


@pytest.mark.parametrize("key", sorted(PAIRS), ids=lambda key: "-".join(map(str, key)))
def test_kinship_lr_equals_forrel_s_missing_person_lr(key: PairKey) -> None:
    """Every relationship, both one-sided directions (the first person untyped at vWA, the
    second at D3S1358), per locus; pedprobr's values at theta > 0."""
    name, kind, model_name, stationary, theta = key
    expected = PAIRS[key]
    relationship = "parent-child" if name == "parent-child-mother" else name
    persons = {
        role: replace(p, genotypes={k: g for k, g in p.genotypes.items() if k in expected})
        for role, p in PAIR_PROFILES[(name, kind)].items()
    }
    result = kinship_lr(relationship, persons, FREQUENCIES, theta=theta,
                        mutation=model(model_name, stationary))  # fmt: skip
    for locus, lr in expected.items():
        assert result.loci[locus].lr == pytest.approx(lr, rel=TOLERANCE, abs=0), locus

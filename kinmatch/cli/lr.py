"""``kinmatch lr``: the likelihood ratio of every case of a cases file."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

import click

from kinmatch.atomic import atomic_writer
from kinmatch.cases import Case, check_rates, read_cases
from kinmatch.cli import options
from kinmatch.errors import CaseError, InputError, KinmatchError
from kinmatch.families import Family, read_families
from kinmatch.frequencies import load_frequencies
from kinmatch.likelihood import KinshipResult, kinship_lr
from kinmatch.pedfile import read_ped
from kinmatch.profiles import Profile, ProfileTable, read_profiles


@click.command("lr")
@options.FREQUENCIES
@click.option("--profiles", "profiles_path", type=options.EXISTING_FILE, required=True,
              help="Profiles CSV, long (sample_id,locus,allele1,allele2) or wide "
                   "layout.")  # fmt: skip
@click.option("--cases", "cases_path", type=options.EXISTING_FILE, required=True,
              help="Cases CSV: case_id,relationship and the role columns its cases use "
                   "(child,parent,mother,father,person1,person2; poi,family_id for "
                   "families).")  # fmt: skip
@click.option("--families", "families_path", type=options.EXISTING_FILE, default=None,
              help="Families CSV (family_id,person_id,father,mother,sex,sample_id,missing) "
                   "for the cases of relationship 'family'.")  # fmt: skip
@click.option("--ped", "ped_path", type=options.EXISTING_FILE, default=None,
              help="A family in the pedtools ped layout (id fid mid sex markers...) with "
                   "its typed members' profiles; needs --family-id and --missing.")  # fmt: skip
@click.option("--family-id", default=None, help="--ped: the family's ID in the cases file.")
@click.option("--missing", default=None, help="--ped: the id of the missing member.")
@options.model_options
@click.option("--renormalise", is_flag=True, help="Rescale each locus of the table to sum to 1.")
@click.option("--ignore-unknown-loci", is_flag=True,
              help="Skip profile loci outside the catalogue (they are listed) instead "
                   "of failing.")  # fmt: skip
@click.option("--out", "out_path", type=options.NEW_FILE, default=None,
              help="Write JSON lines here (atomically) and print a summary table; "
                   "default: JSON lines on standard output.")  # fmt: skip
def lr_command(
    frequencies_path: Path,
    profiles_path: Path,
    cases_path: Path,
    families_path: Path | None,
    ped_path: Path | None,
    family_id: str | None,
    missing: str | None,
    theta: float,
    min_frequency: float,
    renormalise: bool,
    one_sided_as_one: bool,
    ignore_unknown_loci: bool,
    out_path: Path | None,
    **mutation_args: Any,
) -> None:
    """Compute the likelihood ratio of every case, one JSON object per line.

    Relationships: parent-child, paternity-trio, parents-child, full-siblings,
    half-siblings, grandparent, avuncular, first-cousins, and family (a person of interest
    as the missing member of a registered family, from --families or --ped).
    """
    from kinmatch.family_lr import check_family, family_lr  # numba: only when computing

    try:
        mutation = options.mutation_from_options(**mutation_args)
        frequencies = load_frequencies(frequencies_path, renormalise=renormalise)
        read = read_profiles(profiles_path, ignore_unknown_loci=ignore_unknown_loci)
        profiles, families = _families(read, families_path, ped_path, family_id, missing)
        cases = read_cases(cases_path, profiles, families)
        if mutation.is_none:
            for family_id in sorted({case.family_id for case in cases if case.family_id}):
                assert families is not None  # read_cases checked every family_id
                check_family(families[family_id], profiles, frequencies,
                             min_frequency=min_frequency)  # fmt: skip
        check_rates(cases, profiles, frequencies, mutation, source=str(cases_path),
                    families=families)  # fmt: skip
    except KinmatchError as exc:
        options.fail(str(exc))
    if read.ignored_loci:
        ignored = ", ".join(read.ignored_loci)
        click.echo(f"kinmatch: ignored unknown loci in {profiles_path}: {ignored}", err=True)

    records = []
    for case in cases:
        try:
            if case.family_id is not None and families is not None:
                result = family_lr(
                    profiles[case.samples["poi"]], families[case.family_id], profiles,
                    frequencies, theta=theta, mutation=mutation, min_frequency=min_frequency,
                    one_sided_exact=not one_sided_as_one,
                )  # fmt: skip
            else:
                result = kinship_lr(
                    case.relationship, case.persons(profiles), frequencies, theta=theta,
                    mutation=mutation, min_frequency=min_frequency,
                    one_sided_exact=not one_sided_as_one,
                )  # fmt: skip
            records.append(_record(case, result, None))
        except CaseError as exc:
            records.append(_record(case, None, str(exc)))

    lines = [json.dumps(record, allow_nan=False) + "\n" for record in records]
    if out_path is None:
        sys.stdout.writelines(lines)
    else:
        try:
            with atomic_writer(out_path) as handle:
                handle.writelines(lines)
        except OSError as exc:
            options.fail(f"{out_path}: cannot write results: {exc.strerror}")
        _print_table(records, out_path)
    if any(record["error"] for record in records):
        sys.exit(options.EXIT_CASE_ERRORS)


def _families(
    profiles: ProfileTable,
    families_path: Path | None,
    ped_path: Path | None,
    family_id: str | None,
    missing: str | None,
) -> tuple[dict[str, Profile], dict[str, Family] | None]:
    """The profiles (with a ped file's typed members) and the registered families."""
    merged: dict[str, Profile] = dict(profiles)
    families: dict[str, Family] | None = None
    if families_path is not None:
        families = read_families(families_path, profiles)
    if ped_path is None:
        if family_id is not None or missing is not None:
            raise InputError("--family-id and --missing go with --ped")
        return merged, families
    if family_id is None or missing is None:
        raise InputError("--ped needs --family-id and --missing")
    family, members = read_ped(ped_path, family_id=family_id, missing=missing)
    for sample, profile in members.items():
        if sample in merged:
            raise InputError(f"sample {sample!r} is both in the profiles and a typed member "
                             f"of the ped file", source=str(ped_path))  # fmt: skip
        merged[sample] = profile
    families = dict(families or {})
    if family_id in families:
        raise InputError(f"family {family_id!r} is both in --families and --ped",
                         source=str(ped_path))  # fmt: skip
    families[family_id] = family
    return merged, families


def _record(case: Case, result: KinshipResult | None, error: str | None) -> dict[str, Any]:
    if result is None:
        return {
            "case_id": case.case_id, "relationship": case.relationship, "lr": None,
            "log10_lr": None, "loci": {}, "inconsistent_loci": [], "min_frequency_used": [],
            "verdict": None, "error": error,
        }  # fmt: skip
    record = {"case_id": case.case_id, **result.to_dict(), "error": None}
    if case.family_id is not None:
        record["family_id"] = case.family_id
    if not math.isfinite(record["lr"]):
        record["lr"] = None  # beyond float range; log10_lr carries the value
    return record


def _print_table(records: list[dict[str, Any]], out_path: Path) -> None:
    header = (
        f"{'case_id':<14} {'relationship':<15} {'LR':>11} {'log10 LR':>9} {'incons.':>7}  verdict"
    )
    click.echo(header)
    click.echo("-" * len(header))
    for record in records:
        if record["error"]:
            click.echo(
                f"{record['case_id']:<14} {record['relationship']:<15} error: {record['error']}"
            )
            continue
        log10 = "-inf" if record["log10_lr"] is None else f"{record['log10_lr']:.2f}"
        lr = "inf" if record["lr"] is None else f"{record['lr']:.4g}"
        click.echo(
            f"{record['case_id']:<14} {record['relationship']:<15} {lr:>11} {log10:>9} "
            f"{len(record['inconsistent_loci']):>7}  {record['verdict']}"
        )
    errors = sum(1 for record in records if record["error"])
    click.echo(f"\n{len(records)} cases, {errors} with errors; results in {out_path}")

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
from kinmatch.errors import CaseError, KinmatchError
from kinmatch.frequencies import load_frequencies
from kinmatch.likelihood import KinshipResult, kinship_lr
from kinmatch.profiles import read_profiles


@click.command("lr")
@options.FREQUENCIES
@click.option("--profiles", "profiles_path", type=options.EXISTING_FILE, required=True,
              help="Profiles CSV, long (sample_id,locus,allele1,allele2) or wide "
                   "layout.")  # fmt: skip
@click.option("--cases", "cases_path", type=options.EXISTING_FILE, required=True,
              help="Cases CSV: case_id,relationship,child,parent,mother,father,person1,"
                   "person2.")  # fmt: skip
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
    theta: float,
    min_frequency: float,
    renormalise: bool,
    ignore_unknown_loci: bool,
    out_path: Path | None,
    **mutation_args: Any,
) -> None:
    """Compute the likelihood ratio of every case, one JSON object per line.

    Relationships: parent-child, paternity-trio, parents-child, full-siblings,
    half-siblings, grandparent, avuncular, first-cousins.
    """
    try:
        mutation = options.mutation_from_options(**mutation_args)
        frequencies = load_frequencies(frequencies_path, renormalise=renormalise)
        profiles = read_profiles(profiles_path, ignore_unknown_loci=ignore_unknown_loci)
        cases = read_cases(cases_path, profiles)
        check_rates(cases, profiles, frequencies, mutation, source=str(cases_path))
    except KinmatchError as exc:
        options.fail(str(exc))
    if profiles.ignored_loci:
        ignored = ", ".join(profiles.ignored_loci)
        click.echo(f"kinmatch: ignored unknown loci in {profiles_path}: {ignored}", err=True)

    records = []
    for case in cases:
        try:
            result = kinship_lr(
                case.relationship, case.persons(profiles), frequencies, theta=theta,
                mutation=mutation, min_frequency=min_frequency,
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


def _record(case: Case, result: KinshipResult | None, error: str | None) -> dict[str, Any]:
    if result is None:
        return {
            "case_id": case.case_id, "relationship": case.relationship, "lr": None,
            "log10_lr": None, "loci": {}, "inconsistent_loci": [], "min_frequency_used": [],
            "verdict": None, "error": error,
        }  # fmt: skip
    record = {"case_id": case.case_id, **result.to_dict(), "error": None}
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

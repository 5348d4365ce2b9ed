"""The ``kinmatch`` command.

Exit codes: 0 success; 2 bad input (the message names file, line, sample and field; no
traceback); 3 some cases could not be computed (each carries its ``error``); 1 anything else.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import click

from kinmatch.atomic import atomic_writer
from kinmatch.cases import Case, read_cases
from kinmatch.errors import CaseError, InputError, KinmatchError
from kinmatch.frequencies import DEFAULT_MIN_FREQUENCY, AlleleFrequencies, load_frequencies
from kinmatch.likelihood import KinshipResult, kinship_lr
from kinmatch.mutation import MODELS, MutationModel, MutationRates, load_mutation_rates
from kinmatch.profiles import ProfileTable, read_profiles

EXIT_BAD_INPUT = 2
EXIT_CASE_ERRORS = 3

_existing_file = click.Path(exists=True, dir_okay=False, path_type=Path)


def _fail(message: str) -> NoReturn:
    click.echo(f"kinmatch: error: {message}", err=True)
    sys.exit(EXIT_BAD_INPUT)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="kinmatch")
def main() -> None:
    """Kinship matching of STR DNA profiles: exact likelihood ratios for parentage and
    other relationships, with real population allele frequencies."""


FREQUENCIES = click.option(
    "--frequencies", "frequencies_path", type=_existing_file, required=True,
    help="Allele frequencies, long CSV: locus,allele,frequency[,n].",
)  # fmt: skip
THETA = click.option(
    "--theta", type=click.FloatRange(0.0, 1.0, max_open=True), default=0.0, show_default=True,
    help="Sub-population correction (Balding-Nichols theta).",
)  # fmt: skip
MIN_FREQUENCY = click.option(
    "--min-frequency", type=click.FloatRange(0.0, 1.0, min_open=True),
    default=DEFAULT_MIN_FREQUENCY, show_default=True,
    help="Frequency of alleles the table lacks, where the table gives no n (5/2N).",
)  # fmt: skip
_MUTATION_OPTIONS = (
    click.option("--mutation-model", type=click.Choice(MODELS), default="none",
                 show_default=True, help="Mutation model, as defined by pedmut 0.9."),
    click.option("--mutation-rate", type=click.FloatRange(0.0, 1.0), default=None,
                 help="One mutation rate per meiosis for every locus and both sexes."),
    click.option("--mutation-rates", "rates_path", type=_existing_file, default=None,
                 help="Per-locus rates CSV: locus,rate[,paternal_rate,maternal_rate]."),
    click.option("--default-mutation-rate", type=click.FloatRange(0.0, 1.0), default=None,
                 help="Rate for loci missing from --mutation-rates (otherwise an error)."),
    click.option("--mutation-rate2", type=click.FloatRange(0.0, 1.0), default=0.0,
                 show_default=True,
                 help="stepwise: rate of mutation between integer alleles and microvariants."),
    click.option("--mutation-range", type=click.FloatRange(0.0, min_open=True), default=0.5,
                 show_default=True, help="stepwise: relative probability of n+1 vs n steps."),
)  # fmt: skip


def mutation_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The core's mutation options, same names in every command."""
    for option in reversed(_MUTATION_OPTIONS):
        command = option(command)
    return command


@main.command("lr")
@FREQUENCIES
@click.option(
    "--profiles",
    "profiles_path",
    type=_existing_file,
    required=True,
    help="Profiles CSV, long (sample_id,locus,allele1,allele2) or wide layout.",
)
@click.option(
    "--cases",
    "cases_path",
    type=_existing_file,
    required=True,
    help="Cases CSV: case_id,relationship,child,parent,mother,father,person1,person2.",
)
@THETA
@mutation_options
@MIN_FREQUENCY
@click.option("--renormalise", is_flag=True, help="Rescale each locus of the table to sum to 1.")
@click.option(
    "--ignore-unknown-loci",
    is_flag=True,
    help="Skip profile loci outside the catalogue (they are listed) instead of failing.",
)
@click.option(
    "--out",
    "out_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write JSON lines here (atomically) and print a summary table; "
    "default: JSON lines on standard output.",
)
def lr_command(
    frequencies_path: Path,
    profiles_path: Path,
    cases_path: Path,
    theta: float,
    mutation_model: str,
    mutation_rate: float | None,
    rates_path: Path | None,
    default_mutation_rate: float | None,
    mutation_rate2: float,
    mutation_range: float,
    min_frequency: float,
    renormalise: bool,
    ignore_unknown_loci: bool,
    out_path: Path | None,
) -> None:
    """Compute the likelihood ratio of every case, one JSON object per line.

    Relationships: parent-child, paternity-trio, parents-child, full-siblings,
    half-siblings, grandparent, avuncular, first-cousins.
    """
    try:
        mutation = _mutation_model(
            mutation_model, mutation_rate, rates_path, default_mutation_rate, mutation_rate2,
            mutation_range,
        )  # fmt: skip
        frequencies = load_frequencies(frequencies_path, renormalise=renormalise)
        profiles = read_profiles(profiles_path, ignore_unknown_loci=ignore_unknown_loci)
        cases = read_cases(cases_path, profiles)
        _check_rates(cases, profiles, frequencies, mutation, cases_path)
    except KinmatchError as exc:
        _fail(str(exc))
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
            _fail(f"{out_path}: cannot write results: {exc.strerror}")
        _print_table(records, out_path)
    if any(record["error"] for record in records):
        sys.exit(EXIT_CASE_ERRORS)


def _mutation_model(
    kind: str,
    rate: float | None,
    rates_path: Path | None,
    default_rate: float | None,
    rate2: float,
    range_: float,
) -> MutationModel:
    if kind == "none":
        if rate is not None or rates_path is not None:
            raise InputError("mutation rates given but --mutation-model is none")
        return MutationModel()
    if (rate is None) == (rates_path is None):
        raise InputError(f"--mutation-model {kind} needs one of --mutation-rate, --mutation-rates")
    if default_rate is not None and rates_path is None:
        raise InputError("--default-mutation-rate only applies with --mutation-rates")
    rates = (
        MutationRates.uniform(rate)
        if rate is not None
        else load_mutation_rates(rates_path, default=default_rate)  # type: ignore[arg-type]
    )
    return MutationModel(kind, rates, rate2=rate2, range=range_)


def _check_rates(
    cases: list[Case],
    profiles: ProfileTable,
    frequencies: AlleleFrequencies,
    mutation: MutationModel,
    cases_path: Path,
) -> None:
    """Every locus a case may compare needs a rate: fail before computing anything."""
    if mutation.rates is None:
        return
    for case in cases:
        for profile in case.persons(profiles).values():
            for locus in profile.genotypes:
                if locus in frequencies:
                    try:
                        mutation.rates.rates(locus)
                    except InputError as exc:
                        raise exc.located(source=str(cases_path), line=case.line) from None


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

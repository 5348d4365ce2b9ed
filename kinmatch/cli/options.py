"""What the commands share: exit codes, the error line, and the options of the frequency table,
theta, the minimum frequency and the mutation model (same names in every command)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import click

from kinmatch.errors import InputError
from kinmatch.frequencies import DEFAULT_MIN_FREQUENCY
from kinmatch.mutation import (
    MODELS,
    STABILISABLE,
    MutationModel,
    MutationRates,
    load_mutation_rates,
)
from kinmatch.relationships import SEARCHABLE

EXIT_BAD_INPUT = 2
"""Bad input or a refused request: the message names file, line, sample and field."""
EXIT_CASE_ERRORS = 3
"""Some cases could not be computed (each carries its ``error``)."""

EXISTING_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)
NEW_FILE = click.Path(dir_okay=False, path_type=Path)
DIRECTORY = click.Path(file_okay=False, path_type=Path)
TRUST = click.Path(exists=True, path_type=Path)
"""A trust file (TOML or JSON), or a trust directory of ``<agency>.pub`` (own jurisdiction)."""
TRUST_HELP = (
    "Trust file (TOML, or JSON): each agency's public key and the jurisdictions its "
    "tokens may carry; or a directory of <agency>.pub (each: its own jurisdiction)."
)


PUSH_TRUST = click.option(
    "--trust", "trust_dir", default=None, type=TRUST,
    help="Trust file (or directory) of the queue database pushed into.",
)  # fmt: skip
PUSH_TOKEN = click.option(
    "--token", "token_path", default=None, type=EXISTING_FILE,
    help="File holding the analyst's token, to push to the queue.",
)  # fmt: skip
QUEUE_KEY = click.option(
    "--queue-key", "queue_key", type=NEW_FILE, default=None,
    help="The queue's own key (created with the queue, owner-only; it signs checkpoints of "
         "the audit head): default DB.key beside a SQLite database; needed for PostgreSQL.",
)  # fmt: skip


def fail(message: str) -> NoReturn:
    """Print ``kinmatch: error: message`` on standard error and exit with code 2."""
    click.echo(f"kinmatch: error: {message}", err=True)
    sys.exit(EXIT_BAD_INPUT)


FREQUENCIES = click.option(
    "--frequencies", "frequencies_path", type=EXISTING_FILE, required=True,
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
    click.option("--mutation-rates", "rates_path", type=EXISTING_FILE, default=None,
                 help="Per-locus rates CSV: locus,rate[,paternal_rate,maternal_rate]."),
    click.option("--default-mutation-rate", type=click.FloatRange(0.0, 1.0), default=None,
                 help="Rate for loci missing from --mutation-rates (otherwise an error)."),
    click.option("--mutation-rate2", type=click.FloatRange(0.0, 1.0), default=0.0,
                 show_default=True,
                 help="stepwise: rate of mutation between integer alleles and microvariants."),
    click.option("--mutation-range", type=click.FloatRange(0.0, min_open=True), default=0.5,
                 show_default=True, help="stepwise: relative probability of n+1 vs n steps."),
    click.option("--stationary-mutation", is_flag=True,
                 help="equal, stepwise, onestep: use the stationary (stabilised) matrices, "
                      "pedmut's PM transformation (Simonsson & Mostad 2016): p M = p with the "
                      "same overall mutation rate, so at theta 0 an untyped relative changes "
                      "nothing. A locus where it does not exist is an error."),
)  # fmt: skip


EXISTING_STORE = click.option("--store", "store_dir", type=click.Path(exists=True, file_okay=False,
                              path_type=Path), required=True)  # fmt: skip
RELATIONSHIP = click.option("--relationship", type=click.Choice(SEARCHABLE), required=True)


def mutation_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The core's mutation options, same names in every command."""
    for option in reversed(_MUTATION_OPTIONS):
        command = option(command)
    return command


ONE_SIDED = click.option(
    "--one-sided-as-one", is_flag=True,
    help="Count a locus typed on one side only as LR 1 (the older convention) instead of its "
         "exact value under the mutation model.",
)  # fmt: skip


def model_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """What an LR depends on besides the profiles and the table: theta, the mutation options,
    the minimum frequency and how one-sided loci count."""
    return THETA(mutation_options(MIN_FREQUENCY(ONE_SIDED(command))))


def mutation_from_options(
    *,
    mutation_model: str,
    mutation_rate: float | None,
    rates_path: Path | None,
    default_mutation_rate: float | None,
    mutation_rate2: float,
    mutation_range: float,
    stationary_mutation: bool = False,
) -> MutationModel:
    """The model the mutation options describe (argument names are the options')."""
    kind = mutation_model
    if stationary_mutation and kind not in STABILISABLE:
        raise InputError(f"--stationary-mutation applies to --mutation-model "
                         f"{', '.join(STABILISABLE)}, not {kind}"
                         + (" (stationary already)" if kind == "proportional" else ""))  # fmt: skip
    if kind == "none":
        if mutation_rate is not None or rates_path is not None:
            raise InputError("mutation rates given but --mutation-model is none")
        return MutationModel()
    if (mutation_rate is None) == (rates_path is None):
        raise InputError(f"--mutation-model {kind} needs one of --mutation-rate, --mutation-rates")
    if default_mutation_rate is not None and rates_path is None:
        raise InputError("--default-mutation-rate only applies with --mutation-rates")
    rates = (
        MutationRates.uniform(mutation_rate)
        if mutation_rate is not None
        else load_mutation_rates(rates_path, default=default_mutation_rate)  # type: ignore[arg-type]
    )
    return MutationModel(kind, rates, rate2=mutation_rate2, range=mutation_range,
                         stationary=stationary_mutation)  # fmt: skip


def read_token(path: Path) -> str:
    """The token in ``path`` (one line; surrounding whitespace ignored)."""
    try:
        return path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"{path}: cannot read the token ({type(exc).__name__})")

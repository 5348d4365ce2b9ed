"""The ``kinmatch`` command.

Exit codes: 0 success; 2 bad input (the message names file, line, sample and field; no
traceback); 3 some cases could not be computed (each carries its ``error``); 1 anything else.
"""

from __future__ import annotations

import csv
import json
import math
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import click
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from tqdm import tqdm

from kinmatch.atomic import atomic_path, atomic_writer
from kinmatch.cases import Case, read_cases
from kinmatch.errors import CaseError, InputError, KinmatchError, LocusError, ProfileError
from kinmatch.evidence import (
    DEFAULT_CAUTION_BOUND,
    SUPPORT_DATABASE_CAUTION,
    HitEvidence,
    NullModel,
)
from kinmatch.frequencies import DEFAULT_MIN_FREQUENCY, AlleleFrequencies, load_frequencies
from kinmatch.likelihood import KinshipResult, kinship_lr
from kinmatch.loci import CHINA_PATERNITY_19, CODIS_20, canonical_locus
from kinmatch.mutation import MODELS, MutationModel, MutationRates, load_mutation_rates
from kinmatch.profiles import ProfileTable, ProfileWriter, read_profiles
from kinmatch.queue.commands import keys_group, push_hits, queue_group, read_token, serve_command
from kinmatch.queue.models import NewItem
from kinmatch.relationships import get_relationship
from kinmatch.search import (
    SEARCHABLE,
    Searcher,
    SearchResult,
    couples_among,
    query_roles,
    results_to_arrow,
)
from kinmatch.store import IngestError, ReferenceStore
from kinmatch.synth import (
    Simulator,
    missing_children_database,
    unrelated_batch,
    unrelated_profiles,
)

EXIT_BAD_INPUT = 2
EXIT_CASE_ERRORS = 3
CHUNK = 100_000  # profiles simulated and written to CSV at a time
STORE_CHUNK = 1_000_000  # profiles simulated and appended to a store at a time (a fragment)

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
            mutation_model=mutation_model, mutation_rate=mutation_rate, rates_path=rates_path,
            default_mutation_rate=default_mutation_rate, mutation_rate2=mutation_rate2,
            mutation_range=mutation_range,
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
    *,
    mutation_model: str,
    mutation_rate: float | None,
    rates_path: Path | None,
    default_mutation_rate: float | None,
    mutation_rate2: float,
    mutation_range: float,
) -> MutationModel:
    """The model the mutation options describe (argument names are the options')."""
    kind = mutation_model
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
    return MutationModel(kind, rates, rate2=mutation_rate2, range=mutation_range)


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


PANEL_HELP = "Comma-separated loci; default: the CODIS 20 and the Chinese 19-locus panel."


@main.command("synth")
@FREQUENCIES
@click.option(
    "--references",
    type=click.IntRange(1),
    required=True,
    help="Profiles in the reference set, planted relatives included.",
)
@click.option(
    "--families",
    type=click.IntRange(0),
    required=True,
    help="Missing-children cases: each has a missing child and registered relatives.",
)
@click.option("--seed", type=int, default=1, show_default=True)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Directory for references.csv, queries.csv and truth.csv.",
)
@click.option("--layout", type=click.Choice(["wide", "long"]), default="wide", show_default=True)
@click.option(
    "--store",
    "store_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Write the references straight into this store, not to CSV.",
)
@click.option("--loci", default=None, help=PANEL_HELP)
@THETA
@mutation_options
def synth_command(
    frequencies_path: Path,
    references: int,
    families: int,
    seed: int,
    out_dir: Path,
    layout: str,
    store_dir: Path | None,
    loci: str | None,
    theta: float,
    **mutation_args: Any,
) -> None:
    """Simulate a missing-children database from a real frequency table, with its truth.

    Writes DIR/references.csv (or the store), DIR/queries.csv (the missing children) and
    DIR/truth.csv: query_id,relative_id,relationship,case_id,mutations.
    """
    try:
        frequencies = load_frequencies(frequencies_path)
        mutation = _mutation_model(**mutation_args)
        panel = _panel(frequencies, loci, frequencies_path)
        sim = Simulator(frequencies, panel, seed=seed, theta=theta, mutation=mutation)
        database = missing_children_database(sim, references, families, fill=False)
        out_dir.mkdir(parents=True, exist_ok=True)
        store = ReferenceStore.open_or_create(store_dir) if store_dir else None
    except (KinmatchError, OSError) as exc:
        _fail(str(exc))
    remaining = references - len(database.references)
    size = STORE_CHUNK if store is not None else CHUNK
    chunks = [(start, min(size, remaining - start)) for start in range(0, remaining, size)]
    with tqdm(total=references, unit="profiles", desc="synth", disable=None) as bar:
        if store is not None:
            try:  # sample IDs the store already holds refuse the batch, nothing written
                store.ingest(database.references)
                bar.update(len(database.references))
                for start, count in chunks:
                    store.append_encoded(unrelated_batch(sim, start, count))
                    bar.update(count)
            except KinmatchError as exc:
                _fail(f"{store_dir}: {exc}")
        else:
            with atomic_writer(out_dir / "references.csv") as handle:
                writer = ProfileWriter(handle, panel, layout)
                writer.write(database.references)
                bar.update(len(database.references))
                for start, count in chunks:
                    writer.write(unrelated_profiles(sim, start, count))
                    bar.update(count)
    with atomic_writer(out_dir / "queries.csv") as handle:
        ProfileWriter(handle, panel, layout).write(database.queries)
    with atomic_writer(out_dir / "truth.csv") as handle:
        rows = csv.writer(handle, lineterminator="\n")
        rows.writerow(["query_id", "relative_id", "relationship", "case_id", "mutations"])
        for row in database.truth:
            rows.writerow([row.query_id, row.relative_id, row.relationship, row.case_id,
                           ";".join(row.mutations)])  # fmt: skip
    where = store_dir if store_dir else out_dir / "references.csv"
    click.echo(f"{references} references ({where}), {len(database.queries)} queries and "
               f"{len(database.truth)} true relatives in {out_dir}; {len(panel)} loci")  # fmt: skip


@main.command("ingest")
@click.option(
    "--store",
    "store_dir",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Store directory; created when missing.",
)
@click.argument("files", nargs=-1, required=True, type=_existing_file)
@click.option(
    "--skip-invalid",
    is_flag=True,
    help="Add the valid samples and report the rejected ones (exit code 2).",
)
@click.option(
    "--ignore-unknown-loci",
    is_flag=True,
    help="Skip loci outside the catalogue instead of rejecting their records.",
)
def ingest_command(
    store_dir: Path, files: tuple[Path, ...], skip_invalid: bool, ignore_unknown_loci: bool
) -> None:
    """Validate profile CSV files and add them to a store as one atomic batch.

    Any bad record (or a sample ID already stored) refuses the whole batch, reporting every
    one, unless --skip-invalid.
    """
    try:
        store = ReferenceStore.open_or_create(store_dir)
        with tqdm(total=1, desc="ingest", unit="batch", disable=None) as bar:
            report = store.ingest_csv(files, skip_invalid=skip_invalid,
                                      ignore_unknown_loci=ignore_unknown_loci)  # fmt: skip
            bar.update(1)
    except IngestError as exc:
        click.echo(f"kinmatch: error: {exc}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    except KinmatchError as exc:
        _fail(str(exc))
    loci_seen = ", ".join(report.loci_seen) or "none"
    click.echo(f"added {report.added} profiles to {store_dir} (now {len(store)}, version "
               f"{report.generation}); loci seen: {loci_seen}")  # fmt: skip
    if report.rejected:
        click.echo(f"rejected {len(report.rejected)} records:", err=True)
        for error in report.rejected:
            click.echo(f"  {error}", err=True)
        sys.exit(EXIT_BAD_INPUT)


@main.command("match")
@click.option("--store", "store_dir", type=click.Path(exists=True, file_okay=False,
              path_type=Path), required=True)  # fmt: skip
@FREQUENCIES
@click.option(
    "--queries",
    "queries_path",
    type=_existing_file,
    required=True,
    help="Profiles to search for (CSV, long or wide layout).",
)
@click.option("--relationship", type=click.Choice(SEARCHABLE), required=True)
@THETA
@mutation_options
@MIN_FREQUENCY
@click.option(
    "--min-lr",
    type=click.FloatRange(0.0),
    default=10000.0,
    show_default=True,
    help="Report hits at or above this LR.",
)
@click.option(
    "--top-k",
    type=click.IntRange(1),
    default=10,
    show_default=True,
    help="Report at most this many hits per query.",
)
@click.option(
    "--max-inconsistent",
    type=click.IntRange(0),
    default=2,
    show_default=True,
    help="Candidate filter of parentage searches: inconsistent loci tolerated.",
)
@click.option(
    "--out",
    "out_path",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="hits.csv, hits.parquet or hits.jsonl.",
)
@click.option("--caution-bound", type=click.FloatRange(0.0), default=DEFAULT_CAUTION_BOUND,
              show_default=True,
              help="Expected unrelated references at or above which a supporting hit is "
                   "marked support-database-caution.")  # fmt: skip
@click.option("--push-to-queue", "queue_target", default=None,
              help="Also push the hits to a review queue: a database URL (with --trust) or "
                   "the http(s):// address of a kinmatch serve.")  # fmt: skip
@click.option("--trust", "trust_dir", default=None,
              type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Trusted agencies' public keys, to push into a queue database.")  # fmt: skip
@click.option("--token", "token_path", default=None, type=_existing_file,
              help="File holding the analyst's token, for --push-to-queue.")  # fmt: skip
def match_command(
    store_dir: Path,
    frequencies_path: Path,
    queries_path: Path,
    relationship: str,
    theta: float,
    min_frequency: float,
    min_lr: float,
    top_k: int,
    max_inconsistent: int,
    out_path: Path,
    caution_bound: float,
    queue_target: str | None,
    trust_dir: Path | None,
    token_path: Path | None,
    **mutation_args: Any,
) -> None:
    """Search the store for the relatives of every query and write the hits; with
    --push-to-queue, also queue them for review."""
    if out_path.suffix not in (".csv", ".parquet", ".jsonl"):
        _fail(f"--out {out_path}: use a .csv, .parquet or .jsonl file name")
    if (queue_target is None) != (token_path is None):
        _fail("--push-to-queue and --token go together")
    try:
        frequencies = load_frequencies(frequencies_path)
        mutation = _mutation_model(**mutation_args)
        table = read_profiles(queries_path)
        queries = list(table.values())
        store = ReferenceStore.open(store_dir)
        _check_queries(table, queries_path, store, frequencies, mutation)
        searcher = Searcher(
            store, frequencies, theta=theta, mutation=mutation, min_frequency=min_frequency,
            max_inconsistent=max_inconsistent,
        )  # fmt: skip
        started = time.perf_counter()
        couples, singles = (
            couples_among(queries) if relationship == "parents-child" else ([], queries)
        )
        with tqdm(total=len(queries), desc="match", unit="queries", disable=None) as bar:
            results = searcher.search_batch(
                singles, relationship, top_k=top_k, min_lr=min_lr,
                progress=lambda done, total: bar.update(done - bar.n),
            )  # fmt: skip
            for father, mother in couples:  # a couple searching for its child
                results.append(searcher.search_couple(father, mother, top_k=top_k, min_lr=min_lr))
                bar.update(2)
        seconds = time.perf_counter() - started
        evidence = [searcher.evidence(r, bound=caution_bound) if not r.error else ()
                    for r in results]  # fmt: skip
    except KinmatchError as exc:
        _fail(str(exc))
    _write_hits(results, evidence, out_path)
    scored = sum(r.n_scored for r in results)
    hits = sum(len(r.hits) for r in results)
    above = sum(r.n_above_threshold or 0 for r in results)
    errors = [r for r in results if r.error]
    click.echo(f"{len(queries)} queries, {above} hits at LR >= {min_lr:g}, {hits} written "
               f"(top {top_k} per query) to {out_path}; {scored:,} references scored in "
               f"{seconds:.1f} s "
               f"({scored / max(seconds, 1e-9):,.0f} per second)")  # fmt: skip
    cautions = [
        e for per_query in evidence for e in per_query if e.verdict == SUPPORT_DATABASE_CAUTION
    ]
    if cautions:
        click.echo(f"{len(cautions)} supporting hits marked {SUPPORT_DATABASE_CAUTION}: in a "
                   f"database this size, at least {caution_bound:g} unrelated references (or "
                   "couples) are expected to score as high (column expected_unrelated); "
                   "confirm them with more loci or other evidence before contacting a "
                   "family")  # fmt: skip
    for result in errors:  # a query that could not be computed, located in the queries file
        line = table.lines.get(result.query_id)
        where = InputError(str(result.error), source=str(queries_path), line=line,
                           sample=result.query_id)  # fmt: skip
        click.echo(f"kinmatch: error: {where}", err=True)
    if queue_target is not None and token_path is not None:
        _push(queue_target, trust_dir, token_path, results, evidence, searcher, store)
    if errors:
        sys.exit(EXIT_BAD_INPUT)


def _push(
    target: str,
    trust_dir: Path | None,
    token_path: Path,
    results: list[SearchResult],
    evidence: list[tuple[HitEvidence, ...]],
    searcher: Searcher,
    store: ReferenceStore,
) -> None:
    """Queue every written hit for review, with its evidence (the analyst's agency owns the
    items)."""
    items = [NewItem.from_hit(hit, searcher.parameters, str(store.generation), evidence=e)
             for result, per_query in zip(results, evidence, strict=True)
             for hit, e in zip(result.hits, per_query, strict=True)]  # fmt: skip
    if not items:
        click.echo("no hits to queue")
        return
    try:
        added, known = push_hits(target, trust_dir, read_token(token_path), items)
    except KinmatchError as exc:
        _fail(f"--push-to-queue: {exc}")
    click.echo(f"queued for review: {added} new items, {known} already queued")


@main.command("evidence")
@click.option("--store", "store_dir", type=click.Path(exists=True, file_okay=False,
              path_type=Path), required=True)  # fmt: skip
@FREQUENCIES
@click.option("--queries", "queries_path", type=_existing_file, required=True,
              help="Profiles file holding the query (CSV, long or wide layout).")  # fmt: skip
@click.option("--sample", default=None, help="The query's sample ID (default: the only one).")
@click.option("--relationship", type=click.Choice(SEARCHABLE), required=True)
@THETA
@mutation_options
@MIN_FREQUENCY
def evidence_command(
    store_dir: Path,
    frequencies_path: Path,
    queries_path: Path,
    sample: str | None,
    relationship: str,
    theta: float,
    min_frequency: float,
    **mutation_args: Any,
) -> None:
    """How a query's LR is distributed over unrelated references of the population, and
    how many unrelated hits to expect at the store's size (kinmatch.evidence)."""
    try:
        frequencies = load_frequencies(frequencies_path)
        mutation = _mutation_model(**mutation_args)
        table = read_profiles(queries_path)
        if sample is None and len(table) != 1:
            raise InputError(f"{len(table)} profiles: name the query with --sample",
                             source=str(queries_path), field="sample")  # fmt: skip
        query = table[sample] if sample is not None else next(iter(table.values()))
        store = ReferenceStore.open(store_dir)
        searcher = Searcher(store, frequencies, theta=theta, mutation=mutation,
                            min_frequency=min_frequency)  # fmt: skip
        met = searcher.search(query, relationship, top_k=1).n_scored
        model = NullModel(searcher.tables)
        loci = [locus for locus in store.loci if locus in query.genotypes]
        if relationship == "parents-child":
            if query.role not in (None, "unknown-origin"):
                raise InputError("a couple's evidence is not available from one profile",
                                 field="relationship")  # fmt: skip
            null = model.couples(query.genotypes, loci=loci)
        else:
            mine, free = query_roles(query, relationship)
            # the transmitter's sex picks its mutation rates: the query's when it is the
            # transmitter; a reference of either sex is taken as male, as a hit of unknown sex
            transmitter = get_relationship(relationship).transmitter
            sex = (query.sex or "M") if transmitter == mine else "M"
            null = model.single(relationship, {mine: query.genotypes}, free, loci=loci,
                                transmitter_sex=sex)  # fmt: skip
        null.certify()
    except KeyError:
        _fail(f"{queries_path}: no sample {sample!r}")
    except KinmatchError as exc:
        _fail(str(exc))
    summary = null.summary()
    click.echo(f"query {query.sample_id}, {relationship}, {len(summary['loci'])} loci "
               f"compared; {met:,} references met in the store")  # fmt: skip
    click.echo(f"  P(LR = 0)              {summary['p_zero']:.4g}")
    click.echo(f"  E[LR]                  {summary['expected_lr']:.4g}")
    for q, x in summary["quantiles"].items():
        click.echo(f"  log10 LR quantile {q:<6} {x if x is None else f'{x:.3f}'}")
    for threshold in (1.0, 1e4):
        p = null.p_at_least(math.log10(threshold))
        label = f"P(LR >= {threshold:g})"
        click.echo(f"  {label:<22} {p:.4g}   expected unrelated hits: {met * p:.4g}")


def _write_hits(
    results: list[SearchResult], evidence: list[tuple[HitEvidence, ...]], out_path: Path
) -> None:
    """The hits with their database-size-aware evidence: ``p_unrelated``,
    ``expected_unrelated``, and the verdict qualified by them."""
    table = results_to_arrow(results)
    joined = pc.binary_join(table.column("inconsistent_loci"), ";")
    column = table.schema.get_field_index("inconsistent_loci")
    table = table.set_column(column, "inconsistent_loci", joined)
    flat = [e for per_query in evidence for e in per_query]
    verdict = table.schema.get_field_index("verdict")
    table = table.set_column(verdict, "verdict", pa.array([e.verdict for e in flat], pa.string()))
    table = table.append_column("p_unrelated", pa.array([e.p_unrelated for e in flat],
                                                        pa.float64()))  # fmt: skip
    table = table.append_column(
        "expected_unrelated", pa.array([e.expected_unrelated for e in flat], pa.float64())
    )
    try:
        with atomic_path(out_path) as temporary:
            if out_path.suffix == ".jsonl":
                lines = (json.dumps(row, allow_nan=False) + "\n" for row in table.to_pylist())
                temporary.write_text("".join(lines), encoding="utf-8")
            elif out_path.suffix == ".csv":
                pacsv.write_csv(table, str(temporary))
            else:
                pq.write_table(table, str(temporary))
    except OSError as exc:
        _fail(f"{out_path}: cannot write hits: {exc.strerror}")


def _check_queries(
    table: ProfileTable,
    queries_path: Path,
    store: ReferenceStore,
    frequencies: AlleleFrequencies,
    mutation: MutationModel,
) -> None:
    """Every query shares a locus with the store and the table, and every locus it may compare
    has a mutation rate: fail before searching anything."""
    comparable = set(store.loci) & set(frequencies)
    rates = mutation.rates
    for query in table.values():
        line = table.lines.get(query.sample_id)
        loci = [locus for locus in query.genotypes if locus in comparable]
        if not loci and store.loci:  # an empty store has no loci and no hits
            raise ProfileError(
                "no typed locus in common with the store and the frequency table",
                source=str(queries_path), line=line, sample=query.sample_id,
            )  # fmt: skip
        if rates is None:
            continue
        for locus in loci:
            try:
                rates.rates(locus)
            except InputError as exc:
                raise exc.located(source=str(queries_path), line=line,
                                  sample=query.sample_id) from None  # fmt: skip


def _panel(frequencies: AlleleFrequencies, loci: str | None, frequencies_path: Path) -> list[str]:
    if not loci:
        return [locus for locus in dict.fromkeys(CODIS_20 + CHINA_PATERNITY_19)
                if locus in frequencies]  # fmt: skip
    panel: list[str] = []
    for name in loci.split(","):
        try:
            locus = canonical_locus(name)
        except InputError as exc:
            raise exc.located(field="--loci") from None
        if locus in panel:
            raise LocusError("listed twice", locus=locus, field="--loci")
        if locus not in frequencies:
            raise LocusError("not in the frequency table", source=str(frequencies_path),
                             locus=locus, field="--loci")  # fmt: skip
        panel.append(locus)
    return panel


@main.command("demo")
@click.option(
    "--frequencies",
    "frequencies_path",
    type=_existing_file,
    default=Path("fixtures/freq_China_GBT37223.csv"),
    show_default=True,
)
@click.option("--references", type=click.IntRange(1), default=100_000, show_default=True)
@click.option("--families", type=click.IntRange(1), default=200, show_default=True)
@click.option("--seed", type=int, default=1, show_default=True)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("build/demo"),
    show_default=True,
)
@click.pass_context
def demo_command(
    ctx: click.Context,
    frequencies_path: Path,
    references: int,
    families: int,
    seed: int,
    out_dir: Path,
) -> None:
    """The main job end to end: simulate a database from a real table, ingest it, match the
    missing children against parents (duo) and couples, and compare with the truth.

    Uses the stepwise mutation model with the AABB/STRBase rates (0.002 where a locus has
    none) and theta 0.01. The hits are pushed into a review queue (SQLite, --out/queue.db)
    with a demo agency analyst's token and listed with a demo reviewer's. Everything is left
    in --out to explore; a rerun replaces it.
    """
    queue_args = _demo_queue(out_dir)
    rates = frequencies_path.parent / "mutation_rates_STRBase_AABB.csv"
    mutation = ["--mutation-model", "stepwise", "--mutation-rates", str(rates),
                "--default-mutation-rate", "0.002", "--mutation-rate2", "0.000001"]  # fmt: skip
    store = out_dir / "store"
    if store.exists():
        shutil.rmtree(store)  # the demo's own store, rebuilt on every run
    started = time.perf_counter()
    steps = [
        ("synth", ["--frequencies", str(frequencies_path), "--references", str(references),
                   "--families", str(families), "--seed", str(seed), "--out", str(out_dir),
                   *mutation]),
        ("ingest", ["--store", str(store), str(out_dir / "references.csv")]),
    ]  # fmt: skip
    for relationship, name in (("parent-child", "duo"), ("parents-child", "couple")):
        steps.append(("match", ["--store", str(store), "--frequencies", str(frequencies_path),
                                "--queries", str(out_dir / "queries.csv"), "--relationship",
                                relationship, "--theta", "0.01", *mutation,
                                "--out", str(out_dir / f"hits-{name}.csv"),
                                *queue_args["analyst"]]))  # fmt: skip
    steps.append(("queue", [*queue_args["reviewer"], "list", "--limit", "10"]))
    for command, args in steps:
        click.echo(f"$ kinmatch {command} {' '.join(args)}")
        try:
            main.main([command, *args], prog_name="kinmatch", standalone_mode=False)
        except SystemExit as exc:
            if exc.code:
                raise
    _demo_summary(out_dir, time.perf_counter() - started)


def _demo_queue(out_dir: Path) -> dict[str, list[str]]:
    """A fresh review queue for the demo (SQLite in --out) with a demo agency's keys and an
    analyst's and a reviewer's token; the options that push to it and list it."""
    from kinmatch.security.keys import issue_token, load_private_key, new_key_pair

    out_dir.mkdir(parents=True, exist_ok=True)
    database = out_dir / "queue.db"
    for path in (out_dir / "keys", out_dir / "trust"):
        shutil.rmtree(path, ignore_errors=True)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)
    private, public = new_key_pair("DEMO", out_dir / "keys")
    (out_dir / "trust").mkdir()
    shutil.copy(public, out_dir / "trust" / public.name)
    options: dict[str, list[str]] = {}
    for officer, role in (("analyst", "--push-to-queue"), ("reviewer", "--db")):
        token_path = out_dir / "keys" / f"{officer}.jwt"
        token = issue_token(load_private_key(private), agency="DEMO", officer=f"demo-{officer}",
                            roles=[officer], jurisdiction="DEMO", ttl=3600)  # fmt: skip
        token_path.write_text(token + "\n", encoding="utf-8")
        token_path.chmod(0o600)
        options[officer] = [role, f"sqlite:///{database}", "--trust", str(out_dir / "trust"),
                            "--token", str(token_path)]  # fmt: skip
    return options


def _demo_summary(out_dir: Path, seconds: float) -> None:
    with (out_dir / "truth.csv").open() as handle:
        truth = list(csv.DictReader(handle))
    related = {(t["query_id"], t["relative_id"]) for t in truth}
    related |= {(t["query_id"], t["case_id"]) for t in truth}
    with_parent = {t["query_id"] for t in truth if t["relationship"] == "parent-child"}
    parents: dict[str, set[str]] = {}
    for t in truth:
        if t["relationship"] == "parent-child":
            parents.setdefault(t["query_id"], set()).add(t["relative_id"][0])
    with_couple = {query for query, kinds in parents.items() if kinds == {"F", "M"}}
    click.echo(f"\nSummary ({seconds:.0f} s), threshold LR 10,000:")
    for name, relatives, searched in (("duo", "parents", with_parent),
                                      ("couple", "couples", with_couple)):  # fmt: skip
        with (out_dir / f"hits-{name}.csv").open() as handle:
            hits = list(csv.DictReader(handle))
        first = {h["query_id"] for h in hits
                 if h["rank"] == "1" and (h["query_id"], h["reference_id"]) in related}  # fmt: skip
        unrelated = [h for h in hits if (h["query_id"], h["reference_id"]) not in related]
        click.echo(f"  {name:<7} a true relative ranked first for {len(first)} of the "
                   f"{len(searched)} missing children with registered {relatives}; "
                   f"{len(unrelated)} unrelated {relatives} above the threshold")  # fmt: skip
    click.echo(f"Files: {out_dir}/ (references, queries, truth, store, hits-duo.csv, "
               "hits-couple.csv, queue.db with keys/ and trust/)")  # fmt: skip


main.add_command(keys_group)
main.add_command(queue_group)
main.add_command(serve_command)

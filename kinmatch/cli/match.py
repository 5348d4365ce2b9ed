"""``kinmatch match``: every query searched against the store, the hits written with their
database-size-aware evidence and, on request, pushed to a review queue."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from tqdm import tqdm

from kinmatch.atomic import atomic_path
from kinmatch.cli import options
from kinmatch.errors import InputError, KinmatchError
from kinmatch.frequencies import load_frequencies
from kinmatch.hits import HitEvidence, SearchResult, hits_table
from kinmatch.profiles import read_profiles
from kinmatch.store import ReferenceStore
from kinmatch.verdict import DEFAULT_CAUTION_BOUND, SUPPORT_DATABASE_CAUTION

if TYPE_CHECKING:
    from kinmatch.search import Searcher


@click.command("match")
@options.EXISTING_STORE
@options.FREQUENCIES
@click.option("--queries", "queries_path", type=options.EXISTING_FILE, required=True,
              help="Profiles to search for (CSV, long or wide layout).")  # fmt: skip
@options.RELATIONSHIP
@options.model_options
@click.option("--min-lr", type=click.FloatRange(0.0), default=10000.0, show_default=True,
              help="Report hits at or above this LR.")  # fmt: skip
@click.option("--top-k", type=click.IntRange(1), default=10, show_default=True,
              help="Report at most this many hits per query.")  # fmt: skip
@click.option("--max-inconsistent", type=click.IntRange(0), default=2, show_default=True,
              help="Candidate filter of parentage searches: inconsistent loci "
                   "tolerated.")  # fmt: skip
@click.option("--out", "out_path", type=options.NEW_FILE, required=True,
              help="hits.csv, hits.parquet or hits.jsonl.")  # fmt: skip
@click.option("--caution-bound", type=click.FloatRange(0.0), default=DEFAULT_CAUTION_BOUND,
              show_default=True,
              help="Expected unrelated references at or above which a supporting hit is "
                   "marked support-database-caution.")  # fmt: skip
@click.option("--evidence/--no-evidence", "with_evidence", default=True, show_default=True,
              help="Compute p_unrelated and expected_unrelated for every hit (the database "
                   "verdict needs them).")  # fmt: skip
@click.option("--push-to-queue", "queue_target", default=None,
              help="Also push the hits to a review queue: a database URL (with --trust) or "
                   "the http(s):// address of a kinmatch serve.")  # fmt: skip
@options.PUSH_TRUST
@options.PUSH_TOKEN
@options.QUEUE_KEY
def match_command(
    store_dir: Path,
    frequencies_path: Path,
    queries_path: Path,
    relationship: str,
    theta: float,
    min_frequency: float,
    one_sided_as_one: bool,
    min_lr: float,
    top_k: int,
    max_inconsistent: int,
    out_path: Path,
    caution_bound: float,
    with_evidence: bool,
    queue_target: str | None,
    trust_dir: Path | None,
    token_path: Path | None,
    queue_key: Path | None,
    **mutation_args: Any,
) -> None:
    """Search the store for the relatives of every query and write the hits; with
    --push-to-queue, also queue them for review."""
    from kinmatch.search import Searcher, couples_among  # numba: only when searching

    if out_path.suffix not in (".csv", ".parquet", ".jsonl"):
        options.fail(f"--out {out_path}: use a .csv, .parquet or .jsonl file name")
    if (queue_target is None) != (token_path is None):
        options.fail("--push-to-queue and --token go together")
    try:
        frequencies = load_frequencies(frequencies_path)
        mutation = options.mutation_from_options(**mutation_args)
        table = read_profiles(queries_path)
        queries = list(table.values())
        store = ReferenceStore.open(store_dir)
        searcher = Searcher(
            store, frequencies, theta=theta, mutation=mutation, min_frequency=min_frequency,
            max_inconsistent=max_inconsistent, one_sided_exact=not one_sided_as_one,
        )  # fmt: skip
        searcher.check_queries(table)
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
        evidence: list[tuple[HitEvidence | None, ...]] = [
            searcher.evidence(r, bound=caution_bound) if with_evidence and not r.error
            else (None,) * len(r.hits) for r in results
        ]  # fmt: skip
        evidence_seconds = time.perf_counter() - started - seconds
    except KinmatchError as exc:
        options.fail(str(exc))
    _write_hits(results, evidence, out_path)
    scored = sum(r.n_scored for r in results)
    hits = sum(len(r.hits) for r in results)
    above = sum(r.n_above_threshold or 0 for r in results)
    errors = [r for r in results if r.error]
    click.echo(f"{len(queries)} queries, {above} hits at LR >= {min_lr:g}, {hits} written "
               f"(top {top_k} per query) to {out_path}; {scored:,} references scored in "
               f"{seconds:.1f} s "
               f"({scored / max(seconds, 1e-9):,.0f} per second); evidence "
               + (f"in {evidence_seconds:.1f} s" if with_evidence
                  else "skipped (--no-evidence)"))  # fmt: skip
    methods = sorted({r.candidates for r in results if r.candidates})
    if methods:  # parentage under a bound: how its candidates were found
        click.echo(f"candidates: references with at most {max_inconsistent} inconsistent "
                   f"loci, by the {' and the '.join(methods)}")  # fmt: skip
    cautions = [e for per_query in evidence for e in per_query
                if e is not None and e.verdict == SUPPORT_DATABASE_CAUTION]  # fmt: skip
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
        _push(queue_target, (trust_dir, queue_key), token_path, results, evidence, searcher, store)
    if errors:
        sys.exit(options.EXIT_BAD_INPUT)


def _push(
    target: str,
    database: tuple[Path | None, Path | None],
    token_path: Path,
    results: list[SearchResult],
    evidence: list[tuple[HitEvidence | None, ...]],
    searcher: Searcher,
    store: ReferenceStore,
) -> None:
    """Queue every written hit for review, with its evidence (the items belong to the agencies
    of their profiles, the analyst's standing for profiles that record none); ``database``:
    the trust file and the queue's key of a queue database."""
    from kinmatch.queue.client import push_hits
    from kinmatch.queue.models import NewItem
    from kinmatch.security.tokens import TokenVerifier

    token = options.read_token(token_path)
    pusher = TokenVerifier.claimed_issuer(token)  # the queries' agency (the server checks it)
    items = [NewItem.from_hit(hit, searcher.parameters, str(store.generation), evidence=e,
                              unknown_agency=pusher)
             for result, per_query in zip(results, evidence, strict=True)
             for hit, e in zip(result.hits, per_query, strict=True)]  # fmt: skip
    if not items:
        click.echo("no hits to queue")
        return
    try:
        added, known = push_hits(target, database[0], token, items, database[1])
    except KinmatchError as exc:
        options.fail(f"--push-to-queue: {exc}")
    click.echo(f"queued for review: {added} new items, {known} already queued")


def _write_hits(
    results: list[SearchResult], evidence: list[tuple[HitEvidence | None, ...]], out_path: Path
) -> None:
    """The hits with their database-size-aware evidence: ``p_unrelated``,
    ``expected_unrelated``, and the verdict qualified by them (null, and the plain verdict,
    without evidence)."""
    table = hits_table(results, evidence)
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
        options.fail(f"{out_path}: cannot write hits: {exc.strerror}")

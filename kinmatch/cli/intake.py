"""``kinmatch intake``: a batch ingested, then every outstanding store version compared and its
hits pushed to the review queue, through the store's comparison ledger (:mod:`kinmatch.ledger`)."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import click
from tqdm import tqdm

from kinmatch.cli import options
from kinmatch.errors import KinmatchError
from kinmatch.frequencies import load_frequencies
from kinmatch.ledger import Ledger, file_sha256
from kinmatch.relationships import SEARCHABLE
from kinmatch.store import IngestError, ReferenceStore
from kinmatch.verdict import DEFAULT_CAUTION_BOUND


@click.command("intake")
@click.option("--store", "store_dir", type=options.DIRECTORY, required=True,
              help="Store directory; created when missing.")  # fmt: skip
@click.argument("files", nargs=-1, type=options.EXISTING_FILE)
@options.FREQUENCIES
@click.option("--relationship", "relationships", multiple=True, type=click.Choice(SEARCHABLE),
              default=("parent-child", "parents-child"), show_default=True,
              help="Relationships compared (repeat the option for several).")  # fmt: skip
@options.model_options
@click.option("--min-lr", type=click.FloatRange(0.0), default=10000.0, show_default=True,
              help="Keep every hit at or above this LR (no top-k cut).")  # fmt: skip
@click.option("--max-inconsistent", type=click.IntRange(0), default=2, show_default=True,
              help="Candidate filter of parentage searches: inconsistent loci "
                   "tolerated.")  # fmt: skip
@click.option("--caution-bound", type=click.FloatRange(0.0), default=DEFAULT_CAUTION_BOUND,
              show_default=True, help="As for kinmatch match.")  # fmt: skip
@click.option("--queue", "queue_target", default=None,
              help="Review queue the hits go to: a database URL (with --trust) or the "
                   "http(s):// address of a kinmatch serve. Without it the hits wait in the "
                   "ledger for the next intake with a queue.")  # fmt: skip
@options.PUSH_TRUST
@options.PUSH_TOKEN
@options.QUEUE_KEY
@click.option("--resume", is_flag=True,
              help="Ingest nothing: finish what the ledger shows outstanding.")  # fmt: skip
@click.option("--status", is_flag=True,
              help="Show the versions committed, compared and pending, and exit.")  # fmt: skip
def intake_command(
    store_dir: Path,
    files: tuple[Path, ...],
    frequencies_path: Path,
    relationships: tuple[str, ...],
    theta: float,
    min_frequency: float,
    one_sided_as_one: bool,
    min_lr: float,
    max_inconsistent: int,
    caution_bound: float,
    queue_target: str | None,
    trust_dir: Path | None,
    token_path: Path | None,
    queue_key: Path | None,
    resume: bool,
    status: bool,
    **mutation_args: Any,
) -> None:
    """Ingest FILES as one batch (validated whole), then compare every new profile with every
    stored profile it should meet and push each hit at or above --min-lr to the review queue.
    Whatever an earlier intake left undone (killed, or without a queue) is finished first."""
    from kinmatch.intake import IntakeSettings, run_outstanding  # numba: only when comparing

    if (queue_target is None) != (token_path is None):
        options.fail("--queue and --token go together")
    if (resume or status) and files:
        options.fail("--resume and --status take no files")
    if not (resume or status or files):
        options.fail("give the profile files of the batch, or --resume, or --status")
    try:
        settings = IntakeSettings(
            load_frequencies(frequencies_path), file_sha256(frequencies_path),
            relationships=tuple(dict.fromkeys(relationships)), theta=theta,
            mutation=options.mutation_from_options(**mutation_args), min_frequency=min_frequency,
            max_inconsistent=max_inconsistent, min_lr=min_lr,
            one_sided_exact=not one_sided_as_one, caution_bound=caution_bound,
        )  # fmt: skip
        store = ReferenceStore.open_or_create(store_dir)
        if status:
            _status(store, settings)
            return
        started = time.monotonic()
        if files:
            report = store.ingest_csv(files)
            click.echo(f"added {report.added} profiles (store version {report.generation}, "
                       f"{len(store)} profiles)")  # fmt: skip
        push = None
        if queue_target is not None and token_path is not None:
            push = _pusher(queue_target, trust_dir, token_path, queue_key)
        with tqdm(desc="compare", unit="versions", disable=None) as bar:
            summary = run_outstanding(store, settings, push, progress=lambda _: bar.update())
    except IngestError as exc:
        click.echo(f"kinmatch: error: {exc}", err=True)
        sys.exit(options.EXIT_BAD_INPUT)
    except KinmatchError as exc:
        options.fail(str(exc))
    comparisons = sum(r.comparisons for r in summary.compared)
    hits = sum(len(r.items) for r in summary.compared)
    versions = ", ".join(str(r.version) for r in summary.compared) or "none"
    click.echo(f"compared versions {versions}: {comparisons:,} comparisons, {hits} hits at LR "
               f">= {min_lr:g}, in {time.monotonic() - started:.1f} s")  # fmt: skip
    if push is not None:
        click.echo(
            f"review queue: {summary.added} new items, {summary.already_queued} already "
            f"queued (versions {', '.join(map(str, summary.pushed_versions)) or 'none'})"
        )
    else:
        click.echo("no --queue: the hits wait in the ledger for an intake with a queue")
    failed = [error for r in summary.compared for error in r.errors]
    for sample, why in failed:
        click.echo(f"kinmatch: error: sample {sample}: not compared: {why}", err=True)
    if failed:
        sys.exit(options.EXIT_BAD_INPUT)


def _pusher(target: str, trust: Path | None, token_path: Path, key: Path | None) -> Any:
    from kinmatch.queue.client import push_hits
    from kinmatch.queue.models import NewItem

    token = options.read_token(token_path)

    def push(items: list[NewItem]) -> tuple[int, int]:
        return push_hits(target, trust, token, items, key)

    return push


def _status(store: ReferenceStore, settings: Any) -> None:
    """Versions committed, and per set of parameters those compared, pushed and pending."""
    with Ledger(store.path) as ledger:
        current = settings.comparison(settings.searcher(store).parameters).key
        click.echo(f"store {store.path}: {store.generation} versions committed, "
                   f"{len(store)} profiles")  # fmt: skip
        keys = dict(ledger.comparisons())
        keys.setdefault(current, settings.comparison(settings.searcher(store).parameters).record())
        for key, record in keys.items():
            units = ledger.units(key)
            pending = ledger.outstanding(key, store.generation)
            unpushed = [v for v, unit in units.items() if unit.pushed is None]
            mark = " (these parameters)" if key == current else ""
            click.echo(f"parameters {key[:12]}{mark}: relationships "
                       f"{', '.join(record['relationships'])}, theta "
                       f"{record['parameters']['theta']}, min LR {record['min_lr']:g}, "
                       f"mutation {record['parameters']['mutation']['model']}")  # fmt: skip
            click.echo(
                f"  compared {len(units)}, not pushed {len(unpushed)}, pending "
                f"{len(pending)}" + (f" (versions {_ranges(pending)})" if pending else "")
            )


def _ranges(versions: list[int]) -> str:
    """``[1, 2, 3, 5]`` as ``1-3, 5``."""
    spans: list[list[int]] = []
    for version in versions:
        if spans and spans[-1][1] == version - 1:
            spans[-1][1] = version
        else:
            spans.append([version, version])
    return ", ".join(f"{a}-{b}" if a != b else str(a) for a, b in spans)

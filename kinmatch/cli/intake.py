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
from kinmatch.cli.comparing import comparison_options, settings_and_pusher
from kinmatch.errors import KinmatchError
from kinmatch.ledger import Ledger
from kinmatch.store import IngestError, ReferenceStore


@click.command("intake")
@click.option("--store", "store_dir", type=options.DIRECTORY, required=True,
              help="Store directory; created when missing.")  # fmt: skip
@click.argument("files", nargs=-1, type=options.EXISTING_FILE)
@comparison_options
@click.option("--resume", is_flag=True,
              help="Ingest nothing: finish what the ledger shows outstanding.")  # fmt: skip
@click.option("--status", is_flag=True,
              help="Show the versions committed, compared and pending, and exit.")  # fmt: skip
def intake_command(
    store_dir: Path, files: tuple[Path, ...], resume: bool, status: bool, **comparing: Any
) -> None:
    """Ingest FILES as one batch (validated whole), then compare every new profile with every
    stored profile it should meet and push each hit at or above --min-lr to the review queue
    (--queue; without it the hits wait in the ledger for the next intake with a queue).
    Whatever an earlier intake left undone (killed, or without a queue) is finished first."""
    from kinmatch.intake import run_outstanding  # numba: only when comparing

    if (resume or status) and files:
        options.fail("--resume and --status take no files")
    if not (resume or status or files):
        options.fail("give the profile files of the batch, or --resume, or --status")
    try:
        settings, push = settings_and_pusher(comparing)
        store = ReferenceStore.open_or_create(store_dir)
        if status:
            _status(store, settings)
            return
        started = time.monotonic()
        if files:
            report = store.ingest_csv(files)
            click.echo(f"added {report.added} profiles (store version {report.generation}, "
                       f"{len(store)} profiles) in {time.monotonic() - started:.1f} s")  # fmt: skip
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
               f">= {settings.min_lr:g}, in {summary.compare_seconds:.1f} s")  # fmt: skip
    if push is not None:
        click.echo(
            f"review queue: {summary.added} new items, {summary.already_queued} already "
            f"queued (versions {', '.join(map(str, summary.pushed_versions)) or 'none'}) in "
            f"{summary.push_seconds:.1f} s"
        )
    else:
        click.echo("no --queue: the hits wait in the ledger for an intake with a queue")
    failed = [error for r in summary.compared for error in r.errors]
    for sample, why in failed:
        click.echo(f"kinmatch: error: sample {sample}: not compared: {why}", err=True)
    if failed:
        sys.exit(options.EXIT_BAD_INPUT)


def _status(store: ReferenceStore, settings: Any) -> None:
    """Versions committed, and per set of parameters those compared, pushed and pending."""
    with Ledger(store.path) as ledger:
        comparison = settings.comparison(settings.searcher(store).parameters)
        current = comparison.key
        click.echo(f"store {store.path}: {store.generation} versions committed, "
                   f"{len(store)} profiles")  # fmt: skip
        keys = dict(ledger.comparisons())
        keys.setdefault(current, comparison.record())
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

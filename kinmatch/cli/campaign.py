"""``kinmatch campaign``: every person of unknown origin compared again with every registered
relative and couple, resumable, into partitioned Parquet (:mod:`kinmatch.campaign`)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
from tqdm import tqdm

from kinmatch.cli import options
from kinmatch.cli.comparing import comparison_options, settings_and_pusher
from kinmatch.errors import KinmatchError
from kinmatch.store import ReferenceStore


@click.command("campaign")
@options.EXISTING_STORE
@comparison_options
@click.option("--out", "out_dir", type=options.DIRECTORY, required=True,
              help="Directory of the campaign: part-*.parquet and campaign.json. Run the same "
                   "command again to finish a campaign that was cut short.")  # fmt: skip
@click.option("--part-size", type=click.IntRange(1), default=1000, show_default=True,
              help="Persons of unknown origin per part (fixed when it starts).")  # fmt: skip
def campaign_command(store_dir: Path, out_dir: Path, part_size: int, **comparing: Any) -> None:
    """Compare every person of unknown origin of the store (as of its current version, which
    the campaign pins) with every registered relative and couple, keeping every hit at or
    above --min-lr with its evidence; with --queue, also push them for review."""
    from kinmatch.campaign import run_campaign  # numba: only when comparing

    try:
        settings, push = settings_and_pusher(comparing)
        store = ReferenceStore.open(store_dir)
        with tqdm(desc="campaign", unit="persons", disable=None) as bar:

            def progress(done: int, total: int, pairs: int) -> None:
                bar.total = total
                bar.update(done - bar.n)
                rate = pairs / max(bar.format_dict["elapsed"], 1e-9)
                bar.set_postfix_str(f"{pairs:,} pairs, {rate:,.0f}/s", refresh=False)

            summary = run_campaign(store, settings, out_dir, push=push, part_size=part_size,
                                   progress=progress)  # fmt: skip
    except KinmatchError as exc:
        options.fail(str(exc))
    resumed = (f", {summary.parts_done_before} of them done before"
               if summary.parts_done_before else "")  # fmt: skip
    click.echo(f"campaign of store version {summary.version}: {summary.persons} persons of "
               f"unknown origin in {summary.parts} parts{resumed}; {summary.pairs:,} pairs "
               f"compared in {summary.seconds:.1f} s "
               f"({summary.pairs / max(summary.seconds, 1e-9):,.0f} per second); "
               f"{summary.hits} hits at LR >= {settings.min_lr:g} in {out_dir}")  # fmt: skip
    if push is not None:
        click.echo(f"review queue: {summary.added} new items, {summary.already_queued} already "
                   "queued")  # fmt: skip
    for sample, why in summary.errors:
        click.echo(f"kinmatch: error: sample {sample}: not compared: {why}", err=True)
    if summary.errors:
        sys.exit(options.EXIT_BAD_INPUT)

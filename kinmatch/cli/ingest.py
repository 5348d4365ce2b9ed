"""``kinmatch ingest``: validated profile files added to a store as one atomic batch."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from tqdm import tqdm

from kinmatch.cli import options
from kinmatch.errors import KinmatchError
from kinmatch.store import IngestError, ReferenceStore


@click.command("ingest")
@click.option("--store", "store_dir", type=options.DIRECTORY, required=True,
              help="Store directory; created when missing.")  # fmt: skip
@click.argument("files", nargs=-1, required=True, type=options.EXISTING_FILE)
@click.option("--skip-invalid", is_flag=True,
              help="Add the valid samples and report the rejected ones (exit code 2).")  # fmt: skip
@click.option("--ignore-unknown-loci", is_flag=True,
              help="Skip loci outside the catalogue instead of rejecting their "
                   "records.")  # fmt: skip
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
        sys.exit(options.EXIT_BAD_INPUT)
    except KinmatchError as exc:
        options.fail(str(exc))
    loci_seen = ", ".join(report.loci_seen) or "none"
    click.echo(f"added {report.added} profiles to {store_dir} (now {len(store)}, version "
               f"{report.generation}); loci seen: {loci_seen}")  # fmt: skip
    if report.rejected:
        click.echo(f"rejected {len(report.rejected)} records:", err=True)
        for error in report.rejected:
            click.echo(f"  {error}", err=True)
        sys.exit(options.EXIT_BAD_INPUT)

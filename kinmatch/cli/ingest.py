"""``kinmatch ingest``: validated profile files added to a store as one atomic batch."""

from __future__ import annotations

import sys
import time
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
@click.option("--rejects", "rejects", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="CSV of every bad record (file, line, sample, locus, field, "
              "reason); default: STORE/rejects/ingest-TIME-ID.csv.")  # fmt: skip
def ingest_command(
    store_dir: Path,
    files: tuple[Path, ...],
    skip_invalid: bool,
    ignore_unknown_loci: bool,
    rejects: Path | None,
) -> None:
    """Validate profile CSV files and add them to a store as one atomic batch.

    Any bad record (or a sample ID already stored) refuses the whole batch, reporting every
    one in the rejects file (the first few on the terminal), unless --skip-invalid.
    """
    started = time.monotonic()
    try:
        store = ReferenceStore.open_or_create(store_dir)
        with tqdm(total=sum(f.stat().st_size for f in files), desc="ingest", unit="B",
                  unit_scale=True, disable=None) as bar:  # fmt: skip

            def progress(done: int, total: int, records: int) -> None:
                bar.update(done - bar.n)
                rate = records / max(time.monotonic() - started, 1e-9)
                bar.set_postfix_str(f"{records:,} profiles, {rate:,.0f}/s", refresh=False)

            report = store.ingest_csv(files, skip_invalid=skip_invalid, rejects=rejects,
                                      ignore_unknown_loci=ignore_unknown_loci,
                                      progress=progress)  # fmt: skip
    except IngestError as exc:
        click.echo(f"kinmatch: error: {exc}", err=True)
        sys.exit(options.EXIT_BAD_INPUT)
    except KinmatchError as exc:
        options.fail(str(exc))
    elapsed = time.monotonic() - started
    loci_seen = ", ".join(report.loci_seen) or "none"
    click.echo(f"added {report.added} profiles to {store_dir} (now {len(store)}, version "
               f"{report.generation}) in {elapsed:.1f} s; loci seen: {loci_seen}")  # fmt: skip
    if report.rejected_count:
        where = f" (every one in {report.rejects})" if report.rejects else ""
        click.echo(f"rejected {report.rejected_count} records{where}:", err=True)
        for error in report.rejected:
            click.echo(f"  {error}", err=True)
        if report.rejected_count > len(report.rejected):
            click.echo(f"  ... and {report.rejected_count - len(report.rejected)} more", err=True)
        sys.exit(options.EXIT_BAD_INPUT)

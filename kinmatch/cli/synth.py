"""``kinmatch synth``: a simulated missing-children database from a real frequency table, with
its truth."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import click
from tqdm import tqdm

from kinmatch.atomic import atomic_writer
from kinmatch.cli import options
from kinmatch.errors import InputError, KinmatchError, LocusError
from kinmatch.frequencies import AlleleFrequencies, load_frequencies
from kinmatch.loci import CHINA_PATERNITY_19, CODIS_20, canonical_locus
from kinmatch.profiles import ProfileWriter
from kinmatch.store import ReferenceStore
from kinmatch.synth import (
    Simulator,
    missing_children_database,
    unrelated_batch,
    unrelated_profiles,
)

CHUNK = 100_000  # profiles simulated and written to CSV at a time
STORE_CHUNK = 1_000_000  # profiles simulated and appended to a store at a time (a fragment)

PANEL_HELP = "Comma-separated loci; default: the CODIS 20 and the Chinese 19-locus panel."


@click.command("synth")
@options.FREQUENCIES
@click.option("--references", type=click.IntRange(1), required=True,
              help="Profiles in the reference set, planted relatives included.")  # fmt: skip
@click.option("--families", type=click.IntRange(0), required=True,
              help="Missing-children cases: each has a missing child and registered "
                   "relatives.")  # fmt: skip
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--out", "out_dir", type=options.DIRECTORY, required=True,
              help="Directory for references.csv, queries.csv and truth.csv.")  # fmt: skip
@click.option("--layout", type=click.Choice(["wide", "long"]), default="wide", show_default=True)
@click.option("--store", "store_dir", type=options.DIRECTORY, default=None,
              help="Write the references straight into this store, not to CSV.")  # fmt: skip
@click.option("--loci", default=None, help=PANEL_HELP)
@options.THETA
@options.mutation_options
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
        mutation = options.mutation_from_options(**mutation_args)
        panel = _panel(frequencies, loci, frequencies_path)
        sim = Simulator(frequencies, panel, seed=seed, theta=theta, mutation=mutation)
        database = missing_children_database(sim, references, families, fill=False)
        out_dir.mkdir(parents=True, exist_ok=True)
        store = ReferenceStore.open_or_create(store_dir) if store_dir else None
    except (KinmatchError, OSError) as exc:
        options.fail(str(exc))
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
                options.fail(f"{store_dir}: {exc}")
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

"""``kinmatch evidence``: the null distribution of one query's LR and the unrelated hits to
expect at the store's size."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import click

from kinmatch.cli import options
from kinmatch.errors import InputError, KinmatchError
from kinmatch.frequencies import load_frequencies
from kinmatch.profiles import read_profiles
from kinmatch.store import ReferenceStore


@click.command("evidence")
@options.EXISTING_STORE
@options.FREQUENCIES
@click.option("--queries", "queries_path", type=options.EXISTING_FILE, required=True,
              help="Profiles file holding the query (CSV, long or wide layout).")  # fmt: skip
@click.option("--sample", default=None, help="The query's sample ID (default: the only one).")
@options.RELATIONSHIP
@options.model_options
def evidence_command(
    store_dir: Path,
    frequencies_path: Path,
    queries_path: Path,
    sample: str | None,
    relationship: str,
    theta: float,
    min_frequency: float,
    one_sided_as_one: bool,
    **mutation_args: Any,
) -> None:
    """How a query's LR is distributed over unrelated references of the population, and
    how many unrelated hits to expect at the store's size (kinmatch.evidence)."""
    from kinmatch.search import Searcher  # numba: only when searching

    try:
        frequencies = load_frequencies(frequencies_path)
        mutation = options.mutation_from_options(**mutation_args)
        table = read_profiles(queries_path)
        if sample is None and len(table) != 1:
            raise InputError(f"{len(table)} profiles: name the query with --sample",
                             source=str(queries_path), field="sample")  # fmt: skip
        query = table[sample] if sample is not None else next(iter(table.values()))
        store = ReferenceStore.open(store_dir)
        searcher = Searcher(store, frequencies, theta=theta, mutation=mutation,
                            min_frequency=min_frequency,
                            one_sided_exact=not one_sided_as_one)  # fmt: skip
        met = searcher.search(query, relationship, top_k=1).n_scored
        null = searcher.null_distribution(query, relationship)
        null.certify()
    except KeyError:
        options.fail(f"{queries_path}: no sample {sample!r}")
    except KinmatchError as exc:
        options.fail(str(exc))
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

"""``kinmatch demo``: the main job end to end on embedded defaults."""

from __future__ import annotations

import csv
import shutil
import time
from pathlib import Path

import click

from kinmatch.cli import options
from kinmatch.cli.ingest import ingest_command
from kinmatch.cli.match import match_command
from kinmatch.cli.queue import queue_group
from kinmatch.cli.synth import synth_command

STEPS = {"synth": synth_command, "ingest": ingest_command, "match": match_command,
         "queue": queue_group}  # fmt: skip
"""The commands the demo runs, by name."""


@click.command("demo")
@click.option(
    "--frequencies",
    "frequencies_path",
    type=options.EXISTING_FILE,
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
def demo_command(
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
            STEPS[command].main(args, prog_name=f"kinmatch {command}", standalone_mode=False)
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

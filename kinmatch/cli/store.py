"""``kinmatch store``: the reference store's upkeep."""

from __future__ import annotations

from pathlib import Path

import click

from kinmatch.cli import options
from kinmatch.errors import KinmatchError
from kinmatch.store import ReferenceStore


@click.group("store")
def store_group() -> None:
    """The reference store's upkeep."""


@store_group.command("compact")
@options.EXISTING_STORE
def store_compact(store_dir: Path) -> None:
    """Rewrite the fragments without the withdrawn profiles, as a new store version
    (atomic; every other profile byte for byte; readers keep their old mapping)."""
    try:
        done = ReferenceStore.open(store_dir).compact()
    except KinmatchError as exc:
        options.fail(str(exc))
    if done.removed:
        click.echo(f"removed {done.removed} withdrawn profiles from {done.rewritten} fragments:"
                   f" store version {done.generation}")  # fmt: skip
    else:
        click.echo(f"nothing withdrawn to remove: store version {done.generation}")

"""``kinmatch serve``: the review queue over HTTP."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from kinmatch.cli import options
from kinmatch.cli.comparing import intake_settings, search_options
from kinmatch.errors import KinmatchError


@click.command("serve")
@click.option("--db", required=True, help="sqlite:///path/queue.db or postgresql://...")
@click.option("--trust", "trust", required=True, type=options.TRUST, help=options.TRUST_HELP)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(1, 65535), default=8750, show_default=True)
@click.option("--max-token-lifetime", type=click.FloatRange(0, 10 * 365 * 86400, min_open=True),
              default=None, metavar="SECONDS",
              help="Refuse tokens whose exp - iat is longer (default 43200: 12 h).")  # fmt: skip
@options.QUEUE_KEY
@click.option("--checkpoint-every", type=click.FloatRange(0), default=3600.0, show_default=True,
              metavar="SECONDS", help="Sign a checkpoint of the audit head this often when it "
              "moved (0: only on an auditor's request, POST /checkpoints).")  # fmt: skip
@click.option("--store", "store_dir", type=options.DIRECTORY, default=None,
              help="Take analysts' submissions of profiles into this store (POST "
                   "/submissions), compare each batch and queue its hits.")  # fmt: skip
@click.option("--frequencies", "frequencies_path", type=options.EXISTING_FILE, default=None,
              help="With --store: allele frequencies, as for kinmatch intake.")  # fmt: skip
@search_options
def serve_command(
    db: str,
    trust: Path,
    host: str,
    port: int,
    max_token_lifetime: float | None,
    queue_key: Path | None,
    checkpoint_every: float,
    store_dir: Path | None,
    frequencies_path: Path | None,
    **searching: Any,
) -> None:
    """Serve the review queue over HTTP (OpenAPI document at /openapi.json); with --store,
    take submissions of profiles too, compared as kinmatch intake compares them (the other
    options are intake's), and withdrawals of samples."""
    from kinmatch.queue.http import Extension, serve
    from kinmatch.security.tokens import MAX_LIFETIME

    if (store_dir is None) != (frequencies_path is None):
        options.fail("--store and --frequencies go together")
    lifetime = MAX_LIFETIME if max_token_lifetime is None else max_token_lifetime
    try:
        extensions: list[Extension] = []
        if store_dir is not None and frequencies_path is not None:
            from kinmatch.submission.http import submitting  # numba: only with a store
            from kinmatch.withdrawal.http import withdrawing

            extensions.append(submitting(store_dir, intake_settings(frequencies_path, searching)))
            extensions.append(withdrawing(store_dir))
        serve(db, trust, host=host, port=port, max_token_lifetime=lifetime, key=queue_key,
              checkpoint_every=checkpoint_every, extensions=extensions)  # fmt: skip
    except KinmatchError as exc:
        options.fail(str(exc))

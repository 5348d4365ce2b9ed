"""``kinmatch serve``: the review queue over HTTP."""

from __future__ import annotations

from pathlib import Path

import click

from kinmatch.cli import options
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
def serve_command(
    db: str,
    trust: Path,
    host: str,
    port: int,
    max_token_lifetime: float | None,
    queue_key: Path | None,
    checkpoint_every: float,
) -> None:
    """Serve the review queue over HTTP (OpenAPI document at /openapi.json)."""
    from kinmatch.queue.http import serve
    from kinmatch.security.tokens import MAX_LIFETIME

    lifetime = MAX_LIFETIME if max_token_lifetime is None else max_token_lifetime
    try:
        serve(db, trust, host=host, port=port, max_token_lifetime=lifetime, key=queue_key,
              checkpoint_every=checkpoint_every)  # fmt: skip
    except KinmatchError as exc:
        options.fail(str(exc))

"""The options ``kinmatch intake`` and ``kinmatch campaign`` share: what a comparison depends
on (the ledger's parameters) and the review queue its hits go to."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from kinmatch.cli import options
from kinmatch.frequencies import load_frequencies
from kinmatch.ledger import file_sha256
from kinmatch.relationships import SEARCHABLE
from kinmatch.verdict import DEFAULT_CAUTION_BOUND

if TYPE_CHECKING:
    from kinmatch.intake import IntakeSettings, Pusher

_SEARCH = (
    click.option("--relationship", "relationships", multiple=True,
                 type=click.Choice(SEARCHABLE), default=("parent-child", "parents-child"),
                 show_default=True, help="Relationships compared (repeat for several)."),
    options.model_options,
    click.option("--min-lr", type=click.FloatRange(0.0), default=10000.0, show_default=True,
                 help="Keep every hit at or above this LR (no top-k cut)."),
    click.option("--max-inconsistent", type=click.IntRange(0), default=2, show_default=True,
                 help="Candidate filter of parentage searches: inconsistent loci tolerated."),
    click.option("--caution-bound", type=click.FloatRange(0.0), default=DEFAULT_CAUTION_BOUND,
                 show_default=True, help="As for kinmatch match."),
)  # fmt: skip
_OPTIONS = (
    options.FREQUENCIES,
    *_SEARCH,
    click.option("--queue", "queue_target", default=None,
                 help="Review queue the hits go to: a database URL (with --trust) or the "
                      "http(s):// address of a kinmatch serve."),
    options.PUSH_TRUST,
    options.PUSH_TOKEN,
    options.QUEUE_KEY,
)  # fmt: skip


def _applied(
    decorators: tuple[Callable[..., Any], ...], command: Callable[..., Any]
) -> Callable[..., Any]:
    for option in reversed(decorators):
        command = option(command)
    return command


def comparison_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Every option of a comparison: what it depends on and where its hits go."""
    return _applied(_OPTIONS, command)


def search_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """What a comparison depends on, but the frequency table (the caller's option)."""
    return _applied(_SEARCH, command)


def intake_settings(frequencies_path: Path, args: dict[str, Any]) -> IntakeSettings:
    """The :class:`~kinmatch.intake.IntakeSettings` of the options of :func:`search_options`
    (``args`` as click passes them, emptied of them)."""
    from kinmatch.intake import IntakeSettings  # numba: only when comparing

    return IntakeSettings(
        load_frequencies(frequencies_path), file_sha256(frequencies_path),
        relationships=tuple(dict.fromkeys(args.pop("relationships"))), theta=args.pop("theta"),
        min_frequency=args.pop("min_frequency"), max_inconsistent=args.pop("max_inconsistent"),
        min_lr=args.pop("min_lr"), one_sided_exact=not args.pop("one_sided_as_one"),
        caution_bound=args.pop("caution_bound"),
        mutation=options.mutation_from_options(**args),
    )  # fmt: skip


def settings_and_pusher(args: dict[str, Any]) -> tuple[IntakeSettings, Pusher | None]:
    """The :class:`~kinmatch.intake.IntakeSettings` and the queue pusher (None without
    ``--queue``) of the options of :func:`comparison_options` (``args`` as click passes
    them)."""
    queue_target, token_path = args.pop("queue_target"), args.pop("token_path")
    trust, key = args.pop("trust_dir"), args.pop("queue_key")
    if (queue_target is None) != (token_path is None):
        options.fail("--queue and --token go together")
    settings = intake_settings(args.pop("frequencies_path"), args)
    if queue_target is None:
        return settings, None
    from kinmatch.queue.client import push_hits
    from kinmatch.queue.models import NewItem
    from kinmatch.security.tokens import TokenVerifier

    token = options.read_token(token_path)
    # profiles stored without an agency count as the pusher's (the server checks the token)
    settings = dataclasses.replace(settings, unknown_agency=TokenVerifier.claimed_issuer(token))

    def push(items: list[NewItem]) -> tuple[int, int]:
        return push_hits(queue_target, trust, token, items, key)

    return settings, push

"""``kinmatch queue``: the review queue from the command line; every call is authorised by the
caller's token and audited. Of the agencies it reads only public keys (``--trust``: a trust
file, or a directory of ``<agency>.pub``); it opens the queue's own key (``--queue-key``),
as every process that writes to the queue does."""

from __future__ import annotations

import json
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any, TypeVar

import click

from kinmatch.atomic import atomic_writer
from kinmatch.cli import options
from kinmatch.errors import KinmatchError, QueueError
from kinmatch.queue.models import Finding, ItemSummary, NewItem, State
from kinmatch.queue.revocations import Revocation, parse_time
from kinmatch.queue.service import ReviewQueue
from kinmatch.security.checkpoints import Checkpoint, export, read_export
from kinmatch.security.trust import TrustStore

T = TypeVar("T")


def open_queue(db: str, trust: Path, key: Path | None) -> ReviewQueue:
    try:
        return ReviewQueue(db, TrustStore.load(trust), key=key)
    except KinmatchError as exc:
        options.fail(str(exc))


@click.group("queue")
@click.option("--db", required=True, help="sqlite:///path/queue.db or postgresql://...")
@click.option("--trust", "trust", required=True, type=options.TRUST, help=options.TRUST_HELP)
@click.option("--token", "token_path", required=True, type=options.EXISTING_FILE,
              help="File holding the caller's token.")  # fmt: skip
@options.QUEUE_KEY
@click.pass_context
def queue_group(
    ctx: click.Context, db: str, trust: Path, token_path: Path, queue_key: Path | None
) -> None:
    """The review queue: every call is authorised by the token and audited."""
    ctx.obj = (open_queue(db, trust, queue_key), options.read_token(token_path))


def _call(ctx: click.Context, operation: Callable[[ReviewQueue, str], T]) -> T:
    queue, token = ctx.obj
    try:
        return operation(queue, token)
    except KinmatchError as exc:
        options.fail(str(exc))


_HEADER = (f"{'id':>6}  {'state':<9}  {'agency':<8}  {'query':<12}  {'references':<24}  "
           f"{'relationship':<15}  {'LR':>10}  {'inconsistent':>12}  {'expected unrelated':>18}"
           "  caution")  # fmt: skip


def _summary_line(item: ItemSummary) -> str:
    """One row of the listing; a ``support-database-caution`` item is marked ``CAUTION`` and
    followed by the caution in words."""
    expected = "-" if item.expected_unrelated is None else f"{item.expected_unrelated:.3g}"
    line = (f"{item.id:>6}  {item.state.value:<9}  {item.agency:<8}  {item.query_id:<12}  "
            f"{'+'.join(item.reference_ids):<24}  {item.relationship:<15}  "
            f"{item.lr:>10.3g}  {item.n_inconsistent:>12}  {expected:>18}  "
            f"{'CAUTION' if item.cautioned else ''}").rstrip()  # fmt: skip
    caution = item.caution()
    return line if caution is None else f"{line}\n{'':>8}{caution}"


@queue_group.command("push")
@click.argument("items_path", type=options.EXISTING_FILE, metavar="ITEMS.jsonl")
@click.pass_context
def queue_push(ctx: click.Context, items_path: Path) -> None:
    """Push candidate matches: one JSON object per line with the fields of NewItem."""
    items = []
    with items_path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                items.append(NewItem.from_dict(json.loads(line)))
            except (ValueError, QueueError) as exc:
                options.fail(f"{items_path} line {number}: {exc}")
    pushed = _call(ctx, lambda q, t: q.push(t, items))
    created = sum(1 for _, new in pushed if new)
    click.echo(f"{created} items added, {len(pushed) - created} already queued")


@queue_group.command("list")
@click.option("--state", type=click.Choice([s.value for s in State]), default=None)
@click.option("--after", type=click.IntRange(0), default=0, help="Items after this id.")
@click.option("--limit", type=click.IntRange(1, 10_000), default=100, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="JSON lines instead of a table.")
@click.pass_context
def queue_list(ctx: click.Context, state: str | None, after: int, limit: int,
               as_json: bool) -> None:  # fmt: skip
    """Items in your jurisdiction: pseudonymous IDs, LR, state and the number of unrelated
    references expected to score as high (no genotypes); CAUTION marks a support the
    database's size calls into question."""
    items = _call(ctx, lambda q, t: q.list_items(t, state=state, after=after, limit=limit))
    if as_json:
        for item in items:
            click.echo(json.dumps({**asdict(item), "caution": item.caution()}))
        return
    click.echo(_HEADER)
    for item in items:
        click.echo(_summary_line(item))


@queue_group.command("show")
@click.argument("item_id", type=int)
@click.pass_context
def queue_show(ctx: click.Context, item_id: int) -> None:
    """One item in full (JSON), with genotypes: supervisors, or the reviewer holding it.

    A ``support-database-caution`` item's caution is in the JSON (``caution``) and, in words,
    on standard error."""
    item = _call(ctx, lambda q, t: q.show(t, item_id))
    click.echo(json.dumps({**asdict(item), "caution": item.caution}, indent=2, default=str))
    if item.caution is not None:
        click.echo(item.caution, err=True)


@queue_group.command("claim")
@click.argument("item_id", type=int, required=False)
@click.pass_context
def queue_claim(ctx: click.Context, item_id: int | None) -> None:
    """Claim ITEM_ID, or the oldest pending item in your jurisdiction."""
    item = _call(ctx, lambda q, t: q.claim(t, item_id))
    click.echo("nothing pending" if item is None else f"claimed {_summary_line(item)}")


@queue_group.command("release")
@click.argument("item_id", type=int)
@click.pass_context
def queue_release(ctx: click.Context, item_id: int) -> None:
    """Give a claimed item back to the queue."""
    _call(ctx, lambda q, t: q.release(t, item_id))
    click.echo(f"released {item_id}")


REASON = click.option("--reason", required=True, help="Why (recorded with the decision).")


@queue_group.command("review")
@click.argument("item_id", type=int)
@click.option("--finding", type=click.Choice([f.value for f in Finding]), required=True)
@REASON
@click.pass_context
def queue_review(ctx: click.Context, item_id: int, finding: str, reason: str) -> None:
    """Record your finding on the item you hold claimed."""
    _call(ctx, lambda q, t: q.review(t, item_id, finding, reason))
    click.echo(f"reviewed {item_id}: {finding}")


@queue_group.command("escalate")
@click.argument("item_id", type=int)
@REASON
@click.pass_context
def queue_escalate(ctx: click.Context, item_id: int, reason: str) -> None:
    """Hand the item you hold claimed to the supervisors."""
    _call(ctx, lambda q, t: q.escalate(t, item_id, reason))
    click.echo(f"escalated {item_id}")


def _decision(name: str, method: str, summary: str) -> None:
    @queue_group.command(name, help=summary)
    @click.argument("item_id", type=int)
    @REASON
    @click.pass_context
    def command(ctx: click.Context, item_id: int, reason: str) -> None:
        _call(ctx, lambda q, t: getattr(q, method)(t, item_id, reason))
        click.echo(f"{name}: {item_id}")


_decision("confirm", "confirm", "Confirm the match of a reviewed or escalated item (not one "
          "you reviewed or escalated).")  # fmt: skip
_decision("reject", "reject", "Reject the match of a reviewed or escalated item (not one you "
          "reviewed or escalated).")  # fmt: skip
_decision("return", "return_to_pending", "Send an escalated item back to pending.")


@queue_group.command("audit")
@click.option("--after", type=click.IntRange(0), default=0, help="Records after this number.")
@click.option("--out", "out_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Export to this JSON-lines file instead of stdout.")  # fmt: skip
@click.pass_context
def queue_audit(ctx: click.Context, after: int, out_path: Path | None) -> None:
    """Read or export the audit log (auditors); no genotypes in it."""

    def records(queue: ReviewQueue, token: str) -> Iterator[dict[str, Any]]:
        batch = 10_000
        position = after
        while True:
            chunk = queue.audit(token, after=position, limit=batch)
            yield from (asdict(r) for r in chunk)
            if len(chunk) < batch:
                return
            position = chunk[-1].seq

    rows = _call(ctx, lambda q, t: list(records(q, t)))
    if out_path is None:
        for row in rows:
            click.echo(json.dumps(row))
        return
    with atomic_writer(out_path) as handle:
        for row in rows:
            handle.write(json.dumps(row) + "\n")
    click.echo(f"{len(rows)} audit records written to {out_path}")


@queue_group.command("verify-audit")
@click.option("--checkpoint", "checkpoint_paths", type=options.EXISTING_FILE, multiple=True,
              help="Checkpoints exported earlier (kinmatch queue checkpoints --out): the chain "
                   "must reach each one's head. Repeatable.")  # fmt: skip
@click.option("--queue-public-key", "public_path", type=options.EXISTING_FILE, default=None,
              help="The queue's public key as saved earlier (PEM): the checkpoints must be "
                   "signed by it, and the queue's key must be it.")  # fmt: skip
@click.pass_context
def queue_verify(
    ctx: click.Context, checkpoint_paths: tuple[Path, ...], public_path: Path | None
) -> None:
    """Recompute the audit chain, and check that it reaches every checkpoint; exit 1 and name
    the first bad record if it is broken."""
    given: list[Checkpoint] = []
    try:
        for path in checkpoint_paths:
            given += read_export(json.loads(path.read_text(encoding="utf-8")))[1]
        public = None if public_path is None else public_path.read_text(encoding="utf-8")
    except (OSError, ValueError, QueueError) as exc:
        options.fail(f"cannot read the checkpoints or the public key: {exc}")
    result = _call(ctx, lambda q, t: q.verify_audit(t, given, public))
    if result.ok:
        reached = f", reaching {len(given)} checkpoints given" if given else ""
        click.echo(f"audit chain verifies: {result.records} records{reached}")
        return
    at = "" if result.first_bad is None else f" at record {result.first_bad}"
    click.echo(f"audit chain BROKEN{at}: {result.reason}", err=True)
    sys.exit(1)


@queue_group.command("checkpoint")
@click.pass_context
def queue_checkpoint(ctx: click.Context) -> None:
    """Have the queue sign its audit head now (auditors)."""
    signed = _call(ctx, lambda q, t: q.checkpoint(t))
    click.echo(f"checkpoint of record {signed.seq} signed at {signed.at}")


@queue_group.command("checkpoints")
@click.option("--after", type=click.IntRange(0), default=0, help="Checkpoints after record.")
@click.option("--out", "out_path", type=options.NEW_FILE, default=None,
              help="Export to this JSON file, kept outside the database.")  # fmt: skip
@click.pass_context
def queue_checkpoints(ctx: click.Context, after: int, out_path: Path | None) -> None:
    """Export the signed checkpoints of the audit head, with the queue's public key (auditors):
    `verify-audit --checkpoint FILE` then fails if the chain no longer reaches them."""
    found = _call(ctx, lambda q, t: (q.public_key, q.checkpoints(t, after=after)))
    text = json.dumps(export(*found), indent=2)
    if out_path is None:
        click.echo(text)
        return
    with atomic_writer(out_path) as handle:
        handle.write(text + "\n")
    click.echo(f"{len(found[1])} checkpoints written to {out_path}")


@queue_group.command("public-key")
@click.pass_context
def queue_public_key(ctx: click.Context) -> None:
    """Print the queue's public key (PEM): save it where the database's writers cannot, to
    verify checkpoints with (verify-audit --queue-public-key)."""
    click.echo(_call(ctx, lambda q, t: q.public_key), nl=False)


@queue_group.command("revoke")
@click.option("--jti", default=None, help="Revoke the token with this id (its jti claim).")
@click.option(
    "--officer", default=None, help="Revoke this officer's tokens issued before --before."
)
@click.option("--agency", default=None,
              help="The issuing agency: yours by default (with --jti from a national "
                   "supervisor: any); another only for a national supervisor.")  # fmt: skip
@click.option("--before", default=None, metavar="TIME",
              help="With --officer: ISO 8601 time with zone, e.g. 2026-03-01T12:00:00Z "
                   "(default: now).")  # fmt: skip
@REASON
@click.pass_context
def queue_revoke(ctx: click.Context, jti: str | None, officer: str | None, agency: str | None,
                 before: str | None, reason: str) -> None:  # fmt: skip
    """Revoke a token (--jti) or an officer's tokens (--officer), from the next request on
    (supervisors: of your own agency, unless national)."""
    try:
        moment = None if before is None else parse_time(before)
    except QueueError as exc:
        options.fail(str(exc))
    revocation = Revocation(reason, jti, officer, agency, moment)
    stored = _call(ctx, lambda q, t: q.revoke(t, revocation))
    click.echo(f"revoked {stored.target}")


@queue_group.command("withdraw")
@click.argument("sample_id")
@options.EXISTING_STORE
@click.option("--reason", default="", metavar="CODE",
              help="sampling-error, consent-withdrawn, case-closed or other (with "
                   "--note).")  # fmt: skip
@click.option("--note", default=None, help="Why (needed with --reason other).")
@click.option("--erase", is_flag=True,
              help="Erase the genotypes too: from the review items, the store (compacted) "
                   "and the comparison ledger (consent withdrawn).")  # fmt: skip
@click.option("--id", "withdrawal_id", default=None,
              help="Names the withdrawal, so that a retry does it once (default: a new "
                   "id).")  # fmt: skip
@click.pass_context
def queue_withdraw(ctx: click.Context, sample_id: str, store_dir: Path, reason: str,
                   note: str | None, erase: bool, withdrawal_id: str | None) -> None:  # fmt: skip
    """Withdraw a sample (supervisors of its agency, or national): out of the store and of
    every later search, its open review items withdrawn, in every agency."""
    from kinmatch.withdrawal import WithdrawalRequest, Withdrawals  # pyarrow: only here

    request = WithdrawalRequest(withdrawal_id or f"W-{uuid.uuid4()}", sample_id, reason, note,
                                erase)  # fmt: skip
    done = _call(ctx, lambda q, t: Withdrawals(store_dir, q).withdraw(t, request))
    erased = (f"; genotypes erased from {len(done.erased)} items and {done.ledger_items_erased}"
              f" ledger records, store compacted as version {done.compacted}"
              if request.erase else "")  # fmt: skip
    again = " (done before)" if done.replayed else ""
    click.echo(f"withdrawal {done.id}{again}: {sample_id} out of the store from version "
               f"{done.version}; {len(done.closed)} review items withdrawn{erased}")  # fmt: skip

"""``kinmatch keys``: an agency's Ed25519 key pair and the tokens it issues (agency side only;
its private key never goes near the server)."""

from __future__ import annotations

import os
from pathlib import Path

import click

from kinmatch.atomic import atomic_path
from kinmatch.cli import options
from kinmatch.errors import KinmatchError
from kinmatch.security.tokens import ROLES


@click.group("keys")
def keys_group() -> None:
    """An agency's Ed25519 key pair and the tokens it issues (agency side only)."""


@keys_group.command("new")
@click.option("--agency", required=True, help="Agency code (letters, digits, _ . -).")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Directory for <agency>.key (owner-only) and <agency>.pub.")  # fmt: skip
def keys_new(agency: str, out_dir: Path) -> None:
    """Make a key pair; give <agency>.pub to the queue servers that must trust the agency."""
    from kinmatch.security.keys import new_key_pair

    try:
        private, public = new_key_pair(agency, out_dir)
    except KinmatchError as exc:
        options.fail(str(exc))
    click.echo(f"private key (keep it at the agency): {private}\npublic key (for the "
               f"servers' trust files): {public}")  # fmt: skip


@keys_group.command("issue")
@click.option("--key", "key_path", required=True, type=options.EXISTING_FILE,
              help="The agency's private key, <agency>.key.")  # fmt: skip
@click.option("--agency", default=None, help="Issuer (default: the key file's name).")
@click.option("--sub", "officer", required=True, help="The officer the token is for.")
@click.option("--roles", required=True, help=f"Comma-separated, among {', '.join(ROLES)}.")
@click.option("--jurisdiction", required=True,
              help="The agency's own code (or another code, or 'national', where the servers' "
                   "trust files grant it to the agency).")  # fmt: skip
@click.option("--ttl", default="8h", show_default=True, help="Lifetime: 30m, 8h, 7d ...")
@click.option("--out", "out_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the token to this file (owner-only) instead of stdout, and print "
                   "its id (jti).")  # fmt: skip
def keys_issue(
    key_path: Path,
    agency: str | None,
    officer: str,
    roles: str,
    jurisdiction: str,
    ttl: str,
    out_path: Path | None,
) -> None:
    """Issue a signed token (EdDSA JWT) to one of the agency's officers.

    A server accepts a jurisdiction other than the agency's own only where its trust file
    grants it to the agency: such a request is warned about here, and enforced there."""
    import jwt

    from kinmatch.security.keys import issue_token, load_private_key, parse_ttl

    issuer = agency or key_path.stem
    if jurisdiction != issuer:
        click.echo(f"kinmatch: warning: jurisdiction {jurisdiction!r} is not the agency's own "
                   f"({issuer!r}): servers refuse the token unless their trust file grants "
                   f"{issuer!r} that jurisdiction", err=True)  # fmt: skip
    try:
        token = issue_token(load_private_key(key_path), agency=issuer,
                            officer=officer, roles=[r.strip() for r in roles.split(",")],
                            jurisdiction=jurisdiction, ttl=parse_ttl(ttl))  # fmt: skip
    except KinmatchError as exc:
        options.fail(str(exc))
    if out_path is None:
        click.echo(token)
        return
    with atomic_path(out_path) as temporary:
        os.chmod(temporary, 0o600)
        temporary.write_text(token + "\n", encoding="utf-8")
    jti = jwt.decode(token, options={"verify_signature": False})["jti"]
    click.echo(f"{out_path}: token id (jti) {jti}")

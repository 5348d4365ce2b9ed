"""A real, throwaway PostgreSQL server for tests: a brand-new cluster in a fresh temp directory.

    with throwaway_postgres() as url:
        psycopg.connect(url)  # postgresql:///kinmatch?host=/tmp/kinmatch-pg-XXXX/sock&port=5432&user=postgres

The server listens on a unix socket inside its own directory only (``listen_addresses = ''``), so
it cannot clash with a system cluster, another throwaway server or anything on a TCP port; any
number of servers can be started one after the other, or side by side. Authentication is
``trust`` for local connections, and the superuser is ``postgres`` whoever runs the tests.
Durability settings are left at PostgreSQL's safe defaults (``fsync``, ``synchronous_commit``
and ``full_page_writes`` on) because the review queue's durability is tested against it.

``initdb`` refuses to run as root: as root, every server program runs as the ``postgres`` system
user (the one Debian's ``postgresql`` package creates), in a directory that user owns, under a
parent it can reach. As anyone else, they run as the current user.

Binaries: the highest ``/usr/lib/postgresql/<version>/bin`` holding ``initdb``, else ``initdb``
and ``pg_ctl`` on ``PATH``. ``.ci/install-postgresql`` installs them when missing.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shutil
import signal
import stat
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

__all__ = ["PostgresUnavailableError", "find_bindir", "throwaway_postgres"]

DATABASE = "kinmatch"
SUPERUSER = "postgres"
PORT = 5432
"""Only names the socket file (``.s.PGSQL.5432``) in the server's own directory; no TCP."""

# Appended to the generated postgresql.conf; later lines win.
SERVER_SETTINGS = {
    "listen_addresses": "''",
    "max_connections": "100",
    "shared_buffers": "16MB",
    "fsync": "on",
    "synchronous_commit": "on",
    "full_page_writes": "on",
    "logging_collector": "off",
    "log_min_messages": "warning",
}

# Unix socket paths are limited to 107 bytes; ".../sock/.s.PGSQL.5432" must fit.
_MAX_BASE_LEN = 70
_LOG_TAIL_LINES = 40


class PostgresUnavailableError(RuntimeError):
    """A throwaway server could not be started; the message says why (with the server log)."""


def find_bindir() -> Path:
    """The directory holding ``initdb`` and ``pg_ctl``: highest Debian version, else ``PATH``."""

    def version_key(path: Path) -> tuple[int, ...]:
        return tuple(int(part) for part in re.findall(r"\d+", path.parent.name))

    candidates = [
        bindir
        for bindir in Path("/usr/lib/postgresql").glob("*/bin")
        if (bindir / "initdb").is_file() and (bindir / "pg_ctl").is_file()
    ]
    if candidates:
        return max(candidates, key=lambda bindir: version_key(bindir / "initdb"))
    initdb = shutil.which("initdb")
    if initdb is not None:
        bindir = Path(initdb).resolve().parent
        if (bindir / "pg_ctl").is_file():
            return bindir
        pg_ctl = shutil.which("pg_ctl")
        if pg_ctl is not None and Path(pg_ctl).resolve().parent == bindir:
            return bindir
    raise PostgresUnavailableError(
        "no PostgreSQL server binaries: no initdb and pg_ctl under /usr/lib/postgresql/*/bin "
        "or on PATH (install the Debian 'postgresql' package: .ci/install-postgresql)"
    )


def _server_account() -> pwd.struct_passwd | None:
    """The account to run the server programs as: ``postgres`` when root, else None (self)."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam("postgres")
    except KeyError:
        raise PostgresUnavailableError(
            "running as root, and initdb refuses to run as root, but there is no 'postgres' "
            "system user to run it as (the Debian 'postgresql' package creates one)"
        ) from None


def _reachable_by_others(path: Path) -> bool:
    """True if every directory from / down to ``path`` lets other users through (o+x)."""
    path = path.resolve()
    for directory in (path, *path.parents):
        try:
            mode = directory.stat().st_mode
        except OSError:
            return False
        if not mode & stat.S_IXOTH:
            return False
    return True


def _temp_parent(account: pwd.struct_passwd | None) -> Path:
    base = Path(tempfile.gettempdir())
    if len(str(base)) > _MAX_BASE_LEN or (account is not None and not _reachable_by_others(base)):
        base = Path("/tmp")
    return base


def _server_env(home: Path) -> dict[str, str]:
    """The caller's environment less libpq's PG* variables, with a locale that always exists."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
    env.update(LC_ALL="C", LANG="C", HOME=str(home))
    env.pop("LANGUAGE", None)
    return env


def _log_tail(log: Path) -> str:
    try:
        lines = log.read_text(errors="replace").splitlines()
    except OSError as exc:
        return f"(no server log at {log}: {exc})"
    if not lines:
        return f"(server log {log} is empty)"
    return f"server log {log}, last lines:\n" + "\n".join(lines[-_LOG_TAIL_LINES:])


def _postmaster_pid(data: Path) -> int | None:
    try:
        return int((data / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


@contextlib.contextmanager
def throwaway_postgres(timeout: float = 30.0, *, sync_initdb: bool = False) -> Iterator[str]:
    """Start a new PostgreSQL cluster with database ``kinmatch``; yield a psycopg 3 URL.

    On exit the server is stopped (immediate shutdown) and its directory deleted. Raises
    :class:`PostgresUnavailableError` when the server cannot be started within ``timeout`` seconds
    (or at all), with the reason and the tail of the server log.

    ``sync_initdb=False`` passes ``--no-sync`` to initdb: initdb then does not flush the freshly
    built template files to disk before it exits. That is all it changes: the running server
    keeps ``fsync``, ``synchronous_commit`` and ``full_page_writes`` on, so every commit is
    flushed to WAL, and after a crash it fsyncs the whole data directory before recovery. The
    skipped flush could only matter if the machine lost power, which no test can do. The
    saving is large on disks mounted with ``discard`` (as here), where deleting a thousand
    flushed files costs seconds: a whole start-and-stop went from 7.8 s to 1.8 s under load.
    """
    bindir = find_bindir()
    account = _server_account()
    try:
        import psycopg
    except ImportError as exc:
        raise PostgresUnavailableError(f"psycopg (3) is not installed: {exc}") from exc

    root = Path(tempfile.mkdtemp(prefix="kinmatch-pg-", dir=_temp_parent(account)))
    data, sock, log = root / "data", root / "sock", root / "server.log"
    run_as: dict[str, Any] = {}
    if account is not None:
        os.chown(root, account.pw_uid, account.pw_gid)
        run_as = {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}
    env = _server_env(root)

    def run(*args: str, limit: float) -> subprocess.CompletedProcess[str]:
        """Run one server program (as the server's account); raise with its output on failure."""
        command = [str(bindir / args[0]), *args[1:]]
        try:
            result = subprocess.run(
                command,
                cwd=root,
                env=env,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=limit,
                check=False,
                **run_as,
            )
        except subprocess.TimeoutExpired as exc:
            raise PostgresUnavailableError(
                f"{args[0]} did not finish within {limit:.0f} s\n{_log_tail(log)}"
            ) from exc
        except OSError as exc:
            raise PostgresUnavailableError(f"cannot run {command[0]}: {exc}") from exc
        if result.returncode != 0:
            raise PostgresUnavailableError(
                f"{' '.join(command)} exited with {result.returncode}\n"
                f"{(result.stdout + result.stderr).strip()}\n{_log_tail(log)}"
            )
        return result

    url = f"postgresql:///{DATABASE}?host={quote(str(sock), safe='/')}&port={PORT}&user={SUPERUSER}"
    started = False
    try:
        deadline = time.monotonic() + timeout
        run(
            "initdb",
            f"--pgdata={data}",
            f"--username={SUPERUSER}",
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            *([] if sync_initdb else ["--no-sync"]),
            limit=timeout,
        )
        # The server creates its socket (and lock file) here: it must own the directory.
        sock.mkdir(mode=0o700)
        if account is not None:
            os.chown(sock, account.pw_uid, account.pw_gid)
        settings = {**SERVER_SETTINGS, "port": str(PORT), "unix_socket_directories": f"'{sock}'"}
        with (data / "postgresql.conf").open("a") as conf:
            conf.write("\n# tests/pgserver.py\n")
            conf.writelines(f"{key} = {value}\n" for key, value in settings.items())

        remaining = max(1.0, deadline - time.monotonic())
        started = True  # from here on, a half-started server must be stopped too
        run(
            "pg_ctl",
            "start",
            f"--pgdata={data}",
            f"--log={log}",
            "--wait",
            f"--timeout={max(1, int(remaining))}",
            limit=remaining + 5,
        )

        # pg_ctl --wait returns once the server says it is ready; connect anyway, retrying
        # until the deadline, and create the database.
        maintenance = url.replace(f"/{DATABASE}?", "/postgres?", 1)
        last_error: Exception | None = None
        while True:
            try:
                with psycopg.connect(maintenance, autocommit=True, connect_timeout=5) as conn:
                    conn.execute(f"CREATE DATABASE {DATABASE}")
                break
            except psycopg.OperationalError as exc:
                last_error = exc
            except psycopg.Error as exc:
                raise PostgresUnavailableError(
                    f"cannot create database {DATABASE}: {exc}\n{_log_tail(log)}"
                ) from exc
            if time.monotonic() > deadline:
                raise PostgresUnavailableError(
                    f"the PostgreSQL server in {data} did not accept connections within "
                    f"{timeout:.0f} s: {last_error}\n{_log_tail(log)}"
                )
            time.sleep(0.1)

        yield url
    finally:
        try:
            if started:
                _stop(run, data)
        finally:
            shutil.rmtree(root, ignore_errors=True)


def _stop(run: Callable[..., object], data: Path) -> None:
    """Immediate shutdown; if pg_ctl cannot do it, SIGQUIT the postmaster we started."""
    try:
        run("pg_ctl", "stop", f"--pgdata={data}", "--mode=immediate", "--wait", limit=30)
        return
    except PostgresUnavailableError:
        pass
    pid = _postmaster_pid(data)
    if pid is None:
        return
    try:  # only a live process started on this data directory: a stale pid may be reused
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return
    if os.fsencode(str(data)) in cmdline:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGQUIT)  # the postmaster's "immediate shutdown" signal

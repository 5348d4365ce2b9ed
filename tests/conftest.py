"""Shared fixtures."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from pgserver import PostgresUnavailableError, throwaway_postgres
from queue_support import ENGINES, Agencies, queue_url

# Tests start kinmatch processes from several threads at once (tests/test_cli_errors.py)
# inside pytest-xdist workers, whose own threads run too; CPython 3.11 starts children with
# vfork(), sharing the parent's memory until exec, and one such start failed here with
# EFAULT ("Bad address"). fork() copies instead; this is CPython's documented fail-safe for
# such cases (gh-91401), and it changes nothing in kinmatch.
subprocess._USE_VFORK = False  # type: ignore[attr-defined]


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """URL of a throwaway PostgreSQL server (database ``kinmatch``) for the whole session.

    When the server cannot be started the test is skipped, except under CI (``CI=true``),
    where a PostgreSQL test that cannot run is a failure.
    """
    with contextlib.ExitStack() as stack:
        try:
            url = stack.enter_context(throwaway_postgres())
        except PostgresUnavailableError as exc:
            reason = f"cannot start a throwaway PostgreSQL server: {exc}"
        else:
            reason = None
        if reason is not None:  # outside the except: the reason once, not twice chained
            if os.environ.get("CI") == "true":
                pytest.fail(reason, pytrace=False)
            pytest.skip(reason)
        yield url


@pytest.fixture(scope="module")
def agencies(tmp_path_factory: pytest.TempPathFactory) -> Agencies:
    """Agencies A1 and A2 (trusted) and X9 (not), with their key pairs."""
    return Agencies.create(tmp_path_factory.mktemp("agencies"))


@pytest.fixture(params=ENGINES)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A new, empty review-queue database on each engine: SQLite, then PostgreSQL."""
    server = request.getfixturevalue("postgres_url") if request.param == "postgresql" else None
    return queue_url(request.param, tmp_path, server)

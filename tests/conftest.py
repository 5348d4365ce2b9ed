"""Shared fixtures."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import pytest
from pgserver import PostgresUnavailableError, throwaway_postgres


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

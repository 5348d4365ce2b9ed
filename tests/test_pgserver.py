"""The throwaway PostgreSQL server (tests/pgserver.py) that the review queue's tests run on."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest

pytestmark = pytest.mark.postgres


def test_round_trip(postgres_url: str) -> None:
    with psycopg.connect(postgres_url) as conn:
        conn.execute("CREATE TABLE pgserver_smoke (id integer PRIMARY KEY, note text NOT NULL)")
        conn.execute("INSERT INTO pgserver_smoke VALUES (%s, %s)", (1, "kinship"))
    try:
        with psycopg.connect(postgres_url) as conn:  # committed, seen by a new connection
            assert conn.execute("SELECT id, note FROM pgserver_smoke").fetchall() == [
                (1, "kinship")
            ]
            assert conn.execute("SELECT current_database()").fetchone() == ("kinmatch",)
    finally:
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            conn.execute("DROP TABLE pgserver_smoke")


def test_durable_settings(postgres_url: str) -> None:
    with psycopg.connect(postgres_url) as conn:
        for setting in ("fsync", "synchronous_commit", "full_page_writes"):
            assert conn.execute(f"SHOW {setting}").fetchone() == ("on",), setting
        max_connections = conn.execute("SHOW max_connections").fetchone()
        assert max_connections is not None
        assert int(max_connections[0]) >= 50


def test_ten_concurrent_connections(postgres_url: str) -> None:
    n = 10
    all_open = threading.Barrier(n, timeout=30)

    def hold_one(_: int) -> tuple[int, int]:
        with psycopg.connect(postgres_url, connect_timeout=10) as conn:
            all_open.wait()  # every connection is open at this point
            row = conn.execute(
                "SELECT pg_backend_pid(),"
                " (SELECT count(*) FROM pg_stat_activity WHERE datname = current_database())"
            ).fetchone()
            assert row is not None
            all_open.wait()  # and stays open until every one has counted
            return row[0], row[1]

    with ThreadPoolExecutor(max_workers=n) as pool:
        results = list(pool.map(hold_one, range(n)))
    assert len({pid for pid, _ in results}) == n
    assert all(count >= n for _, count in results)

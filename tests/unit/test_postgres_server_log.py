"""The tests' PostgreSQL reports what its server logged as an error while a test ran
(tests/support/postgres.py: `log_mark`, `errors_since`), which the real-stack tests on PostgreSQL
assert is nothing."""
from __future__ import annotations

import time

import psycopg


def _run(cluster, database: str, sql: str) -> None:
    with psycopg.connect(host="127.0.0.1", port=cluster.port, user="huifang", dbname=database,
                         autocommit=True) as conn:
        try:
            conn.execute(sql)
        except psycopg.Error:
            pass   # as a client that swallows a failed statement would


def _errors_after(cluster, mark: int, want: int) -> list[str]:
    """The server writes its log itself: wait (briefly) for `want` entries to show."""
    deadline = time.monotonic() + 5
    while True:
        errors = cluster.errors_since(mark)
        if len(errors) >= want or time.monotonic() > deadline:
            return errors
        time.sleep(0.05)


def test_errors_since_a_mark_are_the_servers_own_with_their_statement(postgres_cluster, postgres_url):
    database = postgres_url.rsplit("/", 1)[1]
    _run(postgres_cluster, database, "SELECT 1 / 0 AS before_the_mark")
    _errors_after(postgres_cluster, 0, 1)
    mark = postgres_cluster.log_mark()
    assert postgres_cluster.errors_since(mark) == []
    _run(postgres_cluster, database, "SELECT 1")                             # no error: nothing logged
    _run(postgres_cluster, database, "SELECT no_such_column FROM pg_class")
    [error] = _errors_after(postgres_cluster, mark, 1)
    assert "no_such_column" in error.splitlines()[0] and "ERROR:" in error
    assert "STATEMENT:  SELECT no_such_column FROM pg_class" in error
    assert "before_the_mark" not in error

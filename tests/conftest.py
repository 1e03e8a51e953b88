"""Fixtures shared by every test directory: a real PostgreSQL for the tests that need one.

`postgres_cluster` starts one throwaway cluster the first time a test asks for it in a session and
stops it at the end (tests/support/postgres.py); `postgres_url` gives each test its own fresh, empty
database in it (a SQLAlchemy URL for psycopg 3), dropped afterwards.
"""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.postgres import PostgresCluster


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    cluster = PostgresCluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def postgres_url(postgres_cluster: PostgresCluster) -> Iterator[str]:
    name = postgres_cluster.create_database()
    try:
        yield postgres_cluster.url(name)
    finally:
        postgres_cluster.drop_database(name)

"""Fixtures shared by every test directory: a real PostgreSQL for the tests that need one.

`postgres_cluster` starts one throwaway cluster the first time a test asks for it in a session and
stops it at the end (tests/support/postgres.py); `postgres_url` gives each test its own fresh, empty
database in it (a SQLAlchemy URL for psycopg 3), dropped afterwards.

`engine_url`, `any_db` and `store` run a test once per engine (ids `sqlite`, `postgresql`), on a
migrated empty database: `any_db` is the handle components get, `store` its `ivr.db.store.Store`.
"""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from ivr.db import migrate
from ivr.db.connect import Database, connect
from ivr.db.store import Store, open_store, store_of
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


@pytest.fixture(params=["sqlite", "postgresql"])
def engine_url(request: pytest.FixtureRequest, tmp_path) -> str:
    """A migrated, empty Huifang database on each engine: an SQLite file in tmp_path, or a fresh database
    in the session's PostgreSQL (started only when a test asks for this engine)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'huifang.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    migrate.upgrade(url)
    return url


@pytest.fixture
def any_db(engine_url: str) -> Iterator[Database | Store]:
    """The handle a component is given on each engine: `connect()`'s sqlite-utils handle with its
    `.store` on SQLite, a bare Store on PostgreSQL (ported code must work with both)."""
    path = migrate.sqlite_path(engine_url)
    handle: Database | Store = connect(path, migrate=False) if path is not None else open_store(engine_url)
    try:
        yield handle
    finally:
        store_of(handle).close()


@pytest.fixture
def store(any_db: Database | Store) -> Store:
    """The Store of `any_db`."""
    return store_of(any_db)

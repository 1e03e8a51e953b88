"""Open the Huifang SQLite database: WAL, a busy timeout, foreign keys, migrated; sqlite-utils plus a Store.

The database is the bus between processes (controller, dialog server, web app); each table has one
writer. WAL lets readers proceed while one process writes; the busy timeout makes a writer wait for
another writer instead of failing at once (both set for every connection by `ivr.db.engine`).

The schema comes from `ivr.db.migrate.upgrade` (Alembic; an old file made by the legacy SQL files is
finished and stamped first), so every new SQLite file, in tests too, takes the same path as PostgreSQL.

The handle returned is still the sqlite-utils `Database` every component uses today, and it carries
`.store`: the `ivr.db.store.Store` ported code uses, on the SAME sqlite3 connection — a transaction
opened through one is the other's too. A separate attribute rather than one object that is both:
the two APIs share method names with different meanings (`query`, `execute` take `?` and a list in
sqlite-utils, `:name` and a mapping in the Store, and return other things), so one object could not
serve the ~290 old call sites and the ported ones at once. Ported functions take either handle and
call `store_of(db)`. On PostgreSQL there is no sqlite-utils handle: `open_store(url)`.

`Pool` is for a process that opens a handle per short unit of work, many at once: the web app, a
handle per request. `open_store` gives each Store a connection of its own (NullPool), which on
PostgreSQL is a new server process per request (a few ms before the first statement); a Pool keeps
that many connections open and lends one per handle (SQLAlchemy's QueuePool, pre-pinged at checkout,
so connections a server restart killed are replaced instead of failing the request that gets them).
On SQLite a Pool opens a connection per handle as `connect()` does: a file open, no server, and the
Store's SQLite connection is shared with sqlite-utils and closed with it (store.py), not lent.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa
import sqlite_utils
from sqlalchemy.pool import QueuePool

from ..config import normalize_database_url
from .engine import BUSY_TIMEOUT_MS, engine_for
from .store import Store, open_store

if TYPE_CHECKING:
    from ..config import Settings

__all__ = ["BUSY_TIMEOUT_MS", "Database", "Pool", "connect", "open_database"]

log = logging.getLogger(__name__)

# how long a handle waits for a pooled connection when all are lent out, before sqlalchemy's TimeoutError
POOL_WAIT_S = 10.0


class Database(sqlite_utils.Database):
    """The sqlite-utils handle, with the Store that shares its connection as `.store`."""

    def __init__(self, store: Store) -> None:
        super().__init__(store.driver_connection)
        self.store = store


def connect(path: str | Path, *, migrate: bool = True) -> Database:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{path.resolve()}"
    if migrate:
        from .migrate import upgrade   # Alembic is imported only by processes that migrate
        upgrade(url)
    return Database(open_store(url))


def open_database(where: Settings | str | Path, *, migrate: bool = True) -> Database | Store:
    """The database handle of a process, from its settings (`database_url_effective`), a URL or an
    SQLite file: `connect()`'s sqlite-utils handle (with `.store`) on SQLite, a bare Store on
    PostgreSQL. Every process opens its database here, so `database_url` switches them all; code
    handed the result works through `store_of(handle)`."""
    from ..config import Settings
    from .migrate import sqlite_path
    if isinstance(where, Settings):
        url = where.database_url_effective
    elif isinstance(where, Path) or "://" not in where:
        return connect(where, migrate=migrate)
    else:
        url = where
    path = sqlite_path(url)
    if path is not None:
        return connect(path, migrate=migrate)
    if migrate:
        from .migrate import upgrade
        upgrade(url)
    return open_store(url)


class Pool:
    """Database handles lent for one unit of work each, on connections kept open (see the module
    docstring). `open()` gives what `open_database` gives (close it with `store_of(handle).close()`,
    which hands a PostgreSQL connection back); `size` connections stay open, as many more are opened
    for a burst and closed when returned; a handle waits up to `POOL_WAIT_S` for one when all are out.
    `application_name` names the connections in PostgreSQL's pg_stat_activity. The schema is not
    migrated here: the process does that once at start-up."""

    def __init__(self, url: str, size: int, *, application_name: str = "huifang") -> None:
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ValueError(f"database pool size must be a whole number of connections, at least 1, not {size!r}")
        from .migrate import sqlite_path
        self.url = normalize_database_url(url)
        self.size = size
        self._sqlite_file = sqlite_path(self.url)
        self.engine: sa.Engine | None = None
        if self._sqlite_file is None:
            self.engine = engine_for(self.url, poolclass=QueuePool, pool_size=size, max_overflow=size,
                                     pool_timeout=POOL_WAIT_S, pool_pre_ping=True,
                                     connect_args={"application_name": application_name})
            log.info("database pool: %d connection(s) kept, up to %d, for %s", size, 2 * size, application_name)

    def open(self) -> Database | Store:
        if self.engine is None:
            assert self._sqlite_file is not None
            return connect(self._sqlite_file, migrate=False)
        return Store(self.engine.connect())

    def lent(self) -> int:
        """Connections out on handles not closed yet (0 on SQLite)."""
        if self.engine is None:
            return 0
        pool = self.engine.pool
        assert isinstance(pool, QueuePool)
        return pool.checkedout()

    def dispose(self) -> None:
        """Close the connections kept open; handles still out keep theirs until closed."""
        if self.engine is not None:
            self.engine.dispose()

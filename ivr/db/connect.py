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
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import sqlite_utils

from .engine import BUSY_TIMEOUT_MS
from .store import Store, open_store

if TYPE_CHECKING:
    from ..config import Settings

__all__ = ["BUSY_TIMEOUT_MS", "Database", "connect", "open_database"]


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

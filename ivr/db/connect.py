"""Open the Huifang SQLite database as sqlite-utils: WAL, a busy timeout, foreign keys, migrated.

The database is the bus between processes (controller, dialog server, web app); each table has one
writer. WAL lets readers proceed while one process writes; the busy timeout makes a writer wait for
another writer instead of failing at once.

The schema comes from `ivr.db.migrate.upgrade` (Alembic; an old file made by the legacy SQL files is
finished and stamped first), so every new SQLite file, in tests too, takes the same path as PostgreSQL.
The handle returned is still the sqlite-utils `Database` every component uses today; the components
move to the shared SQLAlchemy layer (`ivr.db.engine`, `ivr.db.schema`) in steps.
"""
from __future__ import annotations

import sqlite3
from pathlib import Path

import sqlite_utils

BUSY_TIMEOUT_MS = 15000


def connect(path: str | Path, *, migrate: bool = True) -> sqlite_utils.Database:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if migrate:
        from .migrate import upgrade   # Alembic is imported only by processes that migrate
        upgrade(f"sqlite:///{path.resolve()}")
    conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                           check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA foreign_keys = ON")
    return sqlite_utils.Database(conn)

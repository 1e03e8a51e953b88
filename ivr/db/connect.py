"""Open the Huifang database: WAL, a busy timeout, foreign keys, migrations applied.

The database is the bus between processes (controller, dialog server, web app); each table has one
writer. WAL lets readers proceed while one process writes; the busy timeout makes a writer wait for
another writer instead of failing at once.
"""
from __future__ import annotations

import sqlite3
from pathlib import Path

import sqlite_utils

from .migrations import migrations

BUSY_TIMEOUT_MS = 15000


def connect(path: str | Path, *, migrate: bool = True) -> sqlite_utils.Database:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                           check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA foreign_keys = ON")
    db = sqlite_utils.Database(conn)
    if migrate:
        migrations.apply(db)
    return db

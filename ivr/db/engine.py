"""SQLAlchemy engines for the Huifang database, SQLite or PostgreSQL, set up as every process needs.

Why it looks like this: the database is the bus between processes, so each connection must behave the
same whoever opens it. For SQLite that is what `connect.py` has always set — WAL (readers never wait
for the writer), a 15 s busy timeout (a writer waits for another instead of failing), foreign keys on,
synchronous NORMAL — applied to every pooled connection by a connect event. Python's sqlite3 module
does not begin a transaction before DDL and commits on its own schedule, so SQLAlchemy's documented
recipe takes transaction control over: the driver is put in autocommit and SQLAlchemy emits BEGIN
itself. A connection may ask for `BEGIN IMMEDIATE` (take the write lock up front, so a read-then-write
transaction cannot fail with SQLITE_BUSY halfway) with `.execution_options(sqlite_begin="IMMEDIATE")`.
A connection in SQLAlchemy's AUTOCOMMIT isolation level gets no BEGIN at all: its owner writes BEGIN and
COMMIT itself, which is how `ivr.db.store.Store` shares one SQLite connection with sqlite-utils.

PostgreSQL is reached through psycopg 3; pre-ping drops connections a server restart left dead.
"""
from __future__ import annotations

import logging
import sqlite3
import time
from typing import Any

import sqlalchemy as sa

from ..config import normalize_database_url

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 15000
SQLITE_BEGIN_MODES = ("DEFERRED", "IMMEDIATE", "EXCLUSIVE")


def engine_for(url: str, **engine_options: Any) -> sa.Engine:
    """An engine for `url` (sqlite:///<file> or postgresql://...); extra options go to create_engine."""
    url = normalize_database_url(url)
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000,
                                                     "check_same_thread": False}, **engine_options)
        sa.event.listen(engine, "connect", _sqlite_on_connect)
        sa.event.listen(engine, "begin", _sqlite_begin)
        return engine
    engine_options.setdefault("pool_pre_ping", True)
    return sa.create_engine(url, **engine_options)


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None   # autocommit in the driver: SQLAlchemy emits BEGIN
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        set_wal(cursor)
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        cursor.close()


def set_wal(cursor: Any) -> None:
    """`PRAGMA journal_mode = WAL`, waiting like any other statement for a lock another process
    holds. SQLite does not call the busy handler for this switch: while another process writes a
    new file still in rollback mode (the first migration, when several processes start at once
    against a new database), the switch fails at once with "database is locked" — it made a dialog
    worker exit at start-up. So it is retried until BUSY_TIMEOUT_MS have passed."""
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(0.02)


def _sqlite_begin(connection: sa.Connection) -> None:
    if connection.get_execution_options().get("isolation_level") == "AUTOCOMMIT":
        return   # the driver autocommits; whoever holds this connection writes BEGIN/COMMIT (store.py)
    mode = str(connection.get_execution_options().get("sqlite_begin", "DEFERRED")).upper()
    if mode not in SQLITE_BEGIN_MODES:
        raise ValueError(f"sqlite_begin must be one of {', '.join(SQLITE_BEGIN_MODES)}, not {mode!r}")
    connection.exec_driver_sql(f"BEGIN {mode}")

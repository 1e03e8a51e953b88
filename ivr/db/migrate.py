"""Bring a Huifang database, SQLite or PostgreSQL, to the newest schema: `upgrade(url)`.

Why it looks like this: one migration history serves both engines (issue 12), so the schema moves by
Alembic revisions in `ivr/db/alembic/versions/`, applied at start-up from inside the package (no
alembic.ini). Future schema changes are new Alembic revisions — `new_revision("what changes")` writes
the next one from the difference between `ivr/db/schema.py` and a database at head; check it by hand,
write the tables out in it (never import the schema module there) and make it work on both engines.
The numbered SQL files in `ivr/db/schema/` are frozen: they only finish an old SQLite file.

Three kinds of database arrive here:
- new (no tables): Alembic creates everything from its baseline revision `0001`;
- an SQLite file made by the legacy SQL files (sqlite-utils' `_sqlite_migrations` table, no
  `alembic_version`): the legacy files still pending are applied with the legacy code, which gives
  exactly the schema the baseline describes, then the file is stamped at the baseline, so a lender's
  existing file keeps its rows and moves on with Alembic from there;
- one already under Alembic: whatever revisions are pending.
A database with tables but neither history is refused, never touched.

Several processes start at once against the same database: the migration runs in one transaction
that first takes the write lock (SQLite `BEGIN IMMEDIATE`; PostgreSQL a transaction-scoped advisory
lock), so the second process waits and then finds the work done. An up-to-date SQLite file is
recognised by a plain read of `alembic_version`, without loading Alembic.
"""
from __future__ import annotations

import functools
import logging
import sqlite3
import tempfile
import threading
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.pool import NullPool
from sqlite_utils import Database

from ..config import normalize_database_url
from .engine import BUSY_TIMEOUT_MS, engine_for, set_wal
from .migrations import migrations as legacy_migrations

log = logging.getLogger(__name__)

SCRIPT_DIR = Path(__file__).with_name("alembic")
BASELINE = "0001"
LEGACY_TABLE = "_sqlite_migrations"
PG_LOCK_KEY = 0x48756966   # "Huif": pg_advisory_xact_lock key held while migrating
# Alembic's `context` is one module-level proxy: two threads of one process must not run env.py at once
_ALEMBIC = threading.Lock()
# head -> the statements Alembic executed to make an empty SQLite database (see _create_sqlite)
_sqlite_from_nothing: dict[str, list[tuple[str, Any]]] = {}


class MigrationError(Exception):
    """A database this code must not or cannot migrate; the message says which and why."""


def alembic_config(connection: sa.Connection | None = None) -> Config:
    """Alembic's configuration, built in code; `connection` is what env.py migrates."""
    cfg = Config()
    cfg.set_main_option("script_location", str(SCRIPT_DIR))
    cfg.set_main_option("file_template", "r%%(rev)s_%%(slug)s")
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


@functools.lru_cache(maxsize=1)
def _script() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def head() -> str:
    """The newest revision this code knows."""
    heads = _script().get_heads()
    if len(heads) != 1:
        raise MigrationError(f"the Alembic history has {len(heads)} heads ({', '.join(heads)}); merge them")
    return heads[0]


def known_revisions() -> list[str]:
    """Every revision this code knows, oldest first."""
    return [s.revision for s in reversed(list(_script().walk_revisions()))]


def sqlite_path(url: str) -> Path | None:
    """The file of an sqlite:/// URL (None for any other database)."""
    parsed = sa.engine.make_url(normalize_database_url(url))
    return Path(parsed.database) if parsed.get_backend_name() == "sqlite" and parsed.database else None


def shown(url: str) -> str:
    """`url` fit for a log line or an error message (no password)."""
    return sa.engine.make_url(url).render_as_string(hide_password=True)


def upgrade(url: str) -> str:
    """Migrate the database at `url` to head (see the module docstring); returns the revision."""
    url = normalize_database_url(url)
    path = sqlite_path(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        if _finish_legacy_sqlite(path) == head():
            return head()
    engine = engine_for(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            if path is not None:
                conn.execution_options(sqlite_begin="IMMEDIATE")
            with conn.begin():
                if conn.dialect.name == "postgresql":
                    conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_LOCK_KEY})
                with _ALEMBIC:
                    _upgrade_in_transaction(conn, url)
    except sa.exc.OperationalError as exc:
        raise MigrationError(f"cannot migrate the database at {shown(url)}: {exc.orig}") from exc
    finally:
        engine.dispose()
    return head()


def _upgrade_in_transaction(conn: sa.Connection, url: str) -> None:
    current = MigrationContext.configure(conn).get_current_revision()
    if current == head():
        return
    tables = set(sa.inspect(conn).get_table_names())
    cfg = alembic_config(conn)
    if current is None and LEGACY_TABLE in tables:
        pending = _legacy_pending(conn)
        if pending:
            raise MigrationError(f"{shown(url)}: legacy migrations {', '.join(pending)} are not applied; "
                                 "refusing to stamp it at the Alembic baseline")
        command.stamp(cfg, BASELINE)
        log.info("database %s: made by the legacy SQL migrations, stamped at Alembic revision %s",
                 shown(url), BASELINE)
    elif current is None and tables:
        raise MigrationError(f"{shown(url)} has tables ({', '.join(sorted(tables)[:5])}, ...) but no Huifang "
                             "migration history; not a Huifang database? Left untouched.")
    elif current is not None and current not in known_revisions():
        raise MigrationError(f"{shown(url)} is at revision {current}, which this Huifang does not know: "
                             "it was migrated by a newer version; upgrade this install")
    if current is None and not tables and conn.dialect.name == "sqlite":
        _create_sqlite(conn, cfg)
    else:
        command.upgrade(cfg, "head")
    log.info("database %s: migrated from %s to %s", shown(url), current or "nothing", head())


def _create_sqlite(conn: sa.Connection, cfg: Config) -> None:
    """Alembic from nothing to head on an empty SQLite database; what it executed is kept, and the next
    empty SQLite file of this process gets the same statements replayed, in the same locked transaction.
    (Alembic builds and compiles every table again for each file, about 60 ms; tests make hundreds.)"""
    recorded = _sqlite_from_nothing.get(head())
    if recorded is not None:
        for statement, parameters in recorded:
            conn.exec_driver_sql(statement, parameters)
        return
    statements: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        if not statement.lstrip().upper().startswith(("SELECT", "PRAGMA")):
            statements.append((statement, parameters))

    sa.event.listen(conn, "before_cursor_execute", record)
    try:
        command.upgrade(cfg, "head")
    finally:
        sa.event.remove(conn, "before_cursor_execute", record)
    _sqlite_from_nothing[head()] = statements


def _legacy_pending(conn: sa.Connection) -> list[str]:
    applied = {r[0] for r in conn.execute(sa.text(
        f"SELECT name FROM {LEGACY_TABLE} WHERE migration_set = :s"), {"s": legacy_migrations.name})}
    return [m.name for m in legacy_migrations._migrations if m.name not in applied]


def _finish_legacy_sqlite(path: Path) -> str | None:
    """For an existing SQLite file: apply the legacy SQL files it still lacks (only to a file the
    legacy code made and Alembic has not taken over); return its Alembic revision, if any."""
    if not path.exists() or path.stat().st_size == 0:
        return None
    conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    try:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "alembic_version" in tables:
            row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
            return str(row[0]) if row else None
        if LEGACY_TABLE in tables:
            set_wal(conn)
            conn.execute("PRAGMA foreign_keys = ON")
            legacy_migrations.apply(Database(conn))
        return None
    except sqlite3.DatabaseError as exc:
        raise MigrationError(f"{path}: not a readable SQLite database ({exc})") from None
    finally:
        conn.close()


def new_revision(message: str) -> Path:
    """Write the next revision file, autogenerated from the difference between `ivr/db/schema.py` and
    a scratch SQLite database at head. Review it and make it right for PostgreSQL too."""
    number = f"{int(head()) + 1:04d}"
    with tempfile.TemporaryDirectory() as scratch:
        url = f"sqlite:///{scratch}/head.db"
        upgrade(url)
        engine = engine_for(url, poolclass=NullPool)
        try:
            with engine.connect() as conn, _ALEMBIC:
                script = command.revision(alembic_config(conn), message, autogenerate=True, rev_id=number)
        finally:
            engine.dispose()
    if script is None or isinstance(script, list):
        raise MigrationError("alembic wrote no single revision")
    _script.cache_clear()
    return Path(script.path)

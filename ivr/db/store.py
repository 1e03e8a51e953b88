"""`Store`: the one data-access API of the Huifang database, the same on SQLite and PostgreSQL.

Why it looks like this: issue 12 lets the database be PostgreSQL, but ~290 call sites write
sqlite-utils calls with `?` placeholders; they move over a few modules at a time. Ported code talks to a
`Store` — SQL as `sqlalchemy.text()` with `:name` parameters (a list value becomes an expanding `IN
:ids`), and insert/update/get/upsert built with SQLAlchemy Core on the tables of `schema.py` — so
SQLAlchemy writes the paramstyle, RETURNING and ON CONFLICT each engine wants. (An empty list is an
empty set SQLAlchemy types INTEGER; on PostgreSQL, guard an empty list of text values yourself.)

A Store holds one connection and is used by one thread at a time (a handle per thread, as today).
Statements outside `transaction()` autocommit, as the sqlite-utils handle's do. `transaction()` takes
the write lock up front on SQLite (BEGIN IMMEDIATE); on PostgreSQL it is an ordinary transaction and
row locks come from the statements (`FOR UPDATE SKIP LOCKED`). Nested `transaction()` blocks join the
outer one (no savepoints).

SQLite: `connect()` builds its sqlite-utils handle over the very sqlite3 connection this Store's
SQLAlchemy connection holds, so old and ported code can run in one transaction — e.g. a
`with db.conn: db.execute("BEGIN IMMEDIATE")` block calling `target_state.claim(db, ...)`. Two
transaction managers over one connection would disagree, so only one keeps the state: the sqlite3
connection itself (autocommit in the driver, `in_transaction` says whether a BEGIN is open). The
SQLAlchemy connection runs in AUTOCOMMIT isolation — SQLAlchemy never begins, commits or rolls back
on it (engine.py emits no BEGIN for it) — and the Store writes BEGIN IMMEDIATE / COMMIT / ROLLBACK
itself, joining a transaction the sqlite-utils side opened. Never call commit() on `Store.connection`.

PostgreSQL: `open_store(url)` returns a Store and nothing else; code still written for sqlite-utils
cannot run there, and fails at once (`?` parameters are refused with a TypeError naming the cause).
"""
from __future__ import annotations

import contextlib
import functools
import logging
import threading
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, Protocol, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.pool import NullPool

from ..config import normalize_database_url
from . import schema
from .engine import engine_for

log = logging.getLogger(__name__)

T = TypeVar("T")
Params = Mapping[str, Any]
_EXPANDING = (list, tuple, set, frozenset)

# one engine per database URL in a process: each Store holds its own connection (NullPool: closing the
# Store closes it), the engine shares the dialect set-up and the compiled-statement cache
_engines: dict[str, sa.Engine] = {}
_engines_lock = threading.Lock()


class HasStore(Protocol):
    """A handle with a Store beside another API (the sqlite-utils handle `connect()` returns)."""

    @property
    def store(self) -> Store: ...



def store_of(handle: Store | HasStore) -> Store:
    """The Store behind what a component was given: a Store, or the handle of `ivr.db.connect.connect`."""
    if isinstance(handle, Store):
        return handle
    store = getattr(handle, "store", None)
    if isinstance(store, Store):
        return store
    raise TypeError(f"{type(handle).__name__} is not a Huifang database handle: open one with "
                    "ivr.db.connect.connect(path) or ivr.db.store.open_store(url)")


def open_store(url: str) -> Store:
    """A Store on the database at `url` (sqlite:///<file> or postgresql://...); the schema is
    `ivr.db.migrate.upgrade(url)`'s job, done at start-up."""
    url = normalize_database_url(url)
    with _engines_lock:
        engine = _engines.get(url)
        if engine is None:
            engine = _engines[url] = _new_engine(url)
    return Store(engine.connect())


def _new_engine(url: str) -> sa.Engine:
    if not url.startswith("sqlite"):
        return engine_for(url, poolclass=NullPool)
    # SQLAlchemy never rolls back or closes a Store's sqlite3 connection: the sqlite-utils handle on it
    # may have closed it, or a cursor from `db.query()` may still be reading it after the handle is gone
    # (a generator keeps the sqlite3 connection alive, as before the Store). Store.close() closes it;
    # otherwise CPython does when the last reference goes.
    engine = engine_for(url, poolclass=NullPool, pool_reset_on_return=None)
    setattr(engine.dialect, "do_close", _leave_open)
    return engine


def _leave_open(_dbapi_connection: Any) -> None:
    pass


class Store:
    """One connection to the Huifang database; see the module docstring."""

    def __init__(self, connection: sa.Connection) -> None:
        self._dialect = connection.dialect.name
        self._driver: Any = None
        if self._dialect == "sqlite":
            connection = connection.execution_options(isolation_level="AUTOCOMMIT")
            self._driver = connection.connection.driver_connection
        self.connection = connection
        self._closer = weakref.finalize(self, _release, connection, self._dialect)

    # ---- what kind of database -----------------------------------------------------------------
    @property
    def dialect(self) -> str:
        """"sqlite" or "postgresql", for the rare statement that must differ."""
        return self._dialect

    @property
    def driver_connection(self) -> Any:
        """The DBAPI connection underneath (sqlite3.Connection or psycopg.Connection)."""
        return self.connection.connection.driver_connection

    @property
    def in_transaction(self) -> bool:
        if self._dialect == "sqlite":
            return bool(self._driver.in_transaction)
        return self.connection.in_transaction()

    def close(self) -> None:
        if self._dialect == "sqlite":
            self._driver.close()
        self._closer()

    # ---- SQL -----------------------------------------------------------------------------------
    def query(self, sql: str, params: Params | None = None) -> list[dict[str, Any]]:
        """Every row of `sql` as a dict."""
        return self._run(_text(sql, params), params, lambda r: [dict(row._mapping) for row in r])

    def one(self, sql: str, params: Params | None = None) -> dict[str, Any] | None:
        """The first row of `sql`, or None."""
        def first(result: sa.CursorResult[Any]) -> dict[str, Any] | None:
            row = result.first()
            return None if row is None else dict(row._mapping)
        return self._run(_text(sql, params), params, first)

    def scalar(self, sql: str, params: Params | None = None) -> Any:
        """The first column of the first row of `sql`, or None."""
        return self._run(_text(sql, params), params, lambda r: r.scalar())

    def execute(self, sql: str, params: Params | None = None) -> int:
        """Run a statement; the number of rows it changed."""
        return self._run(_text(sql, params), params, lambda r: r.rowcount)

    # ---- rows by table -------------------------------------------------------------------------
    def insert(self, table: str, row: Mapping[str, Any]) -> Any:
        """Insert one row; its primary key (a tuple for a composite key). PostgreSQL returns a SERIAL
        id by RETURNING, SQLite by lastrowid; SQLAlchemy picks."""
        stmt = sa.insert(_table(table)).values(_plain(row))
        key = self._run(stmt, None, lambda r: tuple(r.inserted_primary_key or ()))
        return key[0] if len(key) == 1 else key

    def insert_all(self, table: str, rows: Iterable[Mapping[str, Any]]) -> int:
        """Insert rows (all with the same columns) in one transaction; how many."""
        batch = [_plain(r) for r in rows]
        if not batch:
            return 0
        with self.transaction():
            self.connection.execute(sa.insert(_table(table)), batch)
        return len(batch)

    def update(self, table: str, pk_value: Any, changes: Mapping[str, Any]) -> int:
        """Change columns of the row with primary key `pk_value`; 1 if it exists, else 0."""
        if not changes:
            return 0
        t = _table(table)
        stmt = sa.update(t).where(*_pk_match(t, pk_value)).values(_plain(changes))
        return self._run(stmt, None, lambda r: r.rowcount)

    def get(self, table: str, pk_value: Any) -> dict[str, Any] | None:
        """The row with primary key `pk_value` (a tuple for a composite key), or None."""
        t = _table(table)
        def first(result: sa.CursorResult[Any]) -> dict[str, Any] | None:
            row = result.first()
            return None if row is None else dict(row._mapping)
        return self._run(sa.select(t).where(*_pk_match(t, pk_value)), None, first)

    def upsert(self, table: str, row: Mapping[str, Any], pk: str | Sequence[str] | None = None) -> None:
        """Insert `row`, or set its other columns on the row that has the same `pk` (the table's primary
        key unless given: a unique column set)."""
        t = _table(table)
        keys = [c.name for c in t.primary_key.columns] if pk is None else [pk] if isinstance(pk, str) else list(pk)
        insert = (sqlite_dialect.insert(t) if self._dialect == "sqlite" else pg_dialect.insert(t)).values(_plain(row))
        changes = {c: insert.excluded[c] for c in row if c not in keys}
        stmt = (insert.on_conflict_do_update(index_elements=keys, set_=changes) if changes
                else insert.on_conflict_do_nothing(index_elements=keys))
        self._run(stmt, None, lambda r: None)

    # ---- transactions --------------------------------------------------------------------------
    @contextlib.contextmanager
    def transaction(self) -> Iterator[Store]:
        """One transaction around the block: committed at its end, rolled back if it raises. Inside a
        transaction already open on this connection (here or through the sqlite-utils handle), joins it."""
        if self.in_transaction:
            yield self
            return
        if self._dialect != "sqlite":
            with self.connection.begin():
                yield self
            return
        self.connection.exec_driver_sql("BEGIN IMMEDIATE")
        try:
            yield self
        except BaseException:
            if self._driver.in_transaction:
                self.connection.exec_driver_sql("ROLLBACK")
            raise
        try:
            self.connection.exec_driver_sql("COMMIT")
        except BaseException:
            if self._driver.in_transaction:
                self.connection.exec_driver_sql("ROLLBACK")
            raise

    def _run(self, stmt: sa.Executable, params: Params | None,
             consume: Callable[[sa.CursorResult[Any]], T]) -> T:
        """Execute and read the result: in the open transaction, or in one of its own (autocommit)."""
        args = _plain(params) if params else None
        if self._dialect == "sqlite" or self.connection.in_transaction():
            return consume(self.connection.execute(stmt, args))
        with self.connection.begin():
            return consume(self.connection.execute(stmt, args))


def _plain(values: Mapping[str, Any]) -> dict[str, Any]:
    """`values` with Python booleans as 0/1: booleans are INTEGER columns in our schema (see schema.py),
    and PostgreSQL refuses a boolean where an integer goes (SQLite takes either)."""
    return {k: int(v) if isinstance(v, bool) else v for k, v in values.items()}


def _release(connection: sa.Connection, dialect: str) -> None:
    """Give the Store's connection back (at close() or when the Store is garbage). On SQLite only
    SQLAlchemy's side is released: invalidating skips the rollback a plain close() would send to a
    sqlite3 connection that may be closed already or in someone's transaction (see _new_engine)."""
    if dialect == "sqlite":
        connection.invalidate()
    connection.close()


def _text(sql: str, params: Params | None) -> sa.TextClause:
    if params is not None and not isinstance(params, Mapping):
        raise TypeError("Store parameters are a mapping of :name values, not a sequence: this looks like "
                        "sqlite-utils code with ? placeholders, which does not run on this Store")
    return _parsed(sql, tuple(sorted(k for k, v in (params or {}).items() if isinstance(v, _EXPANDING))))


@functools.lru_cache(maxsize=2048)
def _parsed(sql: str, expanding: tuple[str, ...]) -> sa.TextClause:
    """text() parses the SQL for :names with a regex on every call (about 50 us); the clause is immutable,
    so each statement text is parsed once per process."""
    clause = sa.text(sql)
    return clause.bindparams(*(sa.bindparam(k, expanding=True) for k in expanding)) if expanding else clause


def _table(name: str) -> sa.Table:
    try:
        return schema.metadata.tables[name]
    except KeyError:
        raise ValueError(f"no table {name!r} in ivr/db/schema.py") from None


def _pk_match(table: sa.Table, pk_value: Any) -> list[sa.ColumnElement[bool]]:
    columns = list(table.primary_key.columns)
    values = list(pk_value) if isinstance(pk_value, (tuple, list)) else [pk_value]
    if len(values) != len(columns):
        raise ValueError(f"{table.name}'s primary key is ({', '.join(c.name for c in columns)}); "
                         f"got {len(values)} value(s)")
    return [c == v for c, v in zip(columns, values)]

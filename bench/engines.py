"""Which database a bench runs on, and loading many rows into it fast, the same way on both engines.

Why it looks like this: the dialer and web benches compare SQLite with PostgreSQL (issue 12), so they
take the same options — `--database URL` (an existing database), `--postgres` (a throwaway cluster
started under the bench's run directory by ivr/db/cluster.py and removed afterwards), neither (a new
SQLite file in the run directory, as before) — and seed through the Store, never sqlite-utils.

A million rows through SQLAlchemy's executemany take minutes on PostgreSQL; `bulk_load` uses COPY there
(psycopg's `cursor.copy`, rows streamed) and the driver's executemany on SQLite, inside one transaction.
Rows carry explicit integer ids (children refer to them), so afterwards PostgreSQL's SERIAL sequences
are moved past the highest id (`fix_sequences`), as letting the database pick ids would have left them.

The throwaway cluster's settings are `LIKE_SQLITE_WAL` (commits are not waited for, as with our
SQLite's WAL + synchronous=NORMAL) with 256 MB of shared buffers: a like-for-like comparison, not a
tuned server.
"""
from __future__ import annotations

import argparse
import contextlib
import logging
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from ivr.db import migrate
from ivr.db.cluster import LIKE_SQLITE_WAL, PostgresCluster, PostgresUnavailable
from ivr.db.store import Store

log = logging.getLogger(__name__)

BENCH_PG_SETTINGS = {**LIKE_SQLITE_WAL, "shared_buffers": "'256MB'", "max_wal_size": "'2GB'"}
CHUNK = 50_000


def add_options(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--database", metavar="URL",
                    help="run on this database (sqlite:///<file> or postgresql://...); default: a new SQLite "
                         "file in the run directory")
    ap.add_argument("--postgres", action="store_true",
                    help="without --database: start a throwaway PostgreSQL cluster under the run directory")


def engine_of(url: str) -> str:
    return "sqlite" if migrate.sqlite_path(url) is not None else "postgresql"


@contextlib.contextmanager
def bench_database(args: argparse.Namespace, run: Path, sqlite_file: str | Path) -> Iterator[str]:
    """The database URL the bench runs on (see the module docstring), migrated; a cluster this started
    is stopped and removed when the block ends. `sqlite_file`: the default SQLite file."""
    if args.database and args.postgres:
        raise SystemExit("--database and --postgres: give one (--postgres starts a cluster of its own)")
    if args.database:
        url = args.database
        yield _migrated(url)
        return
    if not args.postgres:
        yield _migrated(f"sqlite:///{Path(sqlite_file).resolve()}")
        return
    try:
        cluster = PostgresCluster.start(run, settings=BENCH_PG_SETTINGS)
    except PostgresUnavailable as exc:
        raise SystemExit(f"--postgres: {exc}") from None
    try:
        url = cluster.url(cluster.create_database("bench_"))
        print(f"throwaway PostgreSQL on 127.0.0.1:{cluster.port} ({cluster.root})", flush=True)
        yield _migrated(url)
    finally:
        cluster.stop()


def _migrated(url: str) -> str:
    try:
        migrate.upgrade(url)
    except ValueError as exc:
        raise SystemExit(f"--database: {exc}") from None
    except migrate.MigrationError as exc:
        raise SystemExit(f"--database: {str(exc).strip().splitlines()[0]}") from None
    return url


def bulk_load(store: Store, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    """Insert `rows` (tuples in `columns` order) into `table` in one transaction; how many."""
    count = 0
    with store.transaction():
        if store.dialect == "postgresql":
            with store.driver_connection.cursor() as cur:
                with cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
                        count += 1
        else:
            sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
            cur = store.driver_connection.cursor()
            batch: list[Sequence[Any]] = []
            for row in rows:
                batch.append(row)
                if len(batch) >= CHUNK:
                    cur.executemany(sql, batch)
                    count += len(batch)
                    batch = []
            if batch:
                cur.executemany(sql, batch)
                count += len(batch)
            cur.close()
    return count


def fix_sequences(store: Store, tables: Iterable[str]) -> None:
    """On PostgreSQL, move each table's `id` sequence past its highest id (rows were loaded with ids)."""
    if store.dialect != "postgresql":
        return
    for table in tables:
        store.scalar(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                     f"(SELECT COALESCE(MAX(id), 0) + 1 FROM {table}), false)")


def analyze(store: Store) -> float:
    """Fresh planner statistics (both engines know ANALYZE); seconds taken."""
    t0 = time.perf_counter()
    store.execute("ANALYZE")
    return time.perf_counter() - t0

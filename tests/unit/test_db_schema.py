"""The Alembic baseline makes on SQLite the schema the legacy SQL files made, and a lender's old file
moves onto Alembic with its rows.

The reference is the legacy SQL files themselves (ivr/db/schema/*.sql, applied by the legacy code),
compared through SQLite's own PRAGMAs, not through SQLAlchemy: tables, columns (order, type affinity,
NOT NULL, default, primary key), indexes and unique constraints, foreign keys, triggers, CHECK.
"""
from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from ivr.db import migrate
from ivr.db.connect import connect
from ivr.db.engine import engine_for
from ivr.db.migrations import migrations as legacy_migrations

WORKTREE = Path(__file__).resolve().parents[2]


def _legacy(path: Path, **apply_options: str) -> Path:
    db = connect(path, migrate=False)
    legacy_migrations.apply(db, **apply_options)
    db.conn.close()
    return path


def _affinity(declared: str) -> str:
    """SQLite's column affinity rules (https://sqlite.org/datatype3.html, 3.1), in their order."""
    t = declared.upper()
    if "INT" in t:
        return "INTEGER"
    if any(k in t for k in ("CHAR", "CLOB", "TEXT")):
        return "TEXT"
    if "BLOB" in t or not t:
        return "BLOB"
    if any(k in t for k in ("REAL", "FLOA", "DOUB")):
        return "REAL"
    return "NUMERIC"


def _default(value: str | None) -> str | None:
    # SQLAlchemy writes a non-integer literal default in parentheses, DEFAULT (1.0): the same default
    return value[1:-1] if value and value.startswith("(") and value.endswith(")") else value


def _describe(path: Path) -> dict[str, dict]:
    conn = sqlite3.connect(str(path))
    try:
        out: dict[str, dict] = {}
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT IN "
                                             "('_sqlite_migrations', 'alembic_version') AND name NOT LIKE 'sqlite_%'")]
        for table in tables:
            columns = [(cid, name, _affinity(type_), notnull, _default(dflt), pk)
                       for cid, name, type_, notnull, dflt, pk in conn.execute(f"PRAGMA table_info({table})")]
            indexes = set()
            for _seq, name, unique, origin, _partial in conn.execute(f"PRAGMA index_list({table})"):
                cols = tuple(r[2] for r in conn.execute(f"PRAGMA index_info({name})"))
                # an index of a UNIQUE or PRIMARY KEY constraint is named sqlite_autoindex_<table>_<n> by
                # its position among the constraints: compare it by what it covers
                indexes.add((name if origin == "c" else origin, cols, unique))
            fks = {(r[2], r[3], r[4], r[5], r[6], r[7]) for r in conn.execute(f"PRAGMA foreign_key_list({table})")}
            sql = conn.execute("SELECT sql FROM sqlite_master WHERE name = ?", [table]).fetchone()[0]
            checks = sorted(re.sub(r"\s+", " ", m) for m in re.findall(r"CHECK \((.*?\))\)", sql))
            out[table] = {"columns": columns, "indexes": indexes, "foreign_keys": fks, "checks": checks}
        out["<triggers>"] = {r[0]: r[1] for r in conn.execute("SELECT name, tbl_name FROM sqlite_master "
                                                             "WHERE type = 'trigger'")}
        return out
    finally:
        conn.close()


def _pk_not_null(description: dict[str, dict]) -> dict[str, dict]:
    """The legacy DDL let a primary key column be NULL (SQLite's historical quirk, `id TEXT PRIMARY KEY`);
    the baseline declares them NOT NULL on purpose. Count a primary key column as NOT NULL on both sides."""
    out = {}
    for table, d in description.items():
        if table == "<triggers>":
            out[table] = d
            continue
        cols = [(cid, name, aff, 1 if pk else notnull, dflt, pk) for cid, name, aff, notnull, dflt, pk in d["columns"]]
        out[table] = {**d, "columns": cols}
    return out


def _upgrade_to(url: str, revision: str) -> None:
    """Alembic to one revision (not head), as `upgrade` would run it."""
    from alembic import command
    engine = engine_for(url)
    with engine.begin() as conn:
        command.upgrade(migrate.alembic_config(conn), revision)
    engine.dispose()


def test_alembic_baseline_on_sqlite_matches_the_legacy_sql_files(tmp_path):
    legacy = _describe(_legacy(tmp_path / "legacy.db"))
    _upgrade_to(f"sqlite:///{tmp_path / 'alembic.db'}", migrate.BASELINE)
    fresh = _describe(tmp_path / "alembic.db")
    assert len(legacy) == 36 and len(legacy["<triggers>"]) == 4 and legacy["users"]["checks"]  # 35 tables
    assert set(fresh) == set(legacy)
    legacy, fresh = _pk_not_null(legacy), _pk_not_null(fresh)
    for table in legacy:
        assert fresh[table] == legacy[table], table


def test_a_new_file_made_by_replaying_alembics_statements_is_the_same_as_alembics(tmp_path, monkeypatch):
    monkeypatch.setattr(migrate, "_sqlite_from_nothing", {})
    migrate.upgrade(f"sqlite:///{tmp_path / 'first.db'}")          # Alembic itself
    assert migrate._sqlite_from_nothing[migrate.head()]
    migrate.upgrade(f"sqlite:///{tmp_path / 'second.db'}")         # its statements again

    def dump(name: str) -> list[tuple]:
        conn = sqlite3.connect(str(tmp_path / name))
        try:
            return conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY name").fetchall() + \
                conn.execute("SELECT version_num FROM alembic_version").fetchall()
        finally:
            conn.close()
    first = dump("first.db")
    assert len(first) > 100 and dump("second.db") == first


def test_baseline_primary_keys_are_not_null_and_integer_ids_still_autoincrement(tmp_path):
    db = connect(tmp_path / "h.db")
    with pytest.raises(sqlite3.IntegrityError, match="NOT NULL"):
        db.execute("INSERT INTO dnc (number, created_at) VALUES (NULL, 'x')")
    for name in ("a", "b"):
        db.execute("INSERT INTO borrowers (loan_id, name, created_at, updated_at) VALUES (?, 'n', 'x', 'x')", [name])
    assert [r[0] for r in db.execute("SELECT id FROM borrowers ORDER BY id")] == [1, 2]
    # the rowid alias survives: `id` is the rowid, as with the legacy `id INTEGER PRIMARY KEY`
    assert db.execute("SELECT count(*) FROM borrowers WHERE rowid = id").fetchone()[0] == 2


def test_guards_and_checks_hold_on_a_new_file(tmp_path):
    db = connect(tmp_path / "h.db")
    db.execute("INSERT INTO audit_log (at, action) VALUES ('x', 'login')")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        db.execute("UPDATE audit_log SET action = 'nothing'")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        db.execute("DELETE FROM audit_log")
    with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
        db.execute("INSERT INTO users (username, password_hash, role, created_at, updated_at) "
                   "VALUES ('u', 'h', 'boss', 'x', 'x')")


def test_a_legacy_file_with_rows_is_stamped_and_keeps_them(tmp_path):
    path = _legacy(tmp_path / "old.db")
    old = sqlite3.connect(str(path))
    old.execute("INSERT INTO borrowers (id, loan_id, name, created_at, updated_at) VALUES (7, 'L7', '张三', 'x', 'x')")
    old.execute("INSERT INTO attempts (id, borrower_id, number, locale, state, created_at) "
                "VALUES ('a-1', 7, '13800000000', 'zh-CN', 'ended', 'x')")
    old.commit()
    old.close()
    assert migrate.upgrade(f"sqlite:///{path}") == migrate.head()
    db = connect(path)
    assert db.execute("SELECT version_num FROM alembic_version").fetchone()[0] == migrate.head()
    assert db.execute("SELECT name FROM borrowers WHERE id = 7").fetchone()[0] == "张三"
    assert db.execute("SELECT borrower_id FROM attempts WHERE id = 'a-1'").fetchone()[0] == 7
    assert db.execute("SELECT count(*) FROM _sqlite_migrations").fetchone()[0] == len(legacy_migrations._migrations)
    db.execute("INSERT INTO borrowers (loan_id, name, created_at, updated_at) VALUES ('L8', 'n', 'x', 'x')")
    assert db.execute("SELECT max(id) FROM borrowers").fetchone()[0] == 8


def test_a_legacy_file_behind_is_finished_by_the_legacy_files_before_the_stamp(tmp_path):
    path = _legacy(tmp_path / "old.db", stop_before="0010_web_sessions")
    assert "web_sessions" not in sqlite3.connect(str(path)).execute(
        "SELECT group_concat(name) FROM sqlite_master WHERE type = 'table'").fetchone()[0]
    connect(path).conn.close()
    migrate.upgrade(f"sqlite:///{tmp_path / 'reference.db'}")   # a new file, all through Alembic
    reference = _pk_not_null(_describe(tmp_path / "reference.db"))
    assert _pk_not_null(_describe(path)) == reference   # the legacy end state, stamped, then the revisions after
    conn = sqlite3.connect(str(path))
    assert conn.execute("SELECT version_num FROM alembic_version").fetchone()[0] == migrate.head()


def test_a_database_without_our_history_is_refused_and_left_alone(tmp_path):
    path = tmp_path / "other.db"
    conn = sqlite3.connect(str(path))
    conn.execute("CREATE TABLE accounts (id INTEGER PRIMARY KEY)")
    conn.commit()
    conn.close()
    with pytest.raises(migrate.MigrationError, match="not a Huifang database"):
        migrate.upgrade(f"sqlite:///{path}")
    tables = {r[0] for r in sqlite3.connect(str(path)).execute("SELECT name FROM sqlite_master")}
    assert tables == {"accounts"}
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not sqlite" * 200)
    with pytest.raises(migrate.MigrationError, match="not a readable SQLite database"):
        migrate.upgrade(f"sqlite:///{junk}")


def test_a_database_from_a_newer_huifang_is_refused(tmp_path):
    path = tmp_path / "newer.db"
    migrate.upgrade(f"sqlite:///{path}")
    conn = sqlite3.connect(str(path))
    conn.execute("UPDATE alembic_version SET version_num = '9999'")
    conn.commit()
    conn.close()
    with pytest.raises(migrate.MigrationError, match="revision 9999.*newer version"):
        migrate.upgrade(f"sqlite:///{path}")


def test_processes_starting_together_migrate_a_new_file_once(tmp_path):
    url = f"sqlite:///{tmp_path / 'race.db'}"
    code = "import sys; from ivr.db.migrate import upgrade; print(upgrade(sys.argv[1]))"
    procs = [subprocess.Popen([sys.executable, "-c", code, url], cwd=WORKTREE, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err for _, err in results]
    assert [out.strip() for out, _ in results] == [migrate.head()] * 2
    conn = sqlite3.connect(str(tmp_path / "race.db"))
    assert conn.execute("SELECT count(*) FROM alembic_version").fetchone()[0] == 1


def test_a_process_opening_a_new_file_another_is_writing_waits_for_it(tmp_path):
    """The interleaving behind a dialog worker that exited at start-up with "database is locked":
    another process writes a new file still in rollback mode; switching to WAL does not call SQLite's
    busy handler, so opening the file must wait for the writer itself."""
    import threading
    import time
    path = tmp_path / "new.db"
    writer = sqlite3.connect(str(path), isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("CREATE TABLE first (x INTEGER)")
    opened: dict = {}

    def open_it():
        engine = engine_for(f"sqlite:///{path}")
        try:
            with engine.connect() as conn:
                opened["mode"] = conn.exec_driver_sql("PRAGMA journal_mode").scalar()
                opened["at"] = time.monotonic()
        except Exception as exc:   # noqa: BLE001 - the failure is what this test looks for
            opened["error"] = exc
        finally:
            engine.dispose()

    other = threading.Thread(target=open_it)
    other.start()
    time.sleep(0.5)
    committed = time.monotonic()
    writer.execute("COMMIT")
    other.join(20)
    writer.close()
    assert "error" not in opened, opened.get("error")
    assert opened["mode"] == "wal" and opened["at"] >= committed


def test_sqlite_engine_sets_what_connect_sets_and_makes_ddl_transactional(tmp_path):
    engine = engine_for(f"sqlite:///{tmp_path / 'e.db'}")
    try:
        with engine.connect() as conn:
            pragmas = {p: conn.exec_driver_sql(f"PRAGMA {p}").scalar()
                       for p in ("journal_mode", "busy_timeout", "foreign_keys", "synchronous")}
            assert pragmas == {"journal_mode": "wal", "busy_timeout": 15000, "foreign_keys": 1, "synchronous": 1}
            conn.rollback()
            with conn.begin() as tx:
                conn.exec_driver_sql("CREATE TABLE scratch (x INTEGER)")
                tx.rollback()
            assert not sa.inspect(conn).has_table("scratch")    # BEGIN was really sent before the DDL
        with engine.connect() as conn, pytest.raises(ValueError, match="sqlite_begin"):
                conn.execution_options(sqlite_begin="LATER").begin()
    finally:
        engine.dispose()

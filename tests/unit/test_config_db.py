"""Settings from defaults, TOML and IVR_* variables; the database opens in WAL with migrations applied."""
from __future__ import annotations

import re

import pytest

from ivr import config
from ivr.db import migrate
from ivr.db.connect import connect
from ivr.db.migrations import split_statements


def test_env_overrides_file_overrides_defaults(tmp_path):
    toml = tmp_path / "ivr.toml"
    toml.write_text('port_base = 20000\ninstance = "fromfile"\n')
    s = config.load(env={"IVR_INSTANCE": "fromenv"}, config_file=toml)
    assert (s.port_base, s.instance) == (20000, "fromenv")
    assert s.ami_port_effective == 20038 and s.sip_port == 20060 and s.audiosocket_port == 20074
    assert config.load(env={}).bind == "127.0.0.1"


def test_unknown_setting_in_file_is_an_error(tmp_path):
    toml = tmp_path / "ivr.toml"
    toml.write_text("prot_base = 1\n")
    with pytest.raises(ValueError, match="unknown setting 'prot_base'"):
        config.load(env={}, config_file=toml)


def test_settings_round_trip_through_the_environment(tmp_path):
    s = config.load(env={}).replace(port_base=23000, instance="x", db_path=str(tmp_path / "d.db"))
    assert config.load(env=s.to_env()) == s


def test_database_is_wal_and_migrations_are_idempotent(tmp_path):
    db = connect(tmp_path / "h.db")
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert {"borrowers", "contacts", "attempts", "events", "answers", "dialogs"} <= set(db.table_names())
    assert db.execute("SELECT version_num FROM alembic_version").fetchone()[0] == migrate.head()
    db.execute("INSERT INTO dnc (number, created_at) VALUES ('13800000000', 'x')")
    db2 = connect(tmp_path / "h.db")
    assert [r[0] for r in db2.execute("SELECT version_num FROM alembic_version")] == [migrate.head()]
    assert db2.execute("SELECT count(*) FROM dnc").fetchone()[0] == 1


def test_statement_splitter():
    sql = "-- a comment\nCREATE TABLE a (x INTEGER); \nCREATE TABLE b (\n  y TEXT -- note\n);\n"
    assert split_statements(sql) == ["CREATE TABLE a (x INTEGER);", "CREATE TABLE b (\n  y TEXT -- note\n);"]


def test_statement_splitter_keeps_a_trigger_body_whole():
    sql = (
        "CREATE TABLE t (x INTEGER, note TEXT);\n"
        "CREATE TRIGGER t_guard BEFORE UPDATE ON t\n"
        "BEGIN\n"
        "  SELECT RAISE(ABORT, 'no;');\n"
        "  SELECT 1;\n"
        "END;\n"
        "INSERT INTO t VALUES (1, 'a;\n b');\n"
        "-- trailing comment ;\n"
    )
    statements = split_statements(sql)
    assert len(statements) == 3
    assert statements[1].startswith("CREATE TRIGGER") and statements[1].endswith("END;")
    assert statements[2] == "INSERT INTO t VALUES (1, 'a;\n b');"
    import sqlite3
    conn = sqlite3.connect(":memory:")
    for statement in statements:
        conn.execute(statement)
    assert conn.execute("SELECT note FROM t").fetchone()[0] == "a;\n b"


def test_database_url_defaults_to_the_sqlite_file_and_selects_postgresql(tmp_path):
    s = config.load(env={"IVR_DB_PATH": str(tmp_path / "h.db")})
    assert s.database_url_effective == f"sqlite:///{tmp_path / 'h.db'}"
    pg = config.load(env={"IVR_DATABASE_URL": "postgresql://huifang:s3cret@db.internal:5432/huifang"})
    assert pg.database_url_effective == "postgresql+psycopg://huifang:s3cret@db.internal:5432/huifang"
    assert config.normalize_database_url("postgres://h@127.0.0.1/x") == "postgresql+psycopg://h@127.0.0.1/x"
    assert "s3cret" not in repr(pg)


@pytest.mark.parametrize("url, message", [
    ("mysql://u@h/db", "unsupported scheme 'mysql'"),
    ("postgresql+psycopg2://u@h/db", "unsupported scheme"),
    ("huifang.db", "expected sqlite:///<file>"),
    ("sqlite://", "sqlite:///<file>"),
])
def test_a_bad_database_url_stops_loading_with_its_name(url, message):
    with pytest.raises(ValueError, match=f"database_url: .*{re.escape(message)}"):
        config.load(env={"IVR_DATABASE_URL": url})

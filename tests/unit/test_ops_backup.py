"""`ivr backup` / `ivr restore` mid-campaign: another process keeps committing attempts (each with its
event, in one transaction) while the online backup runs; the copy restored into a fresh directory
passes integrity_check, is at the current migration level and holds exactly a prefix of the writes.
A restore refuses a database another process has open, a newer schema, and a file that is not one."""
from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

from ivr import cli
from ivr.db import migrate
from ivr.db.connect import connect
from ivr.db.migrations import migrations
from ivr.ops.backup import BackupError, backup, check_database, holders, restore

WORKTREE = Path(__file__).resolve().parents[2]

# the "dialer": one transaction per attempt (the attempt and its first event), until told to stop
WRITER = r"""
import pathlib, sys
from ivr.db import migrate
from ivr.db.connect import connect
db, stop = connect(sys.argv[1]), pathlib.Path(sys.argv[2])
i = 0
while not stop.exists():
    i += 1
    with db.conn:
        db.execute("BEGIN IMMEDIATE")
        db.execute("INSERT INTO attempts (id, number, locale, state, created_at) VALUES (?, '13800000000', "
                   "'zh-CN', 'ended', '2026-12-03T10:00:00Z')", [f"a{i:07d}"])
        db.execute("INSERT INTO events (attempt_id, at, source, name) VALUES (?, 'x', 'controller', 'queued')",
                   [f"a{i:07d}"])
"""


def _count(path: Path) -> int:
    conn = sqlite3.connect(str(path), timeout=15)
    try:
        return conn.execute("SELECT count(*) FROM attempts").fetchone()[0]
    finally:
        conn.close()


def _wait_for(path: Path, n: int, proc) -> int:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read()
        got = _count(path)
        if got >= n:
            return got
        time.sleep(0.02)
    raise AssertionError(f"the writer did not reach {n} attempts")


@pytest.fixture
def live(tmp_path):
    """A database with a writer process committing into it; yields (db path, process)."""
    db_path = tmp_path / "live" / "huifang.db"
    connect(db_path).conn.close()
    stop = tmp_path / "stop-writer"
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(db_path), str(stop)], cwd=WORKTREE,
                            stderr=subprocess.PIPE, text=True)
    yield db_path, proc
    stop.touch()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


def test_backup_while_writing_restores_a_consistent_prefix(tmp_path, live):
    db_path, proc = live
    before = _wait_for(db_path, 200, proc)
    result = backup(db_path, tmp_path / "huifang-backup.db")
    after_backup = _count(db_path)
    final = _wait_for(db_path, after_backup + 100, proc)     # the writer was never blocked
    fresh = tmp_path / "fresh" / "instances" / "default" / "huifang.db"
    restored = restore(Path(result["backup"]), fresh)
    assert restored["previous"] is None and restored["migrations_to_apply"] == []

    db = connect(fresh)   # opens like any process would (WAL, migrations)
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert db.execute("SELECT version_num FROM alembic_version").fetchone()[0] == migrate.head()
    ids = [r["id"] for r in db.query("SELECT id FROM attempts ORDER BY id")]
    assert before <= len(ids) <= after_backup < final
    assert ids == [f"a{i:07d}" for i in range(1, len(ids) + 1)]            # a prefix, no gaps
    assert [r["attempt_id"] for r in db.query("SELECT attempt_id FROM events ORDER BY id")] == ids   # whole transactions
    assert result["attempts"] == len(ids)


def test_restore_refuses_a_database_in_use_unless_forced(tmp_path, live):
    db_path, proc = live
    _wait_for(db_path, 10, proc)
    assert holders(db_path) == [proc.pid]
    copy = backup(db_path, tmp_path)["backup"]
    with pytest.raises(BackupError, match=f"in use by pid {proc.pid}"):
        restore(Path(copy), db_path)
    assert _count(db_path) > 0 and not list(db_path.parent.glob("*.before-restore-*"))


def test_restore_keeps_the_replaced_database_and_its_wal(tmp_path):
    old = tmp_path / "db" / "huifang.db"
    db = connect(old)
    db.execute("INSERT INTO attempts (id, number, locale, state, created_at) VALUES ('old', '1', 'zh-CN', 'ended', 'x')")
    db.conn.close()
    empty = tmp_path / "empty.db"
    connect(empty).conn.close()
    result = restore(empty, old)
    assert _count(old) == 0 and _count(Path(result["previous"])) == 1
    assert not Path(str(old) + "-wal").exists() or Path(str(old) + "-wal").stat().st_size == 0


def test_restore_refuses_newer_schema_and_non_databases(tmp_path):
    newer = tmp_path / "newer.db"
    db = connect(newer)
    db.execute("UPDATE alembic_version SET version_num = '9999'")
    db.conn.close()
    with pytest.raises(BackupError, match="newer Huifang.*9999"):
        restore(newer, tmp_path / "target.db")
    newer_legacy = tmp_path / "newer-legacy.db"     # a file of the legacy SQL files, from a newer install
    db = connect(newer_legacy, migrate=False)
    migrations.apply(db)
    db.execute("INSERT INTO _sqlite_migrations (migration_set, name, applied_at) VALUES ('huifang', '9999_future', 'x')")
    db.conn.close()
    with pytest.raises(BackupError, match="newer Huifang.*9999_future"):
        restore(newer_legacy, tmp_path / "target.db")
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not sqlite at all" * 100)
    with pytest.raises(BackupError, match="not a readable SQLite database"):
        restore(junk, tmp_path / "target.db")
    plain = tmp_path / "plain.db"
    sqlite3.connect(str(plain)).execute("CREATE TABLE t (x)").connection.close()
    with pytest.raises(BackupError, match="not a Huifang database"):
        check_database(plain)
    assert not (tmp_path / "target.db").exists()


def test_cli_backup_with_recordings_and_clear_errors(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("IVR_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("IVR_DB_PATH", raising=False)
    monkeypatch.delenv("IVR_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    assert cli.main(["backup", str(tmp_path)]) == 2
    assert "no database" in capsys.readouterr().err
    from ivr import config
    s = config.load()
    connect(s.database).conn.close()
    s.recordings_dir.mkdir(parents=True)
    (s.recordings_dir / "a0000001.wav").write_bytes(b"RIFF")
    out = tmp_path / "out"
    out.mkdir()
    assert cli.main(["backup", str(out / "b.db"), "--with-recordings"]) == 0
    with tarfile.open(out / "b.recordings.tar") as tar:
        assert tar.getnames() == ["a0000001.wav"]
    assert cli.main(["backup", str(out / "b.db")]) == 2
    assert "exists" in capsys.readouterr().err
    assert cli.main(["restore", str(out / "missing.db")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_cli_reads_the_services_env_file(tmp_path, monkeypatch, capsys):
    """`--env-file /etc/huifang/huifang.env`: the operator's shell backs up the database the services use."""
    monkeypatch.setenv("IVR_CACHE_DIR", str(tmp_path / "somewhere-else"))
    monkeypatch.delenv("IVR_DB_PATH", raising=False)
    monkeypatch.delenv("IVR_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    service_db = tmp_path / "state" / "instances" / "prod" / "huifang.db"
    connect(service_db).conn.close()
    env = tmp_path / "huifang.env"
    env.write_text(f"# settings\nIVR_CACHE_DIR={tmp_path / 'state'}\nIVR_INSTANCE=\"prod\"\n")
    assert cli.main(["backup", str(tmp_path / "b.db"), "--env-file", str(env)]) == 0
    assert json.loads(capsys.readouterr().out)["database"] == str(service_db)
    env.write_text("IVR_CACHE_DIR\n")
    assert cli.main(["backup", str(tmp_path / "c.db"), "--env-file", str(env)]) == 2
    assert "expected KEY=VALUE" in capsys.readouterr().err


def test_cli_refuses_a_postgresql_database_and_names_pg_dump(tmp_path, monkeypatch, capsys):
    """With database_url on PostgreSQL there is no file to copy: backup and restore refuse, exit 2, with
    the pg_dump / pg_restore command for that database (never its password), and touch nothing."""
    monkeypatch.setenv("IVR_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("IVR_DB_PATH", raising=False)
    monkeypatch.delenv("IVR_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("IVR_DATABASE_URL", "postgresql://huifang:s3cret@db.internal:5433/huifang")
    assert cli.main(["backup", str(tmp_path / "b.db"), "--with-recordings"]) == 2
    err = capsys.readouterr().err
    assert "PostgreSQL" in err and "pg_dump --format=custom --file=DEST 'postgresql://huifang@db.internal:5433/huifang'" in err
    assert "s3cret" not in err
    assert cli.main(["restore", str(tmp_path / "b.db")]) == 2
    err = capsys.readouterr().err
    assert "pg_restore" in err and "s3cret" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_cli_backs_up_the_sqlite_file_database_url_names(tmp_path, monkeypatch, capsys):
    """database_url sqlite:///<file> wins over the default file, as it does for every process."""
    monkeypatch.setenv("IVR_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("IVR_DB_PATH", raising=False)
    monkeypatch.delenv("IVR_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    chosen = tmp_path / "elsewhere" / "huifang.db"
    connect(chosen).conn.close()
    monkeypatch.setenv("IVR_DATABASE_URL", f"sqlite:///{chosen}")
    assert cli.main(["backup", str(tmp_path / "b.db")]) == 0
    assert json.loads(capsys.readouterr().out)["database"] == str(chosen)

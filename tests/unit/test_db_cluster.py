"""ivr/db/cluster.py: a throwaway PostgreSQL started under a directory we choose, with the settings we
give, reachable on 127.0.0.1 only, and gone (server and directory) after stop(); bad input is refused
with a message instead of a half-made cluster. Also: the tests' subclass keeps durability off."""
from __future__ import annotations

import os
import socket
import tempfile
from pathlib import Path

import psycopg
import pytest

from ivr.db import cluster
from ivr.db.cluster import LIKE_SQLITE_WAL, PostgresCluster, PostgresUnavailable

pytestmark = pytest.mark.skipif(not list(Path("/").glob(cluster.PG_BIN_GLOB)), reason="no PostgreSQL installed")


def show(c: PostgresCluster, setting: str) -> str:
    with psycopg.connect(host="127.0.0.1", port=c.port, user=cluster.ROLE, dbname="postgres") as conn:
        row = conn.execute(f"SHOW {setting}").fetchone()
    assert row is not None
    return str(row[0])


def accepts(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def open_dir():
    """A directory the postgres user can reach (pytest's tmp_path is root's alone)."""
    with tempfile.TemporaryDirectory(prefix="huifang-cluster-test-") as d:
        os.chmod(d, 0o755)
        yield Path(d)


def test_started_under_the_given_directory_with_our_settings_then_gone(open_dir):
    with PostgresCluster.start(open_dir / "runs", settings={**LIKE_SQLITE_WAL, "work_mem": "'8MB'"}) as c:
        assert c.root.parent == (open_dir / "runs").resolve()
        assert (c.root / f".s.PGSQL.{c.port}").exists()          # the unix socket lives in its directory
        assert show(c, "synchronous_commit") == "off"
        assert show(c, "fsync") == "on"                            # LIKE_SQLITE_WAL keeps fsync
        assert show(c, "work_mem") == "8MB"
        assert show(c, "listen_addresses") == "127.0.0.1"
        name = c.create_database("bench_")
        assert name.startswith("bench_")
        with psycopg.connect(c.url(name).replace("postgresql+psycopg", "postgresql")) as conn:
            assert conn.execute("SELECT current_database()").fetchone() == (name,)
        c.drop_database(name)
        port, root = c.port, c.root
    assert not c.running
    assert not root.exists()
    assert not accepts(port)
    c.stop()   # twice is harmless


def test_a_path_too_long_for_the_socket_is_refused_and_leaves_nothing(tmp_path):
    deep = tmp_path / ("d" * 100)
    with pytest.raises(PostgresUnavailable, match="too long a path"):
        PostgresCluster.start(deep)
    assert list(deep.iterdir()) == []


@pytest.mark.skipif(os.geteuid() != 0, reason="only root hands the cluster to the postgres user")
def test_a_directory_the_postgres_user_cannot_enter_is_named(open_dir):
    locked = open_dir / "locked"
    locked.mkdir(mode=0o700)
    with pytest.raises(PostgresUnavailable, match="mode 700.*postgres user") as raised:
        PostgresCluster.start(locked / "runs")
    assert str(raised.value).startswith(f"{locked} (mode 700)")
    assert list((locked / "runs").iterdir()) == []


def test_a_setting_that_is_not_a_plain_name_is_refused(tmp_path):
    with pytest.raises(ValueError, match="not a plain name"):
        PostgresCluster.start(tmp_path, settings={"fsync = off\nport": "1"})
    assert list(tmp_path.iterdir()) == []


def test_missing_server_binaries_name_what_to_install(open_dir, monkeypatch):
    monkeypatch.setenv("IVR_PG_BIN", str(open_dir / "nowhere"))
    with pytest.raises(PostgresUnavailable, match="nowhere/initdb"):
        PostgresCluster.start(open_dir / "runs")
    assert list((open_dir / "runs").iterdir()) == []


def test_bad_database_prefix_is_refused(postgres_cluster):
    with pytest.raises(ValueError, match="letters, digits"):
        postgres_cluster.create_database('x"; DROP')


def test_the_tests_cluster_runs_without_durability(postgres_cluster):
    assert isinstance(postgres_cluster, PostgresCluster)
    assert show(postgres_cluster, "fsync") == "off"
    assert show(postgres_cluster, "full_page_writes") == "off"

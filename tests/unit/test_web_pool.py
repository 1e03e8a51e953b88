"""The web app's database pool on PostgreSQL: requests reuse the connections it keeps open (the
same server backend serves one request after another, and each is given back at the request's end),
a PostgreSQL restart between requests costs no request (pre-ping replaces the dead connections), a
request while the server is down is a 503 to retry, and the pool size is a setting. On SQLite a
request still gets a connection of its own, closed with it. A cluster of this module's own: halting
the session's would pull it from under other tests."""
from __future__ import annotations

import sqlite3

import psycopg
import pytest
import sqlalchemy as sa

from ivr.db import connect, migrate
from ivr.db.store import store_of
from ivr.web import POOL, get_db, open_db, security
from tests.support.postgres import PostgresCluster
from tests.support.web_app import Client, db_of, make_app

WEB = "huifang-web"


@pytest.fixture(scope="module")
def cluster():
    c = PostgresCluster.start()
    yield c
    c.stop()


@pytest.fixture(scope="module")
def migrated(cluster) -> str:
    name = cluster.create_database()
    migrate.upgrade(cluster.url(name))
    return name


@pytest.fixture
def url(cluster, migrated):
    name = cluster.create_database(template=migrated)
    yield cluster.url(name)
    cluster.drop_database(name)


def web_backends(cluster, url: str) -> list[int]:
    """Server processes the web app holds on the test's database (idle or not), by pid."""
    database = url.rsplit("/", 1)[1]
    with psycopg.connect(host="127.0.0.1", port=cluster.port, user="huifang", dbname="postgres") as conn:
        rows = conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s AND application_name = %s "
                            "ORDER BY pid", (database, WEB)).fetchall()
    return [r[0] for r in rows]


def signed_in_admin(tmp_path, url, **settings) -> Client:
    app = make_app(tmp_path, database_url=url, **settings)
    db = db_of(app)
    try:
        security.add_user(db, "boss", "correct-horse-battery", "admin")
    finally:
        store_of(db).close()
    c = Client(app)
    assert c.login("boss", "correct-horse-battery").status_code == 302
    return c


def test_requests_reuse_the_pooled_connection(cluster, url, tmp_path):
    c = signed_in_admin(tmp_path, url)
    pool = c.app.extensions[POOL]
    first = web_backends(cluster, url)
    assert len(first) == 1 and pool.lent() == 0      # one connection, kept open, given back after the login
    for page in ("/", "/calls", "/admin/users", "/"):
        assert c.get(page).status_code == 200
        assert pool.lent() == 0
    assert web_backends(cluster, url) == first        # the same server process served every request


def test_a_postgres_restart_between_requests_costs_no_request(cluster, url, tmp_path):
    c = signed_in_admin(tmp_path, url)
    before = web_backends(cluster, url)
    cluster.halt()     # the pooled connection dies with the server, unseen by the app
    cluster.resume()
    assert c.get("/").status_code == 200              # pre-ping found it dead and connected again
    after = web_backends(cluster, url)
    assert len(after) == 1 and after != before


def test_while_postgres_is_down_a_request_is_a_503_to_retry(cluster, url, tmp_path):
    c = signed_in_admin(tmp_path, url)
    cluster.halt()
    try:
        down = c.get("/")
        api = c.get("/api/v1/results")
    finally:
        cluster.resume()
    assert down.status_code == 503 and down.headers["Retry-After"] == "5"
    assert "数据库暂时不可用" in down.get_data(as_text=True)
    assert api.status_code == 503 and "database is unavailable" in api.get_json()["error"]
    assert c.get("/").status_code == 200 and c.app.extensions[POOL].lent() == 0


def test_a_request_that_finds_every_connection_lent_waits_then_is_a_503(url, tmp_path, monkeypatch):
    monkeypatch.setattr(connect, "POOL_WAIT_S", 0.3)
    app = make_app(tmp_path, database_url=url, settings={"web_db_pool_size": 1})
    held = [open_db(app), open_db(app)]        # the one kept and the one more for a burst: all there is
    api = app.test_client()
    bearer = {"Authorization": "Bearer hf_not-a-token"}
    busy = api.get("/api/v1/results", headers=bearer)
    assert busy.status_code == 503 and busy.headers["Retry-After"] == "5"
    store_of(held.pop()).close()
    assert api.get("/api/v1/results", headers=bearer).status_code == 401   # reached the token check
    store_of(held.pop()).close()
    assert app.extensions[POOL].lent() == 0


def test_other_database_errors_are_not_taken_for_an_outage(tmp_path):
    """SQLite's "database is locked" after its busy timeout (or a bad statement) is a bug to see, a 500."""
    app = make_app(tmp_path)
    locked = sa.exc.OperationalError("UPDATE x", {}, sqlite3.OperationalError("database is locked"))

    @app.get("/test-locked")
    def raises():
        raise locked

    with pytest.raises(sa.exc.OperationalError):   # TESTING propagates what would be a 500
        app.test_client().get("/test-locked")
    app.testing = False
    app.config["PROPAGATE_EXCEPTIONS"] = False
    assert app.test_client().get("/test-locked").status_code == 500


def test_pool_size_is_a_setting(url, tmp_path):
    from ivr import config
    assert config.load(env={"IVR_WEB_DB_POOL_SIZE": "3"}).web_db_pool_size == 3
    with pytest.raises(ValueError, match="web_db_pool_size must be at least 1 connection, not 0"):
        config.load(env={"IVR_WEB_DB_POOL_SIZE": "0"})
    assert make_app(tmp_path, database_url=url).extensions[POOL].engine.pool.size() == 5   # the default
    assert make_app(tmp_path, database_url=url, settings={"web_db_pool_size": 3}).extensions[POOL].engine.pool.size() == 3
    with pytest.raises(ValueError, match="pool size must be .* at least 1, not 0"):
        make_app(tmp_path, database_url=url, settings={"web_db_pool_size": 0})


def test_on_sqlite_each_request_has_its_own_connection(tmp_path):
    app = make_app(tmp_path)
    pool = app.extensions[POOL]
    assert pool.engine is None
    with app.test_request_context():
        db = get_db()
        assert get_db() is db and db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        conn = db.conn
    with pytest.raises(sqlite3.ProgrammingError):
        conn.execute("SELECT 1")

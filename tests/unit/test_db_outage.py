"""A PostgreSQL restart under a process: `ivr.db.outage` waits for the server and runs the work again;
every other database error reaches the caller at once. A cluster of this module's own (the session's
is shared with other tests and must not go down under them)."""
from __future__ import annotations

import sqlite3
import threading
import time

import pytest
import sqlalchemy as sa

from ivr.db import migrate, outage
from ivr.db.store import open_store
from tests.support.postgres import PostgresCluster

NODE = {"name": "n1", "capacity": 4, "started_at": "2026-12-03T00:00:00Z", "beat_at": "2026-12-03T00:00:00Z",
        "ami_host": "127.0.0.1", "ami_port": 5038}


@pytest.fixture(scope="module")
def cluster():
    c = PostgresCluster.start()
    yield c
    c.stop()


@pytest.fixture
def url(cluster):
    name = cluster.create_database()
    u = cluster.url(name)
    migrate.upgrade(u)
    return u


def test_work_waits_for_a_restarted_server_and_is_done_once(cluster, url):
    holder = {"store": open_store(url)}
    cluster.halt()   # the Store's connection dies with the server
    tries = []

    def work():
        tries.append(time.monotonic())
        holder["store"].insert("nodes", NODE)

    def reopen():
        holder["store"] = open_store(url)

    done = {}
    t = threading.Thread(target=lambda: done.setdefault("r", outage.through_outage(work, reopen, what="test")))
    t.start()
    time.sleep(2.0)
    assert t.is_alive() and len(tries) == 1      # waiting for the server, not running the work on a dead one
    cluster.resume()
    t.join(timeout=30)
    assert not t.is_alive() and "r" in done
    assert holder["store"].scalar("SELECT count(*) FROM nodes") == 1


def test_a_server_that_ends_our_session_is_an_outage(cluster, url):
    store = open_store(url)
    pid = store.scalar("SELECT pg_backend_pid()")
    open_store(url).execute("SELECT pg_terminate_backend(:p)", {"p": pid})
    with pytest.raises(sa.exc.DBAPIError) as lost:
        store.scalar("SELECT 1")
    assert outage.connection_lost(lost.value)


def test_errors_of_the_work_itself_are_raised_at_once(url):
    store = open_store(url)
    store.insert("nodes", NODE)
    calls = []

    def again():
        calls.append(1)
        store.insert("nodes", NODE)           # the same primary key

    with pytest.raises(sa.exc.IntegrityError) as dup:
        outage.through_outage(again, lambda: None)
    assert calls == [1] and not outage.connection_lost(dup.value)
    with pytest.raises(sa.exc.ProgrammingError) as bad:
        outage.through_outage(lambda: store.scalar("SELECT nope FROM nodes"), lambda: None)
    assert not outage.connection_lost(bad.value)


def test_sqlite_busy_is_not_an_outage(tmp_path):
    path = tmp_path / "h.db"
    migrate.upgrade(f"sqlite:///{path}")
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    store = open_store(f"sqlite:///{path}")
    store.execute("PRAGMA busy_timeout = 0")
    calls = []

    def write():
        calls.append(1)
        store.insert("nodes", NODE)

    with pytest.raises(sa.exc.OperationalError) as locked:
        outage.through_outage(write, lambda: None)
    assert "locked" in str(locked.value) and calls == [1]
    holder.execute("ROLLBACK")


def test_giving_up_when_asked_to_stop(cluster):
    stop = threading.Event()
    stop.set()
    nobody = cluster.url("postgres").rsplit(":", 1)[0] + ":1/postgres"   # port 1: nothing listens
    with pytest.raises(sa.exc.OperationalError) as refused:
        outage.through_outage(lambda: open_store(nobody).scalar("SELECT 1"), lambda: None, stop=stop)
    assert outage.connection_lost(refused.value)


def test_async_db_calls_wait_for_the_server_and_close_gives_up(cluster, url):
    import asyncio

    from ivr.db.store import store_of
    from ivr.db.writer import AsyncDb
    adb = AsyncDb(url)
    cluster.halt()
    result = {}

    def write():
        result["ok"] = asyncio.run(adb.call(lambda d: store_of(d).insert("nodes", NODE)))
    t = threading.Thread(target=write)
    t.start()
    time.sleep(1.5)
    assert t.is_alive()
    cluster.resume()
    t.join(timeout=30)
    assert result == {"ok": "n1"}
    assert asyncio.run(adb.call(lambda d: store_of(d).scalar("SELECT count(*) FROM nodes"))) == 1

    cluster.halt()
    failed = {}

    def stuck():
        try:
            asyncio.run(adb.call(lambda d: store_of(d).scalar("SELECT 1")))
        except sa.exc.DBAPIError as exc:
            failed["exc"] = exc
    t = threading.Thread(target=stuck)
    t.start()
    time.sleep(1.0)
    adb.close()                     # a process stopping: the waiting call gives up with the error
    t.join(timeout=30)
    cluster.resume()
    assert not t.is_alive() and outage.connection_lost(failed["exc"])

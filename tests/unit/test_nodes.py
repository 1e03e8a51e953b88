"""Nodes in the shared database (both engines): a controller's beat registers its node; `ivr node list` shows each
node's state (up, AMI down, stale, stopped), its calls up against its capacity."""
from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys

from ivr.config import REPO_ROOT
from ivr.db.migrate import sqlite_path
from ivr.db.store import store_of
from ivr.dialer import nodes

NOW = dt.datetime(2026, 12, 3, 8, 0, tzinfo=dt.timezone.utc)


def beat(db, name, *, at, connected=True, controller="h:1"):
    nodes.beat(db, name, ami_host="127.0.0.1", ami_port=5038, capacity=30, controller=controller,
               started_at=at.isoformat(), ami_connected=connected)
    store_of(db).execute("UPDATE nodes SET beat_at = :at WHERE name = :name", {"at": at.isoformat(), "name": name})


def test_states_and_load(any_db):
    db = any_db
    beat(db, "up", at=NOW - dt.timedelta(seconds=3))
    beat(db, "ami-down", at=NOW - dt.timedelta(seconds=3), connected=False)
    beat(db, "stale", at=NOW - dt.timedelta(seconds=60))
    beat(db, "stopped", at=NOW - dt.timedelta(seconds=3), controller="h:2")
    nodes.stopped(db, "stopped", "h:other")               # another controller's stop leaves it alone
    assert {r["name"]: r["state"] for r in nodes.listing(db, NOW)}["stopped"] == "up"
    nodes.stopped(db, "stopped", "h:2")
    for i, (node, state) in enumerate([("up", "in_dialog"), ("up", "ringing"), ("up", "ended"), ("stale", "dialing")]):
        store_of(db).insert("attempts", {"id": f"a{i}", "number": "1", "locale": "zh-CN", "state": state,
                                         "created_at": "x", "node": node})
    got = {r["name"]: (r["state"], r["load"], r["capacity"]) for r in nodes.listing(db, NOW)}
    assert got == {"up": ("up", 2, 30), "ami-down": ("ami-down", 0, 30), "stale": ("stale", 1, 30),
                   "stopped": ("stopped", 0, 30)}


def test_a_new_controller_on_a_node_restarts_its_clock_and_clears_a_stop(any_db):
    db = any_db
    beat(db, "n1", at=NOW)
    nodes.stopped(db, "n1", "h:1")
    nodes.beat(db, "n1", ami_host="127.0.0.1", ami_port=5038, capacity=50, controller="h:9",
               started_at="2026-12-03T09:00:00+00:00", ami_connected=True)
    row = store_of(db).one("SELECT * FROM nodes")
    assert row["stopped_at"] is None and row["controller"] == "h:9" and row["capacity"] == 50
    assert row["started_at"] == "2026-12-03T09:00:00+00:00"


def test_ivr_node_list(tmp_path, engine_url, any_db):
    """On SQLite through the db_path setting, on PostgreSQL through database_url."""
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "IVR_CACHE_DIR": str(tmp_path / "cache")}
    path = sqlite_path(engine_url)
    env.update({"IVR_DB_PATH": str(path)} if path is not None else {"IVR_DATABASE_URL": engine_url})
    run = subprocess.run([sys.executable, "-m", "ivr.cli", "node", "list"], cwd=REPO_ROOT, env=env,
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0 and "no node has registered yet" in run.stdout, run.stderr
    beat(any_db, "node-7", at=dt.datetime.now(dt.timezone.utc))
    run = subprocess.run([sys.executable, "-m", "ivr.cli", "node", "list", "--json"], cwd=REPO_ROOT, env=env,
                         capture_output=True, text=True, timeout=60)
    [row] = json.loads(run.stdout)
    assert (row["name"], row["state"], row["capacity"], row["load"]) == ("node-7", "up", 30, 0)
    run = subprocess.run([sys.executable, "-m", "ivr.cli", "node", "list"], cwd=REPO_ROOT, env=env,
                         capture_output=True, text=True, timeout=60)
    assert "node-7" in run.stdout and "0 / 30" in run.stdout

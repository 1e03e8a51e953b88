"""Controller heartbeats: each running dialer controller writes its row in `controller_heartbeats`
every BEAT_EVERY_S seconds from its loop; the web app reads the newest to say whether any
controller is running.

Why it looks like this: campaign commands (start, pause...) go through the `commands` table and
only a controller applies them. With none running, a supervisor's 开始 used to wait forever with
no word why. The database is the bus between our processes, so the controller reports there too;
real wall-clock time (not the demo's clock) because the reader compares it with its own.
"""
from __future__ import annotations

import datetime as dt
import logging
import os
import socket
from typing import Any

from ..db.clock import now_iso
from ..db.store import HasStore, Store, store_of

log = logging.getLogger(__name__)

BEAT_EVERY_S = 5.0
STALE_AFTER_S = 20.0     # four missed beats: the controller is gone (or its loop is stuck)


def process_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


Handle = Store | HasStore


def beat(db: Handle, name: str, started_at: str, ami_connected: bool) -> None:
    store_of(db).execute(
        "INSERT INTO controller_heartbeats (name, host, pid, started_at, beat_at, ami_connected) "
        "VALUES (:name, :host, :pid, :started, :now, :ami) ON CONFLICT (name) DO UPDATE SET "
        "beat_at = excluded.beat_at, ami_connected = excluded.ami_connected, stopped_at = NULL",
        {"name": name, "host": socket.gethostname(), "pid": os.getpid(), "started": started_at, "now": now_iso(),
         "ami": int(ami_connected)})


def stopped(db: Handle, name: str) -> None:
    store_of(db).execute("UPDATE controller_heartbeats SET stopped_at = :now WHERE name = :name",
                         {"now": now_iso(), "name": name})


def status(db: Handle, now: dt.datetime | None = None) -> dict[str, Any]:
    """{"alive": a controller beat within STALE_AFTER_S and has not stopped, "last_beat_at": the
    newest beat (None if none ever), "ami_connected": that controller's AMI link}."""
    row = store_of(db).one("SELECT beat_at, ami_connected, stopped_at FROM controller_heartbeats "
                           "ORDER BY beat_at DESC LIMIT 1")
    if row is None:
        return {"alive": False, "last_beat_at": None, "ami_connected": False}
    beat_at, ami, stopped_at = row["beat_at"], row["ami_connected"], row["stopped_at"]
    now = now or dt.datetime.now(dt.timezone.utc)
    try:
        age = (now - dt.datetime.fromisoformat(beat_at)).total_seconds()
    except (TypeError, ValueError):
        age = float("inf")
    alive = stopped_at is None and -STALE_AFTER_S < age <= STALE_AFTER_S
    return {"alive": alive, "last_beat_at": beat_at, "ami_connected": bool(ami) and alive}

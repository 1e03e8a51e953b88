"""Telephony nodes in the shared database: who is up, with what capacity and load.

A node is one Asterisk with its dialog server. The controller that drives it writes the node's row
every few seconds (heartbeat.BEAT_EVERY_S) from its loop: the node's AMI address, its capacity (the
controller's max channels), whether AMI is connected. Every attempt names its node
(`attempts.node`), so a controller reconciles only its own node's calls, and `ivr node list` can
show each node's load (calls not ended) beside its heartbeat age.

Real wall-clock time, like the controller heartbeat: the readers compare it with their own.

A node whose controller went silent is out of the rotation at once (nobody places calls on it), but
its calls may still be up on its Asterisk, so they are not touched for `node_lost_after_s` (a setting,
default `LOST_AFTER_S`): longer than a call lasts (an agent's conversation included). Past that, any
live controller closes them as lost (`lost_attempts`, then the controller's close_lost and finalize),
so their borrowers are retried by the campaign's rules instead of waiting for a node that may never
come back. A node that does come back first reconciles its own calls against its Asterisk, as after
any restart.

A node whose controller lives but whose Asterisk is gone (AMI unreachable) is out of the rotation
too: its controller claims nothing while AMI is down. When AMI returns it reconciles its calls
against the channels; if AMI stays down for `node_lost_after_s`, the controller closes its own
node's open calls as lost itself (the other controllers only see its beat, which is fresh).
"""
from __future__ import annotations

import datetime as dt
from typing import Any

from ..db.clock import now_iso
from ..db.store import HasStore, Store, store_of
from .heartbeat import STALE_AFTER_S

LOST_AFTER_S = 3600.0


Handle = Store | HasStore


def beat(db: Handle, name: str, *, ami_host: str, ami_port: int, capacity: int, controller: str, started_at: str,
         ami_connected: bool) -> None:
    store_of(db).execute(
        "INSERT INTO nodes (name, ami_host, ami_port, capacity, controller, started_at, beat_at, ami_connected) "
        "VALUES (:name, :host, :port, :capacity, :controller, :started, :now, :ami) ON CONFLICT (name) DO UPDATE "
        "SET ami_host = excluded.ami_host, ami_port = excluded.ami_port, capacity = excluded.capacity, "
        "controller = excluded.controller, started_at = CASE WHEN nodes.controller = excluded.controller "
        "THEN nodes.started_at ELSE excluded.started_at END, beat_at = excluded.beat_at, "
        "ami_connected = excluded.ami_connected, stopped_at = NULL",
        {"name": name, "host": ami_host, "port": ami_port, "capacity": capacity, "controller": controller,
         "started": started_at, "now": now_iso(), "ami": int(ami_connected)})


def stopped(db: Handle, name: str, controller: str) -> None:
    """A clean stop of the controller driving the node (another may have taken it over since)."""
    store_of(db).execute("UPDATE nodes SET stopped_at = :now WHERE name = :name AND controller = :controller",
                         {"now": now_iso(), "name": name, "controller": controller})


def listing(db: Handle, now: dt.datetime | None = None) -> list[dict[str, Any]]:
    """Every node with its load (calls not ended), heartbeat age in seconds and state:
    up, stale (no beat for STALE_AFTER_S: out of the rotation), stopped, or ami-down."""
    now = now or dt.datetime.now(dt.timezone.utc)
    store = store_of(db)
    load = {r["node"]: r["n"] for r in store.query(
        "SELECT node, count(*) AS n FROM attempts WHERE state != 'ended' AND node IS NOT NULL GROUP BY node")}
    out = []
    for r in store.query("SELECT * FROM nodes ORDER BY name"):
        try:
            age = (now - dt.datetime.fromisoformat(r["beat_at"])).total_seconds()
        except (TypeError, ValueError):
            age = float("inf")
        if r["stopped_at"]:
            state = "stopped"
        elif age > STALE_AFTER_S:
            state = "stale"
        elif not r["ami_connected"]:
            state = "ami-down"
        else:
            state = "up"
        out.append({**r, "load": load.get(r["name"], 0), "age_s": age, "state": state})
    return out


def lost_attempts(db: Handle, now: dt.datetime, lost_after_s: float = LOST_AFTER_S) -> list[str]:
    """Open attempts of nodes that have not beaten for `lost_after_s` (stopped or not)."""
    cutoff = (now - dt.timedelta(seconds=lost_after_s)).isoformat()
    return [r["id"] for r in store_of(db).query(
        "SELECT a.id FROM attempts a JOIN nodes n ON n.name = a.node WHERE a.state != 'ended' "
        "AND n.beat_at < :cutoff ORDER BY a.created_at", {"cutoff": cutoff})]

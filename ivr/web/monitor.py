"""The live monitor: calls in progress (number masked, stage = attempt state + last answered node,
duration), the agents' queue (escalations waiting / being handled), running campaigns. The page
polls /monitor/live.json every 2 s."""
from __future__ import annotations

from flask import Blueprint, jsonify, render_template

from ..db.store import HasStore, Store, store_of
from . import get_db, privacy, security
from .common import OPEN_STATES, duration, local
from .i18n import label

bp = Blueprint("monitor", __name__)


def snapshot(db: Store | HasStore) -> dict:
    s = store_of(db)
    indexed = "INDEXED BY attempts_state " if s.dialect == "sqlite" else ""  # SQLite's hint: common.OPEN_STATES
    calls = []
    for a in s.query(f"""
        SELECT a.id, a.number, a.state, a.locale, a.campaign_id, a.created_at, a.answered_at,
               (SELECT node FROM answers n WHERE n.attempt_id = a.id ORDER BY seq DESC LIMIT 1) AS node,
               (SELECT intent FROM answers n WHERE n.attempt_id = a.id ORDER BY seq DESC LIMIT 1) AS intent
        FROM attempts a {indexed}WHERE a.state IN {OPEN_STATES} ORDER BY a.created_at, a.id LIMIT 500"""):
        calls.append({"id": a["id"], "number": privacy.mask_phone(a["number"]), "state": a["state"],
                      "state_label": label("astate", a["state"]), "node": a["node"] or "",
                      "intent": label("intent", a["intent"]), "locale": a["locale"], "campaign_id": a["campaign_id"],
                      "since": local(a["created_at"], fmt="%H:%M:%S"),
                      "duration": duration(a["answered_at"] or a["created_at"])})
    queue = []
    for e in s.query("""
        SELECT e.id, e.reason, e.queued_at, e.agent, e.answered_at, a.number, a.state
        FROM escalations e JOIN attempts a ON a.id = e.attempt_id WHERE e.closed_at IS NULL
        ORDER BY e.queued_at, e.id LIMIT 200"""):
        queue.append({"id": e["id"], "reason": label("reason", e["reason"]), "agent": e["agent"] or "",
                      "status": "answered" if e["agent"] else "waiting",
                      "status_label": label("qstate", "answered" if e["agent"] else "waiting"),
                      "number": privacy.mask_phone(e["number"]), "waited": duration(e["queued_at"], e["answered_at"]),
                      "on_line": e["state"] != "ended"})
    campaigns = s.query("""
        SELECT c.id, c.name, c.state, c.max_concurrent,
               (SELECT count(*) FROM campaign_targets t WHERE t.campaign_id = c.id) AS total,
               (SELECT count(*) FROM campaign_targets t WHERE t.campaign_id = c.id AND t.status = 'done') AS done
        FROM campaigns c WHERE c.state IN ('running', 'paused') ORDER BY c.id""")
    for c in campaigns:
        c["state_label"] = label("cstate", c["state"])
        c["live"] = sum(1 for x in calls if x["campaign_id"] == c["id"])
    return {"calls": calls, "queue": queue, "campaigns": campaigns,
            "waiting": sum(1 for q in queue if q["status"] == "waiting"),
            "answered": sum(1 for q in queue if q["status"] == "answered")}


@bp.get("/monitor")
@security.require("monitor")
def index():
    return render_template("monitor.html", s=snapshot(get_db()))


@bp.get("/monitor/live.json")
@security.require("monitor")
def live():
    return jsonify(snapshot(get_db()))

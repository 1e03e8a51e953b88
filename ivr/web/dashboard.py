"""The home page: what each role needs first (agents and QA go to their own screens)."""
from __future__ import annotations

import datetime as dt

from flask import Blueprint, g, redirect, render_template, url_for

from ..db.store import HasStore, Store, store_of
from . import get_db, money, security
from .common import OPEN_STATES

bp = Blueprint("dashboard", __name__)


def day_stats(db: Store | HasStore, since: dt.datetime) -> dict:
    """The home page's figures: calls, connects, transfers and promises since `since`, and what is
    live, running and waiting now."""
    s = store_of(db)
    p = {"since": since.astimezone(dt.timezone.utc).isoformat(timespec="milliseconds")}
    # the planner hint is SQLite's (see common.OPEN_STATES); PostgreSQL picks its index itself
    indexed = "INDEXED BY attempts_state " if s.dialect == "sqlite" else ""
    day = s.one("SELECT count(*) AS n, sum(CASE WHEN outcome = 'answered' THEN 1 ELSE 0 END) AS connected "
                "FROM attempts WHERE created_at >= :since", p) or {}
    return {"attempts": day.get("n") or 0, "connected": day.get("connected") or 0,
            "transferred": s.scalar("SELECT count(*) FROM escalations WHERE queued_at >= :since", p),
            "live": s.scalar(f"SELECT count(*) FROM attempts {indexed}WHERE state IN {OPEN_STATES}"),
            "running": s.scalar("SELECT count(*) FROM campaigns WHERE state = 'running'"),
            "waiting": s.scalar("SELECT count(*) FROM escalations WHERE closed_at IS NULL AND agent IS NULL"),
            "promises": s.scalar("SELECT count(*) FROM promises WHERE created_at >= :since", p),
            "promised": {r["currency"]: r["amount"] for r in s.query(
                f"SELECT {money.sql_currency('b.locale')} AS currency, coalesce(sum(p.amount), 0) AS amount "
                "FROM promises p JOIN borrowers b ON b.id = p.borrower_id WHERE p.created_at >= :since "
                "GROUP BY 1", p)},
            "qa_open": s.scalar("SELECT count(*) FROM qa_reviews WHERE finished_at IS NULL")}


@bp.get("/")
@security.require("dashboard")
def index():
    role = g.user["role"]
    if role == "agent":
        return redirect(url_for("agent.index"))
    if role == "qa":
        return redirect(url_for("qa.index"))
    db = get_db()
    stats = day_stats(db, dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=1))
    campaigns = store_of(db).query("SELECT * FROM campaigns ORDER BY id DESC LIMIT 5")
    from .campaigns import controller_status
    return render_template("dashboard.html", stats=stats, campaigns=campaigns, controller=controller_status(db))

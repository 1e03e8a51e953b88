"""The home page: what each role needs first (agents and QA go to their own screens)."""
from __future__ import annotations

import datetime as dt

from flask import Blueprint, g, redirect, render_template, url_for

from . import get_db, money, security
from .common import OPEN_STATES

bp = Blueprint("dashboard", __name__)


@bp.get("/")
@security.require("dashboard")
def index():
    role = g.user["role"]
    if role == "agent":
        return redirect(url_for("agent.index"))
    if role == "qa":
        return redirect(url_for("qa.index"))
    db = get_db()
    since = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=1)).isoformat(timespec="milliseconds")
    day = db.execute("SELECT count(*), sum(outcome = 'answered') FROM attempts WHERE created_at >= ?",
                     [since]).fetchone()
    stats = {"attempts": day[0] or 0, "connected": day[1] or 0,
             "transferred": db.execute("SELECT count(*) FROM escalations WHERE queued_at >= ?", [since]).fetchone()[0],
             "live": db.execute(f"SELECT count(*) FROM attempts INDEXED BY attempts_state "
                               f"WHERE state IN {OPEN_STATES}").fetchone()[0],
             "running": db.execute("SELECT count(*) FROM campaigns WHERE state = 'running'").fetchone()[0],
             "waiting": db.execute("SELECT count(*) FROM escalations WHERE closed_at IS NULL AND agent IS NULL")
             .fetchone()[0],
             "promises": db.execute("SELECT count(*) FROM promises WHERE created_at >= ?", [since]).fetchone()[0],
             "promised": {r["currency"]: r["amount"] for r in db.query(
                 f"SELECT {money.sql_currency('b.locale')} AS currency, coalesce(sum(p.amount), 0) AS amount "
                 "FROM promises p JOIN borrowers b ON b.id = p.borrower_id WHERE p.created_at >= ? GROUP BY currency",
                 [since])},
             "qa_open": db.execute("SELECT count(*) FROM qa_reviews WHERE finished_at IS NULL").fetchone()[0]}
    campaigns = list(db.query("SELECT * FROM campaigns ORDER BY id DESC LIMIT 5"))
    from .campaigns import controller_status
    return render_template("dashboard.html", stats=stats, campaigns=campaigns, controller=controller_status(db))

"""Calls: every attempt with its outcome and cause, and one call's conversation turn by turn."""
from __future__ import annotations

from flask import Blueprint, abort, render_template

from . import get_db

bp = Blueprint("calls", __name__)


@bp.get("/")
def index():
    db = get_db()
    rows = list(db.query("""
        SELECT a.id, a.number, a.locale, a.state, a.outcome, a.cause, a.sip_code, a.created_at, a.ended_at,
               d.result, b.name
        FROM attempts a LEFT JOIN dialogs d ON d.attempt_id = a.id LEFT JOIN borrowers b ON b.id = a.borrower_id
        ORDER BY a.created_at DESC LIMIT 200"""))
    return render_template("calls.html", rows=rows)


@bp.get("/calls/<attempt_id>")
def detail(attempt_id: str):
    db = get_db()
    found = list(db.query("SELECT * FROM attempts WHERE id = ?", [attempt_id]))
    if not found:
        abort(404)
    answers = list(db.query("SELECT * FROM answers WHERE attempt_id = ? ORDER BY seq", [attempt_id]))
    events = list(db.query("SELECT * FROM events WHERE attempt_id = ? ORDER BY id", [attempt_id]))
    return render_template("call.html", attempt=found[0], answers=answers, events=events)

"""Calls: every attempt with its outcome and cause (numbers masked), one call turn by turn, and the
recording, served only from inside a recordings root (conversation.recording_roots)."""
from __future__ import annotations

from flask import Blueprint, abort, g, render_template, request, send_file

from ..db import attempts as attempts_db
from ..db.store import HasStore, Store, store_of
from . import audit, conversation, get_db, params, privacy, security
from .common import borrower_view, current_escalation_borrowers

bp = Blueprint("calls", __name__)
PAGE = 100


def listing(db: Store | HasStore, outcome: str | None = None, before: str | None = None) -> list[dict]:
    """A page of attempts, newest first, with their dialog result and borrower name (unmasked)."""
    where, params = [], {}
    if outcome:
        where.append("a.outcome = :outcome")
        params["outcome"] = outcome
    if before:
        where.append("a.created_at < :before")
        params["before"] = before
    return store_of(db).query(f"""
        SELECT a.id, a.number, a.locale, a.state, a.outcome, a.disposition, a.cause, a.sip_code, a.created_at,
               a.ended_at, a.borrower_id, a.campaign_id, d.result, b.name
        FROM attempts a LEFT JOIN dialogs d ON d.attempt_id = a.id LEFT JOIN borrowers b ON b.id = a.borrower_id
        {'WHERE ' + ' AND '.join(where) if where else ''}
        ORDER BY a.created_at DESC, a.id DESC LIMIT {PAGE}""", params)


def _attempt(db: Store | HasStore, attempt_id: str) -> dict:
    """The attempt of a path, else 404 (a path with NUL never gets here: the app answers it 404)."""
    attempt = attempts_db.get(db, attempt_id)
    if attempt is None:
        abort(404)
    return attempt


@bp.get("/calls")
@security.require("calls")
def index():
    rows = listing(get_db(), params.text(request.args, "outcome") or None, params.text(request.args, "before") or None)
    for r in rows:
        r["number"] = privacy.mask_phone(r["number"])
        r["name"] = privacy.mask_name(r["name"])
    more = rows[-1]["created_at"] if len(rows) == PAGE else None
    return render_template("calls.html", rows=rows, more=more)


@bp.get("/calls/<attempt_id>")
@security.require("calls")
def detail(attempt_id: str):
    db = get_db()
    s = store_of(db)
    attempt = _attempt(db, attempt_id)
    borrower = s.get("borrowers", attempt["borrower_id"]) if attempt["borrower_id"] else None
    contacts = s.query("SELECT * FROM contacts WHERE borrower_id = :id ORDER BY position, id",
                       {"id": attempt["borrower_id"]}) if borrower else []
    if borrower:
        view = borrower_view(db, borrower, contacts, purpose="call")
    else:
        view = privacy.View(False, None, [attempt["number"]])
    call = conversation.load(db, attempt_id, view)
    events = s.query("SELECT * FROM events WHERE attempt_id = :id ORDER BY id", {"id": attempt_id})
    for e in events:
        e["data"] = view.text(e["data"])
    return render_template("call.html", call=call, a=attempt, borrower=borrower, view=view, events=events)


@bp.get("/recordings/<attempt_id>")
@security.require("dashboard")
def recording(attempt_id: str):
    """The call's recording: only a file under a recordings root; every read is audited, a
    byte range (what an <audio> element asks for) as much as the whole file."""
    db = get_db()
    attempt = _attempt(db, attempt_id)
    role = g.user["role"]
    if role == "agent" and attempt["borrower_id"] not in current_escalation_borrowers(db, g.user):
        abort(403)
    path = conversation.recording_file(attempt, conversation.recording_row(db, attempt_id))
    if path is None:
        abort(404)
    resp = send_file(path, mimetype="audio/wav", conditional=True, max_age=0)  # 206 for a Range request
    if request.method == "GET":  # every read, whole or partial, is one audit entry (HEAD reads nothing)
        audit.log(db, "listen_recording", "attempt", attempt_id,
                  {"range": request.headers.get("Range", "")[:100] or None, "status": resp.status_code,
                   "content_range": resp.headers.get("Content-Range"), "bytes": resp.content_length})
    return resp

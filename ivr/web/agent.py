"""The agent's screen: their escalations, the screen-pop (who is on the line, why the call was
escalated, what was said: escalations.context) and recording the outcome: a promise (date +
amount, source 'agent'), a dispute note, a callback time. The result shows on the borrower's record.

Whose escalation it is is decided by the telephone, not by a click: the dialer assigns it from the
queue's AgentConnect event to the endpoint whose phone answered (ivr/dialer/escalations.py), and a
web account sees the escalations of its own endpoint (users.agent_ext) only. Supervisors and admins
see every escalation, the waiting ones and the ones that closed without an agent (now callbacks).
Opening ("take") someone else's or an unassigned escalation is refused with 403, a closed one with
409; every refusal is audited."""
from __future__ import annotations

import datetime as dt

from flask import Blueprint, abort, flash, g, jsonify, redirect, render_template, request, url_for

from ..db import attempts as attempts_db
from ..db.clock import now_iso
from ..db.store import HasStore, Store, store_of
from . import audit, get_db, params, privacy, security
from .common import agent_names, borrower_view, duration, loads, tz
from .i18n import label
from .i18n import translate as t

bp = Blueprint("agent", __name__)
OUTCOMES = ("promise", "dispute", "callback", "paid", "hardship", "wrong_person", "no_result")
MAX_PROMISE = 10**12  # a promised amount SQLite can store; far above any loan


def sees_all(user) -> bool:
    return user["role"] in ("admin", "supervisor")


def queue(db: Store | HasStore, user) -> dict:
    """An agent: their endpoint's open and recently closed escalations, and how many wait (no detail).
    A supervisor: every open escalation, who has it, the waiting ones and the recently closed."""
    s = store_of(db)
    mine = {"mine": agent_names(user)}
    base = ("SELECT e.*, a.number, a.state AS call_state FROM escalations e JOIN attempts a ON a.id = e.attempt_id ")
    waiting = s.query(base + "WHERE e.closed_at IS NULL AND e.agent IS NULL ORDER BY e.queued_at, e.id LIMIT 100")
    if sees_all(user):
        current = s.query(base + "WHERE e.closed_at IS NULL AND e.agent IS NOT NULL ORDER BY e.queued_at, e.id LIMIT 200")
        closed = s.query(base + "WHERE e.closed_at IS NOT NULL ORDER BY e.closed_at DESC, e.id DESC LIMIT 50")
    elif not mine["mine"]:  # an account without an endpoint has no escalations
        current, closed = [], []
    else:
        current = s.query(base + "WHERE e.closed_at IS NULL AND e.agent IN :mine ORDER BY e.queued_at, e.id", mine)
        closed = s.query(base + "WHERE e.closed_at IS NOT NULL AND e.agent IN :mine "
                                "ORDER BY e.closed_at DESC, e.id DESC LIMIT 20", mine)
    for r in current + waiting + closed:
        r["number"] = privacy.mask_phone(r["number"])
        r["waited"] = duration(r["queued_at"], r["answered_at"])
    return {"current": current, "waiting": waiting if sees_all(user) else [], "waiting_count": len(waiting),
            "closed": closed, "all": sees_all(user), "endpoint": user["agent_ext"]}


def close(db: Store | HasStore, escalation_id: int, result: str, note: str | None, at: str, *,
          promise: dict | None = None, callback: dict | None = None) -> None:
    """Record the agent's outcome: the promise and callback rows it makes and the escalation closed,
    in one transaction."""
    s = store_of(db)
    with s.transaction():
        if promise:
            s.insert("promises", promise)
        if callback:
            s.insert("callbacks", callback)
        s.update("escalations", escalation_id, {"outcome": result, "note": note, "closed_at": at})


@bp.get("/agent")
@security.require("agent")
def index():
    return render_template("agent.html", q=queue(get_db(), g.user))


@bp.get("/agent/queue.json")
@security.require("agent")
def queue_json():
    q = queue(get_db(), g.user)
    return jsonify({"current": [{"id": r["id"], "url": url_for("agent.escalation", escalation_id=r["id"])}
                                for r in q["current"]],
                    "waiting": [{"id": r["id"], "number": r["number"], "reason": label("reason", r["reason"]),
                                 "waited": r["waited"]} for r in q["waiting"]],
                    "waiting_count": q["waiting_count"]})


def refusal(e: dict | None, user) -> int | None:
    """Why this user may not work on this escalation: 404 none, 403 not theirs, 409 closed (stale)."""
    if e is None:
        return 404
    if e["agent"] is None or e["agent"] not in agent_names(user):
        return 403
    if e["closed_at"]:
        return 409
    return None


def _refuse(db, escalation_id: int, code: int, action: str):
    audit.log(db, "escalation_refused", "escalation", escalation_id, {"action": action, "status": code})
    abort(code)


@bp.post("/agent/escalations/<int:escalation_id>/take")
@security.require("agent")
def take(escalation_id: int):
    """Open the escalation the dialer gave this agent's phone (the screen-pop with unmasked data)."""
    db = get_db()
    e = store_of(db).get("escalations", escalation_id)
    code = refusal(e, g.user)
    if code is not None:
        _refuse(db, escalation_id, code, "take")
    audit.log(db, "escalation_take", "escalation", escalation_id, {"endpoint": e["agent"]})
    return redirect(url_for("agent.escalation", escalation_id=escalation_id))


def _own(db, escalation_id: int, action: str = "view") -> dict:
    """Agents: only the escalation their phone answered and has not closed. Supervisors: any."""
    e = store_of(db).get("escalations", escalation_id)
    if e is None:
        abort(404)
    if not sees_all(g.user):
        code = refusal(e, g.user)
        if code is not None:
            _refuse(db, escalation_id, code, action)
    return e


@bp.get("/agent/escalations/<int:escalation_id>")
@security.require("agent")
def escalation(escalation_id: int):
    db = get_db()
    s = store_of(db)
    e = _own(db, escalation_id)
    borrower = s.get("borrowers", e["borrower_id"]) if e["borrower_id"] else None
    if borrower is None:
        abort(404)
    p = {"id": borrower["id"]}
    contacts = s.query("SELECT * FROM contacts WHERE borrower_id = :id ORDER BY position, id", p)
    if not sees_all(g.user) or e["agent"]:
        view = borrower_view(db, borrower, contacts, purpose="screen_pop")
    else:
        view = privacy.View(False, borrower, [c["phone"] for c in contacts])
    attempt = attempts_db.get(db, e["attempt_id"])
    context = loads(e["context"], {}) or {}
    said = [{"step": a.get("step"), "intent": a.get("intent"), "via": a.get("via"), "text": view.text(a.get("text")),
             "digits": view.digits(a.get("step"), a.get("digits"))} for a in context.get("answers") or []]
    history = s.query("""SELECT a.created_at, a.disposition, a.outcome, d.result FROM attempts a
                         LEFT JOIN dialogs d ON d.attempt_id = a.id WHERE a.borrower_id = :id
                         ORDER BY a.created_at DESC, a.id DESC LIMIT 10""", p)
    promises = s.query("SELECT * FROM promises WHERE borrower_id = :id ORDER BY created_at DESC, id DESC LIMIT 5", p)
    return render_template("escalation.html", e=e, b=borrower, contacts=contacts, view=view, attempt=attempt,
                           context=context, said=said, history=history, promises=promises, outcomes=OUTCOMES,
                           number=view.phone(attempt["number"]) if attempt else "",
                           today=dt.date.today().isoformat())


@bp.post("/agent/escalations/<int:escalation_id>/outcome")
@security.require("agent")
def outcome(escalation_id: int):
    db = get_db()
    e = _own(db, escalation_id, "outcome")
    if e["closed_at"]:
        _refuse(db, escalation_id, 409, "outcome")
    form = request.form
    result = form.get("outcome", "")
    note = form.get("note", "").strip()[:2000]   # (a NUL never gets here: the app refuses it in any parameter)
    now = now_iso()
    errors = []
    promise = callback = None
    if result not in OUTCOMES:
        errors.append(t("agent.pick_outcome"))
    if result == "promise":
        try:
            date = dt.date.fromisoformat(form.get("promise_date", ""))
            amount = int(form.get("promise_amount", ""))
            if not 0 < amount <= MAX_PROMISE or not dt.date.today() - dt.timedelta(days=1) <= date <= params.MAX_DATE:
                raise ValueError
            promise = {"attempt_id": e["attempt_id"], "borrower_id": e["borrower_id"],
                       "promise_date": date.isoformat(), "amount": amount, "confirmed": 1, "source": "agent",
                       "created_at": now}
        except ValueError:
            errors.append(t("agent.bad_promise"))
    if result == "dispute" and not note:
        errors.append(t("agent.need_note"))
    if result == "callback" or form.get("callback_at"):
        try:
            when = dt.datetime.fromisoformat(form.get("callback_at", ""))
            if not params.MIN_DATE <= when.date() <= params.MAX_DATE:
                raise ValueError
            borrower = store_of(db).one("SELECT timezone FROM borrowers WHERE id = :id", {"id": e["borrower_id"]}) or {}
            callback = {"attempt_id": e["attempt_id"], "borrower_id": e["borrower_id"], "reason": "agent",
                        "requested_date": when.date().isoformat(), "requested_time": when.strftime("%H:%M"),
                        "due_at": when.replace(tzinfo=tz(borrower.get("timezone"))).isoformat(timespec="minutes"),
                        "created_at": now}
        except ValueError:
            errors.append(t("agent.bad_callback"))
    if errors:
        for msg in errors:
            flash(msg, "error")
        return redirect(url_for("agent.escalation", escalation_id=escalation_id))
    close(db, e["id"], result, note or None, now, promise=promise, callback=callback)
    audit.log(db, "escalation_outcome", "escalation", e["id"],
              {"outcome": result, "promise": promise and {k: promise[k] for k in ("promise_date", "amount")},
               "callback": callback and callback["due_at"], "note": bool(note)})
    flash(t("agent.saved"), "ok")
    return redirect(url_for("agent.index"))

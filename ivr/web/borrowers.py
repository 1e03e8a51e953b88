"""Borrowers: search, and one borrower's whole record: contacts and status, every attempt with
disposition and cause, each conversation turn by turn with its recording, promises and whether
they were kept, callbacks, escalations and the agents' outcomes, risk with reasons, messages."""
from __future__ import annotations

from flask import Blueprint, abort, g, render_template, request

from ..dialer import risk
from ..db.store import HasStore, Store, store_of
from . import conversation, get_db, params, privacy, security
from .common import borrower_view, loads, promise_status

bp = Blueprint("borrowers", __name__)


def search(db: Store | HasStore, q: str) -> list[dict]:
    """Borrowers matching `q` (unmasked), newest first: an exact loan id or phone (so masked users can
    still find whom a lender asks about), or a name prefix (ASCII letters in any case, as SQLite's LIKE has it, on both engines); every
    borrower when `q` is empty."""
    params: dict = {}
    where = ""
    if q:
        where = ("WHERE b.loan_id = :q OR b.id IN (SELECT borrower_id FROM contacts WHERE phone = :q) "
                 "OR lower(b.name) LIKE lower(:prefix) ESCAPE '\\'")
        params = {"q": q, "prefix": q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"}
    return store_of(db).query(f"""
        SELECT b.*, (SELECT phone FROM contacts c WHERE c.borrower_id = b.id ORDER BY position, id LIMIT 1) AS phone,
               (SELECT max(created_at) FROM attempts a WHERE a.borrower_id = b.id) AS last_call
        FROM borrowers b {where} ORDER BY b.id DESC LIMIT 100""", params)


@bp.get("/borrowers")
@security.require("borrowers")
def index():
    q = params.text(request.args, "q")
    rows = search(get_db(), q)
    for r in rows:
        r["phone"], r["name"], r["loan_id"] = (privacy.mask_phone(r["phone"]), privacy.mask_name(r["name"]),
                                              privacy.mask_loan(r["loan_id"]))
    return render_template("borrowers.html", rows=rows, q=q)


def record(db, borrower_id: int, purpose: str) -> dict:
    s = store_of(db)
    borrower = s.get("borrowers", borrower_id)
    if borrower is None:
        abort(404)
    p = {"id": borrower_id}
    contacts = s.query("SELECT * FROM contacts WHERE borrower_id = :id ORDER BY position, id", p)
    view = borrower_view(db, borrower, contacts, purpose=purpose)
    attempts = s.query("""
        SELECT a.*, d.result, d.last_node FROM attempts a LEFT JOIN dialogs d ON d.attempt_id = a.id
        WHERE a.borrower_id = :id ORDER BY a.created_at DESC, a.id DESC LIMIT 200""", p)
    calls = []
    for a in attempts:
        call = conversation.load(db, a["id"], view) if a["answered_at"] or a["result"] else None
        calls.append({"a": a, "call": call})
    payments = s.query("SELECT * FROM payments WHERE borrower_id = :id ORDER BY paid_at, id", p)
    promises = s.query("SELECT * FROM promises WHERE borrower_id = :id ORDER BY created_at DESC, id DESC", p)
    for pr in promises:
        pr["status"], pr["paid"] = promise_status(pr, payments, borrower["amount_due"])
    callbacks = s.query("SELECT * FROM callbacks WHERE borrower_id = :id ORDER BY created_at DESC, id DESC", p)
    escalations = s.query("SELECT * FROM escalations WHERE borrower_id = :id ORDER BY queued_at DESC, id DESC", p)
    for e in escalations:
        e["note"] = view.text(e["note"])
    messages = s.query("SELECT * FROM outbox WHERE borrower_id = :id ORDER BY created_at DESC, id DESC", p)
    for m in messages:
        m["to_address"] = view.phone(m["to_address"])
        m["body"] = view.text(m["body"])
        m["deliveries"] = s.query("SELECT * FROM deliveries WHERE outbox_id = :id ORDER BY id", {"id": m["id"]})
    level = risk.assess(db, borrower_id)
    for r in level.reasons:
        r.detail = view.text(r.detail)
    refusals = s.query("SELECT * FROM dial_refusals WHERE borrower_id = :id ORDER BY at DESC, id DESC LIMIT 50", p)
    for r in refusals:
        r["number"] = view.phone(r["number"])
    return {"b": borrower, "contacts": contacts, "view": view, "calls": calls, "payments": payments,
            "promises": promises, "callbacks": callbacks, "escalations": escalations, "messages": messages,
            "risk": level, "refusals": refusals,
            "targets": s.query("SELECT t.*, c.name AS campaign FROM campaign_targets t JOIN campaigns c "
                               "ON c.id = t.campaign_id WHERE t.borrower_id = :id ORDER BY t.campaign_id", p)}


@bp.get("/borrowers/<int:borrower_id>")
@security.require("dashboard")
def detail(borrower_id: int):
    if g.user["role"] != "agent" and not security.can("borrowers"):
        abort(403)
    return render_template("borrower.html", **record(get_db(), borrower_id, "borrower_page"), loads=loads)

"""Borrowers: search, and one borrower's whole record: contacts and status, every attempt with
disposition and cause, each conversation turn by turn with its recording, promises and whether
they were kept, callbacks, escalations and the agents' outcomes, risk with reasons, messages."""
from __future__ import annotations

from flask import Blueprint, abort, g, render_template, request

from ..dialer import risk
from . import conversation, get_db, privacy, security
from .common import borrower_view, loads, one, promise_status

bp = Blueprint("borrowers", __name__)


@bp.get("/borrowers")
@security.require("borrowers")
def index():
    db = get_db()
    q = request.args.get("q", "").strip()
    params: list = []
    where = ""
    if q:
        # exact loan id or phone (so masked users can still find who a lender asks about), or name prefix
        where = ("WHERE b.loan_id = ? OR b.id IN (SELECT borrower_id FROM contacts WHERE phone = ?) "
                 "OR b.name LIKE ? ESCAPE '\\'")
        like = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        params = [q, q, like]
    rows = list(db.query(f"""
        SELECT b.*, (SELECT phone FROM contacts c WHERE c.borrower_id = b.id ORDER BY position LIMIT 1) AS phone,
               (SELECT max(created_at) FROM attempts a WHERE a.borrower_id = b.id) AS last_call
        FROM borrowers b {where} ORDER BY b.id DESC LIMIT 100""", params))
    for r in rows:
        r["phone"], r["name"], r["loan_id"] = (privacy.mask_phone(r["phone"]), privacy.mask_name(r["name"]),
                                              privacy.mask_loan(r["loan_id"]))
    return render_template("borrowers.html", rows=rows, q=q)


def record(db, borrower_id: int, purpose: str) -> dict:
    borrower = one(db, "SELECT * FROM borrowers WHERE id = ?", [borrower_id])
    if borrower is None:
        abort(404)
    contacts = list(db.query("SELECT * FROM contacts WHERE borrower_id = ? ORDER BY position, id", [borrower_id]))
    view = borrower_view(db, borrower, contacts, purpose=purpose)
    attempts = list(db.query("""
        SELECT a.*, d.result, d.last_node FROM attempts a LEFT JOIN dialogs d ON d.attempt_id = a.id
        WHERE a.borrower_id = ? ORDER BY a.created_at DESC LIMIT 200""", [borrower_id]))
    calls = []
    for a in attempts:
        call = conversation.load(db, a["id"], view) if a["answered_at"] or a["result"] else None
        calls.append({"a": a, "call": call})
    payments = list(db.query("SELECT * FROM payments WHERE borrower_id = ? ORDER BY paid_at", [borrower_id]))
    promises = list(db.query("SELECT * FROM promises WHERE borrower_id = ? ORDER BY created_at DESC", [borrower_id]))
    for p in promises:
        p["status"], p["paid"] = promise_status(p, payments, borrower["amount_due"])
    callbacks = list(db.query("SELECT * FROM callbacks WHERE borrower_id = ? ORDER BY created_at DESC", [borrower_id]))
    escalations = list(db.query("SELECT * FROM escalations WHERE borrower_id = ? ORDER BY queued_at DESC",
                                [borrower_id]))
    for e in escalations:
        e["note"] = view.text(e["note"])
    messages = list(db.query("SELECT * FROM outbox WHERE borrower_id = ? ORDER BY created_at DESC", [borrower_id]))
    for m in messages:
        m["to_address"] = view.phone(m["to_address"])
        m["body"] = view.text(m["body"])
        m["deliveries"] = list(db.query("SELECT * FROM deliveries WHERE outbox_id = ? ORDER BY id", [m["id"]]))
    level = risk.assess(db, borrower_id)
    for r in level.reasons:
        r.detail = view.text(r.detail)
    refusals = list(db.query("SELECT * FROM dial_refusals WHERE borrower_id = ? ORDER BY at DESC LIMIT 50",
                             [borrower_id]))
    for r in refusals:
        r["number"] = view.phone(r["number"])
    return {"b": borrower, "contacts": contacts, "view": view, "calls": calls, "payments": payments,
            "promises": promises, "callbacks": callbacks, "escalations": escalations, "messages": messages,
            "risk": level, "refusals": refusals,
            "targets": list(db.query("SELECT t.*, c.name AS campaign FROM campaign_targets t JOIN campaigns c "
                                     "ON c.id = t.campaign_id WHERE t.borrower_id = ?", [borrower_id]))}


@bp.get("/borrowers/<int:borrower_id>")
@security.require("dashboard")
def detail(borrower_id: int):
    if g.user["role"] != "agent" and not security.can("borrowers"):
        abort(403)
    return render_template("borrower.html", **record(get_db(), borrower_id, "borrower_page"), loads=loads)

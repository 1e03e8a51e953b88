"""JSON API for the lender's loan system: push borrowers and payments (through the same importer
as file uploads, so the same validation and per-row report), pull call results (cursor-paged),
one borrower's status. Authentication: `Authorization: Bearer hf_...` (only a SHA-256 of each
token is stored). The OpenAPI description is at /api/openapi.json."""
from __future__ import annotations

import base64
import csv
import hashlib
import tempfile
from pathlib import Path

from flask import Blueprint, abort, current_app, g, jsonify, make_response, request

from ..db.clock import now_iso
from ..db.store import HasStore, Store, store_of
from ..dialer import importer, risk, upload_caps
from . import audit, get_db, privacy
from .openapi import SPEC

bp = Blueprint("api", __name__, url_prefix="/api")


def _token():
    header = request.headers.get("Authorization", "")
    if not header.startswith("Bearer "):
        return None
    digest = hashlib.sha256(header[7:].strip().encode()).hexdigest()
    s = store_of(get_db())
    row = s.one("SELECT * FROM api_tokens WHERE token_hash = :digest AND revoked_at IS NULL", {"digest": digest})
    if row:
        s.execute("UPDATE api_tokens SET last_used_at = :at WHERE id = :id", {"at": now_iso(), "id": row["id"]})
    return row


def _require(scope: str):
    tok = _token()
    if tok is None:
        abort(401)
    if scope not in tok["scopes"].split(","):
        abort(403)
    g.api_actor = f"api:{tok['name']}"
    return tok


@bp.errorhandler(400)
@bp.errorhandler(401)
@bp.errorhandler(403)
@bp.errorhandler(404)
@bp.errorhandler(413)
def _error(exc):
    """English detail and a stable `code` (bad_request, unauthorized, ...; import.<key> for a file the
    importer refuses) a loan system can act on."""
    code = exc.name.lower().replace(" ", "_")
    return jsonify({"error": exc.name, "code": code, "detail": exc.description}), exc.code


@bp.get("/openapi.json")
def openapi():
    return jsonify(SPEC)


def _import_json(kind: str, rows) -> dict:
    if not isinstance(rows, list) or not rows or not all(isinstance(r, dict) for r in rows):
        abort(400, description=f"body must be {{\"{kind}\": [ {{...}}, ... ]}} with at least one row")
    if len(rows) > upload_caps.MAX_ROWS:
        abort(413, description=f"at most {upload_caps.MAX_ROWS} rows per request")
    columns = list(dict.fromkeys(k for r in rows for k in r))
    if len(columns) > upload_caps.MAX_COLUMNS:  # every row is written with every column
        abort(413, description=f"at most {upload_caps.MAX_COLUMNS} different fields per request")
    folder = Path(current_app.config["UPLOAD_DIR"])
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", suffix=".csv", prefix=f"api-{kind}-", dir=folder, delete=False,
                                     newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(columns)
        for r in rows:
            w.writerow(["" if r.get(c) is None else r.get(c) for c in columns])
        path = Path(fh.name)
    db = get_db()
    try:
        report = (importer.import_file if kind == "borrowers" else importer.import_payments)(db, path)
    except importer.ImportFileError as exc:  # English text and a stable code, as for row errors
        abort(make_response(jsonify({"error": "Bad Request", "code": f"import.{exc.key or 'unreadable'}",
                                     "params": exc.params, "detail": str(exc).replace(str(path), kind)}), 400))
    out = report.as_dict()
    out["source"] = "api"
    audit.log(db, f"api_push_{kind}", "import_batch", report.batch_id,
              {k: out[k] for k in ("rows", "created", "updated", "unchanged", "rejected")})
    return out


def _json_object() -> dict:
    """The request body as a JSON object; anything else (a list, a number, garbage) is a 400."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        abort(400, description="the body must be a JSON object")
    return body


@bp.post("/v1/borrowers")
def push_borrowers():
    _require("push")
    return jsonify(_import_json("borrowers", _json_object().get("borrowers")))


@bp.post("/v1/payments")
def push_payments():
    _require("push")
    return jsonify(_import_json("payments", _json_object().get("payments")))


def result_row(a: dict, promises: list[dict], callbacks: list[dict], esc: dict | None) -> dict:
    """One call's result as the API gives it: the attempt row (with loan_id and the dialog's result)
    and what the call produced, read for a whole page at once by `results_after`."""
    return {"attempt_id": a["id"], "loan_id": a["loan_id"], "campaign_id": a["campaign_id"],
            "number": privacy.mask_phone(a["number"]), "created_at": a["created_at"], "answered_at": a["answered_at"],
            "ended_at": a["ended_at"], "outcome": a["outcome"], "disposition": a["disposition"], "cause": a["cause"],
            "result": a["result"], "promises": promises, "callbacks": callbacks, "escalation": esc,
            "cursor": encode_cursor(a["ended_at"], a["id"])}


def encode_cursor(ended_at: str, attempt_id: str) -> str:
    """An opaque, URL-safe position in the results (ended_at, attempt id)."""
    return base64.urlsafe_b64encode(f"{ended_at}|{attempt_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[str, str]:
    if not cursor:
        return "", ""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        abort(400, description="bad cursor")
    ended, sep, last_id = raw.partition("|")
    if not sep or "\x00" in raw:  # never one we made (and PostgreSQL's text cannot hold a NUL)
        abort(400, description="bad cursor")
    return ended, last_id


def results_after(db: Store | HasStore, cursor: str, limit: int) -> list[dict]:
    """The next `limit` ended calls after `cursor`, with their promises, callbacks and escalation:
    four statements for the page (on PostgreSQL each is a round trip; three per call were 0.2 s a page)."""
    ended, last_id = decode_cursor(cursor)
    s = store_of(db)
    rows = s.query("""
        SELECT a.*, b.loan_id, d.result FROM attempts a LEFT JOIN borrowers b ON b.id = a.borrower_id
        LEFT JOIN dialogs d ON d.attempt_id = a.id
        WHERE a.state = 'ended' AND a.ended_at IS NOT NULL
              AND (a.ended_at > :ended OR (a.ended_at = :ended AND a.id > :last_id))
        ORDER BY a.ended_at, a.id LIMIT :limit""", {"ended": ended, "last_id": last_id, "limit": limit})
    if not rows:  # an empty IN list of text is refused on PostgreSQL
        return []
    ids = {"ids": [a["id"] for a in rows]}
    promises = _by_attempt(s.query("SELECT attempt_id, promise_date, amount, confirmed, source, created_at "
                                   "FROM promises WHERE attempt_id IN :ids ORDER BY id", ids))
    callbacks = _by_attempt(s.query("SELECT attempt_id, reason, requested_date, requested_time, due_at "
                                    "FROM callbacks WHERE attempt_id IN :ids ORDER BY id", ids))
    escalations = {e.pop("attempt_id"): e for e in s.query(   # one per call (a unique attempt_id)
        "SELECT attempt_id, reason, agent, outcome, closed_at FROM escalations WHERE attempt_id IN :ids", ids)}
    return [result_row(a, promises.get(a["id"], []), callbacks.get(a["id"], []), escalations.get(a["id"]))
            for a in rows]


def _by_attempt(rows: list[dict]) -> dict[str, list[dict]]:
    """Rows grouped by their attempt_id (which each row loses), in the order given."""
    grouped: dict[str, list[dict]] = {}
    for row in rows:
        grouped.setdefault(row.pop("attempt_id"), []).append(row)
    return grouped


@bp.get("/v1/results")
def results():
    _require("pull")
    limit = max(1, min(request.args.get("limit", 100, type=int), 1000))
    items = results_after(get_db(), request.args.get("after", ""), limit)
    return jsonify({"results": items, "next": items[-1]["cursor"] if items else request.args.get("after", "")})


@bp.get("/v1/borrowers/<loan_id:loan_id>")
def borrower(loan_id: str):
    _require("pull")
    db = get_db()
    s = store_of(db)
    b = s.one("SELECT * FROM borrowers WHERE loan_id = :loan", {"loan": loan_id})
    if b is None:
        abort(404, description="unknown loan_id")
    level = risk.assess(db, b["id"])
    key = {"id": b["id"]}
    last = s.one("""SELECT a.id, a.created_at, a.disposition, d.result FROM attempts a
                    LEFT JOIN dialogs d ON d.attempt_id = a.id WHERE a.borrower_id = :id
                    ORDER BY a.created_at DESC, a.id DESC LIMIT 1""", key)
    return jsonify({"loan_id": b["loan_id"], "amount_due": b["amount_due"], "due_date": b["due_date"],
                    "attempts": s.scalar("SELECT count(*) FROM attempts WHERE borrower_id = :id", key),
                    "last_attempt": last, "risk": {"level": level.level, "score": level.score,
                                                   "reasons": [r.flag for r in level.reasons]},
                    "promises": s.query("SELECT promise_date, amount, source, created_at FROM promises "
                                        "WHERE borrower_id = :id ORDER BY created_at, id", key)})


# ---- result webhooks ------------------------------------------------------------------------------
def queue_webhooks(db: Store | HasStore, limit: int = 500) -> int:
    """For every active webhook, put the results that ended after its cursor into the outbox (channel
    "webhook"); the notifier delivers them, signed, with retries (ivr/notify/webhook.py)."""
    from ..notify.outbox import enqueue_event
    s = store_of(db)
    queued = 0
    for hook in s.query("SELECT * FROM webhooks WHERE active = 1 ORDER BY id"):
        items = results_after(db, hook["cursor"], limit)
        for item in items:
            attempt = s.get("attempts", item["attempt_id"]) or {}
            _, created = enqueue_event(db, key=f"webhook-{hook['id']}-result-{item['attempt_id']}",
                                       webhook_id=hook["id"], event="call.result", payload=item,
                                       idempotency_key=f"result-{item['attempt_id']}",
                                       borrower_id=attempt.get("borrower_id"), campaign_id=item["campaign_id"],
                                       locale=attempt.get("locale") or "zh-CN")
            queued += created
        if items:
            s.execute("UPDATE webhooks SET cursor = :cursor WHERE id = :id", {"cursor": items[-1]["cursor"], "id": hook["id"]})
    return queued

"""Quality inspection (质检): a review queue sampled by rule (every escalation, every failed
identity check, a random N% of answered calls, over a date range), listening and scoring against
a checklist, tags and a comment. A finished review is locked (trigger) and audited."""
from __future__ import annotations

import datetime as dt
import json
import random

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for

from ..db import attempts as attempts_db
from ..db.clock import now_iso
from ..db.store import HasStore, Store, store_of
from . import audit, conversation, get_db, params, privacy, security
from .common import loads, today_local
from .i18n import translate as t

bp = Blueprint("qa", __name__)
CHECKLIST = ("disclosure", "identity", "amount", "courtesy", "no_pressure", "plan_confirmed", "audio")
TAGS = ("good_example", "script_issue", "asr_error", "borrower_upset", "compliance_risk", "escalate_training")
FAILED_IDENTITY = ("wrong_person", "id_mismatch")


def sample(db: Store | HasStore, *, since: str, until: str, escalations: bool, identity_failed: bool,
           random_percent: float, by: str, seed: int | None = None) -> dict:
    """Add calls in [since, until) to the queue by rule; returns {rule: added}. A call already in the
    queue stays as it is (the first rule that sampled it is its reason)."""
    s = store_of(db)
    added = {"escalation": 0, "identity_failed": 0, "random": 0}
    now = now_iso()
    span = {"since": since, "until": until}

    def add(ids, reason):
        for attempt_id in ids:
            added[reason] += s.execute(
                "INSERT INTO qa_reviews (attempt_id, sampled_reason, sampled_at, sampled_by) "
                "VALUES (:attempt_id, :reason, :now, :by) ON CONFLICT (attempt_id) DO NOTHING",
                {"attempt_id": attempt_id, "reason": reason, "now": now, "by": by})
    with s.transaction():
        if escalations:
            add([r["attempt_id"] for r in s.query(
                "SELECT e.attempt_id FROM escalations e JOIN attempts a ON a.id = e.attempt_id "
                "WHERE a.created_at >= :since AND a.created_at < :until ORDER BY a.created_at, a.id", span)],
                "escalation")
        if identity_failed:
            add([r["id"] for r in s.query(
                "SELECT a.id FROM attempts a JOIN dialogs d ON d.attempt_id = a.id WHERE a.created_at >= :since "
                "AND a.created_at < :until AND (d.result IN :failed OR a.disposition IN "
                "('answered-wrong-person', 'answered-id-mismatch')) ORDER BY a.created_at, a.id",
                {**span, "failed": list(FAILED_IDENTITY)})], "identity_failed")
        if random_percent > 0:
            answered = [r["id"] for r in s.query(
                "SELECT id FROM attempts WHERE outcome = 'answered' AND created_at >= :since AND created_at < :until "
                "AND id NOT IN (SELECT attempt_id FROM qa_reviews) ORDER BY created_at, id", span)]
            rng = random.Random(seed)
            k = round(len(answered) * min(random_percent, 100) / 100)
            add(rng.sample(answered, k) if k else [], "random")
    return added


def queue(db: Store | HasStore, status: str) -> list[dict]:
    """The review queue: open reviews, or finished ones ('done'), newest sample first (numbers unmasked)."""
    where = "r.finished_at IS NULL" if status == "open" else "r.finished_at IS NOT NULL"
    return store_of(db).query(f"""
        SELECT r.*, a.number, a.created_at AS call_at, a.disposition, d.result
        FROM qa_reviews r JOIN attempts a ON a.id = r.attempt_id LEFT JOIN dialogs d ON d.attempt_id = a.id
        WHERE {where} ORDER BY r.sampled_at DESC, r.id DESC LIMIT 200""")


@bp.get("/qa")
@security.require("qa")
def index():
    status = request.args.get("status", "open")
    rows = queue(get_db(), status)
    for r in rows:
        r["number"] = privacy.mask_phone(r["number"])
    today = today_local()
    return render_template("qa.html", rows=rows, status=status, since=(today - dt.timedelta(days=7)).isoformat(),
                           until=today.isoformat())


@bp.post("/qa/sample")
@security.require("qa.write")
def do_sample():
    db = get_db()
    try:
        first, last = params.date(request.form, "since"), params.date(request.form, "until")
        if first is None or last is None or first > last:
            raise ValueError
        since, until = first.isoformat(), (last + dt.timedelta(days=1)).isoformat()
        percent = params.number(request.form, "random_percent", 0.0, low=0, high=100)
    except (ValueError, params.BadParam):
        flash(t("qa.bad_sample"), "error")
        return redirect(url_for("qa.index"))
    added = sample(db, since=since, until=until, escalations=bool(request.form.get("escalations")),
                   identity_failed=bool(request.form.get("identity_failed")), random_percent=percent,
                   by=g.user["username"])
    audit.log(db, "qa_sample", "qa_reviews", None, {"since": since, "until": until, "percent": percent, **added})
    flash(t("qa.sampled", n=sum(added.values())), "ok")
    return redirect(url_for("qa.index"))


@bp.get("/qa/reviews/<int:review_id>")
@security.require("qa")
def review(review_id: int):
    db = get_db()
    s = store_of(db)
    r = s.get("qa_reviews", review_id)
    if r is None:
        abort(404)
    attempt = attempts_db.get(db, r["attempt_id"])
    borrower = s.get("borrowers", attempt["borrower_id"]) if attempt["borrower_id"] else None
    phones = [c["phone"] for c in s.query("SELECT phone FROM contacts WHERE borrower_id = :id ORDER BY position, id",
                                          {"id": attempt["borrower_id"]})] + [attempt["number"]]
    view = privacy.View(False, borrower, phones)  # reviewers judge the call, not the person
    call = conversation.load(db, attempt["id"], view)
    return render_template("qa_review.html", r=r, a=attempt, b=borrower, view=view, call=call, checklist=CHECKLIST,
                           tags=TAGS, marks=loads(r["checklist"], {}) or {}, chosen=loads(r["tags"], []) or [])


@bp.post("/qa/reviews/<int:review_id>")
@security.require("qa.write")
def save(review_id: int):
    db = get_db()
    r = store_of(db).get("qa_reviews", review_id)
    if r is None:
        abort(404)
    if r["finished_at"]:
        flash(t("qa.locked"), "error")
        abort(409)
    marks = {item: request.form.get(f"c_{item}", "na") for item in CHECKLIST}
    marks = {k: (v if v in ("pass", "fail", "na") else "na") for k, v in marks.items()}
    applicable = [v for v in marks.values() if v != "na"]
    score = round(100 * sum(v == "pass" for v in applicable) / len(applicable)) if applicable else None
    tags = [x for x in request.form.getlist("tags") if x in TAGS]
    custom = request.form.get("custom_tags", "")
    tags += [x.strip()[:40] for x in custom.split(",") if x.strip()][:10]
    finish = request.form.get("action") == "finish"
    changes = {"checklist": json.dumps(marks), "score": score, "tags": json.dumps(tags, ensure_ascii=False),
               "comment": request.form.get("comment", "").strip()[:4000],
               "reviewer": g.user["username"],
               "started_at": r["started_at"] or now_iso()}
    if finish:
        if not applicable:
            flash(t("qa.need_marks"), "error")
            return redirect(url_for("qa.review", review_id=review_id))
        changes["finished_at"] = now_iso()
    store_of(db).update("qa_reviews", review_id, changes)
    audit.log(db, "qa_finish" if finish else "qa_save", "qa_review", review_id,
              {"attempt_id": r["attempt_id"], "score": score, "tags": tags, "checklist": marks})
    flash(t("qa.finished" if finish else "qa.saved"), "ok")
    return redirect(url_for("qa.index") if finish else url_for("qa.review", review_id=review_id))

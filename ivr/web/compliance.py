"""Compliance export: for a borrower or a date range, every attempt with its time (UTC and the
borrower's local time), masked number, disposition, whether a recording exists, and the proof that
calling hours and frequency rules were respected (the local hour against the campaign's window,
the day's connected / unanswered counts, and every refusal the dialer logged). Recording retention."""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from flask import Blueprint, current_app, flash, g, redirect, render_template, request, url_for

from ..db.store import HasStore, Store, store_of
from ..dialer.policy import Policy
from . import audit, conversation, exports, get_db, params, privacy, retention, security
from .common import loads, parse, today_local, tz
from .i18n import translate as t

bp = Blueprint("compliance", __name__)
MAX_ROWS = 200_000
COLUMNS = ("attempt", "campaign", "loan", "number", "created_utc", "local_time", "timezone", "window",
           "within_window", "connected_today", "max_connected", "unanswered_number_today", "max_unanswered",
           "outcome", "disposition", "cause", "recording", "rules_ok")
REFUSAL_COLUMNS = ("at", "campaign", "loan", "number", "reason", "detail", "until")


def _policy(cache: dict, db: Store | HasStore, campaign_id) -> Policy:
    if campaign_id not in cache:
        c = store_of(db).one("SELECT policy FROM campaigns WHERE id = :id", {"id": campaign_id}) if campaign_id else None
        try:
            cache[campaign_id] = Policy.from_dict(loads(c["policy"], {}) if c else {})
        except ValueError:
            cache[campaign_id] = Policy()
    return cache[campaign_id]


def build(db: Store | HasStore, *, loan_id: str | None, since: dt.date | None, until: dt.date | None,
          roots: Sequence[Path] | None = None) -> tuple[list, list]:
    """The export's attempt rows and dial refusals; `roots`: where recordings may lie (default: the
    web app's recordings roots)."""
    s = store_of(db)
    cond, params = [], {}
    if loan_id:
        cond.append("b.loan_id = :loan_id")
        params["loan_id"] = loan_id
    if since:
        cond.append("a.created_at >= :lo")
        params["lo"] = (dt.datetime.combine(since, dt.time()) - dt.timedelta(hours=14)).isoformat()
    if until:
        cond.append("a.created_at < :hi")
        params["hi"] = (dt.datetime.combine(until + dt.timedelta(days=1), dt.time()) + dt.timedelta(hours=14)).isoformat()
    where = " AND ".join(cond) or "1 = 1"
    rows = s.query(f"""
        SELECT a.*, b.loan_id, coalesce(b.timezone, 'Asia/Shanghai') AS zone, r.path AS rec_path
        FROM attempts a LEFT JOIN borrowers b ON b.id = a.borrower_id LEFT JOIN recordings r ON r.attempt_id = a.id
        WHERE {where} ORDER BY a.created_at, a.id LIMIT {MAX_ROWS}""", params)
    policies: dict = {}
    roots = conversation.recording_roots() if roots is None else roots
    connected = defaultdict(int)
    unanswered = defaultdict(int)
    out = []
    for a in rows:
        when = parse(a["created_at"])
        local_dt = when.astimezone(tz(a["zone"]))
        if since and local_dt.date() < since or until and local_dt.date() > until:
            continue
        p = _policy(policies, db, a["campaign_id"])
        start, end = p.window
        within = start <= local_dt.time() < end
        key_b = (a["borrower_id"], local_dt.date())
        key_n = (a["number"], local_dt.date())
        answered = a["outcome"] == "answered" or bool(a["answered_at"])
        if answered:
            connected[key_b] += 1
        elif a["state"] == "ended":
            unanswered[key_n] += 1
        ok = within and connected[key_b] <= p.max_connected_per_borrower_day and \
            unanswered[key_n] <= p.max_unanswered_per_number_day
        has_rec = conversation.recording_file(a, {"path": a["rec_path"]}, roots) is not None
        out.append({"attempt": a["id"], "campaign": a["campaign_id"], "loan": privacy.mask_loan(a["loan_id"]),
                    "number": privacy.mask_phone(a["number"]), "created_utc": a["created_at"],
                    "local_time": local_dt.strftime("%Y-%m-%d %H:%M:%S"), "timezone": a["zone"],
                    "window": f"{start:%H:%M}-{end:%H:%M}", "within_window": within,
                    "connected_today": connected[key_b], "max_connected": p.max_connected_per_borrower_day,
                    "unanswered_number_today": unanswered[key_n], "max_unanswered": p.max_unanswered_per_number_day,
                    "outcome": a["outcome"], "disposition": a["disposition"], "cause": a["cause"],
                    "recording": has_rec, "rules_ok": ok})
    rcond, rparams = [], {}
    if loan_id:
        rcond.append("d.borrower_id IN (SELECT id FROM borrowers WHERE loan_id = :loan_id)")
        rparams["loan_id"] = loan_id
    if since:
        rcond.append("d.at >= :since")
        rparams["since"] = since.isoformat()
    if until:
        rcond.append("d.at < :until")
        rparams["until"] = (until + dt.timedelta(days=1)).isoformat()
    refusals = [{"at": r["at"], "campaign": r["campaign_id"], "loan": privacy.mask_loan(r["loan_id"]),
                 "number": privacy.mask_phone(r["number"]), "reason": r["reason"], "detail": privacy.scrub(r["detail"]),
                 "until": r["until"]}
                for r in s.query(f"""SELECT d.*, b.loan_id FROM dial_refusals d LEFT JOIN borrowers b ON b.id = d.borrower_id
                                     WHERE {' AND '.join(rcond) or '1 = 1'} ORDER BY d.at, d.id LIMIT {MAX_ROWS}""",
                                  rparams)]
    return out, refusals


def _filters():
    loan_id = params.text(request.values, "loan_id")[:100] or None
    since = params.date(request.values, "since")
    until = params.date(request.values, "until")
    if since and until and since > until:
        raise params.BadParam("range_order", since=since.isoformat(), until=until.isoformat())
    return loan_id, since, until


@bp.get("/compliance")
@security.require("compliance")
def index():
    db = get_db()
    loan_id, since, until = _filters()
    preview = refusals = None
    if loan_id or since or until:
        preview, refusals = build(db, loan_id=loan_id, since=since, until=until)
    days = retention.retention_days(db, current_app.config["RETENTION_DAYS"])
    purges = store_of(db).query("SELECT * FROM recording_purges ORDER BY id DESC LIMIT 20")
    for p in purges:
        p["path"] = p["path"].rsplit("/", 1)[-1]
    today = today_local()
    return render_template("compliance.html", preview=(preview or [])[:200], count=len(preview or []),
                           refusals=(refusals or [])[:100], refusal_count=len(refusals or []),
                           loan_id=loan_id or "", since=since or today - dt.timedelta(days=7), until=until or today,
                           filtered=preview is not None, days=days, purges=purges, columns=COLUMNS,
                           refusal_columns=REFUSAL_COLUMNS)


@bp.post("/compliance/export")
@security.require("compliance")
def export():
    db = get_db()
    loan_id, since, until = _filters()
    if not (loan_id or since or until):
        flash(t("compliance.need_filter"), "error")
        return redirect(url_for("compliance.index"))
    rows, refusals = build(db, loan_id=loan_id, since=since, until=until)
    fmt = request.form.get("format", "csv")
    audit.log(db, "export_compliance", "compliance", loan_id,
              {"since": since, "until": until, "rows": len(rows), "refusals": len(refusals), "format": fmt})
    name = f"huifang-compliance-{loan_id or ''}{since or ''}-{until or ''}".replace("/", "_")
    header = [t(f"compliance.col.{c}") for c in COLUMNS]
    data = [[r[c] for c in COLUMNS] for r in rows]
    rheader = [t(f"compliance.rcol.{c}") for c in REFUSAL_COLUMNS]
    rdata = [[r[c] for c in REFUSAL_COLUMNS] for r in refusals]
    if fmt == "xlsx":
        return exports.xlsx_response(name + ".xlsx", [(t("compliance.attempts"), header, data),
                                                      (t("compliance.refusals"), rheader, rdata)])
    # one CSV: the attempts, a blank line, the refusals
    return exports.csv_response(name + ".csv", header, data + [[]] + [rheader] + rdata)


@bp.post("/compliance/retention")
@security.require("retention")
def set_retention():
    db = get_db()
    try:
        days = int(request.form.get("days", "").strip())
        retention.set_retention_days(db, days, g.user["username"])
    except ValueError:
        flash(t("compliance.days_range", low=1, high=retention.MAX_DAYS), "error")
        return redirect(url_for("compliance.index"))
    audit.log(db, "settings_change", "web_settings", retention.SETTING, {"days": days})
    flash(t("compliance.retention_saved", days=days), "ok")
    return redirect(url_for("compliance.index"))


@bp.post("/compliance/purge")
@security.require("retention")
def purge():
    db = get_db()
    days = retention.retention_days(db, current_app.config["RETENTION_DAYS"])
    removed = retention.purge(db, current_app.config["RECORDINGS_DIR"], days, actor=g.user["username"])
    flash(t("compliance.purged", n=len(removed)), "ok")
    return redirect(url_for("compliance.index"))

"""Reports per campaign and per day: connect rate, identity-confirmed rate, promise rate and
amount, kept-promise rate, transfer rate, failure reasons, best hours (borrower's local time);
SVG charts, CSV and XLSX export."""
from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict

from flask import Blueprint, current_app, render_template, request

from . import audit, charts, exports, get_db, money, params, security
from .common import today_local, tz
from .i18n import label
from .i18n import translate as t

bp = Blueprint("reports", __name__)


def _offset_minutes(zone: str) -> int:
    off = dt.datetime.now(tz(zone)).utcoffset() or dt.timedelta(0)
    return int(off.total_seconds() // 60)


def _amount_col(currency: str) -> str:
    """The day's promised amount in one currency (never summed across currencies)."""
    return f"promise_amount_{currency.lower()}"


AMOUNT_COLUMNS = tuple(_amount_col(c) for c in money.CURRENCIES)


def _rate(a, b):
    return (a / b) if b else None


def _attempt_figures(db, lo: str, hi: str, off: str) -> dict:
    """{day: {campaign_id: {attempts, connected, identity, transferred, failures{}, hours{local hour: [n, c]}}}}
    for attempts created in [lo, hi), in one pass over the range."""
    out: dict = {}
    for r in db.query(f"""
        SELECT date(a.created_at, '{off}') AS day, coalesce(a.campaign_id, 0) AS cid,
               cast(substr(a.created_at, 12, 2) AS integer) AS h, coalesce(b.timezone, 'Asia/Shanghai') AS zone,
               a.outcome = 'answered' AS ok, coalesce(a.disposition, a.outcome, a.state) AS reason, count(*) AS n,
               sum(a.outcome = 'answered' AND EXISTS (SELECT 1 FROM answers n WHERE n.attempt_id = a.id
                   AND n.step = 'identity' AND n.intent = 'confirm')) AS identity,
               sum(a.outcome = 'answered' AND (a.disposition = 'answered-transferred' OR
                   EXISTS (SELECT 1 FROM escalations e WHERE e.attempt_id = a.id))) AS transferred
        FROM attempts a LEFT JOIN borrowers b ON b.id = a.borrower_id
        WHERE a.created_at >= ? AND a.created_at < ? GROUP BY 1, 2, 3, 4, 5, 6""", [lo, hi]):
        f = out.setdefault(r["day"], {}).setdefault(str(r["cid"]), {
            "attempts": 0, "connected": 0, "identity": 0, "transferred": 0, "failures": {}, "hours": {}})
        f["attempts"] += r["n"]
        if r["ok"]:
            f["connected"] += r["n"]
            f["identity"] += r["identity"] or 0
        else:
            f["failures"][r["reason"]] = f["failures"].get(r["reason"], 0) + r["n"]
        f["transferred"] += r["transferred"] or 0
        hour = str((r["h"] + _offset_minutes(r["zone"]) // 60) % 24)
        nh = f["hours"].setdefault(hour, [0, 0])
        nh[0] += r["n"]
        nh[1] += r["n"] if r["ok"] else 0
    return out


def _day_bounds(day: dt.date, zone: str) -> tuple[str, str]:
    lo = dt.datetime.combine(day, dt.time(), tz(zone)).astimezone(dt.timezone.utc)
    hi = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tz(zone)).astimezone(dt.timezone.utc)
    return lo.isoformat(timespec="milliseconds"), hi.isoformat(timespec="milliseconds")


def figures_by_day(db, since: dt.date, until: dt.date, zone: str) -> dict:
    """Attempt figures per local day; days closed for two days come from `report_days`, the rest
    are computed (and stored once closed)."""
    off = f"{_offset_minutes(zone):+d} minutes"
    closed_before = dt.datetime.now(tz(zone)).date() - dt.timedelta(days=2)
    days = [since + dt.timedelta(days=i) for i in range((until - since).days + 1)]
    cached = {r["day"]: json.loads(r["payload"]) for r in db.query(
        "SELECT day, payload FROM report_days WHERE zone = ? AND day >= ? AND day <= ?",
        [zone, since.isoformat(), until.isoformat()])}
    missing = [d for d in days if d.isoformat() not in cached]
    if missing:
        lo, _ = _day_bounds(missing[0], zone)
        _, hi = _day_bounds(missing[-1], zone)
        fresh = _attempt_figures(db, lo, hi, off)
        stamp = dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds")
        for d in missing:
            key = d.isoformat()
            cached[key] = fresh.get(key, {})
            if d < closed_before:
                db.execute("INSERT OR REPLACE INTO report_days (day, zone, payload, computed_at) VALUES (?, ?, ?, ?)",
                           [key, zone, json.dumps(cached[key]), stamp])
    return cached


def compute(db, since: dt.date, until: dt.date, campaign_id: int | None, zone: str,
            today: dt.date | None = None) -> dict:
    """Every figure of the report page for local dates [since, until]; a promise counts as due
    (kept or broken) once its date + one day of grace is before `today`."""
    off = f"{_offset_minutes(zone):+d} minutes"
    lo, _ = _day_bounds(since, zone)
    _, hi = _day_bounds(until, zone)
    by_day = figures_by_day(db, since, until, zone)
    days, failures, hours, per_campaign = {}, defaultdict(int), defaultdict(lambda: [0, 0]), {}
    for day, camps in sorted(by_day.items()):
        for cid, f in camps.items():
            if campaign_id and cid != str(campaign_id):
                continue
            d = days.setdefault(day, {"day": day, "attempts": 0, "connected": 0, "identity": 0, "transferred": 0,
                                      "promises": 0, **{_amount_col(c): 0 for c in money.CURRENCIES},
                                      "due": 0, "kept": 0})
            for k in ("attempts", "connected", "identity", "transferred"):
                d[k] += f[k]
            for reason, n in f["failures"].items():
                failures[reason] += n
            for h, (n, c) in f["hours"].items():
                hours[int(h)][0] += n
                hours[int(h)][1] += c
            pc = per_campaign.setdefault(cid, {"campaign_id": int(cid) or None, "attempts": 0, "connected": 0,
                                               "transferred": 0})
            for k in ("attempts", "connected", "transferred"):
                pc[k] += f[k]
    cond, params = "a.created_at >= ? AND a.created_at < ?", [lo, hi]
    if campaign_id:
        cond += " AND a.campaign_id = ?"
        params.append(campaign_id)
    today = (today or dt.date.today()).isoformat()
    # promises are few next to attempts, and whether one was kept changes as payments arrive: always live,
    # led by promises_created (a promise is never made before its call, so p.created_at >= lo)
    for r in db.query(f"""
        SELECT date(a.created_at, '{off}') AS day, {money.sql_currency('pb.locale')} AS currency,
               count(DISTINCT p.attempt_id) AS promises,
               coalesce(sum(p.amount), 0) AS amount,
               sum(p.promise_date IS NOT NULL AND date(p.promise_date, '+1 day') < ?) AS due,
               sum(p.promise_date IS NOT NULL AND date(p.promise_date, '+1 day') < ? AND
                   (SELECT coalesce(sum(y.paid_amount), 0) FROM payments y WHERE y.borrower_id = p.borrower_id
                    AND substr(y.paid_at, 1, 10) BETWEEN substr(p.created_at, 1, 10) AND date(p.promise_date, '+1 day'))
                   >= coalesce(p.amount, (SELECT amount_due FROM borrowers b WHERE b.id = p.borrower_id), 1)) AS kept
        FROM promises p INDEXED BY promises_created CROSS JOIN attempts a ON a.id = p.attempt_id
        JOIN borrowers pb ON pb.id = p.borrower_id
        WHERE p.created_at >= ? AND {cond} GROUP BY day, currency""", [today, today, lo, *params]):
        d = days.get(r["day"])
        if d is not None:   # one row per currency: counts add up, amounts stay apart
            d["promises"] += r["promises"]
            d["due"] += r["due"] or 0
            d["kept"] += r["kept"] or 0
            d[_amount_col(r["currency"])] = d.get(_amount_col(r["currency"]), 0) + r["amount"]
    rows = []
    for day, d in sorted(days.items()):
        rows.append({**d, "connect_rate": _rate(d["connected"], d["attempts"]),
                     "identity_rate": _rate(d["identity"], d["connected"]),
                     "promise_rate": _rate(d["promises"], d["connected"]),
                     "kept_rate": _rate(d["kept"], d["due"]), "transfer_rate": _rate(d["transferred"], d["connected"])})
    total = {k: sum(r[k] or 0 for r in rows) for k in ("attempts", "connected", "identity", "transferred", "promises",
                                                       *AMOUNT_COLUMNS, "due", "kept")}
    total["promised"] = {c: total[_amount_col(c)] for c in money.CURRENCIES}
    total.update(connect_rate=_rate(total["connected"], total["attempts"]),
                 identity_rate=_rate(total["identity"], total["connected"]),
                 promise_rate=_rate(total["promises"], total["connected"]),
                 kept_rate=_rate(total["kept"], total["due"]), transfer_rate=_rate(total["transferred"], total["connected"]))
    best = [{"hour": h, "attempts": n, "connected": c, "rate": _rate(c, n)} for h, (n, c) in sorted(hours.items())]
    names = {str(r["id"]): r["name"] for r in db.query("SELECT id, name FROM campaigns")}
    campaigns = []
    for cid, c in sorted(per_campaign.items(), key=lambda kv: int(kv[0])):
        campaigns.append({**c, "name": names.get(cid), "connect_rate": _rate(c["connected"], c["attempts"])})
    return {"days": rows, "total": total, "failures": sorted(failures.items(), key=lambda kv: -kv[1])[:12],
            "hours": best, "campaigns": campaigns}


COLUMNS = ("day", "attempts", "connected", "connect_rate", "identity", "identity_rate", "promises", "promise_rate",
           *AMOUNT_COLUMNS, "due", "kept", "kept_rate", "transferred", "transfer_rate")


def _params():
    today = today_local()
    until = params.date(request.args, "until", today)
    since = params.date(request.args, "since", min(today, until) - dt.timedelta(days=13))
    if since > until:
        raise params.BadParam("range_order", since=since.isoformat(), until=until.isoformat())
    if (until - since).days > 366:
        since = until - dt.timedelta(days=366)
    campaign = params.integer(request.args, "campaign")
    return since, until, campaign


@bp.get("/reports")
@security.require("reports")
def index():
    db = get_db()
    since, until, campaign = _params()
    r = compute(db, since, until, campaign, current_app.config["DISPLAY_TZ"])
    labels = [d["day"][5:] for d in r["days"]]
    svg = {
        "connect": charts.bars(labels, [d["connect_rate"] for d in r["days"]], title=t("report.connect_rate"),
                               percent=True),
        "identity": charts.bars(labels, [d["identity_rate"] for d in r["days"]], title=t("report.identity_rate"),
                                percent=True, color=charts.COLORS[1]),
        "promise": charts.bars(labels, [d["promise_rate"] for d in r["days"]], title=t("report.promise_rate"),
                               percent=True, color=charts.COLORS[2]),
        **{f"amount_{c}": charts.bars(labels, [d[_amount_col(c)] for d in r["days"]],
                                      title=t("report.promise_amount_in", currency=c), color=charts.COLORS[3])
           for c in money.CURRENCIES},
        "transfer": charts.bars(labels, [d["transfer_rate"] for d in r["days"]], title=t("report.transfer_rate"),
                                percent=True, color=charts.COLORS[5]),
        "failures": charts.hbars([(label("disp", k), v) for k, v in r["failures"]], title=t("report.failures")),
        "hours": charts.bars([f"{h['hour']:02d}" for h in r["hours"]], [h["rate"] for h in r["hours"]],
                             title=t("report.best_hours"), percent=True, color=charts.COLORS[6]),
    }
    campaigns = list(db.query("SELECT id, name FROM campaigns ORDER BY id DESC LIMIT 200"))
    shown = [c for c in money.CURRENCIES if r["total"]["promised"][c]] or ["CNY"]   # a chart per currency used
    return render_template("reports.html", r=r, svg=svg, charts=[
        "connect", "identity", "promise", *(f"amount_{c}" for c in shown), "transfer", "hours", "failures"], since=since, until=until, campaign=campaign,
                           campaigns=campaigns, columns=COLUMNS)


@bp.get("/reports/export.<fmt>")
@security.require("reports")
def export(fmt: str):
    db = get_db()
    since, until, campaign = _params()
    r = compute(db, since, until, campaign, current_app.config["DISPLAY_TZ"])
    header = [t(f"report.col.{c}") for c in COLUMNS]
    rows = [[d[c] if not c.endswith("_rate") or d[c] is None else round(d[c], 4) for c in COLUMNS] for d in r["days"]]
    audit.log(db, "export_report", "report", None, {"since": since, "until": until, "campaign": campaign, "format": fmt})
    name = f"huifang-report-{since}-{until}"
    if fmt == "csv":
        return exports.csv_response(name + ".csv", header, rows)
    if fmt == "xlsx":
        fails = [[label("disp", k), v] for k, v in r["failures"]]
        hours = [[h["hour"], h["attempts"], h["connected"], h["rate"] and round(h["rate"], 4)] for h in r["hours"]]
        return exports.xlsx_response(name + ".xlsx", [
            (t("report.by_day"), header, rows),
            (t("report.failures"), [t("report.reason"), t("report.count")], fails),
            (t("report.best_hours"), [t("report.hour"), t("report.col.attempts"), t("report.col.connected"),
                                      t("report.col.connect_rate")], hours)])
    return ("", 404)

"""Reports per campaign and per day: connect rate, identity-confirmed rate, promise rate and
amount, kept-promise rate, transfer rate, failure reasons, best hours (borrower's local time);
SVG charts, CSV and XLSX export."""
from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict

from flask import Blueprint, current_app, render_template, request

from ..db.store import HasStore, Store, store_of
from . import audit, charts, exports, get_db, money, params, security
from .common import parse, today_local, tz
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


def _local_day(utc_day: str, hour: int, minute: int, off: int) -> str:
    """The local date of a UTC instant given as its date, hour and minute, at `off` minutes from UTC."""
    at = dt.datetime.combine(dt.date.fromisoformat(utc_day), dt.time(hour, minute))
    return (at + dt.timedelta(minutes=off)).date().isoformat()


def _attempt_figures(db: Store | HasStore, lo: str, hi: str, off: int) -> dict:
    """{day: {campaign_id: {attempts, connected, identity, transferred, failures{}, hours{local hour: [n, c]}}}}
    for attempts created in [lo, hi), in one pass over the range; `off`: the report zone's offset in
    minutes. The database groups by UTC date and hour (created_at is UTC ISO text, so `substr` reads
    them on either engine); the local day is worked out here from those groups."""
    s = store_of(db)
    # a zone off the hour (+05:30) moves the day at a minute of the hour: group by minute too
    minute = "cast(substr(a.created_at, 15, 2) AS integer)" if off % 60 else "0"
    out: dict = {}
    for r in s.query(f"""
        SELECT substr(a.created_at, 1, 10) AS utc_day, {minute} AS m, coalesce(a.campaign_id, 0) AS cid,
               cast(substr(a.created_at, 12, 2) AS integer) AS h, coalesce(b.timezone, 'Asia/Shanghai') AS zone,
               CASE WHEN a.outcome = 'answered' THEN 1 ELSE 0 END AS ok,
               coalesce(a.disposition, a.outcome, a.state) AS reason, count(*) AS n,
               sum(CASE WHEN a.outcome = 'answered' AND EXISTS (SELECT 1 FROM answers n WHERE n.attempt_id = a.id
                   AND n.step = 'identity' AND n.intent = 'confirm') THEN 1 ELSE 0 END) AS identity,
               sum(CASE WHEN a.outcome = 'answered' AND (a.disposition = 'answered-transferred' OR
                   EXISTS (SELECT 1 FROM escalations e WHERE e.attempt_id = a.id)) THEN 1 ELSE 0 END) AS transferred
        FROM attempts a LEFT JOIN borrowers b ON b.id = a.borrower_id
        WHERE a.created_at >= :lo AND a.created_at < :hi GROUP BY 1, 2, 3, 4, 5, 6, 7""", {"lo": lo, "hi": hi}):
        day = _local_day(r["utc_day"], r["h"], r["m"], off)
        f = out.setdefault(day, {}).setdefault(str(r["cid"]), {
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


def figures_by_day(db: Store | HasStore, since: dt.date, until: dt.date, zone: str) -> dict:
    """Attempt figures per local day; days closed for two days come from `report_days`, the rest
    are computed (and stored once closed)."""
    s = store_of(db)
    off = _offset_minutes(zone)
    closed_before = dt.datetime.now(tz(zone)).date() - dt.timedelta(days=2)
    days = [since + dt.timedelta(days=i) for i in range((until - since).days + 1)]
    cached = {r["day"]: json.loads(r["payload"]) for r in s.query(
        "SELECT day, payload FROM report_days WHERE zone = :zone AND day >= :since AND day <= :until",
        {"zone": zone, "since": since.isoformat(), "until": until.isoformat()})}
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
                s.upsert("report_days", {"day": key, "zone": zone, "payload": json.dumps(cached[key]),
                                         "computed_at": stamp})
    return cached


def _promise_figures(db: Store | HasStore, lo: str, hi: str, campaign_id: int | None, off: int,
                     today: dt.date) -> dict:
    """{day: {currency: {promises, amount, due, kept}}} for the promises made on calls created in
    [lo, hi) (`day`: the call's local date at `off` minutes from UTC). A promise is due once its date
    plus one day of grace is before `today`, and kept when the borrower's payments dated from the day
    it was made to that grace day add up to its amount (else the amount due, else 1).

    Promises are few next to attempts, and whether one was kept changes as payments arrive: always
    live, read row by row and added up here (the date arithmetic is Python's on either engine)."""
    s = store_of(db)
    params: dict = {"lo": lo, "hi": hi}
    cond = ""
    if campaign_id:
        cond = " AND a.campaign_id = :campaign_id"
        params["campaign_id"] = campaign_id
    # SQLite: led by promises_created (a promise is never made before its call, so p.created_at >= lo)
    source = ("promises p INDEXED BY promises_created CROSS JOIN attempts a ON a.id = p.attempt_id"
              if s.dialect == "sqlite" else "promises p JOIN attempts a ON a.id = p.attempt_id")
    rows = s.query(f"""
        SELECT a.created_at AS call_at, {money.sql_currency('pb.locale')} AS currency, p.attempt_id, p.borrower_id,
               p.amount, p.promise_date, p.created_at, pb.amount_due
        FROM {source} JOIN borrowers pb ON pb.id = p.borrower_id
        WHERE p.created_at >= :lo AND a.created_at >= :lo AND a.created_at < :hi{cond}""", params)
    for r in rows:
        grace_end = _grace_end(r["promise_date"])
        r["due_by"] = grace_end if grace_end is not None and grace_end < today else None
    payments: dict = defaultdict(list)
    if any(r["due_by"] is not None for r in rows):
        # the payments, from the first day a promise in range can be made, of every borrower with a promise
        # made since (a few more than needed, found by index; a list of ids would be one parameter each)
        for y in s.query("""SELECT y.borrower_id, y.paid_amount, y.paid_at FROM payments y
                            WHERE y.paid_at >= :first_day AND y.paid_at < :today
                            AND y.borrower_id IN (SELECT p.borrower_id FROM promises p WHERE p.created_at >= :lo)""",
                         {"lo": lo, "first_day": lo[:10], "today": today.isoformat()}):
            payments[y["borrower_id"]].append(y)
    out: dict = {}
    for r in rows:
        day = (parse(r["call_at"]).astimezone(dt.timezone.utc) + dt.timedelta(minutes=off)).date().isoformat()
        f = out.setdefault(day, {}).setdefault(r["currency"], {"attempts": set(), "amount": 0, "due": 0, "kept": 0})
        f["attempts"].add(r["attempt_id"])
        f["amount"] += r["amount"] or 0
        if r["due_by"] is None:
            continue
        f["due"] += 1
        first, last = str(r["created_at"])[:10], r["due_by"].isoformat()
        paid = sum(y["paid_amount"] or 0 for y in payments[r["borrower_id"]] if first <= str(y["paid_at"])[:10] <= last)
        need = next((v for v in (r["amount"], r["amount_due"]) if v is not None), 1)
        f["kept"] += paid >= need
    for figures in out.values():
        for f in figures.values():
            f["promises"] = len(f.pop("attempts"))
    return out


def _grace_end(promise_date) -> dt.date | None:
    """The promised date plus one day of grace, or None when there is no readable date."""
    try:
        return dt.date.fromisoformat(str(promise_date)[:10]) + dt.timedelta(days=1) if promise_date else None
    except (ValueError, OverflowError):
        return None


def compute(db, since: dt.date, until: dt.date, campaign_id: int | None, zone: str,
            today: dt.date | None = None) -> dict:
    """Every figure of the report page for local dates [since, until]; a promise counts as due
    (kept or broken) once its date + one day of grace is before `today`."""
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
    today = today or dt.date.today()
    for day, figures in _promise_figures(db, lo, hi, campaign_id, _offset_minutes(zone), today).items():
        d = days.get(day)
        if d is not None:   # per currency: counts add up, amounts stay apart
            for currency, f in figures.items():
                d["promises"] += f["promises"]
                d["due"] += f["due"]
                d["kept"] += f["kept"]
                d[_amount_col(currency)] = d.get(_amount_col(currency), 0) + f["amount"]
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
    names = {str(r["id"]): r["name"] for r in store_of(db).query("SELECT id, name FROM campaigns")}
    campaigns = []
    for cid, c in sorted(per_campaign.items(), key=lambda kv: int(kv[0])):
        campaigns.append({**c, "name": names.get(cid), "connect_rate": _rate(c["connected"], c["attempts"])})
    return {"days": rows, "total": total, "failures": sorted(failures.items(), key=lambda kv: (-kv[1], kv[0]))[:12],
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
    campaigns = store_of(db).query("SELECT id, name FROM campaigns ORDER BY id DESC LIMIT 200")
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

"""Money is totalled per currency: a yuan promise and a won promise are shown as ¥ and ₩ totals on
the dashboard and the reports (page, CSV), never added into one number."""
from __future__ import annotations

import csv
import datetime as dt
import io

from ivr.db import attempts
from ivr.web import money, reports
from tests.support.web_app import Client, add_users, db_of, make_app, seed

KR_PHONE = "01012345678"


def setup(tmp_path, when: str):
    app = make_app(tmp_path)
    add_users(app, ["supervisor"])
    seed(app)  # a zh-CN borrower with a 1,000 yuan promise made 2026-11-30
    db = db_of(app)
    bid, cid = attempts.ensure_borrower(db, loan_id="K1", name="김민수", id_last4="1234", amount_due=500000,
                                        due_date="2026-12-10", locale="ko-KR", phone=KR_PHONE)
    attempts.create(db, {"id": "k-answered", "borrower_id": bid, "contact_id": cid, "number": KR_PHONE,
                         "locale": "ko-KR", "state": "ended", "outcome": "answered",
                         "disposition": "answered-completed", "created_at": when, "answered_at": when,
                         "ended_at": when})
    db["promises"].insert({"attempt_id": "k-answered", "borrower_id": bid, "promise_date": "2026-12-09",
                           "amount": 500000, "confirmed": 1, "source": "ivr", "created_at": when})
    db.execute("UPDATE promises SET created_at = ?", [when])   # both inside the dashboard's last 24 h
    return app, db


def test_format_totals():
    assert money.format_totals({"CNY": 1000, "KRW": 500000}) == "¥1,000 · ₩500,000"
    assert money.format_totals({"KRW": 500000}) == "₩500,000"
    assert money.format_totals({}) == "¥0"


def test_reports_keep_currencies_apart(tmp_path):
    app, db = setup(tmp_path, "2026-11-30T02:00:00.000+00:00")
    db.execute("UPDATE attempts SET created_at = '2026-11-30T02:00:00.000+00:00' WHERE id = 'a-answered'")
    r = reports.compute(db, dt.date(2026, 11, 29), dt.date(2026, 12, 1), None, "Asia/Shanghai",
                        today=dt.date(2026, 12, 5))
    d30 = {d["day"]: d for d in r["days"]}["2026-11-30"]
    assert (d30["promise_amount_cny"], d30["promise_amount_krw"], d30["promises"]) == (1000, 500000, 2)
    assert r["total"]["promised"] == {"CNY": 1000, "KRW": 500000}
    c = Client(app)
    c.login("supervisor")
    page = c.get("/reports?since=2026-11-29&until=2026-12-01").get_data(as_text=True)
    assert "¥1,000 · ₩500,000" in page and "501,000" not in page and "501000" not in page
    assert "承诺金额（KRW）" in page and "承诺金额（CNY）" in page
    rows = list(csv.reader(io.StringIO(c.get("/reports/export.csv?since=2026-11-29&until=2026-12-01")
                                       .get_data(as_text=True).lstrip("\ufeff"))))
    day = dict(zip(rows[0], next(r for r in rows if r[0] == "2026-11-30")))
    assert day["承诺金额（人民币）"] == "1000" and day["承诺金额（韩元）"] == "500000"


def test_dashboard_keeps_currencies_apart(tmp_path):
    now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds")
    app, db = setup(tmp_path, now)
    c = Client(app)
    c.login("supervisor")
    page = c.get("/").get_data(as_text=True)
    assert "¥1,000 · ₩500,000" in page and "501,000" not in page

"""Reports: rates per day computed from what the calls stored, SVG charts, CSV and XLSX export."""
from __future__ import annotations

import csv
import datetime as dt
import io

import openpyxl

from ivr.db import attempts
from ivr.db.store import store_of
from ivr.web import reports
from tests.support.web_app import Client, add_users, db_of, make_app, seed


def setup(tmp_path, engine_url=""):
    """The seeded history plus a no-answer call on 11-30 and an answered one on 12-01, on SQLite or on
    `engine_url`'s engine (a supervisor to sign in as: the export test does)."""
    app = make_app(tmp_path, database_url=engine_url)
    add_users(app, ["supervisor"])
    seed(app)
    db = db_of(app)
    attempts.create(db, {"id": "n1", "number": "13800000002", "locale": "zh-CN", "state": "ended",
                         "outcome": "no-answer", "disposition": "no-answer", "borrower_id": 1,
                         "created_at": "2026-11-30T03:00:00.000+00:00"})
    attempts.create(db, {"id": "d2", "number": "13800000002", "locale": "zh-CN", "state": "ended",
                         "outcome": "answered", "disposition": "answered-completed", "borrower_id": 1,
                         "created_at": "2026-12-01T03:00:00.000+00:00"})
    return app, db


def test_compute(tmp_path, engine_url):
    app, db = setup(tmp_path, engine_url)
    r = reports.compute(db, dt.date(2026, 11, 29), dt.date(2026, 12, 1), None, "Asia/Shanghai",
                        today=dt.date(2026, 12, 5))
    day = {d["day"]: d for d in r["days"]}
    d30 = day["2026-11-30"]
    assert (d30["attempts"], d30["connected"], d30["identity"], d30["transferred"]) == (3, 1, 1, 1)
    assert d30["connect_rate"] == 1 / 3 and d30["promises"] == 1 and d30["promise_amount_cny"] == 1000 and d30["promise_amount_krw"] == 0
    assert d30["kept"] == 1 and d30["due"] == 1 and d30["kept_rate"] == 1.0  # paid 1000 by the promised date
    assert day["2026-12-01"]["connected"] == 1
    assert dict(r["failures"]) == {"busy": 1, "no-answer": 1}
    hours = {h["hour"]: h for h in r["hours"]}
    assert hours[10]["connected"] == 1 and hours[9]["attempts"] == 1  # 02:00 UTC = 10:00 in Shanghai


def test_page_and_exports(tmp_path):
    app, db = setup(tmp_path)
    c = Client(app)
    c.login("supervisor")
    page = c.get("/reports?since=2026-11-29&until=2026-12-01").get_data(as_text=True)
    assert page.count("<svg") == 7 and "接通率" in page and "33.3%" in page
    rows = list(csv.reader(io.StringIO(c.get("/reports/export.csv?since=2026-11-29&until=2026-12-01")
                                       .get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0][0] == "日期" and rows[1][:3] == ["2026-11-30", "3", "1"]
    x = c.get("/reports/export.xlsx?since=2026-11-29&until=2026-12-01")
    wb = openpyxl.load_workbook(io.BytesIO(x.data))
    assert wb.sheetnames == ["按日", "未接通原因", "各时段接通率（借款人当地时间）"[:31]]
    assert [c.value for c in wb["按日"][2]][:3] == ["2026-11-30", 3, 1]


def test_closed_days_are_computed_once(tmp_path, engine_url):
    app, db = setup(tmp_path, engine_url)
    s = store_of(db)
    first = reports.compute(db, dt.date(2026, 11, 29), dt.date(2026, 11, 30), None, "Asia/Shanghai")
    assert {r["day"] for r in s.query("SELECT day FROM report_days")} == {"2026-11-29", "2026-11-30"} or \
        dt.date.today() < dt.date(2026, 12, 3)
    s.execute("UPDATE report_days SET payload = replace(payload, '\"attempts\": 3', '\"attempts\": 4')")
    again = reports.compute(db, dt.date(2026, 11, 29), dt.date(2026, 11, 30), None, "Asia/Shanghai")
    cached = bool(s.query("SELECT 1 FROM report_days WHERE day = '2026-11-30'"))
    assert again["total"]["attempts"] == first["total"]["attempts"] + (1 if cached else 0)
    reports.compute(db, dt.date(2026, 11, 29), dt.date(2026, 11, 30), None, "Asia/Shanghai")  # stored again: no clash
    assert s.scalar("SELECT count(*) FROM report_days WHERE day = '2026-11-30'") == (1 if cached else 0)


def test_local_days_and_promise_grace(tmp_path, engine_url):
    """A call belongs to the report zone's local day (+08:00 and +05:30 cross midnight at other UTC
    times); a promise is due once its date plus a day of grace has passed, and kept when the payments
    from the day it was made through the grace day reach its amount (else the amount due)."""
    app = make_app(tmp_path, database_url=engine_url)
    s = store_of(db_of(app))
    bid, cid = attempts.ensure_borrower(s, loan_id="L1", name="n", id_last4=None, amount_due=700,
                                        due_date="2026-12-10", locale="zh-CN", phone="13800000001")
    for aid, at in (("late", "2026-11-30T15:59:00.000+00:00"), ("past", "2026-11-30T16:00:00.000+00:00"),
                    ("kol1", "2026-11-30T18:29:00.000+00:00"), ("kol2", "2026-11-30T18:31:00.000+00:00")):
        attempts.create(s, {"id": aid, "borrower_id": bid, "contact_id": cid, "number": "13800000001",
                            "locale": "zh-CN", "state": "ended", "outcome": "answered", "created_at": at})
    made = "2026-11-30T16:05:00.000+00:00"
    s.insert_all("promises", [
        {"attempt_id": "past", "borrower_id": bid, "promise_date": "2026-12-03", "amount": 500, "created_at": made},
        {"attempt_id": "past", "borrower_id": bid, "promise_date": "2026-12-04", "amount": None, "created_at": made},
        {"attempt_id": "past", "borrower_id": bid, "promise_date": "2026-12-10", "amount": 100, "created_at": made}])
    s.insert_all("payments", [{"borrower_id": bid, "paid_amount": 500, "paid_at": "2026-12-04", "created_at": made},
                              {"borrower_id": bid, "paid_amount": 300, "paid_at": "2026-12-05", "created_at": made}])
    sha = reports.compute(s, dt.date(2026, 11, 30), dt.date(2026, 12, 1), None, "Asia/Shanghai",
                          today=dt.date(2026, 12, 6))
    assert [(d["day"], d["attempts"]) for d in sha["days"]] == [("2026-11-30", 1), ("2026-12-01", 3)]
    dec1 = sha["days"][1]
    # one call with three promises; 12-03's (500 by 12-04: 500 paid) kept, 12-04's (the 700 due, by 12-05:
    # 800 paid) kept, 12-10's not due yet
    assert (dec1["promises"], dec1["promise_amount_cny"], dec1["due"], dec1["kept"]) == (1, 600, 2, 2)
    early = reports.compute(s, dt.date(2026, 11, 30), dt.date(2026, 12, 1), None, "Asia/Shanghai",
                            today=dt.date(2026, 12, 5))
    assert (early["days"][1]["due"], early["days"][1]["kept"]) == (1, 1)
    s.execute("DELETE FROM report_days")
    kol = reports.compute(s, dt.date(2026, 11, 30), dt.date(2026, 12, 1), None, "Asia/Kolkata",
                          today=dt.date(2026, 12, 1))
    assert [(d["day"], d["attempts"]) for d in kol["days"]] == [("2026-11-30", 3), ("2026-12-01", 1)]
    s.close()

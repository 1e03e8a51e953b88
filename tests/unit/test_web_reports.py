"""Reports: rates per day computed from what the calls stored, SVG charts, CSV and XLSX export."""
from __future__ import annotations

import csv
import datetime as dt
import io

import openpyxl

from ivr.db import attempts
from ivr.web import reports
from tests.support.web_app import Client, add_users, db_of, make_app, seed


def setup(tmp_path):
    app = make_app(tmp_path)
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


def test_compute(tmp_path):
    app, db = setup(tmp_path)
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


def test_closed_days_are_computed_once(tmp_path):
    app, db = setup(tmp_path)
    first = reports.compute(db, dt.date(2026, 11, 29), dt.date(2026, 11, 30), None, "Asia/Shanghai")
    assert {r["day"] for r in db.query("SELECT day FROM report_days")} == {"2026-11-29", "2026-11-30"} or \
        dt.date.today() < dt.date(2026, 12, 3)
    db.execute("UPDATE report_days SET payload = replace(payload, '\"attempts\": 3', '\"attempts\": 4')")
    again = reports.compute(db, dt.date(2026, 11, 29), dt.date(2026, 11, 30), None, "Asia/Shanghai")
    cached = bool(list(db.query("SELECT 1 FROM report_days WHERE day = '2026-11-30'")))
    assert again["total"]["attempts"] == first["total"]["attempts"] + (1 if cached else 0)

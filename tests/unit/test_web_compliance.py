"""Compliance export and recording retention: every attempt with local time, masked number,
disposition, recording present, calling-window and frequency proof, the dialer's refusals; the
purge removes only old files inside the recordings directory and logs each one."""
from __future__ import annotations

import csv
import datetime as dt
import io

import openpyxl

from ivr.db.store import store_of
from ivr.web import retention
from ivr.web.compliance import build
from tests.support.web_app import LOAN, PHONE, Client, add_users, db_of, make_app, seed


def setup(tmp_path, engine_url=""):
    """The seeded history and one refusal, on SQLite or on `engine_url`'s engine (an admin and an
    auditor to sign in as)."""
    app = make_app(tmp_path, database_url=engine_url)
    add_users(app, ["admin", "auditor"])
    ids = seed(app)
    db = db_of(app)
    store_of(db).insert("dial_refusals", {"at": "2026-11-30T14:00:00.000+00:00", "borrower_id": ids["borrower_id"],
                                          "number": PHONE, "reason": "outside-calling-hours", "detail": "22:00 local",
                                          "until": "2026-12-01T00:00:00+00:00"})
    return app, db, ids


def test_export_by_loan_and_by_dates(tmp_path):
    app, db, ids = setup(tmp_path)
    c = Client(app)
    c.login("auditor")
    page = c.get(f"/compliance?loan_id={LOAN}").get_data(as_text=True)
    assert "2 次外呼，1 条拦截记录" in page and "2026-11-30 10:00:00" in page and "不在允许时段" in page
    r = c.post("/compliance/export", {"loan_id": LOAN, "format": "csv"})
    text = r.get_data(as_text=True).lstrip("\ufeff")
    assert PHONE not in text and "138****5678" in text
    rows = list(csv.reader(io.StringIO(text)))
    header = rows[0]
    first = dict(zip(header, rows[1]))
    assert first["借款人当地时间"] == "2026-11-30 09:00:00" and first["在时段内"] == "True"
    second = dict(zip(header, rows[2]))
    assert second["有录音"] == "True" and second["当日第几次接通"] == "1" and second["符合规则"] == "True"
    assert any("outside-calling-hours" in row for row in rows)
    x = c.post("/compliance/export", {"since": "2026-11-30", "until": "2026-11-30", "format": "xlsx"})
    wb = openpyxl.load_workbook(io.BytesIO(x.data))
    assert wb.sheetnames == ["外呼记录", "规则拦截（未拨打）"] and wb["外呼记录"].max_row == 3
    assert [r["action"] for r in db.query("SELECT action FROM audit_log WHERE action = 'export_compliance'")] == \
        ["export_compliance"] * 2
    assert c.post("/compliance/export", {"format": "csv"}).status_code == 302  # a filter is required


def test_calls_outside_the_window_are_flagged(tmp_path, engine_url):
    app, db, ids = setup(tmp_path, engine_url)
    s = store_of(db)
    s.execute("UPDATE attempts SET created_at = '2026-11-30T14:30:00.000+00:00' WHERE id = 'a-busy'")  # 22:30 local
    with app.app_context():
        rows, refusals = build(db, loan_id=LOAN, since=None, until=None)
        assert build(db, loan_id="nobody", since=None, until=None) == ([], [])
        dated, dated_refusals = build(db, loan_id=None, since=dt.date(2026, 11, 30), until=dt.date(2026, 11, 30))
    assert [(r["attempt"], r["local_time"], r["recording"]) for r in rows] == [
        ("a-answered", "2026-11-30 10:00:00", True), ("a-busy", "2026-11-30 22:30:00", False)]
    late = rows[1]
    assert late["within_window"] is False and late["rules_ok"] is False and late["number"] == "138****5678"
    assert rows[0]["rules_ok"] is True and rows[0]["connected_today"] == 1
    assert [(r["reason"], r["number"]) for r in refusals] == [("outside-calling-hours", "138****5678")]
    assert [r["attempt"] for r in dated] == ["a-answered", "a-busy"] and len(dated_refusals) == 1


def test_purge_removes_old_recordings_and_logs(tmp_path):
    app, db, ids = setup(tmp_path)
    outside = tmp_path / "keep.wav"
    outside.write_bytes(b"x")
    db.execute("UPDATE attempts SET recording_path = ? WHERE id = 'a-busy'", [str(outside)])
    now = dt.datetime(2026, 12, 31, tzinfo=dt.timezone.utc)
    assert retention.purge(db, app.config["RECORDINGS_DIR"], 60, now=now) == []
    removed = retention.purge(db, app.config["RECORDINGS_DIR"], 30, now=now, actor="cli")
    assert [r["attempt_id"] for r in removed] == ["a-answered"]
    assert not ids["wav"].exists() and outside.exists()
    log = list(db.query("SELECT * FROM recording_purges"))
    assert log[0]["attempt_id"] == "a-answered" and log[0]["retention_days"] == 30 and log[0]["purged_by"] == "cli"
    assert list(db.query("SELECT actor FROM audit_log WHERE action = 'purge_recordings'"))[-1]["actor"] == "cli"
    c = Client(app)
    c.login("admin")
    assert "录音已于" in c.get(f"/borrowers/{ids['borrower_id']}").get_data(as_text=True)


def test_retention_setting_and_purge_from_the_page(tmp_path):
    app, db, ids = setup(tmp_path)
    c = Client(app)
    c.login("admin")
    c.get("/compliance")
    c.post("/compliance/retention", {"days": "0"})
    assert retention.retention_days(db, 180) == 180
    c.post("/compliance/retention", {"days": "1"})
    assert retention.retention_days(db, 180) == 1
    c.post("/compliance/purge")
    assert not ids["wav"].exists()
    assert "a-answered" in c.get("/compliance").get_data(as_text=True)

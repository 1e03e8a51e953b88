"""Campaigns from the web: an upload goes through the importer and its per-row errors are shown;
the campaign is created with its flow, locale, schedule, pacing and retry policy; commands go to
the `commands` table for the controller; progress is served live. The list, the new-campaign form
and its refusals run on both engines; creating, commanding and showing a campaign go through
ivr/dialer/campaigns.py and the importer, not on the Store yet, and stay on SQLite for now."""
from __future__ import annotations

import io
import json

import openpyxl

from ivr.db.store import store_of
from ivr.dialer import campaigns
from tests.support.web_app import Client, add_users, db_of, make_app

CSV = ("loan_id,name,phone,id_last4,amount_due,due_date\n"
       "L1,张三,13800000001,1234,3500,2026-12-10\n"
       "L2,李四,not-a-phone,1234,3500,2026-12-10\n"
       "L3,王五,13800000003,12,abc,2026-12-10\n"
       "L4,赵六,13800000004,,1200,2026/12/11\n")


def supervisor(tmp_path, database_url=""):
    app = make_app(tmp_path, database_url=database_url)
    add_users(app, ["supervisor", "auditor"])
    c = Client(app)
    c.login("supervisor")
    c.get("/campaigns/new")
    return app, c


def form(**extra):
    base = {"name": "十二月回访", "source": "upload", "flow": "followup", "locale": "zh-CN", "tz": "Asia/Shanghai",
            "schedule_start": "2026-12-02T09:00", "schedule_end": "2026-12-05T20:00", "max_concurrent": "8",
            "max_cps": "2", "max_attempts": "4", "window_start": "09:00", "window_end": "20:00",
            "retry_busy": "15", "retry_no-answer": "90"}
    base.update(extra)
    return base


def test_upload_creates_campaign_and_shows_row_errors(tmp_path):
    app, c = supervisor(tmp_path)
    r = c.post("/campaigns/new", {**form(), "file": (io.BytesIO(CSV.encode()), "borrowers.csv")},
               content_type="multipart/form-data")
    assert r.status_code == 302
    page = c.get(r.headers["Location"]).get_data(as_text=True)
    assert "共 4 行：新增 2，更新 0，未变 0，拒绝 2" in page
    assert "not-a-phone" in page and "<td>4</td><td>L3</td><td>amount_due</td>" in page  # line-by-line reasons
    db = db_of(app)
    camp = list(db.query("SELECT * FROM campaigns"))[0]
    assert camp["state"] == "draft" and camp["max_concurrent"] == 8 and camp["max_cps"] == 2.0
    assert camp["schedule_start"].startswith("2026-12-02T01:00")  # 09:00 Beijing time in UTC
    assert json.loads(camp["retry_policy"]) == {"busy": {"delay_s": 900}, "no-answer": {"delay_s": 5400}}
    assert json.loads(camp["policy"]) == {"window_start": "09:00", "window_end": "20:00"}
    assert "batch_id" in json.loads(camp["selection"])
    assert list(db.query("SELECT action FROM audit_log WHERE action IN ('import_borrowers', 'campaign_create')"))


def test_upload_with_no_good_rows_is_refused_with_report(tmp_path):
    app, c = supervisor(tmp_path)
    bad = "loan_id,name,phone\nL9,,123\n"
    r = c.post("/campaigns/new", {**form(), "file": (io.BytesIO(bad.encode()), "bad.csv")},
               content_type="multipart/form-data")
    assert r.status_code == 400
    assert "姓名为空" in r.get_data(as_text=True)  # the row error in the UI language
    assert not list(db_of(app).query("SELECT * FROM campaigns"))


def test_xlsx_upload_and_bad_file_type(tmp_path):
    app, c = supervisor(tmp_path)
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["贷款编号", "姓名", "手机号", "应还金额"])
    ws.append(["X1", "孙七", "13900000001", 800])
    buf = io.BytesIO()
    wb.save(buf)
    buf.seek(0)
    r = c.post("/campaigns/new", {**form(), "file": (buf, "list.xlsx")}, content_type="multipart/form-data")
    assert r.status_code == 302
    r = c.post("/campaigns/new", {**form(), "file": (io.BytesIO(b"#!/bin/sh"), "evil.sh")},
               content_type="multipart/form-data")
    assert r.status_code == 400 and "CSV" in r.get_data(as_text=True)


def test_commands_go_through_the_commands_table(tmp_path):
    app, c = supervisor(tmp_path)
    c.post("/campaigns/new", {**form(), "file": (io.BytesIO(CSV.encode()), "b.csv")},
           content_type="multipart/form-data")
    db = db_of(app)
    cid = list(db.query("SELECT id FROM campaigns"))[0]["id"]
    c.get(f"/campaigns/{cid}")
    assert c.post(f"/campaigns/{cid}/command", {"command": "pause"}).status_code == 302  # refused: draft
    assert not list(db.query("SELECT * FROM commands"))
    c.post(f"/campaigns/{cid}/command", {"command": "start"})
    cmds = list(db.query("SELECT * FROM commands"))
    assert [(x["command"], x["requested_by"], x["processed_at"]) for x in cmds] == [("start", "supervisor", None)]
    p = c.get(f"/campaigns/{cid}/progress.json").get_json()
    assert p["state"] == "draft" and p["pending_commands"] == 1 and p["total"] == 2
    campaigns.process_commands(db)  # what the controller does every tick
    p = c.get(f"/campaigns/{cid}/progress.json").get_json()
    assert p["state"] == "running" and p["targets"] == {"pending": 2} and p["state_label"] == "运行中"
    c.post(f"/campaigns/{cid}/command", {"command": "pause"})
    campaigns.process_commands(db)
    assert campaigns.get(db, cid)["state"] == "paused"
    page = c.get(f"/campaigns/{cid}").get_data(as_text=True)
    assert "ok: paused" in page


def test_invalid_settings_are_explained(tmp_path):
    app, c = supervisor(tmp_path)
    r = c.post("/campaigns/new", form(source="all", schedule_end="2026-12-01T08:00"))
    assert r.status_code == 400 and "结束时间必须晚于开始时间" in r.get_data(as_text=True)
    r = c.post("/campaigns/new", form(source="all", window_start="21:30", window_end="21:00"))
    assert r.status_code == 400


def test_auditor_sees_campaigns_but_cannot_change_them(tmp_path):
    app, c = supervisor(tmp_path)
    c.post("/campaigns/new", form(source="all"))
    a = Client(app)
    a.login("auditor")
    assert a.get("/campaigns/1").status_code == 200
    assert a.post("/campaigns/1/command", {"command": "start"}).status_code == 403


def test_caller_id_and_province_pool_from_the_form(tmp_path):
    app, c = supervisor(tmp_path)
    r = c.post("/campaigns/new", form(source="all", caller_id="4008-123-456",
                                      caller_id_pool="广东: 02011112222, 075533334444\n江苏省：02511110000"))
    assert r.status_code == 302, r.get_data(as_text=True)
    row = campaigns.get(db_of(app), 1)
    assert row["caller_id"] == "4008123456"
    assert json.loads(row["caller_id_pool"]) == {"Guangdong": ["02011112222", "075533334444"],
                                                 "Jiangsu": ["02511110000"]}
    page = c.get("/campaigns/1").get_data(as_text=True)
    assert "4008123456" in page and "广东: 02011112222, 075533334444" in page
    r = c.post("/campaigns/new", form(source="all", caller_id_pool="火星: 02011112222"))
    assert r.status_code == 400 and "unknown province" in r.get_data(as_text=True)
    r = c.post("/campaigns/new", form(source="all", caller_id="12"))
    assert r.status_code == 400 and "not a phone number" in r.get_data(as_text=True)


def test_list_form_and_refusals_on_each_engine(tmp_path, engine_url):
    app, c = supervisor(tmp_path, engine_url)
    s = store_of(db_of(app))
    try:
        now = "2026-12-01T02:00:00.000+00:00"
        batch = s.insert("import_batches", {"kind": "borrowers", "source": "/uploads/list-one.csv", "sha256": "x",
                                            "rows_total": 7, "created_at": now})
        s.insert("import_batches", {"kind": "payments", "source": "/uploads/paid.csv", "sha256": "y", "created_at": now})
        cid = s.insert("campaigns", {"name": "一月回访", "created_by": "supervisor", "created_at": now, "updated_at": now})
        for n, status in enumerate(("done", "done", "pending")):
            bid = s.insert("borrowers", {"loan_id": f"L{n}", "name": f"b{n}", "locale": "zh-CN",
                                         "created_at": now, "updated_at": now})
            s.insert("campaign_targets", {"campaign_id": cid, "borrower_id": bid, "status": status,
                                          "next_at": now, "updated_at": now})
    finally:
        s.close()
    listing = c.get("/campaigns").get_data(as_text=True)
    assert "一月回访" in listing and "<td>2 / 3</td>" in listing
    page = c.get("/campaigns/new").get_data(as_text=True)
    assert f'<option value="{batch}">#{batch} list-one.csv (7)</option>' in page and "paid.csv" not in page
    r = c.post("/campaigns/new", form(source="batch", batch_id=str(batch + 1)))   # the payments batch
    assert r.status_code == 400 and "请选择列表中的导入批次" in r.get_data(as_text=True)
    r = c.post("/campaigns/new", form(source="all", schedule_end="2026-12-01T08:00"))
    assert r.status_code == 400 and "结束时间必须晚于开始时间" in r.get_data(as_text=True)
    assert c.get(f"/campaigns/{cid + 1}/progress.json").status_code == 404
    assert c.post(f"/campaigns/{cid + 1}/command", {"command": "start"}).status_code == 404

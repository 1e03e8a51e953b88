"""The campaign page shows its settings in words in the user's language, never the stored JSON; a
key the page does not know is still shown (as key: value)."""
from __future__ import annotations

import io

from ivr.dialer import campaigns
from tests.support.web_app import Client, add_users, db_of, make_app

CSV = "loan_id,name,phone\nL1,张三,13800000001\n"


def _created(tmp_path, lang="zh-CN"):
    app = make_app(tmp_path)
    add_users(app, ["supervisor"])
    c = Client(app)
    c.login("supervisor")
    c.post("/language", {"lang": lang})
    c.get("/campaigns/new")
    form = {"name": "十二月回访", "source": "upload", "flow": "followup", "locale": "zh-CN", "tz": "Asia/Shanghai",
            "max_concurrent": "8", "max_cps": "2", "max_attempts": "4", "window_start": "09:00",
            "window_end": "20:00", "retry_busy": "15", "retry_no-answer": "90", "skip_holidays": "1",
            "fallback": "sms", "file": (io.BytesIO(CSV.encode()), "b.csv")}
    r = c.post("/campaigns/new", form, content_type="multipart/form-data")
    assert r.status_code == 302, r.get_data(as_text=True)
    cid = list(db_of(app).query("SELECT id FROM campaigns"))[0]["id"]
    return app, c, cid


def test_settings_in_chinese_words(tmp_path):
    app, c, cid = _created(tmp_path)
    page = c.get(f"/campaigns/{cid}").get_data(as_text=True)
    for words in ("导入批次 #1 的借款人", "09:00–20:00", "“忙线”之后", "15 分钟后重拨", "90 分钟后重拨",
                  "节假日不外呼</dt><dd>是", "未接通时发送</dt><dd>短信"):
        assert words in page, words
    for raw in ('"window_start"', '"delay_s"', '"batch_id"', '"channel"', "{&#34;"):
        assert raw not in page, raw


def test_settings_in_english_and_unknown_keys_still_shown(tmp_path):
    app, c, cid = _created(tmp_path, "en")
    db = db_of(app)
    db.execute("UPDATE campaigns SET policy = ?, retry_policy = ? WHERE id = ?",
               ['{"window_start": "10:00", "max_connected_per_borrower_day": 2, "future_rule": "x"}',
                '{"busy": {"action": "done"}, "no-answer": {"delay_s": 7200}}', cid])
    page = c.get(f"/campaigns/{cid}").get_data(as_text=True)
    for words in ("10:00–22:00", "stop calling", "call again after 2 hour(s)", "future_rule</dt><dd>x",
                  "borrowers of import batch #1"):
        assert words in page, words


def test_due_range_selection_in_words(tmp_path):
    app, c, cid = _created(tmp_path, "ko-KR")
    db = db_of(app)
    other = campaigns.create(db, name="due", selection={"due_from": "2026-12-01", "due_to": "2026-12-31"})
    page = c.get(f"/campaigns/{other}").get_data(as_text=True)
    assert "만기일이 2026-12-01부터 2026-12-31까지인 차주" in page and "기본 규칙" in page

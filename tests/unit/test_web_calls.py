"""The calls pages show what the database holds, mask numbers, and escape what borrowers said."""
from __future__ import annotations

from ivr.db import attempts
from tests.support.web_app import Client, add_users, db_of, make_app


def make(tmp_path):
    app = make_app(tmp_path)
    add_users(app, ["supervisor"])
    db = db_of(app)
    attempts.create(db, {"id": "a1", "number": "13800000001", "locale": "zh-CN", "state": "ended",
                         "outcome": "busy", "cause": 17})
    db["answers"].insert({"attempt_id": "a1", "seq": 1, "step": "identity", "node": "identity", "via": "voice",
                          "text": "<script>alert(1)</script>", "intent": "unknown"})
    c = Client(app)
    c.login("supervisor")
    return c


def test_list_and_detail(tmp_path):
    client = make(tmp_path)
    page = client.get("/calls").get_data(as_text=True)
    assert "138****0001" in page and "13800000001" not in page and "忙线" in page
    detail = client.get("/calls/a1").get_data(as_text=True)
    assert "&lt;script&gt;" in detail and "<script>alert" not in detail
    assert client.get("/calls/nope").status_code == 404
    assert client.get("/calls/' OR 1=1 --").status_code == 404

"""The calls pages show what the database holds, and escape what borrowers said."""
from __future__ import annotations

from ivr import config
from ivr.db import attempts
from ivr.db.connect import connect
from ivr.web import create_app


def make_app(tmp_path):
    s = config.load(env={}).replace(db_path=str(tmp_path / "w.db"), cache_dir=tmp_path)
    db = connect(s.database)
    attempts.create(db, {"id": "a1", "number": "13800000001", "locale": "zh-CN", "state": "ended",
                         "outcome": "busy", "cause": 17})
    db["answers"].insert({"attempt_id": "a1", "seq": 1, "step": "identity", "node": "identity", "via": "voice",
                          "text": "<script>alert(1)</script>", "intent": "unknown"})
    return create_app(s, TESTING=True)


def test_list_and_detail(tmp_path):
    client = make_app(tmp_path).test_client()
    page = client.get("/").get_data(as_text=True)
    assert "13800000001" in page and "busy" in page
    detail = client.get("/calls/a1").get_data(as_text=True)
    assert "&lt;script&gt;" in detail and "<script>alert" not in detail
    assert client.get("/calls/nope").status_code == 404
    assert client.get("/calls/' OR 1=1 --").status_code == 404

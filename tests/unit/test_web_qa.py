"""QA: the review queue is sampled by rule, a review is scored against the checklist, tagged and
commented; a finished review is locked (by trigger too) and audited."""
from __future__ import annotations

import sqlite3

import pytest

from ivr.db import attempts
from ivr.db.store import store_of
from ivr.web import qa
from tests.support.web_app import Client, add_users, db_of, make_app, seed, signed_in


def setup(tmp_path, engine_url=""):
    """The seeded history, 20 answered calls and a wrong-person call on 11-29; a QA user signed in
    (on SQLite, or on `engine_url`'s engine)."""
    app = make_app(tmp_path, database_url=engine_url)
    add_users(app, ["qa", "auditor"])
    seed(app)
    db = db_of(app)
    for i in range(20):
        attempts.create(db, {"id": f"r{i}", "number": "13800000009", "locale": "zh-CN", "state": "ended",
                             "outcome": "answered", "created_at": f"2026-11-29T03:{i:02d}:00.000+00:00"})
    attempts.create(db, {"id": "wp", "number": "13800000010", "locale": "zh-CN", "state": "ended", "outcome": "answered",
                         "disposition": "answered-wrong-person", "created_at": "2026-11-29T04:00:00.000+00:00"})
    store_of(db).insert("dialogs", {"attempt_id": "wp", "started_at": "x", "result": "wrong_person"})
    c = signed_in(app, "qa")
    return app, c, db


def test_sampling_rules(tmp_path, engine_url):
    app, c, db = setup(tmp_path, engine_url)
    added = qa.sample(db, since="2026-11-01", until="2026-12-02", escalations=True, identity_failed=True,
                      random_percent=25, by="qa", seed=1)
    assert added["escalation"] == 1 and added["identity_failed"] == 1
    assert added["random"] == round(21 * 0.25)  # of the answered calls not already queued
    again = qa.sample(db, since="2026-11-01", until="2026-12-02", escalations=True, identity_failed=True,
                      random_percent=0, by="qa")
    assert again == {"escalation": 0, "identity_failed": 0, "random": 0}
    queued = {r["attempt_id"]: r["sampled_reason"] for r in qa.queue(db, "open")}
    assert queued["a-answered"] == "escalation" and queued["wp"] == "identity_failed" and len(queued) == 7
    assert qa.queue(db, "done") == []
    rest = qa.sample(db, since="2026-11-01", until="2026-12-02", escalations=False, identity_failed=False,
                     random_percent=100, by="qa")
    assert rest["random"] == 22 - 7  # every answered call not queued yet
    r = c.post("/qa/sample", {"since": "2026-11-01", "until": "2026-12-01", "random_percent": "200"})
    assert r.status_code == 302 and "抽样参数无效" in c.get("/qa").get_data(as_text=True)


def test_score_finish_lock_and_audit(tmp_path):
    app, c, db = setup(tmp_path)
    c.get("/qa")
    c.post("/qa/sample", {"since": "2026-11-01", "until": "2026-12-01", "escalations": "1"})
    rid = list(db.query("SELECT id FROM qa_reviews"))[0]["id"]
    page = c.get(f"/qa/reviews/{rid}").get_data(as_text=True)
    assert 'src="/recordings/a-answered"' in page and "您好，请问是王**本人吗？" in page
    marks = {"c_disclosure": "pass", "c_identity": "pass", "c_amount": "fail", "c_courtesy": "pass", "c_audio": "na"}
    r = c.post(f"/qa/reviews/{rid}", {**marks, "tags": ["script_issue", "made-up"], "custom_tags": "金额口误",
                                      "comment": "金额播报有误", "action": "finish"})
    assert r.status_code == 302
    row = list(db.query("SELECT * FROM qa_reviews WHERE id = ?", [rid]))[0]
    assert row["score"] == 75 and row["finished_at"] and row["reviewer"] == "qa"
    assert row["tags"] == '["script_issue", "金额口误"]'
    assert c.post(f"/qa/reviews/{rid}", {**marks, "comment": "changed", "action": "save"}).status_code == 409
    with pytest.raises(sqlite3.DatabaseError, match="locked"):
        db.execute("UPDATE qa_reviews SET score = 100 WHERE id = ?", [rid])
    with pytest.raises(sqlite3.DatabaseError, match="locked"):
        db.execute("DELETE FROM qa_reviews WHERE id = ?", [rid])
    audit = list(db.query("SELECT * FROM audit_log WHERE action = 'qa_finish'"))
    assert len(audit) == 1 and audit[0]["object_id"] == str(rid) and '"score": 75' in audit[0]["detail"]
    done = c.get("/qa?status=done").get_data(as_text=True)
    assert ">75<" in done


def test_auditor_reads_reviews_but_cannot_score(tmp_path):
    app, c, db = setup(tmp_path)
    db["qa_reviews"].insert({"attempt_id": "a-answered", "sampled_reason": "random", "sampled_at": "x"})
    a = Client(app)
    a.login("auditor")
    assert a.get("/qa/reviews/1").status_code == 200
    assert a.post("/qa/reviews/1", {"c_courtesy": "pass", "action": "finish"}).status_code == 403

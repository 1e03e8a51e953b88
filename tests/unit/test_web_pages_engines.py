"""The read-mostly pages on both engines (SQLite and PostgreSQL): dashboard, monitor, calls,
borrower search, the QA queue and a review, the agent's queue, reports and announcements show what
the database holds (users signed in through the login form, tests/support/web_app.py); ids and text PostgreSQL
cannot hold are refused as on SQLite, with a 404 or a 400, not an error."""
from __future__ import annotations

import datetime as dt

from ivr.db import attempts
from ivr.db.store import store_of
from ivr.web import announcements, borrowers, calls, dashboard, monitor
from tests.support.web_app import LOAN, PHONE, add_users, db_of, make_app, seed, signed_in


def test_pages_show_the_seeded_calls(tmp_path, engine_url):
    app = make_app(tmp_path, database_url=engine_url)
    add_users(app, ["supervisor", "qa"])
    ids = seed(app)
    s = store_of(db_of(app))
    attempts.create(s, {"id": "live-1", "number": "13900000001", "locale": "zh-CN", "state": "in_dialog",
                        "borrower_id": ids["borrower_id"], "created_at": "2026-11-30T03:00:00.000+00:00"})
    s.insert("answers", {"attempt_id": "live-1", "seq": 1, "step": "identity", "node": "identity", "via": "voice",
                         "intent": "confirm"})
    sup = signed_in(app, "supervisor")
    home = sup.get("/")
    assert home.status_code == 200
    live = sup.get("/monitor/live.json").get_json()
    assert [(c["id"], c["node"], c["number"]) for c in live["calls"]] == [("live-1", "identity", "139****0001")]
    assert live["waiting"] == 1 and live["queue"][0]["number"] == "138****5678"
    listing = sup.get("/calls").get_data(as_text=True)
    assert "138****5678" in listing and PHONE not in listing and "live-1" in listing
    found = sup.get(f"/borrowers?q={LOAN}").get_data(as_text=True)
    assert "王**" in found and f'/borrowers/{ids["borrower_id"]}' in found
    report = sup.get("/reports?since=2026-11-29&until=2026-12-01").get_data(as_text=True)
    assert report.count("<svg") == 7 and "33.3%" in report   # 1 of 3 calls on 11-30 connected (live-1 not)
    qa = signed_in(app, "qa")
    assert qa.get("/qa").status_code == 200
    s.insert("qa_reviews", {"attempt_id": "a-answered", "sampled_reason": "random", "sampled_at": "x"})
    rid = s.scalar("SELECT id FROM qa_reviews")
    review = qa.get(f"/qa/reviews/{rid}").get_data(as_text=True)
    assert 'src="/recordings/a-answered"' in review and "您好，请问是王**本人吗？" in review
    detail = qa.get("/calls/a-answered").get_data(as_text=True)   # masked for QA: no audit entry needed
    assert "138****5678" in detail and PHONE not in detail
    assert qa.get("/calls/nope").status_code == 404
    # what PostgreSQL would refuse with an error is refused (or not found) before it gets there
    assert sup.get("/agent/escalations/9999999999").status_code == 404        # past a 4-byte id
    assert sup.get("/reports?campaign=3000000000").status_code == 400
    assert qa.get("/calls/a%00b").status_code == 404 and qa.get("/recordings/a%00").status_code == 404
    nul = sup.get("/borrowers?q=a%00")
    assert nul.status_code == 400   # the app refuses a NUL in any parameter before a page sees it
    assert sup.get("/calls?before=x%00").status_code == 400
    s.close()


def test_queries_on_both_engines(tmp_path, engine_url):
    app = make_app(tmp_path, database_url=engine_url)
    ids = seed(app)
    s = store_of(db_of(app))
    at = {"created_at": "2026-11-29T00:00:00+00:00", "updated_at": "2026-11-29T00:00:00+00:00"}
    s.insert("borrowers", {"loan_id": "L-2", "name": "Li_Lei%", "locale": "zh-CN", "amount_due": 10, **at})
    s.insert("campaigns", {"name": "c1", "state": "running", **at})
    # a name prefix: ASCII in any case; % and _ in the query are literal
    assert [r["loan_id"] for r in borrowers.search(s, "li_l")] == ["L-2"]
    assert [r["loan_id"] for r in borrowers.search(s, "Li%")] == []
    assert [r["loan_id"] for r in borrowers.search(s, "Li_Lei%")] == ["L-2"]
    assert [r["loan_id"] for r in borrowers.search(s, PHONE)] == [LOAN]
    assert [r["loan_id"] for r in borrowers.search(s, "")] == ["L-2", LOAN]
    assert borrowers.search(s, LOAN)[0]["last_call"] == "2026-11-30T02:00:00.000+00:00"
    assert [r["id"] for r in calls.listing(s)] == ["a-answered", "a-busy"]
    assert [r["id"] for r in calls.listing(s, outcome="busy")] == ["a-busy"]
    assert [r["id"] for r in calls.listing(s, before="2026-11-30T02:00:00")] == ["a-busy"]
    stats = dashboard.day_stats(s, dt.datetime(2026, 11, 30, 1, 30, tzinfo=dt.timezone.utc))
    assert stats == {"attempts": 1, "connected": 1, "transferred": 1, "live": 0, "running": 1, "waiting": 1,
                     "promises": 1, "promised": {"CNY": 1000}, "qa_open": 0}
    with app.test_request_context():
        snap = monitor.snapshot(s)
    assert snap["calls"] == [] and snap["waiting"] == 1 and [c["name"] for c in snap["campaigns"]] == ["c1"]
    assert ids["escalation_id"] == s.scalar("SELECT id FROM escalations")
    seen = {"seconds": 3.0, "first_seen": "2026-11-30", "last_seen": "2026-11-30", "fingerprint": b"\x01\x02"}
    small = s.insert("announcement_clusters", {**seen, "members": 1, "sample_attempt": "a-busy"})
    big = s.insert("announcement_clusters", {**seen, "members": 9})
    done = s.insert("announcement_clusters", {**seen, "members": 50, "label": "busy"})
    s.insert_all("early_media", [{"attempt_id": aid, "seconds": 3.0, "cluster_id": small, "seen_at": at}
                                 for aid, at in (("a-busy", "2026-11-30T01:00"), ("a-answered", "2026-11-30T02:00"))])
    assert [c["id"] for c in announcements.clusters(s)] == [big, small, done]   # unlabelled first, biggest first
    assert announcements.capture_candidates(s, s.get("announcement_clusters", small)) == ["a-busy", "a-answered",
                                                                                         "a-busy"]
    assert announcements.capture_candidates(s, s.get("announcement_clusters", big)) == []
    s.close()

"""Query and form values checked on the server: the inputs the audit found giving a 500 (or storing a
value above its hard limit) now get a 400 page, a 404 or a clamp, with the reason in the user's
language."""
from __future__ import annotations

import json

import pytest

from ivr.web import retention
from tests.support.web_app import PASSWORD, Client, add_users, db_of, make_app, seed


@pytest.fixture
def app(tmp_path):
    app = make_app(tmp_path)
    add_users(app)
    seed(app)
    return app


def signed_in(app, role: str, lang: str | None = None) -> Client:
    c = Client(app)
    c.login(role)
    if lang:
        c.post("/language", {"lang": lang})
    return c


@pytest.mark.parametrize("url, text", [
    ("/reports?since=9999-12-01", "超出允许范围"),
    ("/reports?until=0001-01-01", "超出允许范围"),
    ("/reports?since=2026-12-31&until=2026-12-01", "晚于结束日期"),
    ("/reports?since=yesterday", "不是有效日期"),
    ("/reports?campaign=abc", "不是整数"),
    ("/compliance?since=0001-01-01", "超出允许范围"),
    ("/audit?before=99999999999999999999999", "超出允许范围"),
])
def test_bad_query_values_are_a_400_in_the_users_language(app, url, text):
    r = signed_in(app, "admin").get(url)
    assert r.status_code == 400, url
    assert text in r.get_data(as_text=True), url


def test_the_message_follows_the_language_switch(app):
    c = signed_in(app, "auditor", "en")
    body = c.get("/reports?since=9999-12-01").get_data(as_text=True)
    assert "From: 9999-12-01 is outside 2000-01-01 … 2100-12-31" in body
    c.post("/language", {"lang": "ko-KR"})
    assert "시작일: 9999-12-01은(는) 허용 범위" in c.get("/reports?since=9999-12-01").get_data(as_text=True)


def test_ids_beyond_sqlite_integers_are_not_found(app):
    c = signed_in(app, "admin")
    for url in ("/campaigns/99999999999999999999999", "/borrowers/99999999999999999999999",
                "/qa/reviews/99999999999999999999999"):
        assert c.get(url).status_code == 404, url


@pytest.mark.parametrize("field, value, text", [
    ("max_cps", "nan", "不是有效的数字"),
    ("retry_busy", "1e400", "不是有效的数字"),
    ("schedule_start", "0001-01-01T00:00", "超出允许范围"),
    ("schedule_start", "tomorrow", "不是有效的日期时间"),
    ("locale", "fr-FR", "不是可选的值"),
    ("name", "", "必填"),
])
def test_bad_campaign_form_values_are_explained(app, field, value, text):
    c = signed_in(app, "supervisor")
    c.get("/campaigns/new")
    r = c.post("/campaigns/new", {"name": "十二月", "source": "all", "flow": "followup", field: value})
    assert r.status_code == 400, (field, value)
    assert text in r.get_data(as_text=True), (field, value)
    assert not list(db_of(app).query("SELECT id FROM campaigns"))


def test_a_daily_cap_above_its_hard_limit_is_stored_as_the_limit(app):
    c = signed_in(app, "supervisor")
    c.get("/campaigns/new")
    r = c.post("/campaigns/new", {"name": "十二月", "source": "all", "flow": "followup",
                                  "max_connected_per_borrower_day": "99"})
    assert r.status_code == 302
    policy = json.loads(db_of(app).execute("SELECT policy FROM campaigns").fetchone()[0])
    assert policy["max_connected_per_borrower_day"] == 3


def test_a_billion_days_of_retention_is_refused_and_the_purge_keeps_working(app):
    c = signed_in(app, "admin")
    c.get("/compliance")
    r = c.post("/compliance/retention", {"days": "1000000000"}, follow_redirects=True)
    assert "保留天数须为 1 至 36500 之间的整数" in r.get_data(as_text=True)
    db = db_of(app)
    assert retention.retention_days(db, 180) == 180
    # a value stored before the limit existed is read within it, so the purge still runs
    db["web_settings"].upsert({"key": retention.SETTING, "value": "1000000000", "updated_at": "x"}, pk="key")
    assert retention.retention_days(db, 180) == retention.MAX_DAYS
    assert c.post("/compliance/purge").status_code == 302


def test_cli_purge_with_a_huge_retention_is_an_error_not_a_traceback(tmp_path, capsys, monkeypatch):
    from ivr import cli as ivr_cli
    monkeypatch.setenv("IVR_DB_PATH", str(tmp_path / "cli.db"))
    monkeypatch.setenv("IVR_CACHE_DIR", str(tmp_path))
    assert ivr_cli.main(["purge-recordings", "--days", "1000000000"]) == 2
    assert "retention must be 1 to 36500 days" in capsys.readouterr().err


def test_a_next_or_referrer_that_is_no_url_goes_home(app):
    anon = Client(app)
    anon.get("/login")
    r = anon.post("/login", {"username": "admin", "password": PASSWORD, "next": "http://["})
    assert r.status_code == 302 and r.headers["Location"] == "/"
    anon.get("/account")  # the new session's CSRF token
    r = anon.post("/language", {"lang": "en"}, headers={"Referer": "http://[::1"})
    assert r.status_code == 302 and r.headers["Location"] == "/"
    r = anon.post("/language", {"lang": "en", "next": "http://["})
    assert r.status_code == 302 and r.headers["Location"] == "/"

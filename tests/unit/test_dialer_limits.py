"""Every cap within its hard limit wherever it is set: the library call every entry point goes
through (`campaigns.create`), `ivr campaign create`, the web form, and a stored row the dialer
reads (a cap written by hand is applied as its limit). Nonsense (nan, 1e400, 0) is refused with a
clear message, never stored, never a traceback or a 500. The library and stored-row tests run on
SQLite and on PostgreSQL (`any_db`); the CLI and web-form ones on SQLite (their path to the database
is the same Store code)."""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys

import pytest

from ivr.config import REPO_ROOT, Settings
from ivr.db.connect import connect
from ivr.db.store import store_of
from ivr.dialer import campaigns, controller, limits
from ivr.dialer.policy import Policy
from tests.support.web_app import Client, add_users, db_of, make_app


@pytest.fixture
def db(any_db):
    """A migrated empty database on each engine: the caps must fit either one's columns."""
    return any_db


def stored(db, cid):
    row = campaigns.get(db, cid)
    return row, json.loads(row["policy"]), json.loads(row["retry_policy"])


# ---- the one place ---------------------------------------------------------------------------------
@pytest.mark.parametrize("name,value,applied", [
    ("max_connected_per_borrower_day", 99, 3), ("max_unanswered_per_number_day", 7, 6),
    ("max_connected_per_borrower_day", "2", 2), ("unreachable_after_fails", 10**9, 20)])
def test_policy_caps_are_clamped_to_their_hard_limit(name, value, applied):
    data, notes = limits.policy_overrides({name: value}, Policy)
    assert data[name] == applied
    assert [n.applied for n in notes] == ([applied] if int(value) > applied else [])


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "1e400", float("nan"), True, None, "", "三", [3]])
def test_nonsense_is_refused_with_the_setting_named(value):
    with pytest.raises(limits.LimitError) as exc:
        limits.number("max_cps", value, limits.CAMPAIGN_LIMITS["max_cps"])
    assert "max_cps" in str(exc.value) and exc.value.key == "not_a_number"


def test_below_the_minimum_and_fractions_are_refused():
    for name, value, key in (("max_cps", 0, "too_low"), ("max_cps", -1, "too_low"), ("max_concurrent", 2.5, "not_whole"),
                             ("max_attempts", 0, "too_low")):
        with pytest.raises(limits.LimitError) as exc:
            limits.number(name, value, limits.CAMPAIGN_LIMITS[name])
        assert exc.value.key == key


# ---- entry point: campaigns.create (the demo, scripts, and under the CLI and the web form) ---------
def test_create_stores_only_clamped_caps(db):
    cid = campaigns.create(db, name="x", selection={"all": True}, max_cps=1000, max_concurrent=10**6, max_attempts=99,
                           policy={"max_connected_per_borrower_day": 99, "max_unanswered_per_number_day": 60,
                                   "window_start": "06:00", "window_end": "23:30"},
                           retry_policy={"busy": {"delay_s": 10**12}})
    row, policy, retry = stored(db, cid)
    assert (row["max_cps"], row["max_concurrent"], row["max_attempts"]) == (50.0, 200, 30)
    assert policy == {"max_connected_per_borrower_day": 3, "max_unanswered_per_number_day": 6,
                      "window_start": "08:00", "window_end": "22:00"}
    assert retry == {"busy": {"delay_s": 7 * 86400}}


@pytest.mark.parametrize("kwargs", [{"max_cps": float("nan")}, {"max_cps": float("inf")},
                                    {"retry_policy": {"busy": {"delay_s": float("inf")}}},
                                    {"retry_policy": {"busy": {"delay_s": "1e400"}}},
                                    {"policy": {"max_connected_per_borrower_day": 0}},
                                    {"policy": {"skip_holidays": "yes"}}])
def test_create_refuses_nonsense(db, kwargs):
    with pytest.raises(campaigns.CampaignError):
        campaigns.create(db, name="x", selection={"all": True}, **kwargs)
    assert store_of(db).scalar("SELECT count(*) FROM campaigns") == 0


# ---- entry point: a stored campaign row (written before the limits, or by hand) ------------------
def test_a_stored_cap_above_its_limit_is_applied_as_the_limit(db):
    cid = campaigns.create(db, name="x", selection={"all": True})
    store_of(db).execute("UPDATE campaigns SET max_cps = 1e308, max_concurrent = 100000, policy = :p WHERE id = :id",
                         {"p": json.dumps({"max_connected_per_borrower_day": 99, "max_unanswered_per_number_day": 99}),
                          "id": cid})
    from ivr.dialer.scheduler import policy_of
    p = policy_of(campaigns.get(db, cid))
    assert (p.max_connected_per_borrower_day, p.max_unanswered_per_number_day) == (3, 6)
    row = campaigns.get(db, cid)
    assert limits.pacing_rate(row["max_cps"]) == 50 and limits.concurrency(row["max_concurrent"]) == 200
    assert limits.pacing_rate("nan") == 0.01   # nonsense stored: the least calling
    assert controller.Controller(Settings(), max_channels=10**6).max_channels == 500


# ---- entry point: the command line -----------------------------------------------------------------
def ivr(tmp_path, *args):
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT), IVR_DB_PATH=str(tmp_path / "cli.db"))
    return subprocess.run([sys.executable, "-m", "ivr.cli", *args], capture_output=True, text=True, env=env,
                          cwd=REPO_ROOT, timeout=60)


def test_cli_clamps_and_says_so_and_refuses_nonsense(tmp_path):
    out = ivr(tmp_path, "campaign", "create", "--all", "--max-cps", "500",
              "--policy", '{"max_connected_per_borrower_day": 99}')
    assert out.returncode == 0, out.stderr
    assert "max_connected_per_borrower_day 99 is above the hard limit: 3 is used" in out.stderr
    db = connect(tmp_path / "cli.db")
    row, policy, _ = stored(db, int(out.stdout.strip()))
    assert policy == {"max_connected_per_borrower_day": 3} and row["max_cps"] == 50.0
    for args, says in ((["--max-cps", "nan"], "max_cps: 'nan' is not a number"),
                       (["--retry-policy", '{"busy": {"delay_s": 1e400}}'], "is not a number"),
                       (["--policy", "{max_connected: 99"], "--policy: not valid JSON")):
        bad = ivr(tmp_path, "campaign", "create", "--all", *args)
        assert bad.returncode == 1 and says in bad.stderr and "Traceback" not in bad.stderr, bad.stderr
    assert db.execute("SELECT count(*) FROM campaigns").fetchone()[0] == 1
    bad = ivr(tmp_path, "dialer", "run", "--max-channels", "inf")
    assert bad.returncode == 1 and "max_channels" in bad.stderr and "Traceback" not in bad.stderr


# ---- entry point: the web form ---------------------------------------------------------------------
CSV = "loan_id,name,phone,id_last4,amount_due,due_date\nL1,张三,13800000001,1234,3500,2026-12-10\n"


def post_form(c, **extra):
    data = {"name": "回访", "source": "upload", "flow": "followup", "locale": "zh-CN", "tz": "Asia/Shanghai",
            "max_concurrent": "8", "max_cps": "2", "max_attempts": "4", **extra,
            "file": (io.BytesIO(CSV.encode()), "b.csv")}
    return c.post("/campaigns/new", data, content_type="multipart/form-data")


@pytest.fixture
def web(tmp_path):
    app = make_app(tmp_path)
    add_users(app, ["supervisor"])
    c = Client(app)
    c.login("supervisor")
    c.get("/campaigns/new")
    return app, c


def test_web_form_never_stores_a_cap_above_its_limit(web):
    app, c = web
    r = post_form(c, max_connected_per_borrower_day="99", window_start="06:00", max_cps="500")
    assert r.status_code == 302
    page = c.get(r.headers["Location"]).get_data(as_text=True)
    assert "每人每天最多接通：99 超过硬性上限，已按 3 保存" in page
    row, policy, _ = stored(db_of(app), 1)
    assert policy["max_connected_per_borrower_day"] == 3 and policy["window_start"] == "08:00"
    assert row["max_cps"] == 50.0


@pytest.mark.parametrize("field,value,message", [
    ("max_cps", "nan", "每秒新呼叫数：“nan”不是有效的数字"),
    ("retry_busy", "1e400", "“忙线”后的重拨间隔（秒）：“1e400”不是有效的数字"),
    ("max_concurrent", "abc", "最大并发通话数：“abc”不是有效的数字"),
    ("max_connected_per_borrower_day", "0", "每人每天最多接通：0 低于最小值 1"),
    ("window_start", "25:99", "外呼时段开始：时间格式应为 HH:MM"),
])
def test_web_form_refuses_nonsense_in_the_users_language(web, field, value, message):
    app, c = web
    r = post_form(c, **{field: value})
    assert r.status_code == 400
    page = r.get_data(as_text=True)
    assert message in page, page[page.find("flash"):][:400]
    assert db_of(app).execute("SELECT count(*) FROM campaigns").fetchone()[0] == 0


def test_web_refusal_in_english_and_korean(web):
    app, c = web
    for lang, message in (("en", "New calls per second: “nan” is not a number"),
                          ("ko-KR", "초당 신규 발신 수: “nan”은(는) 숫자가 아닙니다")):
        with c.c.session_transaction() as s:
            s["lang"] = lang
        r = post_form(c, max_cps="nan")
        assert r.status_code == 400 and message in r.get_data(as_text=True)

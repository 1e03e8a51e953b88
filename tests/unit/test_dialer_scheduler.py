"""Scheduler against a database with a controllable clock: caps counted across campaigns and
restarts from the attempts table, refusal logging rate-limited, campaign state machine and commands.
Every test runs on SQLite and on PostgreSQL (`any_db`)."""
from __future__ import annotations

import datetime as dt

import pytest

from ivr.db.store import store_of
from ivr.dialer import campaigns, scheduler
from ivr.dialer.campaigns import CampaignError
from ivr.dialer.clock import iso

NOW = dt.datetime(2026, 12, 1, 2, 0, tzinfo=dt.timezone.utc)   # 10:00 Shanghai


@pytest.fixture
def db(any_db, store):
    for i in range(1, 6):
        assert store.insert("borrowers", {"loan_id": f"L{i}", "name": "n", "locale": "zh-CN", "timezone": "Asia/Shanghai",
                                          "due_date": f"2026-12-0{i}", "created_at": "x", "updated_at": "x"}) == i
        assert store.insert("contacts", {"borrower_id": i, "phone": f"1380000000{i}", "kind": "mobile",
                                         "created_at": "x"}) == i
    return any_db


def rows(db, table):
    return store_of(db).scalar(f"SELECT count(*) FROM {table}")


def running(db, **kw):
    cid = campaigns.create(db, name="c", selection=kw.pop("selection", {"all": True}), now=NOW, **kw)
    campaigns.apply_command(db, cid, "start", now=NOW)
    return cid


def add_attempt(db, aid, borrower, when, **row):
    store_of(db).insert("attempts", {"id": aid, "borrower_id": borrower, "contact_id": borrower, "number": f"1380000000{borrower}",
                           "locale": "zh-CN", "state": "ended", "created_at": iso(when), **row})


def test_state_machine_and_commands(db):
    cid = campaigns.create(db, name="c", selection={"loan_ids": ["L1", "L2"]}, now=NOW)
    with pytest.raises(CampaignError):
        campaigns.apply_command(db, cid, "pause", now=NOW)
    assert campaigns.apply_command(db, cid, "start", now=NOW) == "running"
    assert rows(db, "campaign_targets") == 2
    campaigns.request(db, cid, "pause", "web:alice", now=NOW)
    campaigns.request(db, cid, "pause", "web:bob", now=NOW)
    campaigns.request(db, cid, "resume", "web:alice", now=NOW)
    done = campaigns.process_commands(db, NOW)
    assert [d["result"] for d in done] == ["ok: paused", "refused: cannot pause a campaign that is paused", "ok: running"]
    assert all(r["processed_at"] for r in store_of(db).query("SELECT * FROM commands"))
    assert campaigns.process_commands(db, NOW) == []
    assert campaigns.run_command_now(db, cid, "stop", "cli", now=NOW) == "stopped"
    with pytest.raises(CampaignError):
        campaigns.run_command_now(db, cid, "resume", "cli", now=NOW)
    with pytest.raises(CampaignError):
        campaigns.create(db, name="x", selection={"bogus": 1})
    with pytest.raises(CampaignError):
        campaigns.create(db, name="x", selection={"all": True}, policy={"window_start": "23:00"})


def test_a_command_two_controllers_read_is_applied_once_and_its_result_kept(db, engine_url, monkeypatch):
    """Two controllers share the command queue: the second read it before the first applied it. It
    must not apply it again (a second "pause" is refused) and overwrite the first's result."""
    from ivr.db.connect import open_database
    cid = running(db)
    campaigns.request(db, cid, "pause", "web:alice", now=NOW)
    other = open_database(engine_url, migrate=False)
    try:
        stale = store_of(other).query("SELECT * FROM commands WHERE processed_at IS NULL ORDER BY id")
        assert [d["result"] for d in campaigns.process_commands(db, NOW)] == ["ok: paused"]
        read = store_of(other).query
        monkeypatch.setattr(store_of(other), "query",
                            lambda sql, params=None: stale if "FROM commands" in sql else read(sql, params))
        assert campaigns.process_commands(other, NOW) == []
    finally:
        store_of(other).close()
    assert store_of(db).scalar("SELECT result FROM commands") == "ok: paused"
    assert campaigns.get(db, cid)["state"] == "paused"


def test_selection_by_due_range_and_finish(db):
    cid = running(db, selection={"due_from": "2026-12-02", "due_to": "2026-12-03"})
    assert sorted(r["borrower_id"] for r in store_of(db).query("SELECT borrower_id FROM campaign_targets")) == [2, 3]
    store_of(db).execute("UPDATE campaign_targets SET status='done'")
    assert campaigns.finish_due(db, NOW) == [cid]
    assert campaigns.get(db, cid)["state"] == "finished"


def test_fresh_first_and_pacing_budget(db):
    cid = running(db)
    store_of(db).execute("UPDATE campaign_targets SET attempts=1, retry=1, next_at=:at WHERE borrower_id=1",
                         {"at": iso(NOW - dt.timedelta(hours=5))})
    r = scheduler.tick(db, NOW, {cid: 2})
    assert [d.borrower_id for d in r.dials] == [2, 3]
    r = scheduler.tick(db, NOW, {cid: 5})
    assert [d.borrower_id for d in r.dials] == [2, 3, 4, 5, 1]


def test_caps_count_attempts_of_all_campaigns_and_earlier_runs(db):
    cid = running(db)
    today = NOW - dt.timedelta(hours=1)
    for k in range(3):   # borrower 1: 3 connected calls today (another campaign, no campaign id)
        add_attempt(db, f"x{k}", 1, today, outcome="answered", answered_at=iso(today))
    for k in range(6):   # number of borrower 2: 6 unanswered today
        add_attempt(db, f"y{k}", 2, today, outcome="busy")
    add_attempt(db, "yesterday", 3, NOW - dt.timedelta(hours=20), outcome="answered", answered_at="x")
    add_attempt(db, "live", 4, NOW, outcome=None, state="ringing")   # borrower 4 on a call now
    r = scheduler.tick(db, NOW, {cid: 10})
    assert [d.borrower_id for d in r.dials] == [3, 5]
    reasons = {x.borrower_id: x.reason for x in r.refusals}
    assert reasons == {1: "borrower-daily-connected-cap", 2: "number-daily-unanswered-cap", 4: "borrower-on-call"}
    # refused targets are pushed to when the reason ends: next window (08:00 tomorrow) / 30 s
    t = {x["borrower_id"]: x["next_at"] for x in store_of(db).query("SELECT * FROM campaign_targets")}
    assert t[1] == "2026-12-02T00:00:00.000+00:00" and t[2] == "2026-12-02T00:00:00.000+00:00"
    assert t[4] == iso(NOW + dt.timedelta(seconds=30))


def test_refusal_logging_is_rate_limited(db):
    cid = running(db, selection={"loan_ids": ["L4"]})
    add_attempt(db, "live", 4, NOW, outcome=None, state="ringing")
    when = NOW
    for _ in range(10):   # every 30 s for 5 minutes: re-checked, logged once
        scheduler.tick(db, when, {cid: 1})
        when += dt.timedelta(seconds=31)
    assert rows(db, "dial_refusals") == 1
    scheduler.tick(db, NOW + dt.timedelta(minutes=16), {cid: 1})
    assert rows(db, "dial_refusals") == 2


def test_night_refusal_and_dnc_and_no_number(db):
    cid = running(db)
    store_of(db).insert("dnc", {"number": "13800000001", "created_at": "x"})
    store_of(db).execute("UPDATE contacts SET status='invalid' WHERE id=2")
    night = dt.datetime(2026, 11, 30, 23, 0, tzinfo=dt.timezone.utc)   # 07:00 Shanghai
    store_of(db).execute("UPDATE campaign_targets SET next_at = '2026-11-30T00:00:00.000+00:00'")
    r = scheduler.tick(db, night, {cid: 10})
    assert r.dials == [] and {x.reason for x in r.refusals} == {"outside-calling-hours"}
    r = scheduler.tick(db, NOW, {cid: 10})
    assert [d.borrower_id for d in r.dials] == [3, 4, 5]
    t = {x["borrower_id"]: (x["status"], x["done_reason"]) for x in store_of(db).query("SELECT * FROM campaign_targets")}
    assert t[1] == ("done", "do-not-call") and t[2] == ("done", "no-dialable-number")


def test_two_starts_of_one_campaign_on_postgresql_take_turns(postgres_url):
    """A web request and the CLI start one campaign at once: the second waits for the first's
    transaction (the campaign's row is locked) and is then judged on the state it left — refused,
    not a second start."""
    import threading
    import time

    from ivr.db import migrate
    from ivr.db.store import open_store
    migrate.upgrade(postgres_url)
    a, b, watcher = open_store(postgres_url), open_store(postgres_url), open_store(postgres_url)
    try:
        a.insert("borrowers", {"loan_id": "L1", "name": "n", "locale": "zh-CN", "timezone": "Asia/Shanghai",
                               "created_at": "x", "updated_at": "x"})
        cid = campaigns.create(a, name="c", selection={"all": True}, now=NOW)
        result = {}

        def second_start():
            try:
                result["b"] = campaigns.apply_command(b, cid, "start", now=NOW)
            except CampaignError as exc:
                result["b"] = str(exc)
        with a.transaction():
            assert campaigns.apply_command(a, cid, "start", now=NOW) == "running"
            thread = threading.Thread(target=second_start)
            thread.start()
            deadline = time.monotonic() + 10
            while not watcher.scalar("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                                     "AND wait_event_type = 'Lock'"):
                assert time.monotonic() < deadline, "the second start never waited for the first"
                time.sleep(0.01)
        thread.join(10)
        assert result == {"b": "cannot start a campaign that is running"}
        assert watcher.scalar("SELECT count(*) FROM campaign_targets") == 1
    finally:
        for s in (a, b, watcher):
            s.close()

"""Escalations assigned from the queue's AgentConnect event, and closed as a callback when no agent
answered. The event streams are from real calls (tests/fixtures/ami/agent_answered.json and
no_agent.json, recorded by tests/integration/test_agents.py) replayed through the dialer's own event
consumer (CallPlacer._on_event), the same code that follows live calls. The database tests run on
SQLite and on PostgreSQL (`engine_url`)."""
from __future__ import annotations

import asyncio
import datetime as dt
import json
from pathlib import Path

import pytest

from ivr.config import Settings
from ivr.db.store import store_of
from ivr.db.writer import AsyncDb
from ivr.dialer import campaigns, controller, escalations
from ivr.dialer.calls import CallPlacer

FIXTURES = Path(__file__).parent.parent / "fixtures" / "ami"


def stream(name):
    data = json.loads((FIXTURES / f"{name}.json").read_text())
    return data["attempt_id"], data["events"]


def seed(adb, attempt_id, *, callback_by_dialog=False):
    d = adb.db
    store_of(d).insert("borrowers", {"loan_id": "L1", "name": "n", "amount_due": 100, "due_date": "2026-12-05",
                           "locale": "zh-CN", "timezone": "Asia/Shanghai", "created_at": "x", "updated_at": "x"})
    store_of(d).insert("contacts", {"borrower_id": 1, "phone": "13900000009", "kind": "mobile", "created_at": "x"})
    store_of(d).insert("attempts", {"id": attempt_id, "number": "13900000009", "locale": "zh-CN", "borrower_id": 1,
                          "contact_id": 1, "state": "in_dialog", "created_at": "2026-12-01T02:00:00+00:00"})
    store_of(d).insert("dialogs", {"attempt_id": attempt_id, "started_at": "2026-12-01T02:00:05+00:00", "result": "transferred"})
    store_of(d).insert("escalations", {"attempt_id": attempt_id, "borrower_id": 1, "reason": "requested",
                             "queued_at": "2026-12-01T02:00:20+00:00"})
    if callback_by_dialog:   # what the dialog server's no-agent apology writes (no time)
        store_of(d).insert("callbacks", {"attempt_id": attempt_id, "borrower_id": 1, "reason": "no_agent",
                               "created_at": "2026-12-01T02:00:40+00:00"})


def replay(adb, attempt_id, events):
    async def run():
        placer = CallPlacer(Settings(ami_secret="unused"), adb)
        placer.adopt(attempt_id, state="in_dialog")
        for e in events:
            await placer._on_event(e)
        return placer
    return asyncio.run(run())


def escalation(adb):
    return store_of(adb.db).one("SELECT * FROM escalations ORDER BY id")


def test_only_agent_connect_names_who_answered():
    aid, events = stream("agent_answered")
    answers = [a for a in map(escalations.agent_answer, events) if a]
    assert answers == [escalations.AgentAnswer(aid, "agent1", "PJSIP/huifang-agent1-00000001")]
    # AgentCalled (ringing) and AgentComplete (hung up) carry the same member but decide nothing
    assert {e["Event"] for e in events if e.get("Interface")} == {"AgentCalled", "AgentConnect", "AgentComplete"}
    _, none = stream("no_agent")
    assert not [a for a in map(escalations.agent_answer, none) if a]
    other_queue = dict(next(e for e in events if e["Event"] == "AgentConnect"), Queue="sales")
    assert escalations.agent_answer(other_queue) is None


def test_answered_call_assigns_the_escalation_to_that_phone(engine_url):
    aid, events = stream("agent_answered")
    adb = AsyncDb(engine_url)
    seed(adb, aid)
    replay(adb, aid, events)
    e = escalation(adb)
    assert (e["agent"], e["agent_channel"]) == ("agent1", "PJSIP/huifang-agent1-00000001")
    assert e["assigned_at"] and e["answered_at"] and e["closed_at"] is None and e["outcome"] is None
    assert not list(store_of(adb.db).query("SELECT * FROM callbacks"))
    adb.close()


def test_no_agent_closes_the_escalation_into_a_callback(engine_url):
    aid, events = stream("no_agent")
    adb = AsyncDb(engine_url)
    seed(adb, aid, callback_by_dialog=True)
    before = dt.datetime.now(dt.timezone.utc)
    replay(adb, aid, events)
    e = escalation(adb)
    assert e["agent"] is None and e["outcome"] == "no_agent" and e["closed_at"]
    [cb] = list(store_of(adb.db).query("SELECT * FROM callbacks"))       # the dialog server's row, now with a time
    due = dt.datetime.fromisoformat(cb["due_at"])
    assert cb["reason"] == "no_agent" and dt.timedelta(minutes=29) < due - before < dt.timedelta(minutes=31)
    # the campaign: not "transferred and done" but a callback at that time
    cid = campaigns.create(adb.db, name="c", selection={"all": True}, max_attempts=3)
    store_of(adb.db).update("attempts", aid, {"campaign_id": cid, "state": "ended", "outcome": "answered"})
    store_of(adb.db).insert("campaign_targets", {"campaign_id": cid, "borrower_id": 1, "status": "active", "attempts": 1,
                                       "next_at": "x", "last_attempt_id": aid, "updated_at": "x"})
    result = controller.finalize(adb.db, aid, dt.datetime.now(dt.timezone.utc))
    assert result["disposition"] == "answered-no-agent" and result["status"] == "pending"
    assert dt.datetime.fromisoformat(result["next_at"]) == due
    adb.close()


def test_close_is_idempotent_and_leaves_answered_escalations_alone(engine_url):
    aid, _ = stream("no_agent")
    adb = AsyncDb(engine_url)
    seed(adb, aid)
    now = dt.datetime(2026, 12, 1, 2, 1, tzinfo=dt.timezone.utc)
    cb = escalations.close_unanswered(adb.db, aid, now)
    assert cb["due_at"] == "2026-12-01T02:31+00:00" and cb["reason"] == "no_agent"
    assert escalations.close_unanswered(adb.db, aid, now) is None
    assert len(list(store_of(adb.db).query("SELECT * FROM callbacks"))) == 1
    store_of(adb.db).insert("attempts", {"id": "other", "number": "1", "locale": "zh-CN", "state": "ended", "created_at": "x"})
    store_of(adb.db).insert("escalations", {"attempt_id": "other", "reason": "dispute", "queued_at": "x", "agent": "agent2"})
    assert escalations.close_unanswered(adb.db, "other", now) is None
    adb.close()


@pytest.mark.parametrize("existing, closed, expected", [
    (None, None, "agent1"),            # the normal case
    ("agent1", None, "agent1"),        # the same event twice
    ("agent2", None, "agent2"),        # never taken away from the agent who has it
    (None, "2026-12-01T02:05", None),  # closed (stale): nobody gets it afterwards
])
def test_assign_never_steals_or_reopens(engine_url, existing, closed, expected):
    aid, _ = stream("agent_answered")
    adb = AsyncDb(engine_url)
    seed(adb, aid)
    store_of(adb.db).execute("UPDATE escalations SET agent = :agent, closed_at = :closed",
                             {"agent": existing, "closed": closed})
    ok = escalations.assign(adb.db, escalations.AgentAnswer(aid, "agent1", "PJSIP/huifang-agent1-1"), "t")
    assert ok == (expected == "agent1") and escalation(adb)["agent"] == expected
    adb.close()

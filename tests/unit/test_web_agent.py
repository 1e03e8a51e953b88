"""The agent's screen-pop and outcome: the escalation's context is shown, a promise (source
'agent'), a dispute note or a callback is stored, and the result shows on the borrower's record.
The escalation is the agent's because the dialer assigned it to their phone (agent1) from the
queue's AgentConnect event; here that assignment is written as the dialer writes it."""
from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from ivr.db.store import store_of
from ivr.web import agent
from tests.support.web_app import NAME, PHONE, Client, add_users, db_of, make_app, seed


def setup(tmp_path):
    app = make_app(tmp_path)
    add_users(app, ["agent", "supervisor"])
    ids = seed(app)
    c = Client(app)
    c.login("agent")
    return app, c, ids


def answered_by(app, endpoint="agent1"):
    """What ivr/dialer/escalations.assign writes when the endpoint's phone answers the queue call."""
    db_of(app).execute("UPDATE escalations SET agent = ?, agent_channel = ?, assigned_at = '2026-11-30T02:00:40', "
                       "answered_at = '2026-11-30T02:00:40'", [endpoint, f"PJSIP/huifang-{endpoint}-00000001"])


def test_take_and_screen_pop(tmp_path):
    app, c, ids = setup(tmp_path)
    queue = c.get("/agent").get_data(as_text=True)
    assert "138****5678" not in queue and "等待坐席:1" in queue   # waiting: counted, not shown to an agent
    assert c.get(f"/agent/escalations/{ids['escalation_id']}").status_code == 403  # nobody's phone answered yet
    answered_by(app)
    queue = c.get("/agent").get_data(as_text=True)
    assert "138****5678" in queue and PHONE not in queue and "客户要求" in queue
    c.post(f"/agent/escalations/{ids['escalation_id']}/take")
    page = c.get(f"/agent/escalations/{ids['escalation_id']}").get_data(as_text=True)
    assert NAME in page and PHONE in page and "身份已核实" in page and "⌨ 4321" in page


def test_dialer_assigned_escalation_pops_for_the_agent_extension(tmp_path):
    app, c, ids = setup(tmp_path)
    answered_by(app)
    data = c.get("/agent/queue.json").get_json()
    assert data["current"][0]["id"] == ids["escalation_id"]
    assert c.get(data["current"][0]["url"]).status_code == 200


def test_promise_outcome_shows_on_borrower_record(tmp_path):
    app, c, ids = setup(tmp_path)
    answered_by(app)
    eid = ids["escalation_id"]
    c.post(f"/agent/escalations/{eid}/take")
    c.get(f"/agent/escalations/{eid}")
    due = (dt.date.today() + dt.timedelta(days=7)).isoformat()
    r = c.post(f"/agent/escalations/{eid}/outcome", {"outcome": "promise", "promise_date": due,
                                                    "promise_amount": "2500", "callback_at": due + "T10:30",
                                                    "note": "客户说月底工资到账"})
    assert r.status_code == 302
    db = db_of(app)
    p = list(db.query("SELECT * FROM promises WHERE source = 'agent'"))
    assert [(x["promise_date"], x["amount"], x["attempt_id"]) for x in p] == [(due, 2500, "a-answered")]
    cb = list(db.query("SELECT * FROM callbacks"))[0]
    assert cb["reason"] == "agent" and cb["due_at"] == due + "T10:30+08:00"
    e = list(db.query("SELECT * FROM escalations"))[0]
    assert e["outcome"] == "promise" and e["closed_at"] and e["note"] == "客户说月底工资到账"
    sup = Client(app)
    sup.login("supervisor")
    record = sup.get(f"/borrowers/{ids['borrower_id']}").get_data(as_text=True)
    assert due in record and "2,500" in record and "客户说月底工资到账" in record and "坐席" in record
    assert c.post(f"/agent/escalations/{eid}/outcome", {"outcome": "no_result"}).status_code == 409  # closed


def test_bad_outcomes_are_refused(tmp_path):
    app, c, ids = setup(tmp_path)
    answered_by(app)
    eid = ids["escalation_id"]
    c.post(f"/agent/escalations/{eid}/take")
    c.get(f"/agent/escalations/{eid}")
    c.post(f"/agent/escalations/{eid}/outcome", {"outcome": "promise", "promise_date": "2001-01-01",
                                                "promise_amount": "-5"})
    c.post(f"/agent/escalations/{eid}/outcome", {"outcome": "dispute", "note": ""})
    db = db_of(app)
    assert not list(db.query("SELECT * FROM promises WHERE source = 'agent'"))
    assert list(db.query("SELECT closed_at FROM escalations"))[0]["closed_at"] is None
    c.post(f"/agent/escalations/{eid}/outcome", {"outcome": "dispute", "note": "不认可滞纳金"})
    assert list(db.query("SELECT outcome FROM escalations"))[0]["outcome"] == "dispute"


def test_queue_and_close_on_both_engines(tmp_path, engine_url):
    """agent.queue per endpoint (an account without one sees nothing) and agent.close's promise,
    callback and closed escalation, on SQLite and PostgreSQL."""
    app = make_app(tmp_path, database_url=engine_url)
    ids = seed(app)
    s = store_of(db_of(app))
    agent1, agent2, bare = ({"role": "agent", "agent_ext": ext} for ext in ("agent1", "agent2", None))
    boss = {"role": "supervisor", "agent_ext": None}
    assert agent.queue(s, agent1)["waiting_count"] == 1 and agent.queue(s, agent1)["waiting"] == []
    assert [e["id"] for e in agent.queue(s, boss)["waiting"]] == [ids["escalation_id"]]
    s.execute("UPDATE escalations SET agent = 'agent1', answered_at = '2026-11-30T02:00:40'")
    with app.test_request_context():
        q1, q2, q0, qs = (agent.queue(s, u) for u in (agent1, agent2, bare, boss))
    assert [e["id"] for e in q1["current"]] == [ids["escalation_id"]] and q1["current"][0]["number"] == "138****5678"
    assert q1["current"][0]["waited"] == "0:09" and q1["current"][0]["call_state"] == "ended"
    assert q2["current"] == q0["current"] == q0["closed"] == [] and q1["waiting_count"] == 0
    assert [e["id"] for e in qs["current"]] == [ids["escalation_id"]] and qs["all"]
    promise = {"attempt_id": "a-answered", "borrower_id": ids["borrower_id"], "promise_date": "2026-12-20",
               "amount": 800, "confirmed": 1, "source": "agent", "created_at": "2026-11-30T02:05:00.000+00:00"}
    callback = {"attempt_id": "a-answered", "borrower_id": ids["borrower_id"], "reason": "agent",
                "requested_date": "2026-12-02", "requested_time": "10:00", "due_at": "2026-12-02T10:00+08:00",
                "created_at": "2026-11-30T02:05:00.000+00:00"}
    agent.close(s, ids["escalation_id"], "promise", "will pay", "2026-11-30T02:05:00.000+00:00",
                promise=promise, callback=callback)
    e = s.get("escalations", ids["escalation_id"])
    assert (e["outcome"], e["note"], e["closed_at"]) == ("promise", "will pay", "2026-11-30T02:05:00.000+00:00")
    assert s.scalar("SELECT amount FROM promises WHERE source = 'agent'") == 800
    assert s.scalar("SELECT due_at FROM callbacks WHERE reason = 'agent'") == "2026-12-02T10:00+08:00"
    assert [e["id"] for e in agent.queue(s, agent1)["closed"]] == [ids["escalation_id"]]
    assert agent.queue(s, agent1)["current"] == []
    with pytest.raises(sa.exc.CompileError):   # one transaction: a refused callback takes its promise along
        agent.close(s, ids["escalation_id"], "callback", None, "later", promise={**promise, "amount": 5},
                    callback={"nonsense": 1})
    assert s.get("escalations", ids["escalation_id"])["outcome"] == "promise"
    assert s.scalar("SELECT count(*) FROM promises WHERE source = 'agent'") == 1
    s.close()

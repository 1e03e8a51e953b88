"""The agent's screen-pop and outcome: the escalation's context is shown, a promise (source
'agent'), a dispute note or a callback is stored, and the result shows on the borrower's record.
The escalation is the agent's because the dialer assigned it to their phone (agent1) from the
queue's AgentConnect event; here that assignment is written as the dialer writes it."""
from __future__ import annotations

import datetime as dt

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

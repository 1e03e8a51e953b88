"""Who sees which escalation (issue 10 item 3): the escalation is the agent's whose phone answered
(escalations.agent = their endpoint, written by the dialer); another agent, an unassigned or a closed
(stale) one is refused with 403/409 and the refusal is audited; supervisors see everything. And the
admin page that gives an agent their phone: the password is shown once and never stored."""
from __future__ import annotations

import re

import pytest

from ivr.agents import credentials
from ivr.web import security
from tests.support.web_app import NAME, PASSWORD, PHONE, Client, add_users, db_of, make_app, seed

ESC = "/agent/escalations/1"


@pytest.fixture
def app(tmp_path):
    a = make_app(tmp_path)
    add_users(a)
    db = db_of(a)
    security.add_user(db, "agent_b", PASSWORD, "agent", agent_ext="agent2")
    db.conn.close()
    seed(a)
    return a


def client(app, username):
    c = Client(app)
    c.login(username)
    return c


def assign(app, endpoint="agent1", closed=None):
    db_of(app).execute("UPDATE escalations SET agent = ?, closed_at = ?", [endpoint, closed])


def refusals(app):
    return [(r["actor"], r["detail"]) for r in db_of(app).query(
        "SELECT actor, detail FROM audit_log WHERE action = 'escalation_refused' ORDER BY id")]


# role -> (view, take) on an escalation agent1's phone answered
MATRIX = {
    "admin": (200, 403), "supervisor": (200, 403), "agent": (200, 302), "agent_b": (403, 403),
    "qa": (403, 403), "auditor": (403, 403),
}


@pytest.mark.parametrize("username", sorted(MATRIX))
def test_role_matrix_on_an_answered_escalation(app, username):
    assign(app)
    c = client(app, username)
    view, take = MATRIX[username]
    assert c.get(ESC).status_code == view
    assert c.post(f"{ESC}/take").status_code == take
    if username in ("admin", "supervisor", "agent", "agent_b"):
        queue = c.get("/agent").get_data(as_text=True)
        assert ("138****5678" in queue) == (username != "agent_b")
        assert PHONE not in queue
        ids = [x["id"] for x in c.get("/agent/queue.json").get_json()["current"]]
        assert ids == ([] if username == "agent_b" else [1])
    if username == "agent_b":
        assert c.get("/borrowers/1").status_code == 403 and NAME not in c.get(ESC).get_data(as_text=True)
        assert [d for _, d in refusals(app)] == ['{"action": "view", "status": 403}',
                                                 '{"action": "take", "status": 403}',
                                                 '{"action": "view", "status": 403}']


def test_unassigned_is_nobodys_and_only_supervisors_see_it_waiting(app):
    agent, sup = client(app, "agent"), client(app, "supervisor")
    assert agent.post(f"{ESC}/take").status_code == 403 and agent.get(ESC).status_code == 403
    assert agent.get("/agent/queue.json").get_json()["waiting"] == []
    assert agent.get("/agent/queue.json").get_json()["waiting_count"] == 1
    assert [w["id"] for w in sup.get("/agent/queue.json").get_json()["waiting"]] == [1]
    assert [a for a, _ in refusals(app)] == ["agent", "agent"]


def test_stale_escalation_is_409_for_its_own_agent(app):
    assign(app, closed="2026-11-30T02:10:00")
    c = client(app, "agent")
    assert c.post(f"{ESC}/take").status_code == 409
    assert c.get(ESC).status_code == 409
    assert c.post(f"{ESC}/outcome", {"outcome": "no_result"}).status_code == 409
    assert c.get("/borrowers/1").status_code == 403
    assert [d for _, d in refusals(app)] == ['{"action": "take", "status": 409}', '{"action": "view", "status": 409}',
                                             '{"action": "outcome", "status": 409}']


def test_no_agent_escalation_shows_to_supervisors_as_a_callback(app):
    db_of(app).execute("UPDATE escalations SET outcome = 'no_agent', closed_at = '2026-11-30T02:10:00'")
    page = client(app, "supervisor").get("/agent").get_data(as_text=True)
    assert "无坐席接听:待回拨" in page
    assert "无坐席接听" not in client(app, "agent").get("/agent").get_data(as_text=True)


def test_admin_creates_an_agent_phone_and_sees_the_password_once(app):
    admin = client(app, "admin")
    r = admin.post("/admin/users", {"username": "zhao", "password": PASSWORD, "role": "agent", "locale": "zh-CN",
                                    "agent_ext": "zhao"})
    page = r.get_data(as_text=True)
    password = re.search(r'id="sip-password">([^<]+)<', page).group(1)
    assert 'id="sip-username">huifang-zhao<' in page and len(password) >= 24
    db = db_of(app)
    row = next(db.query("SELECT * FROM agent_endpoints WHERE name = 'zhao'"))
    assert row["md5_cred"] == credentials.md5_cred("huifang-zhao", "huifang", password)
    assert next(db.query("SELECT agent_ext FROM users WHERE username = 'zhao'"))["agent_ext"] == "zhao"
    assert password not in admin.get("/admin/users").get_data(as_text=True)
    uid = next(db.query("SELECT id FROM users WHERE username = 'zhao'"))["id"]
    again = admin.post(f"/admin/users/{uid}/phone-password").get_data(as_text=True)
    new = re.search(r'id="sip-password">([^<]+)<', again).group(1)
    assert new != password
    # a phone belongs to one account
    agent_b = next(db.query("SELECT id FROM users WHERE username = 'agent_b'"))["id"]
    admin.post(f"/admin/users/{agent_b}", {"role": "agent", "active": "1", "agent_ext": "zhao"})
    assert next(db.query("SELECT agent_ext FROM users WHERE id = ?", [agent_b]))["agent_ext"] == "agent2"
    actions = [r["action"] for r in db.query("SELECT action FROM audit_log WHERE action LIKE 'agent_endpoint%'")]
    assert actions == ["agent_endpoint_add", "agent_endpoint_reset"]

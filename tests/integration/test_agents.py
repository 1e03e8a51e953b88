"""Agents' phones as real endpoints, over the real Asterisk (issue 10, item 3).

The session's stack provisions the simulated agents' endpoints with fresh credentials and their
pjsua2 phones REGISTER with them (ivr/stack.py); Asterisk has no static contact for any agent.

SQLite only (the session's stack): endpoints provisioned from PostgreSQL are proven by
test_dialog_postgres.py, an escalation an agent's phone answers by the browser tests' PostgreSQL run.
"""
from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from ivr.asterisk import process as asterisk
from ivr.db.connect import connect
from ivr.demo import call_all
from ivr.sim.calllog import calls
from ivr.sim.personas import load_personas
from ivr.sim.pool import PhonePool

pytestmark = pytest.mark.integration
HERE = Path(__file__).parent
ASKS_FOR_AGENT = "13900000009"   # keys 0 at the identity question


def place(settings, personas_file, number, tag):
    personas = load_personas(personas_file)
    borrowers = json.loads((HERE / "borrowers.json").read_text())
    [row] = asyncio.run(call_all(settings, {number: personas[number]}, borrowers, concurrency=1, run_tag=tag))
    return row


def escalation_of(settings, attempt_id):
    db = connect(settings.database)
    try:
        e = next(iter(db.query("SELECT * FROM escalations WHERE attempt_id = ?", [attempt_id])), None)
        cbs = list(db.query("SELECT * FROM callbacks WHERE attempt_id = ?", [attempt_id]))
        return e, cbs
    finally:
        db.conn.close()


def test_agent_phones_register_with_their_credentials(stack, settings):
    """Both simulated agents' phones got 200 to their REGISTER and are the queue's reachable members."""
    assert stack.agent_pool.registrations == {"agent1": 200, "agent2": 200}
    contacts = asterisk.cli(settings, "pjsip show contacts")
    assert "huifang-agent1/sip:huifang-agent1@127.0.0.1" in contacts
    assert "huifang-agent2/sip:huifang-agent2@127.0.0.1" in contacts
    members = asterisk.cli(settings, "queue show huifang-agents")
    assert "Unavailable" not in members and "agent1 (PJSIP/huifang-agent1)" in members


def test_wrong_credentials_cannot_register(stack, settings, tmp_path):
    """A phone with agent1's user name and a wrong password gets 401 and never becomes a contact."""
    good = json.loads(stack.agent_accounts.read_text())
    bad = {"registrar": good["registrar"],
           "accounts": [{"name": "agent1", "username": "huifang-agent1", "password": "not-the-password-0000"}]}
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bad))
    before = asterisk.cli(settings, "pjsip show contacts")
    with PhonePool(settings, None, tmp_path / "bad.jsonl", tmp_path / "rec", kind="agent", accounts_path=path,
                   port=settings.agent_port + 5, rtp_base=settings.sim_rtp_base + 100 * 9) as pool:
        assert pool.registrations == {"agent1": 401}
        after = asterisk.cli(settings, "pjsip show contacts")
    assert after.count("huifang-agent1/") == before.count("huifang-agent1/") == 1
    assert f":{pool.worker_ports[0]}" not in after


def test_escalation_belongs_to_the_agent_whose_phone_answered(stack, settings, personas_file):
    """The borrower keys 0: the queue rings an agent phone, it answers, and the escalation in the DB
    is assigned (from AgentConnect) to that phone's endpoint, not to anyone who clicks first."""
    row = place(settings, personas_file, ASKS_FOR_AGENT, "agents-answered")
    assert row["dialog"]["result"] == "transferred"
    answered = [c for c in calls(stack.agent_log) if c.get("attempt") == row["id"] and c.get("status") == 200]
    assert len(answered) == 1, answered
    phone = answered[0]["number"]                       # huifang-agentN: the R-URI of the registered contact
    e, cbs = escalation_of(settings, row["id"])
    assert e is not None and f"huifang-{e['agent']}" == phone
    assert e["agent_channel"].startswith(f"PJSIP/{phone}-") and e["assigned_at"] and e["closed_at"] is None
    assert not [c for c in cbs if c["reason"] == "no_agent"]


def test_escalation_without_an_agent_becomes_a_callback(stack, settings, personas_file):
    """Every agent paused and a 4 s queue limit: nobody answers; when the call ends the escalation
    closes itself (no_agent) and a callback with a due time is waiting for the borrower."""
    members = ("PJSIP/huifang-agent1", "PJSIP/huifang-agent2")
    for m in members:
        asterisk.cli(settings, f"queue pause member {m} queue huifang-agents reason test")
    asterisk.cli(settings, "dialplan set global IVR_QUEUE_TIMEOUT 4")
    try:
        row = place(settings, personas_file, ASKS_FOR_AGENT, "agents-none")
    finally:
        asterisk.cli(settings, "dialplan set global IVR_QUEUE_TIMEOUT \"\"")
        for m in members:
            asterisk.cli(settings, f"queue unpause member {m} queue huifang-agents")
    assert row["dialog"]["result"] == "transferred"
    assert not [c for c in calls(stack.agent_log) if c.get("attempt") == row["id"]]
    e, cbs = escalation_of(settings, row["id"])
    assert e["agent"] is None and e["outcome"] == "no_agent" and e["closed_at"]
    [cb] = [c for c in cbs if c["reason"] == "no_agent"]
    assert cb["due_at"] and cb["due_at"] > e["closed_at"][:16]


def test_reset_password_locks_out_the_old_one_and_nobody_else(stack, settings, tmp_path):
    """An admin resets a phone's password while Asterisk runs: the old password gets 401 at once,
    the new one registers, and the other agents' registrations are untouched by the reload."""
    from ivr.agents import endpoints
    from ivr.agents.apply import apply
    from ivr.stack import provision_simulated_agents

    first = provision_simulated_agents(settings, ["spare"], tmp_path / "first.json")
    old = tmp_path / "old.json"
    old.write_text(first.read_text())
    pool_args = dict(kind="agent", port=settings.agent_port + 5, rtp_base=settings.sim_rtp_base + 100 * 9)
    try:
        with PhonePool(settings, None, tmp_path / "a.jsonl", tmp_path / "rec", accounts_path=old, **pool_args) as p:
            assert p.registrations == {"spare": 200}
        new = provision_simulated_agents(settings, ["spare"], tmp_path / "new.json")   # reset + reload
        with PhonePool(settings, None, tmp_path / "b.jsonl", tmp_path / "rec", accounts_path=old, **pool_args) as p:
            assert p.registrations == {"spare": 401}
        with PhonePool(settings, None, tmp_path / "c.jsonl", tmp_path / "rec", accounts_path=new, **pool_args) as p:
            assert p.registrations == {"spare": 200}
        contacts = asterisk.cli(settings, "pjsip show contacts")
        assert "huifang-agent1/sip:" in contacts and "huifang-agent2/sip:" in contacts
    finally:
        db = connect(settings.database)
        endpoints.deactivate(db, "spare")
        db.conn.close()
        apply(settings)
    assert "huifang-spare" not in asterisk.cli(settings, "queue show huifang-agents")

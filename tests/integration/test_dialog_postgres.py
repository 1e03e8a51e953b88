"""One real call with the whole stack on PostgreSQL (issue 12: `database_url` switches every process).

The stack's settings carry `database_url` of a fresh PostgreSQL database, and nothing else changes:
the agents' endpoints are provisioned there and rendered from there into Asterisk's configuration
(the agent phones must register with them, or the stack does not start); the dialog server, a child
process given the settings through the environment, reads the attempt and writes the conversation
there; the call placer writes the attempt there. What must hold: one keypad conversation ends as on
SQLite (answers, dialog result), every row is in PostgreSQL, and the SQLite file the settings would
otherwise use holds none of it.

Runs its own stack on ports of its own (`stack_settings`).
"""
from __future__ import annotations

import asyncio
import sqlite3

import pytest

from ivr.db import migrate
from ivr.db.store import open_store
from ivr.demo import call_all
from ivr.sim.personas import load_personas
from tests.support.stacks import running_stack

pytestmark = pytest.mark.integration

KEYPAD = "13600000002"
PERSONAS = {KEYPAD: {"answer_after_ms": 300, "steps": [{"dtmf": "1"}, {"dtmf": "1234"}, {"dtmf": "1"}]}}
BORROWERS = {KEYPAD: {"name": "张伟", "locale": "zh-CN", "id_last4": "1234", "amount_due": 3500}}


@pytest.fixture(scope="module")
def pg_stack(stack_settings, postgres_cluster):
    name = postgres_cluster.create_database()
    url = postgres_cluster.url(name)
    migrate.upgrade(url)
    settings = stack_settings("pgcall", ring_timeout_s=10, database_url=url)
    try:
        with running_stack(settings, PERSONAS) as stack:
            yield settings, stack, stack.personas_path
    finally:
        postgres_cluster.drop_database(name)


def test_a_keypad_call_with_every_process_on_postgresql(pg_stack):
    settings, stack, personas_path = pg_stack
    [row] = asyncio.run(call_all(settings, load_personas(personas_path), BORROWERS, concurrency=1, run_tag="pg"))
    assert row["state"] == "ended" and row["outcome"] == "answered" and row["cause"] == 16
    assert [(a["step"], a["intent"], a["via"]) for a in row["answers"]] == [
        ("identity", "confirm", "keypad"), ("digits", "digits", "keypad"), ("plan", "confirm", "keypad")]
    assert row["dialog"]["result"] == "will_pay_on_time" and row["dialog"]["ended_at"]

    store = open_store(settings.database_url)
    try:
        assert store.get("attempts", row["id"])["outcome"] == "answered"
        assert store.scalar("SELECT COUNT(*) FROM answers WHERE attempt_id = :id", {"id": row["id"]}) == 3
        assert store.get("dialogs", row["id"])["result"] == "will_pay_on_time"
        assert [e["name"] for e in store.query("SELECT name FROM agent_endpoints ORDER BY name")] == \
            sorted(stack.agent_names)
    finally:
        store.close()
    # the file the settings name when database_url is empty got nothing of this call
    if settings.database.exists():
        with sqlite3.connect(settings.database) as conn:
            assert not conn.execute("SELECT name FROM sqlite_master WHERE name = 'attempts'").fetchall()

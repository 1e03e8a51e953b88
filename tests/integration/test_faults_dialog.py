"""Fault: the dialog server dies in the middle of a question.

With a call in its identity question, the dialog server process is killed (SIGKILL, no clean-up).
Asterisk's AudioSocket and AGI lose their peer; the dialplan sees IVR_DIALOG_DONE unset and takes
its `dialog-down` path: it plays technical_difficulty and hangs up. What must hold:

* the borrower heard audio after the kill (the apology), and Asterisk hung up, the phone did not;
* the attempt is ended, outcome answered, with an event Stage: dialog-unavailable;
* the dialogs row is left as the dead server left it: started_at set, ended_at and result NULL.
  Decision: only the dialog server writes `dialogs`; a row without ended_at whose attempt has ended
  is exactly how "the dialog server died during this call" reads, and the controller's disposition
  for it is answered-no-dialog (retried in 30 minutes). Nobody back-fills the row.
* after a restart of the dialog server the next call works.

Runs its own stack on ports of its own (`stack_settings`), once per engine (`fault_stack` is
module-scoped and parametrized): on PostgreSQL the killed server's connection dies with it, and the
dialogs row it left must read the same.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
import wave

import numpy as np
import pytest

from ivr.db import attempts as attempts_db
from ivr.db.connect import open_database
from ivr.db.store import store_of
from ivr.db.writer import AsyncDb
from ivr.dialer import controller
from ivr.dialer.calls import CallPlacer
from ivr.dialog.prompts import Prompts
from tests.support.phones import finished_call
from tests.support.postgres import fail_on_errors
from tests.support.stacks import running_stack
from tests.support.waiting import wait_for_async

pytestmark = pytest.mark.integration

SLOW = "13500000001"     # answers, then says nothing for 25 s: the identity question is pending
KEYPAD = "13500000002"   # the full keypad conversation
PERSONAS = {SLOW: {"answer_after_ms": 300, "steps": [{"wait_ms": 25000}, {"hangup": True}]},
            KEYPAD: {"answer_after_ms": 300, "steps": [{"dtmf": "1"}, {"dtmf": "1234"}, {"dtmf": "1"}]}}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def fault_stack(request, stack_settings):
    """(settings, stack) on an SQLite file, or on a fresh PostgreSQL database of the session's cluster
    (whose server must log no ERROR meanwhile: the killed server's open statement ends as a FATAL)."""
    cluster = name = None
    overrides = {}
    if request.param == "postgresql":
        from ivr.db import migrate
        cluster = request.getfixturevalue("postgres_cluster")
        name = cluster.create_database()
        overrides["database_url"] = cluster.url(name)
        migrate.upgrade(overrides["database_url"])
        mark = cluster.log_mark()
    settings = stack_settings("fault" if cluster is None else "fault-pg", ring_timeout_s=10, **overrides)
    try:
        with running_stack(settings, PERSONAS, agents=False) as stack:
            yield settings, stack
    finally:
        if cluster is not None:
            errors = cluster.errors_since(mark)
            cluster.drop_database(name)
    if cluster is not None:
        fail_on_errors(errors, "the dialog-server fault on PostgreSQL")


async def place(settings, number, *, during=None):
    db = AsyncDb(settings)   # database_url, else the SQLite file
    placer = CallPlacer(settings, db)
    await placer.start()
    try:
        bid, cid = await db.call(lambda d: attempts_db.ensure_borrower(
            d, loan_id=f"fault-{number}", name="张伟", id_last4="1234", amount_due=3500,
            due_date=(dt.date.today() + dt.timedelta(days=5)).isoformat(), locale="zh-CN", phone=number))
        aid = await placer.place(number, locale="zh-CN", borrower_id=bid, contact_id=cid)
        extra = await during(db, aid) if during else None
        row = await placer.wait(aid, timeout=90)
        return row, extra
    finally:
        await placer.close()
        db.close()


def seconds_of(pcm: bytes) -> float:
    return len(pcm) / 16000


def voiced_seconds(path, start_s: float) -> float:
    with wave.open(path) as w:
        rate = w.getframerate()
        x = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float32)
    x = x[int(start_s * rate):]
    frames = x[: len(x) // 160 * 160].reshape(-1, 160)
    return float((np.sqrt((frames ** 2).mean(axis=1)) > 300).sum() * 0.02)


def test_dialog_server_killed_mid_question_ends_politely(fault_stack):
    settings, stack = fault_stack
    prompts = Prompts(settings)
    greeting = seconds_of(prompts.audio("zh-CN", "greeting", {"name": "张伟"})[1])
    apology = seconds_of(prompts.audio("zh-CN", "technical_difficulty", {})[1])

    async def kill_in_question(db, aid):
        # wait for the dialog to start, then for the greeting to end: the identity question is on
        assert await wait_for_async(lambda: db.call(lambda d: store_of(d).scalar(
            "SELECT 1 FROM dialogs WHERE attempt_id = :a", {"a": aid})), 30), "the dialog never started"
        await asyncio.sleep(greeting + 1.5)
        killed_at = time.time()
        await asyncio.get_running_loop().run_in_executor(None, stack.dialog.kill)
        return killed_at

    row, killed_at = asyncio.run(place(settings, SLOW, during=kill_in_question))
    assert row["state"] == "ended" and row["outcome"] == "answered"
    db = open_database(settings)
    s = store_of(db)
    ids = {"a": row["id"]}
    events = [dict(e, data=json.loads(e["data"])) for e in
              s.query("SELECT name, data FROM events WHERE attempt_id = :a ORDER BY id", ids)]
    stages = [e["data"].get("Stage") for e in events if e["name"] == "HuifangStage"]
    assert "dialog-unavailable" in stages, stages
    [dialog] = s.query("SELECT * FROM dialogs WHERE attempt_id = :a", ids)
    assert dialog["started_at"] and dialog["ended_at"] is None and dialog["result"] is None
    # the answer being asked was never recorded: the server died before the borrower answered
    assert not s.query("SELECT 1 FROM answers WHERE attempt_id = :a", ids)
    result = controller.finalize(db, row["id"], dt.datetime.now(dt.timezone.utc))
    assert result["disposition"] == "answered-no-dialog"

    # the phone: Asterisk hung up (not the persona, which would have waited 25 s), soon after the kill,
    # and the apology was heard after the kill
    call = finished_call(stack.calls_log, row["id"])
    assert call["status"] == 200 and call["end_reason"] == "remote_hangup", call
    ended = dt.datetime.fromisoformat(call["ended_at"]).timestamp()
    assert ended - killed_at < apology + 5
    answered_at = dt.datetime.fromisoformat([r for r in call["responses"] if r["status"] == 200][0]["at"]).timestamp()
    after_kill = voiced_seconds(call["recording"], killed_at - answered_at + 0.2)
    assert after_kill >= 0.5 * apology, (after_kill, apology)

    # restarted, the dialog server takes the next call as if nothing happened
    stack.dialog.start()
    row2, _ = asyncio.run(place(settings, KEYPAD))
    assert row2["outcome"] == "answered"
    [dialog2] = s.query("SELECT * FROM dialogs WHERE attempt_id = :a", {"a": row2["id"]})
    assert dialog2["result"] == "will_pay_on_time" and dialog2["ended_at"]
    s.close()

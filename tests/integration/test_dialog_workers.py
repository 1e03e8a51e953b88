"""The dialog server as two worker processes (ivr/dialog/workers.py) in front of the real Asterisk.

Every worker listens on the one FastAGI port (SO_REUSEPORT) and names its own AudioSocket port to
Asterisk; each worker logs "call <attempt>: dialog worker <i> (pid <p>) takes it". What must hold:

* calls are spread over both workers by the kernel, and each call's AGI and audio meet in one
  worker: keypad conversations end with their result stored, whichever worker took them;
* SIGKILL of the worker in the middle of a call: that call ends as it does when the whole dialog
  server dies (the dialplan's dialog-down path: apology, Asterisk hangs up, attempt answered with
  Stage: dialog-unavailable, disposition answered-no-dialog); the other worker is untouched; the
  supervisor starts the dead worker again, and later calls, on it too, succeed.

Runs its own stack on ports of its own (`stack_settings`), with dialog_workers = 2.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import re
import signal
import time

import pytest

from ivr.db import attempts as attempts_db
from ivr.db.connect import connect
from ivr.db.writer import AsyncDb
from ivr.dialer import controller
from ivr.dialer.calls import CallPlacer
from ivr.dialog.prompts import Prompts
from tests.support.phones import finished_call
from tests.support.stacks import running_stack
from tests.support.waiting import wait_for, wait_for_async

pytestmark = pytest.mark.integration

KEYPAD = [f"1360000000{i}" for i in range(1, 5)]   # the full keypad conversation, four at a time
SLOW = "13600000009"                               # answers, then says nothing for 25 s
PERSONAS = {**{n: {"answer_after_ms": 300, "steps": [{"dtmf": "1"}, {"dtmf": "1234"}, {"dtmf": "1"}]}
               for n in KEYPAD},
            SLOW: {"answer_after_ms": 300, "steps": [{"wait_ms": 25000}, {"hangup": True}]}}
TAKES = re.compile(r"call (\S+): dialog worker (\d+) \(pid (\d+)\) takes it")
BATCHES = 4   # P(all 4 calls of every batch on one worker) = 2 * 2**-16 if the kernel spreads them at random


@pytest.fixture(scope="module")
def workers_stack(stack_settings):
    settings = stack_settings("workers", ring_timeout_s=10, dialog_workers=2)
    with running_stack(settings, PERSONAS, agents=False) as stack:
        yield settings, stack


def taken_by(stack) -> dict[str, tuple[int, int]]:
    """{attempt id: (worker index, pid)} from the dialog server's log."""
    text = stack.dialog.log_path.read_text(errors="replace")
    return {m[1]: (int(m[2]), int(m[3])) for m in TAKES.finditer(text)}


async def place_all(settings, numbers, *, during=None):
    """Place a call to each number at once; their attempt rows when all have ended (and what `during`
    returned: it runs with (db, attempt ids) while the calls are up)."""
    db = AsyncDb(settings.database)
    placer = CallPlacer(settings, db)
    await placer.start()
    try:
        ids = []
        for number in numbers:
            bid, cid = await db.call(lambda d, number=number: attempts_db.ensure_borrower(
                d, loan_id=f"workers-{number}", name="张伟", id_last4="1234", amount_due=3500,
                due_date=(dt.date.today() + dt.timedelta(days=5)).isoformat(), locale="zh-CN", phone=number))
            ids.append(await placer.place(number, locale="zh-CN", borrower_id=bid, contact_id=cid))
        extra = await during(db, ids) if during else None
        rows = await asyncio.gather(*(placer.wait(aid, timeout=120) for aid in ids))
        return rows, extra
    finally:
        await placer.close()
        db.close()


def assert_completed(settings, rows):
    db = connect(settings.database)
    for row in rows:
        assert row["outcome"] == "answered", row
        [dialog] = db.query("SELECT * FROM dialogs WHERE attempt_id = ?", [row["id"]])
        assert dialog["result"] == "will_pay_on_time" and dialog["ended_at"], dialog


def keypad_batches_until(settings, stack, done) -> list[dict]:
    """Batches of keypad calls, each checked, until `done(attempt -> worker index)` or BATCHES ran."""
    rows = []
    for _ in range(BATCHES):
        batch, _ = asyncio.run(place_all(settings, KEYPAD))
        assert_completed(settings, batch)
        rows += batch
        seen = taken_by(stack)
        if done({r["id"]: seen[r["id"]][0] for r in rows}):
            break
    return rows


def test_calls_are_spread_over_both_workers(workers_stack):
    settings, stack = workers_stack
    assert sorted(stack.dialog.worker_pids()) == [0, 1]
    rows = keypad_batches_until(settings, stack, lambda by: set(by.values()) == {0, 1})
    seen = taken_by(stack)
    workers = {seen[r["id"]] for r in rows}
    assert {w for w, _ in workers} == {0, 1}, workers
    # and each worker is the process the supervisor runs as that worker
    assert {w: p for w, p in workers} == stack.dialog.worker_pids()


def test_a_killed_worker_takes_only_its_call_and_comes_back(workers_stack):
    settings, stack = workers_stack
    prompts = Prompts(settings)
    greeting = len(prompts.audio("zh-CN", "greeting", {"name": "张伟"})[1]) / 16000
    before = stack.dialog.worker_pids()
    assert sorted(before) == [0, 1]

    async def kill_its_worker(db, ids):
        [aid] = ids
        async def started():
            return aid in taken_by(stack) and await db.call(
                lambda d: d.execute("SELECT 1 FROM dialogs WHERE attempt_id = ?", [aid]).fetchone())
        assert await wait_for_async(started, 30), "the dialog never started"
        await asyncio.sleep(greeting + 1.5)   # the identity question is on
        index, pid = taken_by(stack)[aid]
        assert before[index] == pid
        os.kill(pid, signal.SIGKILL)
        return index, time.time()

    [row], (index, killed_at) = asyncio.run(place_all(settings, [SLOW], during=kill_its_worker))
    other = 1 - index

    # that call ended as when the whole dialog server dies: the dialplan's polite ending, recorded
    assert row["state"] == "ended" and row["outcome"] == "answered"
    db = connect(settings.database)
    stages = [json.loads(e["data"]).get("Stage") for e in
              db.query("SELECT name, data FROM events WHERE attempt_id = ? ORDER BY id", [row["id"]])
              if e["name"] == "HuifangStage"]
    assert "dialog-unavailable" in stages, stages
    [dialog] = db.query("SELECT * FROM dialogs WHERE attempt_id = ?", [row["id"]])
    assert dialog["started_at"] and dialog["ended_at"] is None
    assert controller.finalize(db, row["id"], dt.datetime.now(dt.timezone.utc))["disposition"] == "answered-no-dialog"
    call = finished_call(stack.calls_log, row["id"])
    assert call["end_reason"] == "remote_hangup", call   # Asterisk hung up, not the 25 s persona
    assert dt.datetime.fromisoformat(call["ended_at"]).timestamp() - killed_at < 15

    # the other worker was never touched; the dead one is started again
    assert wait_for(lambda: stack.dialog.worker_pids().get(index) not in (None, before[index]) and
                    f"dialog worker {index} is back" in stack.dialog.log_path.read_text(errors="replace"),
                    120, 0.5), "the killed worker was not started again"
    after = stack.dialog.worker_pids()
    assert after[other] == before[other] and after[index] != before[index]

    # later calls succeed, the restarted worker taking its share
    rows = keypad_batches_until(settings, stack, lambda by: index in by.values())
    seen = taken_by(stack)
    assert (index, after[index]) in {seen[r["id"]] for r in rows}

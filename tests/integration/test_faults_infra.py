"""Faults of the infrastructure under live calls: Asterisk killed and restarted, the AMI connection
cut, the database locked by another writer, the recordings disk full.

Every test places real calls (Asterisk, dialog server, pjsua2 phones) through the real
`CallPlacer` followed by the real `Controller` loop (its reconcile after an AMI reconnect is what
accounts for calls whose end was not heard), and asserts that nothing is lost: every attempt
ends with an outcome and a disposition, nobody is called twice (the phones' own call log,
`ivr.sim.calllog.calls_to`), and the dialog's records are all there.

Runs its own stack on ports of its own (`stack_settings`, instance faults-infra-<base>).
SQLite only: the locked-database fault is SQLite's own, PostgreSQL's counterpart (the server stopped
mid-campaign) is test_database_outage.py, and Asterisk restarts on PostgreSQL are in test_campaign_dialer.py.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ivr.asterisk import process as asterisk
from ivr.db import attempts as attempts_db
from ivr.db.clock import now_iso
from ivr.db.connect import connect
from ivr.db.writer import AsyncDb
from ivr.dialer import campaigns
from ivr.dialer.calls import CallPlacer
from ivr.dialer.controller import Controller
from ivr.sim.calllog import calls_to
from tests.support.stacks import running_stack
from tests.support.waiting import wait_for_async

pytestmark = pytest.mark.integration

SLOW = "13600000001"                       # answers, then stays silent: the identity question is pending
WRONG = {t: f"1360000010{i}" for i, t in enumerate(("restart", "ami", "lock1", "lock2", "disk"))}
PERSONAS = {SLOW: {"answer_after_ms": 300, "steps": [{"wait_ms": 20000}, {"hangup": True}]},
            # "2" at the identity question: wrong person, a short complete conversation (~17 s)
            **{n: {"answer_after_ms": 300, "steps": [{"dtmf": "2"}]} for n in WRONG.values()}}


@pytest.fixture(scope="module")
def infra(stack_settings):
    settings = stack_settings("faults-infra", ring_timeout_s=8)
    with running_stack(settings, PERSONAS, agents=False) as stack:
        yield settings, stack


class Dialer:
    """The controller loop with its AMI states recorded; calls are placed directly, not scheduled."""

    def __init__(self, settings):
        self.settings = settings
        self.db = AsyncDb(settings.database)
        self.ctl = Controller(settings, db=self.db, tick_s=0.2)
        self.states: list[tuple[float, bool]] = []
        self.ctl.placer = self.placer = CallPlacer(settings, self.db, on_state=self._on_state)
        self._ticker: asyncio.Task | None = None

    async def _on_state(self, connected: bool) -> None:
        self.states.append((time.monotonic(), connected))
        await self.ctl._on_ami_state(connected)

    async def __aenter__(self):
        # attempts belong to a campaign (the controller reconciles campaign attempts only); a draft
        # one, so the scheduler places nothing itself
        self.campaign = await self.db.call(lambda d: campaigns.create(
            d, name=f"infra faults {time.time()}", selection={"loan_ids": ["none"]}))
        await self.ctl.start()
        self._ticker = asyncio.create_task(self._tick())
        return self

    async def _tick(self):
        while True:
            try:
                await self.ctl.tick()
            except Exception:  # a tick that fails (AMI down) is retried
                logging.getLogger("test.faults").exception("controller tick failed")
            await asyncio.sleep(0.2)

    async def __aexit__(self, *exc):
        self._ticker.cancel()
        await asyncio.gather(self._ticker, return_exceptions=True)
        await self.ctl.close()
        self.db.close()

    async def place(self, number: str) -> str:
        bid, cid = await self.db.call(lambda d: attempts_db.ensure_borrower(
            d, loan_id=f"infra-{number}", name="张伟", id_last4="1234", amount_due=3500, due_date="2030-01-01",
            locale="zh-CN", phone=number))
        return await self.placer.place(number, locale="zh-CN", borrower_id=bid, contact_id=cid,
                                       campaign_id=self.campaign)

    async def follow(self, aid: str, timeout: float = 60) -> dict:
        """Wait for the attempt's end and apply its disposition, as the controller does for the
        calls it places itself."""
        await asyncio.wait_for(self.ctl._wait_and_finalize(aid), timeout)
        return await self.attempt(aid)

    async def disposed(self, aid: str, timeout: float) -> dict:
        async def with_disposition():
            row = await self.attempt(aid)
            return row if row["disposition"] else None
        row = await wait_for_async(with_disposition, timeout, step=0.2)
        assert row, f"attempt {aid} has no disposition: {await self.attempt(aid)}"
        return row

    async def attempt(self, aid: str) -> dict:
        return await self.db.call(attempts_db.get, aid)

    async def until(self, aid: str, states, timeout: float) -> dict:
        async def in_states():
            row = await self.attempt(aid)
            return row if row["state"] in states else None
        row = await wait_for_async(in_states, timeout, step=0.2)
        assert row, (f"attempt {aid} stuck in {(await self.attempt(aid))['state']} (controller ticks "
                     f"{self.ctl.stats.ticks}, needs reconcile {self.ctl._needs_reconcile}, AMI states {self.states})")
        return row

    async def reconnected_after(self, t: float, timeout: float = 30) -> None:
        async def reconnected():
            return any(c for at, c in self.states if at > t and c) and self.placer.ami.connected
        assert await wait_for_async(reconnected, timeout), f"AMI did not reconnect: {self.states}"


def dialog_of(settings, aid: str) -> dict | None:
    db = connect(settings.database)
    return next(iter(db.query("SELECT * FROM dialogs WHERE attempt_id = ?", [aid])), None)


def events_of(settings, aid: str) -> list[dict]:
    return list(connect(settings.database).query("SELECT * FROM events WHERE attempt_id = ? ORDER BY id", [aid]))


def assert_accounted(settings, stack, numbers) -> None:
    """No open attempt, every attempt with outcome and disposition, one INVITE per attempt."""
    db = connect(settings.database)
    open_rows = list(db.query("SELECT id, state FROM attempts WHERE state != 'ended'"))
    assert open_rows == [], open_rows
    for number in numbers:
        rows = list(db.query("SELECT * FROM attempts WHERE number = ?", [number]))
        assert len(rows) == 1, (number, rows)
        assert rows[0]["outcome"] and rows[0]["disposition"], rows[0]
        assert len(calls_to(stack.calls_log, number)) == 1, (number, calls_to(stack.calls_log, number))


def assert_wrong_person_call(settings, row: dict) -> None:
    assert row["state"] == "ended" and row["outcome"] == "answered", row
    dialog = dialog_of(settings, row["id"])
    assert dialog and dialog["result"] == "wrong_person" and dialog["ended_at"], dialog
    answers = list(connect(settings.database).query("SELECT * FROM answers WHERE attempt_id = ?", [row["id"]]))
    assert [(a["node"], a["intent"]) for a in answers] == [("identity", "deny")], answers


@pytest.mark.timeout(120)
def test_asterisk_killed_mid_call_and_restarted(infra):
    """Asterisk dies (SIGKILL: no Hangup event, no goodbye on AMI) while a call is in its identity
    question, and is started again. Proves: the call in progress is accounted for (ended, answered,
    with a disposition, by the controller's reconcile after the AMI client reconnects on its own),
    it is not re-dialled, and the next call works end to end."""
    settings, stack = infra

    async def scenario():
        async with Dialer(settings) as d:
            aid = await d.place(SLOW)
            await d.until(aid, ("in_dialog",), 15)
            # well into the call: the controller's reconcile leaves attempts originated < 5 s ago
            # alone (their channel may not exist yet) until its next periodic pass, 30 s later
            await asyncio.sleep(5.0)
            killed = time.monotonic()
            pid = asterisk.running_pid(settings)
            os.killpg(pid, signal.SIGKILL)
            async def gone():
                return not asterisk.running_pid(settings)
            assert await wait_for_async(gone, 15), f"Asterisk (pid {pid}) still runs 15 s after SIGKILL"
            await asyncio.to_thread(asterisk.start, settings)
            await d.reconnected_after(killed)
            await d.until(aid, ("ended",), 20)
            lost = await d.disposed(aid, 15)
            nxt = await d.place(WRONG["restart"])
            row = await d.follow(nxt)
            await asyncio.sleep(1.0)
            return lost, row, d.states, killed

    lost, row, states, killed = asyncio.run(scenario())
    assert [c for at, c in states if at > killed][:2] == [False, True], states
    assert lost["outcome"] == "answered" and lost["disposition"], lost
    assert any(e["name"] == "ClosedLost" for e in events_of(settings, lost["id"])), "closed by reconcile"
    assert_wrong_person_call(settings, row)
    assert_accounted(settings, stack, [SLOW, WRONG["restart"]])


@pytest.mark.timeout(90)
def test_ami_connection_cut_mid_call(infra):
    """The controller's AMI TCP connection is killed (`ss -K`, as a firewall or a dropped NAT entry
    would) while a call is in its dialog. Proves: the client reconnects by itself, the call's later
    events arrive on the new connection and end the attempt normally, the Originate is not re-sent
    (one attempt, one INVITE), and the conversation's records are complete."""
    settings, stack = infra
    if asterisk.running_pid(settings) is None:
        asterisk.start(settings)

    async def scenario():
        async with Dialer(settings) as d:
            aid = await d.place(WRONG["ami"])
            await d.until(aid, ("in_dialog",), 15)
            cut = time.monotonic()
            cut_wall = now_iso()
            done = subprocess.run(["ss", "-K", "dst", settings.ami_host, "dport", "=", f":{settings.ami_port_effective}"],
                                  capture_output=True, text=True)
            assert done.returncode == 0, done.stderr
            await d.reconnected_after(cut)
            row = await d.follow(aid)
            await asyncio.sleep(1.0)
            return row, d.states, cut, cut_wall

    row, states, cut, cut_wall = asyncio.run(scenario())
    assert [c for at, c in states if at >= cut][:2] == [False, True], states
    assert_wrong_person_call(settings, row)
    names = [e["name"] for e in events_of(settings, row["id"]) if e["source"] == "ami"]
    assert "Hangup" in names, names
    assert any(e["at"] > cut_wall for e in events_of(settings, row["id"]) if e["source"] == "ami"), \
        "no AMI event after the cut"
    assert_accounted(settings, stack, [WRONG["ami"]])


LOCKER = """
import sqlite3, sys, time
c = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)
c.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
c.execute("COMMIT")
print("released", flush=True)
"""


@pytest.mark.timeout(120)
def test_database_locked_while_calls_end(infra):
    """Another process holds the database's write lock (BEGIN IMMEDIATE) for 8 s while two calls
    end: the dialog server's last answers and results, the controller's events and outcomes all
    wait on the busy timeout. Proves: no write is lost or raises, they land after the lock is
    released, and the calls themselves are not disturbed (audio is never held up by the database)."""
    settings, stack = infra
    if asterisk.running_pid(settings) is None:
        asterisk.start(settings)
    hold_s = 8.0

    async def scenario():
        async with Dialer(settings) as d:
            ids = [await d.place(WRONG["lock1"]), await d.place(WRONG["lock2"])]
            for aid in ids:
                await d.until(aid, ("in_dialog",), 15)
            await asyncio.sleep(5.0)   # into the identity question: its answer and the call's end come next
            locker = await asyncio.create_subprocess_exec(sys.executable, "-c", LOCKER, str(settings.database),
                                                          str(hold_s), stdout=asyncio.subprocess.PIPE)
            assert (await locker.stdout.readline()).strip() == b"locked"
            locked = time.time()
            rows = [await d.follow(aid, 90) for aid in ids]
            assert (await locker.stdout.readline()).strip() == b"released"
            released = time.time()
            await locker.wait()
            await asyncio.sleep(2.0)
            rows = [await d.attempt(aid) for aid in ids]
            return rows, locked, released

    rows, locked, released = asyncio.run(scenario())
    assert released - locked >= hold_s - 0.5
    for row in rows:
        assert_wrong_person_call(settings, row)
    # the calls really ended while the lock was held: their end was written late, not lost
    ends = [dt.datetime.fromisoformat(r["ended_at"]).timestamp() for r in rows]
    assert any(locked <= e <= released + 1 for e in ends), (locked, ends, released)
    assert_accounted(settings, stack, [WRONG["lock1"], WRONG["lock2"]])


@pytest.mark.timeout(90)
def test_recordings_disk_full(infra):
    """The recordings directory is on a full filesystem (a 64 KiB tmpfs, filled, mounted over the
    instance's recordings directory inside the Asterisk rootfs), so MixMonitor cannot write. Proves:
    the call proceeds normally (dialog complete), and it is recorded as a call without recording
    (recordings.bytes NULL or no audio), nothing else lost."""
    settings, stack = infra
    if asterisk.running_pid(settings) is None:
        asterisk.start(settings)
    target = Path(settings.recordings_dir)
    target.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k,mode=0755", "tmpfs", str(target)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        try:
            with open(target / "filler", "wb") as f:
                while True:
                    f.write(b"\0" * 4096)
                    f.flush()
        except OSError:
            pass   # full

        async def scenario():
            async with Dialer(settings) as d:
                aid = await d.place(WRONG["disk"])
                await d.follow(aid)
                await asyncio.sleep(1.0)
                return await d.attempt(aid)

        row = asyncio.run(scenario())
    finally:
        subprocess.run(["umount", "-l", str(target)], capture_output=True)
    assert_wrong_person_call(settings, row)
    rec = next(iter(connect(settings.database).query("SELECT * FROM recordings WHERE attempt_id = ?", [row["id"]])),
               None)
    assert rec is not None, "the recording's absence must itself be recorded"
    assert rec["bytes"] is None or rec["bytes"] <= 44, rec
    assert_accounted(settings, stack, [WRONG["disk"]])

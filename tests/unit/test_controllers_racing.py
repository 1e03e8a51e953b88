"""Two controllers (two telephony nodes) racing on one database, SQLite and PostgreSQL: 200 borrowers in two overlapping campaigns, numbers shared
between borrowers, simulated calls of random length. The placers' own log (every Originate, with
the borrower's other live calls at that instant) is the witness: nobody is on two calls at once,
no borrower gets more connected calls in a day than the cap, no number more unanswered attempts
than the cap, every attempt ends with a disposition — whichever controller placed it.

The caps hold across controllers because each call is claimed in one transaction that asks the
policy again from what the database says at that moment (`controller.claim_dial`)."""
from __future__ import annotations

import asyncio
import os
import datetime as dt
import random
import time

import pytest

from ivr.config import Settings
from ivr.db.store import store_of
from ivr.db.writer import AsyncDb
from ivr.dialer import campaigns, controller, nodes, scheduler
from ivr.dialer.clock import shift_to
from tests.support.fake_placer import FakePlacer

TEN_AM = dt.datetime(2026, 12, 1, 2, 0, tzinfo=dt.timezone.utc)
BORROWERS = 200
SHARED = 20          # borrowers 0..39 share ten-digit numbers pairwise: 2k and 2k+1


def number_of(i: int) -> str:
    return f"139{(i // 2 if i < 2 * SHARED else i):08d}"


def outcome_for(number: str) -> dict:
    kind = int(number) % 3
    if kind == 0:
        return {"outcome": "no-answer", "cause": 19}
    if kind == 1:   # answered, hung up at once: retried, so the connected cap is what stops it
        return {"outcome": "answered", "dialog": "hung_up"}
    return {"outcome": "answered", "dialog": "completed"}


class Witness:
    """What the phones would see, shared by both placers (one network)."""

    def __init__(self):
        self.live: dict[int, int] = {}          # borrower -> calls up
        self.overlaps: list[tuple[int, str]] = []
        self.placed: list[tuple[str, int, str]] = []   # attempt, borrower, number


class WitnessPlacer(FakePlacer):
    def __init__(self, db, witness: Witness, rng: random.Random):
        super().__init__(db, outcome_for=outcome_for)
        self.witness, self.rng = witness, rng
        self.borrower_of: dict[str, int] = {}

    async def place(self, number, **kw):
        b = kw["borrower_id"]
        if self.witness.live.get(b):
            self.witness.overlaps.append((b, kw["attempt_id"]))
        self.witness.live[b] = self.witness.live.get(b, 0) + 1
        self.witness.placed.append((kw["attempt_id"], b, number))
        self.borrower_of[kw["attempt_id"]] = b
        self.duration_s = self.rng.uniform(0.0, 0.06)
        return await super().place(number, **kw)

    async def _end(self, attempt_id):
        if attempt_id in self.alive:
            self.witness.live[self.borrower_of[attempt_id]] -= 1
        await super()._end(attempt_id)


def seed_db(where) -> AsyncDb:
    adb = AsyncDb(where)
    d = store_of(adb.db)
    d.insert_all("borrowers", [{"id": i + 1, "loan_id": f"R{i}", "name": "n", "amount_due": 100,
                                "due_date": "2026-12-05", "locale": "zh-CN", "timezone": "Asia/Shanghai",
                                "created_at": "x", "updated_at": "x"} for i in range(BORROWERS)])
    d.insert_all("contacts", [{"borrower_id": i + 1, "phone": number_of(i), "kind": "mobile", "created_at": "x"}
                              for i in range(BORROWERS)])
    return adb


@pytest.fixture
def slow_ticks(monkeypatch):
    """Each tick holds its decision a random few milliseconds before the claims: the other
    controller reads the same facts meanwhile, so both want the same borrower or number often."""
    tick = scheduler.tick
    rng = random.Random(time.time_ns())

    def slow_tick(*args, **kwargs):
        result = tick(*args, **kwargs)
        time.sleep(rng.uniform(0.0, 0.015))
        return result
    monkeypatch.setattr(scheduler, "tick", slow_tick)


def test_two_controllers_never_break_a_cap_or_call_anyone_twice_at_once(engine_url, slow_ticks):
    seed = int(os.environ.get("IVR_RACE_SEED", time.time_ns() % 10_000))    # a new interleaving each run
    print(f"race seed {seed} (IVR_RACE_SEED)")
    seed_db(engine_url).close()
    retry = {"no-answer": {"delay_s": 0}, "answered-hung-up-early": {"delay_s": 0}}
    dbs = [AsyncDb(engine_url), AsyncDb(engine_url)]
    every = campaigns.create(dbs[0].db, name="all", selection={"all": True}, max_attempts=10, max_cps=50,
                             max_concurrent=30, retry_policy=retry, policy={"unreachable_after_fails": 10})
    some = campaigns.create(dbs[0].db, name="first half", selection={"loan_ids": [f"R{i}" for i in range(100)]},
                            max_attempts=10, max_cps=50, max_concurrent=30, retry_policy=retry,
                            policy={"unreachable_after_fails": 10})
    for cid in (every, some):
        campaigns.run_command_now(dbs[0].db, cid, "start", "test")
    witness, rng = Witness(), random.Random(seed)
    # two telephony nodes: each controller's Asterisk knows only its own calls, and each reconciles
    # often — it must judge only its own node's calls, never close the other's as lost
    placers = [WitnessPlacer(adb, witness, rng) for adb in dbs]
    ctls = [controller.Controller(Settings(node_name=f"node-{i + 1}"), placer=p, db=adb, tick_s=0.01 + 0.01 * i,
                                  max_channels=40, policy_shift=shift_to(TEN_AM), reconcile_every_s=0.3)
            for i, (p, adb) in enumerate(zip(placers, dbs))]

    def settled(d) -> bool:
        """No call up and nobody due today: the rest waits for tomorrow (the caps)."""
        tomorrow = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1)).isoformat()
        return store_of(d).scalar(
            "SELECT (SELECT count(*) FROM attempts WHERE state != 'ended') + (SELECT count(*) FROM "
            "campaign_targets WHERE status = 'active' OR (status = 'pending' AND next_at < :t))", {"t": tomorrow}) == 0

    async def race():
        runs = [asyncio.ensure_future(c.run()) for c in ctls]
        deadline = asyncio.get_running_loop().time() + 100
        while not await dbs[0].call(settled):
            assert asyncio.get_running_loop().time() < deadline, [c.stats for c in ctls]
            await asyncio.sleep(0.2)
        for c in ctls:
            c._stopping = True
        await asyncio.wait_for(asyncio.gather(*runs), 20)
    asyncio.run(race())
    d = store_of(dbs[0].db)
    assert witness.overlaps == []
    assert all(c.stats.placed > 50 for c in ctls), [c.stats.placed for c in ctls]   # both really raced
    rows = d.query("SELECT * FROM attempts")
    assert sorted(a for a, _, _ in witness.placed) == sorted(r["id"] for r in rows)
    assert all(r["state"] == "ended" and r["disposition"] for r in rows)
    assert not [r for r in rows if r["disposition"] in ("unknown-after-restart", "dialer-error")]
    assert {r["node"] for r in rows} == {"node-1", "node-2"}
    assert [(n["name"], n["capacity"]) for n in nodes.listing(d)] == [("node-1", 40), ("node-2", 40)]
    connected: dict[int, int] = {}
    unanswered: dict[str, int] = {}
    for r in rows:
        if r["outcome"] == "answered":
            connected[r["borrower_id"]] = connected.get(r["borrower_id"], 0) + 1
        else:
            unanswered[r["number"]] = unanswered.get(r["number"], 0) + 1
    assert max(connected.values()) == 3                   # reached, never passed
    assert max(unanswered.values()) == 6
    # every borrower not done waits for tomorrow because of a cap, and the refusal log says which
    waiting = {(r["campaign_id"], r["borrower_id"]) for r in d.query(
        "SELECT campaign_id, borrower_id FROM campaign_targets WHERE status != 'done'")}
    explained = {(r["campaign_id"], r["borrower_id"]) for r in d.query(
        "SELECT campaign_id, borrower_id FROM dial_refusals WHERE reason IN "
        "('borrower-daily-connected-cap', 'number-daily-unanswered-cap')")}
    assert waiting and waiting <= explained
    for adb in dbs:
        adb.close()

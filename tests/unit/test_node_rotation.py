"""A node whose Asterisk is gone (its controller alive, its AMI unreachable) is out of the rotation:
its controller claims nobody, leaves its calls alone while they may still be up, and closes them as
lost once AMI has been down for the `node_lost_after_s` setting; another node's calls are never its
business. And two controllers finishing one campaign at the same moment is no error. A controller
with a fake placer, on SQLite and on PostgreSQL (`engine_url`); the test reads and seeds through a
handle of its own, never the controller's (a Store belongs to one thread)."""
from __future__ import annotations

import asyncio
import datetime as dt
import time

import pytest

from ivr import config
from ivr.config import Settings
from ivr.db import attempts as attempts_db
from ivr.db.connect import open_database
from ivr.db.store import store_of
from ivr.db.writer import AsyncDb
from ivr.dialer import campaigns, controller, target_state
from ivr.dialer.clock import shift_to
from tests.support.fake_placer import FakePlacer

TEN_AM = dt.datetime(2026, 12, 1, 2, 0, tzinfo=dt.timezone.utc)
PHONES = ("13800000001", "13800000002", "13800000003", "13800000004")


@pytest.fixture
def d(engine_url):
    """The test's own handle on the database (seeding, assertions)."""
    handle = open_database(engine_url, migrate=False)
    yield handle
    store_of(handle).close()


def seeded(url, d):
    """Four borrowers, a started campaign, borrower 1 on a call of node-a and 2 on one of node-b;
    -> the controller's AsyncDb."""
    s = store_of(d)
    for i, phone in enumerate(PHONES, start=1):
        s.insert("borrowers", {"id": i, "loan_id": f"L{i}", "name": "n", "amount_due": 100, "due_date": "2026-12-05",
                               "locale": "zh-CN", "timezone": "Asia/Shanghai", "created_at": "x", "updated_at": "x"})
        s.insert("contacts", {"id": i, "borrower_id": i, "phone": phone, "kind": "mobile", "created_at": "x"})
    cid = campaigns.create(d, name="t", selection={"all": True}, max_attempts=1, max_cps=50, max_concurrent=4)
    campaigns.run_command_now(d, cid, "start", "test")
    now = dt.datetime.now(dt.timezone.utc)
    # borrower 1 is on a call of node-a (whose Asterisk is about to die), borrower 2 on one of node-b
    for borrower, node in ((1, "node-a"), (2, "node-b")):
        aid = f"{node}-call"
        target_state.claim(d, cid, borrower, aid, now)
        attempts_db.create(d, {"id": aid, "number": PHONES[borrower - 1], "locale": "zh-CN", "borrower_id": borrower,
                               "contact_id": borrower, "campaign_id": cid, "state": "in_dialog", "node": node})
    return AsyncDb(url)


def test_a_node_whose_ami_is_down_claims_nothing_and_closes_its_calls_after_the_timeout(engine_url, d):
    adb = seeded(engine_url, d)
    placer = FakePlacer(adb, duration_s=3600)   # calls up at the start stay up until told otherwise
    placer.alive.update({"node-a-call", "node-b-call"})
    ctl = controller.Controller(Settings(node_name="node-a", node_lost_after_s=2.0), placer=placer, db=adb,
                                tick_s=0.05, reconcile_every_s=0.1, policy_shift=shift_to(TEN_AM))

    async def ticks_for(seconds):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            await ctl.tick()
            await asyncio.sleep(0.05)

    async def go():
        await ctl.start()                      # reconciles: both calls are up
        placer.ami.connected = False           # node-a's Asterisk dies
        placer.alive.discard("node-a-call")
        down = time.monotonic()
        await ticks_for(0.5)
        if time.monotonic() - down < 1.5:      # still well under the timeout: left alone, it may be up
            assert attempts_db.get(d, "node-a-call")["state"] == "in_dialog"
        await ticks_for(2.5)                   # past the timeout
        await ctl.close()
    asyncio.run(go())
    assert placer.placed == []                 # due borrowers 3 and 4 were never claimed by node-a
    a, b = attempts_db.get(d, "node-a-call"), attempts_db.get(d, "node-b-call")
    assert (a["state"], a["disposition"]) == ("ended", "unknown-after-restart")
    assert b["state"] == "in_dialog" and b["disposition"] is None          # another node's call
    s = store_of(d)
    targets = {r["borrower_id"]: (r["status"], r["done_reason"]) for r in s.query("SELECT * FROM campaign_targets")}
    assert targets[1] == ("done", "exhausted") and targets[2][0] == "active"
    assert targets[3][0] == targets[4][0] == "pending"
    assert [e["name"] for e in s.query("SELECT name FROM events WHERE attempt_id = 'node-a-call'")] == ["ClosedLost"]
    adb.close()


def test_ami_back_before_the_timeout_reconciles_instead(engine_url, d):
    """AMI down briefly: nothing is closed for the timeout; reconcile after the reconnect closes the
    call whose channel is gone, and the node takes part again (it places the due borrowers)."""
    adb = seeded(engine_url, d)
    placer = FakePlacer(adb, outcome_for=lambda n: {"outcome": "busy", "cause": 17}, duration_s=3600)
    placer.alive.update({"node-a-call", "node-b-call"})
    ctl = controller.Controller(Settings(node_name="node-a"), placer=placer, db=adb, tick_s=0.05,
                                policy_shift=shift_to(TEN_AM))

    async def go():
        await ctl.start()
        placer.ami.connected = False
        placer.alive.discard("node-a-call")
        placer.duration_s = 0.05               # the calls placed from now on end at once
        for _ in range(5):
            await ctl.tick()
            await asyncio.sleep(0.02)
        assert attempts_db.get(d, "node-a-call")["state"] == "in_dialog" and placer.placed == []
        placer.ami.connected = True
        await ctl._on_ami_state(True)
        for _ in range(10):
            await ctl.tick()
            await asyncio.sleep(0.05)
        await ctl.close()
    asyncio.run(go())
    assert attempts_db.get(d, "node-a-call")["disposition"] == "unknown-after-restart"
    assert sorted(n for _, n in placer.placed) == [PHONES[2], PHONES[3]]
    adb.close()


def test_node_lost_after_s_is_a_setting_and_must_be_positive(tmp_path):
    empty = tmp_path / "ivr.toml"
    empty.write_text("")
    assert config.load(env={"IVR_NODE_LOST_AFTER_S": "20"}, config_file=empty).node_lost_after_s == 20.0
    assert Settings().node_lost_after_s == 3600.0
    with pytest.raises(ValueError, match="node_lost_after_s"):
        config.load(env={"IVR_NODE_LOST_AFTER_S": "0"}, config_file=empty)


def test_two_controllers_finishing_one_campaign_at_once(engine_url, d, monkeypatch):
    """Both controllers see the campaign's last target done and finish it: the one that comes second
    finds it finished already, which is no error (it used to raise out of the controller's tick)."""
    adb = seeded(engine_url, d)
    cid = store_of(d).scalar("SELECT id FROM campaigns")
    store_of(d).execute("UPDATE campaign_targets SET status = 'done'")
    real = campaigns.apply_command

    def the_other_controller_first(db, campaign_id, command, **kw):
        real(db, campaign_id, command, **kw)          # the other controller's finish lands first
        return real(db, campaign_id, command, **kw)
    monkeypatch.setattr(campaigns, "apply_command", the_other_controller_first)
    assert campaigns.finish_due(d, dt.datetime.now(dt.timezone.utc)) == []
    assert campaigns.get(d, cid)["state"] == "finished"
    adb.close()

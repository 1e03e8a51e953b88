"""The controller loop without Asterisk (a fake placer): commands, retries to a final state,
fallback message, pacing, AMI down = no originate, and restart reconciliation. The tests that
exercise the controller's SQL (finalize, close_lost, reconcile, orphan targets, commands) run on
SQLite and on PostgreSQL (`engine_url`)."""
from __future__ import annotations

import asyncio
import datetime as dt


from ivr.config import Settings
from ivr.db import attempts as attempts_db
from ivr.db.store import store_of
from ivr.db.writer import AsyncDb
from ivr.dialer import campaigns, controller, nodes, target_state
from ivr.dialer.clock import shift_to
from tests.support.fake_placer import FakePlacer

TEN_AM = dt.datetime(2026, 12, 1, 2, 0, tzinfo=dt.timezone.utc)

OUTCOMES = {
    "13800000001": [{"outcome": "answered", "dialog": "completed"}],
    "13800000002": [{"outcome": "busy", "cause": 17}, {"outcome": "answered", "dialog": "promise"}],
    "13800000003": [{"outcome": "invalid-number", "cause": 1}],
    "13800000004": [{"outcome": "no-answer", "cause": 19}],
}


def setup_db(where):
    """An AsyncDb on `where` (an SQLite file or a database URL) with borrowers 1-4, one number each."""
    adb = AsyncDb(where)
    s = store_of(adb.db)
    for i, phone in enumerate(OUTCOMES, start=1):
        assert s.insert("borrowers", {"loan_id": f"L{i}", "name": "n", "amount_due": 100, "due_date": "2026-12-05",
                                      "locale": "zh-CN", "timezone": "Asia/Shanghai", "created_at": "x",
                                      "updated_at": "x"}) == i
        assert s.insert("contacts", {"borrower_id": i, "phone": phone, "kind": "mobile", "created_at": "x"}) == i
    return adb


def engine(url):
    return "sqlite" if url.startswith("sqlite") else "postgresql"


def scripted():
    calls: dict[str, int] = {}

    def outcome_for(number):
        n = calls.get(number, 0)
        calls[number] = n + 1
        seq = OUTCOMES[number]
        return seq[min(n, len(seq) - 1)]
    return outcome_for


def test_campaign_runs_to_final_states(engine_url):
    adb = setup_db(engine_url)
    shift = shift_to(TEN_AM)
    cid = campaigns.create(adb.db, name="t", selection={"all": True}, max_attempts=3, max_cps=50, max_concurrent=4,
                           retry_policy={"busy": {"delay_s": 1}, "no-answer": {"delay_s": 1}},
                           fallback={"channel": "sms"})
    campaigns.request(adb.db, cid, "start", "web:test")   # processed by the controller
    placer = FakePlacer(adb, outcome_for=scripted(), duration_s=0.05)
    ctl = controller.Controller(Settings(), policy_shift=shift, placer=placer, db=adb, tick_s=0.05)
    asyncio.run(asyncio.wait_for(ctl.run(until_idle=True), 30))
    d = store_of(adb.db)
    t = {r["borrower_id"]: (r["status"], r["done_reason"], r["attempts"]) for r in d.query("SELECT * FROM campaign_targets")}
    assert t == {1: ("done", "completed", 1), 2: ("done", "completed", 2), 3: ("done", "no-dialable-number", 1),
                 4: ("done", "exhausted", 3)}
    assert campaigns.get(d, cid)["state"] == "finished"
    counts = {}
    for _, number in placer.placed:
        counts[number] = counts.get(number, 0) + 1
    assert counts == {"13800000001": 1, "13800000002": 2, "13800000003": 1, "13800000004": 3}
    disp = [r["disposition"] for r in d.query("SELECT disposition FROM attempts WHERE number='13800000002' ORDER BY created_at")]
    assert disp == ["busy", "answered-completed"]
    # the retry came no earlier than its delay
    times = [r["created_at"] for r in d.query("SELECT created_at FROM attempts WHERE number='13800000004' ORDER BY created_at")]
    gaps = [(dt.datetime.fromisoformat(b) - dt.datetime.fromisoformat(a)).total_seconds() for a, b in zip(times, times[1:])]
    assert all(g >= 1.0 for g in gaps), gaps
    sms = d.query("SELECT borrower_id, to_address FROM outbox ORDER BY borrower_id")
    assert sms == [{"borrower_id": 4, "to_address": "13800000004"}]   # 3's only number is invalid: no SMS
    assert d.scalar("SELECT result FROM commands") == "ok: running"
    assert campaigns.status(adb.db, cid)["targets"] == {"done": 4}
    adb.close()


def test_ami_down_originates_nothing(tmp_path):
    adb = setup_db(tmp_path / "t.db")
    shift = shift_to(TEN_AM)
    cid = campaigns.create(adb.db, name="t", selection={"all": True}, max_cps=50)
    campaigns.apply_command(adb.db, cid, "start")
    placer = FakePlacer(adb, outcome_for=scripted(), duration_s=0.01)
    placer.ami.connected = False
    ctl = controller.Controller(Settings(), policy_shift=shift, placer=placer, db=adb, tick_s=0.01)

    async def go():
        await ctl.start()
        for _ in range(20):
            await ctl.tick()
            await asyncio.sleep(0.01)
        assert placer.placed == []
        placer.ami.connected = True
        for _ in range(10):
            await ctl.tick()
            await asyncio.sleep(0.05)
        assert len(placer.placed) == 4
        await asyncio.gather(*ctl._tasks)
    asyncio.run(go())
    adb.close()


def test_pacing_calls_per_second(tmp_path):
    adb = setup_db(tmp_path / "t.db")
    d = adb.db
    for i in range(5, 45):
        d["borrowers"].insert({"id": i, "loan_id": f"L{i}", "name": "n", "locale": "zh-CN", "timezone": "Asia/Shanghai",
                               "created_at": "x", "updated_at": "x"})
        d["contacts"].insert({"borrower_id": i, "phone": f"139000000{i:02d}", "kind": "mobile", "created_at": "x"})
    shift = shift_to(TEN_AM)
    cid = campaigns.create(d, name="t", selection={"all": True}, max_cps=10, max_concurrent=50)
    campaigns.apply_command(d, cid, "start")
    placer = FakePlacer(adb, outcome_for=lambda n: {"outcome": "answered", "dialog": "completed"}, duration_s=0.01)
    ctl = controller.Controller(Settings(), policy_shift=shift, placer=placer, db=adb, tick_s=0.02)
    asyncio.run(asyncio.wait_for(ctl.run(until_idle=True), 30))
    t = ctl.stats.originate_times
    assert len(t) == 44
    rate = (len(t) - 1) / (t[-1] - t[0])
    assert 7.0 <= rate <= 11.5, rate
    adb.close()


def test_restart_adopts_live_calls_closes_gone_ones_reverts_unplaced(engine_url):
    adb = setup_db(engine_url)
    d = adb.db
    shift = shift_to(TEN_AM)
    now = dt.datetime.now(dt.timezone.utc)
    cid = campaigns.create(d, name="t", selection={"all": True}, max_cps=50, now=now,
                           retry_policy={"unknown-after-restart": {"delay_s": 3600}})
    campaigns.apply_command(d, cid, "start", now=now)
    # what a killed controller left behind:
    for b, aid, state in ((1, "live-1", "in_dialog"), (2, "gone-2", "ringing")):
        target_state.claim(d, cid, b, aid, now)
        store_of(d).insert("attempts", {"id": aid, "borrower_id": b, "contact_id": b, "campaign_id": cid,
                              "number": list(OUTCOMES)[b - 1], "locale": "zh-CN", "state": state,
                              "created_at": controller.iso(now), "originated_at": controller.iso(now)})
    target_state.claim(d, cid, 3, "never-placed-3", now)
    placer = FakePlacer(adb, outcome_for=scripted(), duration_s=0.05)
    placer.alive.add("live-1")        # Asterisk still has this call

    async def go():
        ctl = controller.Controller(Settings(), policy_shift=shift, placer=placer, db=adb, tick_s=0.02)
        await ctl.start()               # reconcile
        assert ctl.stats.reconciled_adopted == 1 and ctl.stats.reconciled_closed == 1 and ctl.stats.reverted == 1
        for _ in range(10):
            await ctl.tick()
            await asyncio.sleep(0.05)
        await asyncio.gather(*ctl._tasks)
        return ctl
    asyncio.run(go())
    rows = {r["id"]: r for r in store_of(d).query("SELECT * FROM attempts")}
    assert rows["live-1"]["disposition"] == "answered-completed"
    assert rows["gone-2"]["disposition"] == "unknown-after-restart"
    t = {r["borrower_id"]: r for r in store_of(d).query("SELECT * FROM campaign_targets")}
    # borrower 1 not called again (its call was followed), borrower 2 waits an hour, 3 was placed now once
    numbers = [n for _, n in placer.placed]
    assert "13800000001" not in numbers and "13800000002" not in numbers and numbers.count("13800000003") == 1
    assert t[1]["status"] == "done" and t[2]["status"] == "pending" and t[2]["attempts"] == 1
    assert t[3]["attempts"] == 1
    adb.close()


class ReconcileWhilePlacing(FakePlacer):
    """A placer during whose placement (row written, Originate not yet sent) a periodic reconcile runs."""

    controller = None

    async def place(self, number, **kw):
        row = {"id": kw["attempt_id"]}
        assert kw["recorded"]                     # the claim wrote it, queued
        await self.controller.reconcile()         # no channel yet: it must not be judged lost
        await self.db.call(attempts_db.update, row["id"], {"state": "dialing"})
        self.placed.append((row["id"], number))
        self.alive.add(row["id"])
        self._done[row["id"]] = asyncio.Event()
        asyncio.get_running_loop().call_later(self.duration_s, lambda: asyncio.ensure_future(self._end(row["id"])))
        return row["id"]


def test_a_reconcile_while_an_attempt_is_being_placed_leaves_it_alone(engine_url):
    adb = setup_db(engine_url)
    cid = campaigns.create(adb.db, name="t", selection={"all": True}, max_attempts=3, max_cps=50, max_concurrent=4,
                           retry_policy={"busy": {"delay_s": 1}, "no-answer": {"delay_s": 1}})
    campaigns.request(adb.db, cid, "start", "web:test")
    placer = ReconcileWhilePlacing(adb, outcome_for=scripted(), duration_s=0.05)
    ctl = controller.Controller(Settings(), policy_shift=shift_to(TEN_AM), placer=placer, db=adb, tick_s=0.05)
    placer.controller = ctl
    asyncio.run(asyncio.wait_for(ctl.run(until_idle=True), 30))
    assert ctl.stats.reconciled_closed == 0
    d = adb.db
    assert store_of(d).scalar("SELECT count(*) FROM attempts "
                              "WHERE disposition IN ('dialer-error', 'unknown-after-restart')") == 0
    numbers = [n for _, n in placer.placed]
    assert numbers.count("13800000001") == 1 and numbers.count("13800000003") == 1
    adb.close()


def test_an_attempt_closed_before_its_originate_is_not_marked_dialing(tmp_path):
    adb = setup_db(tmp_path / "t.db")
    d = adb.db
    attempts_db.create(d, {"id": "a-1", "number": "13800000001", "locale": "zh-CN"})
    attempts_db.create(d, {"id": "a-2", "number": "13800000002", "locale": "zh-CN"})
    attempts_db.update(d, "a-2", {"state": "ended", "disposition": "dialer-error"})
    assert attempts_db.mark_dialing(d, "a-1", "2026-12-01T02:00:00Z") is True
    assert attempts_db.mark_dialing(d, "a-1", "2026-12-01T02:00:01Z") is False     # only once
    assert attempts_db.mark_dialing(d, "a-2", "2026-12-01T02:00:00Z") is False
    assert attempts_db.get(d, "a-2")["state"] == "ended"
    adb.close()


def test_calls_of_a_node_silent_for_longer_than_a_call_lasts_are_closed_by_another_controller(engine_url):
    """Node B's controller died with a call up; B is silent. Node A leaves the call alone while it
    may still be up on B's Asterisk, and closes it as lost (the target moves on) only after
    nodes.LOST_AFTER_S; A's own live call is never touched."""
    adb = setup_db(engine_url)
    d = adb.db
    cid = campaigns.create(d, name="t", selection={"all": True}, max_attempts=3, max_cps=50, max_concurrent=4,
                           retry_policy={"unknown-after-restart": {"delay_s": 0}})
    campaigns.run_command_now(d, cid, "start", "test")
    now = dt.datetime.now(dt.timezone.utc)
    for node, beat_age in (("node-b", 120), ("node-a", 0)):
        nodes.beat(d, node, ami_host="127.0.0.1", ami_port=5038, capacity=10, controller=f"h:{node}",
                   started_at=now.isoformat(), ami_connected=True)
        store_of(d).execute("UPDATE nodes SET beat_at = :at WHERE name = :node",
                            {"at": (now - dt.timedelta(seconds=beat_age)).isoformat(), "node": node})
    for borrower, node in ((1, "node-b"), (2, "node-a")):
        aid = f"{node}-call"
        target_state.claim(d, cid, borrower, aid, now)
        attempts_db.create(d, {"id": aid, "number": f"1380000000{borrower}", "locale": "zh-CN", "borrower_id": borrower,
                               "contact_id": borrower, "campaign_id": cid, "state": "in_dialog", "node": node})

    placer = FakePlacer(adb)
    placer.alive.add("node-a-call")
    ctl = controller.Controller(Settings(node_name="node-a"), placer=placer, db=adb, tick_s=0.05)

    async def go(lost_after_s):
        ctl.node_lost_after_s = lost_after_s
        await ctl.close_lost_nodes_calls()
    asyncio.run(go(nodes.LOST_AFTER_S))
    assert attempts_db.get(d, "node-b-call")["state"] == "in_dialog"       # may still be up on its Asterisk
    asyncio.run(go(60))
    b, a = attempts_db.get(d, "node-b-call"), attempts_db.get(d, "node-a-call")
    assert (b["state"], b["disposition"]) == ("ended", "unknown-after-restart")
    assert a["state"] == "in_dialog"
    t = {r["borrower_id"]: r["status"] for r in store_of(d).query("SELECT * FROM campaign_targets")}
    assert t[1] == "pending" and t[2] == "active"
    adb.close()


class AmiSilentAtFirst(FakePlacer):
    """A placer whose first CoreShowChannels gets no answer (a loaded Asterisk, an AMI drop)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.channel_lists = 0
        answer = self.ami.send_action_list

        async def send_action_list(action, timeout=10):
            self.channel_lists += 1
            if self.channel_lists == 1:
                raise asyncio.TimeoutError("no response to 'CoreShowChannels' within 10 s")
            return await answer(action, timeout)
        self.ami.send_action_list = send_action_list


def killed_in_finalize(d, cid, now):
    """What a controller SIGKILLed inside finalize leaves: borrower 1's call ended (answered,
    the dialog completed), its disposition never applied, its target still active for it."""
    target_state.claim(d, cid, 1, "ended-1", now)
    store_of(d).insert("attempts", {"id": "ended-1", "borrower_id": 1, "contact_id": 1, "campaign_id": cid,
                                    "number": "13800000001", "locale": "zh-CN", "state": "ended",
                                    "outcome": "answered", "answered_at": controller.iso(now),
                                    "created_at": controller.iso(now), "ended_at": controller.iso(now)})
    store_of(d).insert("dialogs", {"attempt_id": "ended-1", "started_at": controller.iso(now), "result": "completed"})


def test_an_ended_call_left_unapplied_is_applied_even_when_the_first_channel_list_fails(engine_url):
    """Killed inside finalize, restarted while Asterisk does not answer its first CoreShowChannels:
    the ended call's disposition is still applied (its target was otherwise left active for good —
    only start-up looked for it, and only after the channel list — so the campaign never finished)."""
    adb = setup_db(engine_url)
    d = adb.db
    now = dt.datetime.now(dt.timezone.utc)
    cid = campaigns.create(d, name="t", selection={"all": True}, max_attempts=3, max_cps=50, max_concurrent=4,
                           retry_policy={"busy": {"delay_s": 1}, "no-answer": {"delay_s": 1}}, now=now)
    campaigns.apply_command(d, cid, "start", now=now)
    killed_in_finalize(d, cid, now)
    placer = AmiSilentAtFirst(adb, outcome_for=scripted(), duration_s=0.05)
    ctl = controller.Controller(Settings(), policy_shift=shift_to(TEN_AM), placer=placer, db=adb, tick_s=0.05,
                                reconcile_every_s=0.2)
    asyncio.run(asyncio.wait_for(ctl.run(until_idle=True), 20))
    assert placer.channel_lists >= 2                     # the failed list was asked again
    assert attempts_db.get(d, "ended-1")["disposition"] == "answered-completed"
    t = {r["borrower_id"]: (r["status"], r["done_reason"], r["attempts"])
         for r in store_of(d).query("SELECT * FROM campaign_targets")}
    assert t[1] == ("done", "completed", 1)
    assert "13800000001" not in [n for _, n in placer.placed]   # its call was over: not called again
    assert campaigns.get(d, cid)["state"] == "finished"
    adb.close()


def test_a_finalize_the_database_refused_is_applied_at_the_next_reconcile(engine_url, monkeypatch):
    """A call's finalize fails once (SQLite's busy timeout ran out): the call's task ends with the
    target still active for an ended attempt. The next reconcile applies it, so the campaign
    finishes without a restart, and nobody is called twice."""
    import sqlalchemy as sa
    adb = setup_db(engine_url)
    d = adb.db
    cid = campaigns.create(d, name="t", selection={"all": True}, max_attempts=3, max_cps=50, max_concurrent=4,
                           retry_policy={"busy": {"delay_s": 1}, "no-answer": {"delay_s": 1}})
    campaigns.apply_command(d, cid, "start")
    finalize, refused = controller.finalize, []

    def finalize_refused_once(db, attempt_id, now, lender=""):
        if not refused:
            refused.append(attempt_id)
            raise sa.exc.OperationalError("UPDATE attempts ...", {}, Exception("database is locked"))
        return finalize(db, attempt_id, now, lender)
    monkeypatch.setattr(controller, "finalize", finalize_refused_once)
    placer = FakePlacer(adb, outcome_for=scripted(), duration_s=0.05)
    ctl = controller.Controller(Settings(), policy_shift=shift_to(TEN_AM), placer=placer, db=adb, tick_s=0.05,
                                reconcile_every_s=0.2)
    asyncio.run(asyncio.wait_for(ctl.run(until_idle=True), 20))
    assert refused and attempts_db.get(d, refused[0])["disposition"] is not None
    t = {r["borrower_id"]: (r["status"], r["done_reason"]) for r in store_of(d).query("SELECT * FROM campaign_targets")}
    assert t == {1: ("done", "completed"), 2: ("done", "completed"), 3: ("done", "no-dialable-number"),
                 4: ("done", "exhausted")}
    counts: dict[str, int] = {}
    for _, number in placer.placed:
        counts[number] = counts.get(number, 0) + 1
    assert counts == {"13800000001": 1, "13800000002": 2, "13800000003": 1, "13800000004": 3}
    assert campaigns.get(d, cid)["state"] == "finished"
    adb.close()

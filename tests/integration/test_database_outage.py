"""PostgreSQL goes down in the middle of a campaign and comes back (issue 12).

A real stack (Asterisk, dialog server, simulated phones) and a controller share a PostgreSQL cluster of
this module's own. While calls are up, the server is stopped for several seconds and started again.
What must hold: while the database is away the controller originates nothing (it could not record the
call); the calls that were up go on, and what the dialog server and the controller learn meanwhile is
written once the database is back (nothing lost); the campaign then finishes, every attempt ended with
a disposition, every call the phones saw is an attempt, nobody called twice.
"""
from __future__ import annotations

import asyncio
import time

import pytest

from ivr.db import migrate
from ivr.db.connect import open_database
from ivr.db.store import store_of
from ivr.db.writer import AsyncDb
from ivr.dialer import campaigns, importer
from ivr.dialer.clock import shift_to
from ivr.dialer.controller import Controller
from ivr.sim.calllog import calls_to
from tests.integration.test_campaign_dialer import KEYPAD, RETRY, TEN_AM, cn, write_csv
from tests.support.postgres import PostgresCluster
from tests.support.stacks import running_stack

pytestmark = pytest.mark.timeout(900)


def cases():
    out = [{"loan": f"IT-pg-{i}", "phone": cn(4000 + i), "persona": KEYPAD} for i in range(6)]
    out += [{"loan": f"IT-pg-na-{i}", "phone": cn(4100 + i), "persona": {"reject": "noanswer"}} for i in range(2)]
    return out


@pytest.fixture(scope="module")
def cluster():
    c = PostgresCluster.start()   # its own: the session's cluster must not go down under other tests
    yield c
    c.stop()


@pytest.fixture(scope="module")
def stack(stack_settings, cluster):
    url = cluster.url(cluster.create_database())
    migrate.upgrade(url)
    settings = stack_settings("pg-outage", ring_timeout_s=8, database_url=url)
    with running_stack(settings, {c["phone"]: c["persona"] for c in cases()}, run_dir="", agents=False) as s:
        yield s


def test_postgresql_restarted_mid_campaign(stack, cluster):
    settings = stack.settings
    db = open_database(settings)
    store = store_of(db)
    rows = [{"loan": c["loan"], "phones": [c["phone"]], "locale": "zh-CN"} for c in cases()]
    write_csv(stack.out / "outage.csv", rows)
    report = importer.import_file(db, stack.out / "outage.csv")
    cid = campaigns.create(db, name="outage", selection={"batch_id": report.batch_id}, max_concurrent=3, max_cps=1,
                           max_attempts=3, retry_policy=RETRY)
    campaigns.run_command_now(db, cid, "start", "test")
    store.close()
    adb = AsyncDb(settings)
    ctl = Controller(settings, db=adb, tick_s=0.2, max_channels=8, policy_shift=shift_to(TEN_AM))
    window: dict = {}

    async def scenario():
        task = asyncio.ensure_future(ctl.run(until_idle=True))
        while ctl.stats.placed < 2:
            await asyncio.sleep(0.2)
        await asyncio.sleep(3.0)                       # calls are up, conversations under way
        window["placed_at_down"] = ctl.stats.placed
        window["down"] = time.monotonic()
        await asyncio.to_thread(cluster.halt)
        await asyncio.sleep(8.0)
        window["placed_before_up"] = ctl.stats.placed
        await asyncio.to_thread(cluster.resume)
        window["up"] = time.monotonic()
        await asyncio.wait_for(task, 600)
    asyncio.run(scenario())
    adb.close()

    # nothing was originated while the database could not record it (an Originate already on its way
    # when the server went down may still leave within the first second)
    assert window["placed_before_up"] - window["placed_at_down"] <= 1, window
    assert not [t for t in ctl.stats.originate_times if window["down"] + 1.0 < t < window["up"]], window
    store = store_of(open_database(settings, migrate=False))
    try:
        assert campaigns.get(store, cid)["state"] == "finished"
        assert store.scalar("SELECT count(*) FROM attempts WHERE campaign_id = :c AND "
                            "(state != 'ended' OR disposition IS NULL)", {"c": cid}) == 0
        for c in cases():
            attempts = store.query("SELECT a.* FROM attempts a JOIN borrowers b ON b.id = a.borrower_id "
                                   "WHERE b.loan_id = :l ORDER BY a.created_at", {"l": c["loan"]})
            seen = [x["attempt"] for x in calls_to(stack.calls_log, c["phone"])]
            ids = {a["id"]: a for a in attempts}
            assert set(seen) <= set(ids), (c["loan"], seen, list(ids))
            assert len(seen) == len(set(seen)), (c["loan"], seen)
            target = store.one("SELECT t.* FROM campaign_targets t JOIN borrowers b ON b.id = t.borrower_id "
                               "WHERE t.campaign_id = :c AND b.loan_id = :l", {"c": cid, "l": c["loan"]})
            assert target["status"] == "done", (c, target)
            if c["persona"] is KEYPAD:
                # called once, the whole conversation recorded — also for the calls that were up
                # while the database was down
                assert len(seen) == 1, (c["loan"], [(a["disposition"], a["id"] in seen) for a in attempts])
                assert ids[seen[0]]["disposition"] == "answered-completed", ids[seen[0]]
                assert target["done_reason"] == "completed"
                dialog = store.one("SELECT result FROM dialogs WHERE attempt_id = :a", {"a": seen[0]})
                assert dialog is not None and dialog["result"], (c["loan"], dialog)
                assert store.scalar("SELECT count(*) FROM answers WHERE attempt_id = :a", {"a": seen[0]}) >= 3
    finally:
        store.close()

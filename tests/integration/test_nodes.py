"""Two telephony nodes working one campaign: two managed Asterisk instances, each with its dialog
server (Vosk) and its own controller, on port blocks of their own (`stack_settings` twice), one
shared database, and the borrower phones answering whichever node calls (ivr/multinode.py).

* test_two_node_campaign proves that one campaign run by two controllers lands calls on both
  nodes, that every borrower's call ends as its persona intends whichever node placed it, and that
  nobody is called twice (the phones' own log holds one INVITE per borrower).
* test_node_asterisk_killed_mid_campaign proves that when node 1's Asterisk dies (SIGKILL: no
  goodbye on AMI) with calls up, node 1 claims nobody any more, the calls it held end with a
  disposition (closed as lost once AMI has been down for `node_lost_after_s`, shortened to 15 s
  here through the setting), the rest of the campaign is finished by node 2, and nobody is called
  twice.

The calling-hours policy sees real time shifted to 10:00 Beijing, in-process, as in the demo.
Stored times are real. The nodes share a PostgreSQL database (the deployment several boxes need):
its URL is handed to every process of both nodes through node 1's settings (`database_url`).
"""
from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import signal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from ivr.asterisk import process as asterisk
from ivr.db.connect import open_database
from ivr.db.store import store_of
from ivr.dialer import campaigns, importer
from ivr.dialer.clock import shift_to
from ivr.multinode import NodeStacks, joined, run_controllers
from ivr.sim.calllog import calls_to
from ivr.stack import ensure_installed

pytestmark = pytest.mark.integration

TEN_AM = dt.datetime.combine(dt.date.today(), dt.time(10, 0), tzinfo=ZoneInfo("Asia/Shanghai"))
KEYPAD = {"answer_after_ms": 400, "steps": [{"dtmf": "1"}, {"dtmf": "1234"}, {"dtmf": "1"}]}
WRONG_PERSON = {"answer_after_ms": 300, "steps": [{"dtmf": "2"}]}
KINDS = {   # persona, the disposition its one call must end with
    "keypad": (KEYPAD, "answered-completed"),
    "wrong": (WRONG_PERSON, "answered-wrong-person"),
    "busy": ({"reject": "busy"}, "busy"),
    "decline": ({"reject": "decline"}, "rejected"),
    "noanswer": ({"reject": "noanswer"}, "no-answer"),
    "notfound": ({"reject": "notfound"}, "invalid-number"),
}
CAMPAIGN = ["keypad", "keypad", "wrong", "wrong", "wrong", "busy", "decline", "noanswer", "notfound"]
KILLED = ["keypad", "wrong", "keypad", "wrong", "wrong", "wrong", "keypad", "wrong", "wrong", "wrong"]
LOST_AFTER_S = 15.0


def numbered(kinds: list[str], first: int) -> dict[str, str]:
    return {f"138{first + i:08d}": kind for i, kind in enumerate(kinds)}


CAMPAIGN_NUMBERS = numbered(CAMPAIGN, 4000)
KILLED_NUMBERS = numbered(KILLED, 4100)


@pytest.fixture(scope="module")
def two_nodes(stack_settings, postgres_cluster, postgres_migrated):
    url = postgres_cluster.url(postgres_cluster.create_database(template=postgres_migrated))
    nodes = joined([stack_settings("nodes", ring_timeout_s=8, database_url=url),
                    stack_settings("nodes", ring_timeout_s=8)])
    assert nodes[1].database_url == url
    out = nodes[0].database.parent
    ensure_installed(nodes[0])
    personas = {n: KINDS[k][0] for n, k in {**CAMPAIGN_NUMBERS, **KILLED_NUMBERS}.items()}
    personas_path = out / "personas.json"
    personas_path.write_text(json.dumps(personas))
    stacks = NodeStacks(nodes, out / "run", personas_path, agents=False)
    stacks.start()
    try:
        yield nodes, stacks
    finally:
        stacks.stop()


def start_campaign(settings, numbers: dict[str, str], name: str, path: Path) -> int:
    due = (dt.date.today() + dt.timedelta(days=5)).isoformat()
    lines = ["loan_id,name,id_last4,phone,amount_due,due_date,locale"]
    lines += [f"{name}-{n},张伟,1234,{n},3500,{due},zh-CN" for n in numbers]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    db = open_database(settings)
    try:
        report = importer.import_file(db, path)
        assert report.rejected == 0 and report.created == len(numbers), report.as_dict()
        cid = campaigns.create(db, name=name, selection={"batch_id": report.batch_id}, max_concurrent=4, max_cps=4,
                               max_attempts=1)
        campaigns.run_command_now(db, cid, "start", "test")
        return cid
    finally:
        store_of(db).close()


def query(settings, sql: str, params: dict | None = None) -> list[dict]:
    db = open_database(settings)
    try:
        return store_of(db).query(sql, params or {})
    finally:
        store_of(db).close()


def attempts_of(settings, cid: int) -> list[dict]:
    return query(settings, "SELECT * FROM attempts WHERE campaign_id = :cid ORDER BY created_at, id", {"cid": cid})


def assert_nobody_twice(stacks, rows: list[dict], numbers) -> None:
    """One attempt per borrower (the campaign allows one), and at most one INVITE per number at the
    phones; every INVITE that reached them belongs to that number's attempt."""
    by_number: dict[str, list[dict]] = {}
    for r in rows:
        by_number.setdefault(r["number"], []).append(r)
    assert sorted(by_number) == sorted(numbers), by_number.keys()
    for number, attempts in by_number.items():
        assert len(attempts) == 1, (number, attempts)
        invites = calls_to(stacks.calls_log, number)
        assert len(invites) <= 1, (number, invites)
        assert all(i.get("attempt") in (None, attempts[0]["id"]) for i in invites), (number, invites)


@pytest.mark.timeout(420)
def test_two_node_campaign(two_nodes):
    nodes, stacks = two_nodes
    cid = start_campaign(nodes[0], CAMPAIGN_NUMBERS, "two-nodes", stacks.out / "campaign.csv")
    asyncio.run(asyncio.wait_for(run_controllers(nodes, policy_shift=shift_to(TEN_AM), max_channels=2), 360))

    rows = attempts_of(nodes[0], cid)
    assert_nobody_twice(stacks, rows, CAMPAIGN_NUMBERS)
    assert {r["node"] for r in rows} == {n.node for n in nodes}, [(r["number"], r["node"]) for r in rows]
    wrong = {r["number"]: (r["node"], r["disposition"], KINDS[CAMPAIGN_NUMBERS[r["number"]]][1])
             for r in rows if r["disposition"] != KINDS[CAMPAIGN_NUMBERS[r["number"]]][1]}
    assert wrong == {}, wrong
    for r in rows:   # every call that rang reached the phones once
        assert r["state"] == "ended" and len(calls_to(stacks.calls_log, r["number"])) == 1, r
    registered = {r["name"]: r for r in query(nodes[0], "SELECT * FROM nodes")}
    assert set(registered) >= {n.node for n in nodes}
    assert all(registered[n.node]["stopped_at"] for n in nodes)


@pytest.mark.timeout(420)
def test_node_asterisk_killed_mid_campaign(two_nodes):
    nodes, stacks = two_nodes
    nodes = [s.replace(node_lost_after_s=LOST_AFTER_S) for s in nodes]
    n1, n2 = nodes[0].node, nodes[1].node
    cid = start_campaign(nodes[0], KILLED_NUMBERS, "node-killed", stacks.out / "killed.csv")
    killed: dict = {}

    async def kill_node_1_with_calls_up():
        while True:
            rows = await asyncio.to_thread(attempts_of, nodes[0], cid)
            if any(r["node"] == n1 and r["state"] == "in_dialog" for r in rows):
                break
            await asyncio.sleep(0.2)
        killed["held"] = {r["id"]: r["state"] for r in rows if r["node"] == n1 and r["state"] != "ended"}
        killed["at"] = dt.datetime.now(dt.timezone.utc)
        os.killpg(asterisk.running_pid(nodes[0]), signal.SIGKILL)

    async def scenario():
        controllers: list = []
        run = asyncio.create_task(run_controllers(nodes, policy_shift=shift_to(TEN_AM), max_channels=2,
                                                  controllers=controllers))
        await asyncio.wait_for(kill_node_1_with_calls_up(), 120)
        await asyncio.wait_for(run, 300)
        return controllers

    controllers = asyncio.run(scenario())
    rows = attempts_of(nodes[0], cid)
    for r in rows:   # the timeline, for whoever reads a failure (-s shows it on success too)
        ended = (dt.datetime.fromisoformat(r["ended_at"]) - killed["at"]).total_seconds() if r["ended_at"] else None
        print(f"{r['number']} {r['node']} held at kill: {killed['held'].get(r['id'], '-'):<9} "
              f"ended {ended if ended is None else round(ended, 1)} s after the kill: {r['disposition']}")
    # every attempt accounted for: ended, with a disposition
    assert [r for r in rows if r["state"] != "ended" or not r["disposition"]] == []
    # the conversations node 1 held when its Asterisk died were closed as lost, and not before the
    # timeout (until then they might have been up); one ending just as the kill came ended by itself
    talking = [aid for aid, state in killed["held"].items() if state in ("answered", "in_dialog")]
    assert talking, f"node 1 held no conversation when its Asterisk died: {killed['held']}"
    closed = {e["attempt_id"] for e in query(nodes[0], "SELECT attempt_id FROM events WHERE name = 'ClosedLost' "
                                                       "AND attempt_id IN :ids", {"ids": talking})}
    by_id = {r["id"]: r for r in rows}
    for aid in talking:
        ended = dt.datetime.fromisoformat(by_id[aid]["ended_at"])
        if ended > killed["at"] + dt.timedelta(seconds=1):
            assert aid in closed and ended >= killed["at"] + dt.timedelta(seconds=LOST_AFTER_S - 0.5), by_id[aid]
    assert closed and controllers[0].stats.reconciled_closed >= len(closed)
    # node 1 claimed nobody after its Asterisk died; node 2 finished the campaign
    after = [r for r in rows if dt.datetime.fromisoformat(r["created_at"]) > killed["at"] + dt.timedelta(seconds=1)]
    assert after and {r["node"] for r in after} == {n2}, [(r["created_at"], r["node"]) for r in rows]
    assert_nobody_twice(stacks, rows, KILLED_NUMBERS)
    targets = query(nodes[0], "SELECT status FROM campaign_targets WHERE campaign_id = :cid", {"cid": cid})
    assert {t["status"] for t in targets} == {"done"}
    # the calls node 2 placed ended as their personas intend
    wrong = {r["number"]: r["disposition"] for r in rows
             if r["node"] == n2 and r["disposition"] != KINDS[KILLED_NUMBERS[r["number"]]][1]}
    assert wrong == {}, wrong

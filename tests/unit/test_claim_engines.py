"""Claiming a call (`controller.claim_dial`) from two controllers at the same instant, on both
engines: one borrower due in two campaigns, or two borrowers sharing a number that has one
unanswered attempt left today — exactly one claim wins, every round. On PostgreSQL the claim's row
locks make the second wait and then see the first's attempt; on SQLite BEGIN IMMEDIATE does."""
from __future__ import annotations

import datetime as dt
import threading
import uuid

import pytest

from ivr.db import attempts as attempts_db
from ivr.db import migrate
from ivr.db.connect import connect
from ivr.db.store import open_store, store_of
from ivr.dialer import controller
from ivr.dialer.clock import iso, shift_to
from ivr.dialer.policy import Dial

TEN_AM = dt.datetime(2026, 12, 1, 2, 0, tzinfo=dt.timezone.utc)
ROUNDS = 12


def handle(url: str):
    path = migrate.sqlite_path(url)
    return connect(path, migrate=False) if path is not None else open_store(url)


def seed(store, now: dt.datetime, *, shared_number: bool) -> tuple[list[Dial], list[dict]]:
    """Two campaigns; either one borrower due in both, or two borrowers (one per campaign) whose
    only number already had five unanswered attempts today (the cap is six)."""
    stamp = iso(now)
    tag = uuid.uuid4().hex[:8]
    borrowers = [store.insert("borrowers", {"loan_id": f"L{tag}-{i}", "name": "n", "timezone": "Asia/Shanghai",
                                            "created_at": stamp, "updated_at": stamp}) for i in range(2)]
    number = f"138{int(tag, 16) % 10**8:08d}"
    if not shared_number:
        borrowers = [borrowers[0], borrowers[0]]
    contacts = {}
    for b in set(borrowers):
        contacts[b] = store.insert("contacts", {"borrower_id": b, "phone": number, "created_at": stamp})
    campaigns = []
    for i in range(2):
        cid = store.insert("campaigns", {"name": f"c{i}", "state": "running", "created_at": stamp, "updated_at": stamp})
        campaigns.append(store.get("campaigns", cid))
        store.insert("campaign_targets", {"campaign_id": cid, "borrower_id": borrowers[i], "next_at": stamp,
                                          "updated_at": stamp})
    if shared_number:
        for i in range(5):
            store.insert("attempts", {"id": f"old-{tag}-{i}", "number": number, "locale": "zh-CN", "state": "ended",
                                      "outcome": "no-answer", "created_at": iso(now - dt.timedelta(minutes=5 + i))})
    dials = [Dial(campaigns[i]["id"], borrowers[i], contacts[borrowers[i]], number, "zh-CN", "followup")
             for i in range(2)]
    return dials, campaigns


def race(handles, dials: list[Dial], campaigns: list[dict], now: dt.datetime, shift: dt.timedelta) -> list[bool]:
    """Both controllers claim their call at the same instant (each in its own thread and connection)."""
    wins = [False, False]
    gate = threading.Barrier(2)

    def claim(i: int) -> None:
        row = attempts_db.new_row(str(uuid.uuid4()), dials[i].number, locale="zh-CN", borrower_id=dials[i].borrower_id,
                                  contact_id=dials[i].contact_id, campaign_id=dials[i].campaign_id, flow="followup",
                                  caller_id="4008000000", trunk="trunk", created_at=iso(now))
        gate.wait()
        wins[i] = controller.claim_dial(handles[i], dials[i], row, campaigns[i], now, policy_shift=shift)
    threads = [threading.Thread(target=claim, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return wins


@pytest.mark.parametrize("shared_number", [False, True], ids=["one-borrower-two-campaigns", "one-number-cap"])
def test_two_controllers_claiming_at_once_exactly_one_wins(engine_url, shared_number):
    setup = handle(engine_url)
    handles = [handle(engine_url), handle(engine_url)]
    now = dt.datetime.now(dt.timezone.utc)
    shift = shift_to(TEN_AM)          # the policy sees 10:00 Beijing, within calling hours
    for _ in range(ROUNDS):
        dials, campaigns = seed(store_of(setup), now, shared_number=shared_number)
        wins = race(handles, dials, campaigns, now, shift)
        assert sum(wins) == 1, wins


def seed_paced(store, now: dt.datetime, max_cps: float) -> tuple[list[Dial], list[dict]]:
    """One campaign at `max_cps`, two borrowers on numbers of their own, both due."""
    stamp = iso(now)
    tag = uuid.uuid4().hex[:8]
    cid = store.insert("campaigns", {"name": f"p{tag}", "state": "running", "max_cps": max_cps,
                                     "created_at": stamp, "updated_at": stamp})
    campaign = store.get("campaigns", cid)
    dials = []
    for i in range(2):
        b = store.insert("borrowers", {"loan_id": f"P{tag}-{i}", "name": "n", "timezone": "Asia/Shanghai",
                                       "created_at": stamp, "updated_at": stamp})
        number = f"139{(int(tag, 16) + i) % 10**8:08d}"
        c = store.insert("contacts", {"borrower_id": b, "phone": number, "created_at": stamp})
        store.insert("campaign_targets", {"campaign_id": cid, "borrower_id": b, "next_at": stamp, "updated_at": stamp})
        dials.append(Dial(cid, b, c, number, "zh-CN", "followup"))
    return dials, [campaign, campaign]


@pytest.mark.parametrize("max_cps", [1.0, 0.5])
def test_two_controllers_on_one_campaign_keep_its_calls_per_second(engine_url, max_cps):
    """Each controller paces itself; the campaign's max_cps must also hold for both together: of two
    claims at the same instant only one goes out, and within the window (1 s; 2 s at 0.5 cps) no
    third, whichever controller asks; after it, the next."""
    setup = handle(engine_url)
    handles = [handle(engine_url), handle(engine_url)]
    now = dt.datetime.now(dt.timezone.utc)
    shift = shift_to(TEN_AM)
    window = dt.timedelta(seconds=max(1.0, 1 / max_cps))
    for _ in range(4):
        dials, campaigns = seed_paced(store_of(setup), now, max_cps)
        wins = race(handles, dials, campaigns, now, shift)
        assert sum(wins) == 1, wins
        loser = wins.index(False)
        again = race(handles, [dials[loser]] * 2, campaigns, now + window * 0.9, shift)
        assert again == [False, False]
        later = race(handles, [dials[loser]] * 2, campaigns, now + window * 1.1, shift)
        assert sum(later) == 1, later

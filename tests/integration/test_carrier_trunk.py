"""The carrier trunk against a second Asterisk acting as the carrier (tests/integration/carrier_pbx.py).

Two Asterisk instances from the same rootfs, both started by `ivr.asterisk.process.start`: ours,
rendered from the trunk settings exactly as a lender would set them, and the carrier, which demands
registration and digest authentication. Calls are placed by the product's `CallPlacer` over AMI. No
dialog server runs: an answered call takes the dialplan's dialog-down path, which is enough here.

Each Asterisk (ours, the carrier, a badly configured Huifang) on ports of its own (`stack_settings`).
Wrap in `flock /tmp/huifang-stack.lock`.
SQLite only: it is about SIP registration and authentication; the database holds nothing it checks.
"""
from __future__ import annotations

import asyncio
import dataclasses
import json

import pytest

from ivr.asterisk import process, rootfs
from ivr.db.writer import AsyncDb
from ivr.dialer.calls import CallPlacer
from tests.support.waiting import wait_for

from .carrier_pbx import BUSY, CONGESTED, DECLINE, FAILOVER_PREFIX, PASSWORD, PRIMARY_PREFIX, USERNAME, CarrierPbx

pytestmark = pytest.mark.integration
CALLER_ID = "02011112222"


@pytest.fixture(scope="module")
def carrier(stack_settings):
    settings = stack_settings("carrier")  # its database stays unused
    rootfs.install(settings)
    pbx = CarrierPbx(settings)
    pbx.start()
    yield pbx
    pbx.stop()


def huifang_settings(stack_settings, carrier: CarrierPbx, name: str, **trunks):
    port = carrier.settings.sip_port
    values = dict(trunk_host="127.0.0.1", trunk_port=port, trunk_username=USERNAME, trunk_password=PASSWORD,
                  trunk_register=1, trunk_dial_prefix=PRIMARY_PREFIX, trunk_strip_prefixes="+86,0086",
                  failover_trunk_host="127.0.0.1", failover_trunk_port=port, failover_trunk_username=USERNAME,
                  failover_trunk_password=PASSWORD, failover_trunk_dial_prefix=FAILOVER_PREFIX)
    values.update(trunks)
    return stack_settings(name, ring_timeout_s=6, **values)


@pytest.fixture(scope="module")
def huifang(stack_settings, carrier):
    settings = huifang_settings(stack_settings, carrier, "trunk")
    process.start(settings)
    process.cli(settings, "pjsip set logger on")
    yield settings
    process.stop(settings)


def place(settings, number: str, **kwargs) -> tuple[dict, list[dict]]:
    """Place one call through our Asterisk; return its attempt row and its recorded AMI events."""
    async def run():
        db = AsyncDb(settings.database)
        placer = CallPlacer(settings, db)
        await placer.start()
        try:
            aid = await placer.place(number, locale="zh-CN", **kwargs)
            row = await placer.wait(aid, timeout=60)
            events = await db.call(lambda d: [dict(r, data=json.loads(r["data"])) for r in d.query(
                "SELECT name, data FROM events WHERE attempt_id = ? ORDER BY id", [aid])])
            return row, events
        finally:
            await placer.close()
            db.close()
    return asyncio.run(run())


def dial_event(events: list[dict]) -> dict:
    [event] = [e["data"] for e in events if e["name"] == "HuifangDial"]
    return event


def trunks_tried(events: list[dict]) -> list[str]:
    """The trunks our dialplan dialled, in order (one HuifangTrunk event before each Dial)."""
    return [e["data"]["Trunk"] for e in events if e["name"] == "HuifangTrunk"]


def calls_to(carrier: CarrierPbx, number: str) -> list[dict]:
    return [c for c in carrier.calls() if c["number"] == number]


def test_registration_succeeds_with_credentials(huifang, carrier):
    """Our outbound registration (pjsip type=registration + outbound_auth) is accepted by the carrier:
    our side reads Registered, and the carrier holds our contact on the account's AOR."""
    assert wait_for(lambda: "Registered" in process.cli(huifang, "pjsip show registrations"), 15), \
        process.cli(huifang, "pjsip show registrations")
    contacts = wait_for(lambda: "sip:" + USERNAME in carrier.registered_contacts(), 10)
    assert contacts, carrier.registered_contacts()


def test_call_carries_campaign_caller_id_and_dial_prefix(huifang, carrier):
    """A number given as +86... reaches the carrier as <trunk prefix><national number>, with the
    campaign's caller ID as the From user; it is answered over the first trunk, after digest auth."""
    row, events = place(huifang, "+8613800000001", caller_id=CALLER_ID)
    assert calls_to(carrier, "13800000001") == [{"trunk": "primary", "number": "13800000001", "callerid": CALLER_ID}]
    assert row["outcome"] == "answered", row
    assert row["caller_id"] == CALLER_ID and row["trunk"] == "huifang-trunk"
    assert trunks_tried(events) == ["huifang-trunk"]


def test_failover_trunk_used_when_primary_answers_503(huifang, carrier):
    """The primary trunk answers 503 (congestion): the same call is tried on the failover trunk (with
    its own prefix), is answered there, and the attempt records the trunk that carried it."""
    row, events = place(huifang, CONGESTED, caller_id=CALLER_ID)
    assert [c["trunk"] for c in calls_to(carrier, CONGESTED)] == ["primary", "failover"]
    assert row["outcome"] == "answered", row
    assert trunks_tried(events) == ["huifang-trunk", "huifang-trunk2"]
    assert row["trunk"] == "huifang-trunk2"
    assert [e["data"].get("SipCode") for e in events if e["name"] == "HuifangFailover"] == ["503"]


@pytest.mark.parametrize("number,status,code", [(BUSY, "BUSY", "486"), (DECLINE, "CHANUNAVAIL", "603")])
def test_no_failover_after_the_borrowers_final_answer(huifang, carrier, number, status, code):
    """486 busy and 603 decline are the borrower's answer: the failover trunk is never tried, so the
    borrower is not rung twice."""
    row, events = place(huifang, number, caller_id=CALLER_ID)
    assert [c["trunk"] for c in calls_to(carrier, number)] == ["primary"]
    dial = dial_event(events)
    assert dial["DialStatus"] == status and code in dial["TechCause"], dial
    assert dial["Tried"] == "huifang-trunk/" and trunks_tried(events) == ["huifang-trunk"]
    assert not [e for e in events if e["name"] == "HuifangFailover"]
    assert row["outcome"] != "answered"


def test_without_valid_credentials_registration_and_calls_are_refused(stack_settings, carrier):
    """A Huifang whose trunk has no credentials, and whose failover trunk has a wrong password:
    the carrier rejects the registration, answers the INVITEs 401, and the call never reaches its
    dialplan (no CARRIER-CALL line)."""
    settings = huifang_settings(stack_settings, carrier, "trunk-bad",
                                trunk_username="", trunk_password="", trunk_register=0,
                                failover_trunk_password="wrong-password", failover_trunk_register=1)
    process.start(settings)
    try:
        assert wait_for(lambda: "Rejected" in process.cli(settings, "pjsip show registrations"), 15), \
            process.cli(settings, "pjsip show registrations")
        row, events = place(settings, "13800000002")
        dial = dial_event(events)
        assert row["outcome"] != "answered"
        assert calls_to(carrier, "13800000002") == []
        # the first trunk got 401 (no credentials): a trunk failure, so the failover trunk was tried
        assert [e["data"].get("SipCode") for e in events if e["name"] == "HuifangFailover"] == ["401"]
        assert dial["Tried"] == "huifang-trunk/huifang-trunk2/", dial
    finally:
        process.stop(settings)


def test_a_trunk_at_its_channel_limit_is_skipped_in_the_dialplan(huifang, carrier):
    """The dialplan's own channel guard (GROUP_COUNT per trunk): with the first trunk's limit at 0
    (a value the settings would refuse, passed straight to the placer), the call never leaves on it
    and goes out on the failover trunk — a full trunk is a trunk failure, not the borrower's answer."""
    first, second = huifang.trunks()
    row, events = place(huifang, "13800000007", caller_id=CALLER_ID,
                        trunks=[dataclasses.replace(first, max_channels=0), second])
    assert [c["trunk"] for c in calls_to(carrier, "13800000007")] == ["failover"]
    assert trunks_tried(events) == ["huifang-trunk2"]
    assert [e["data"].get("Trunk") for e in events if e["name"] == "HuifangFailover"] == ["huifang-trunk"]
    assert row["outcome"] == "answered" and row["trunk"] == "huifang-trunk2"

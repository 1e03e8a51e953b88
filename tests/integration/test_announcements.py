"""Carrier announcements in early media (issue: 空号/关机/停机/无法接通 before the call fails).

Simulated numbers answer 183 Session Progress, play the standard announcement as early media
(espeak-ng, zh-CN) and then fail the call (404 or 480). The dial wrapper records the early media,
the dialog server's `announcement` route names it, and the attempt stores the precise reason next
to the unchanged outcome. A plain 404 without early media stays what it was. One simulated carrier
answers (200) and then plays its announcement: the dialog server's answer screen hears it before the
greeting and ends the call with the announcement's disposition, no dialog.

Runs its own stack (Asterisk, dialog server, phones) on ports of its own (`stack_settings`).
SQLite only, for the suite's time (~2 min a run): what it proves is media and recognition (the
reason reaches the attempt as channel variables the call placer stores through the Store, as on
PostgreSQL in test_campaign_dialer.py; the announcement library runs on both engines in unit tests).
"""
from __future__ import annotations

import asyncio
import datetime as dt
import json

import pytest

from ivr.db.connect import connect
from ivr.demo import call_all
from ivr.dialer import controller
from tests.support.stacks import running_stack

pytestmark = pytest.mark.integration

PERSONAS = {
    "13600000001": {"announcement": {"text": "您拨打的号码是空号", "locale": "zh-CN", "then": "notfound"}},
    "13600000002": {"announcement": {"text": "您拨打的电话已关机", "locale": "zh-CN", "then": "unavailable"}},
    "13600000003": {"announcement": {"text": "您拨打的电话已停机", "locale": "zh-CN", "then": "notfound"}},
    "13600000004": {"announcement": {"text": "您拨打的电话暂时无法接通", "locale": "zh-CN", "then": "unavailable"}},
    # not one of the four: early media that must not be taken for any of them
    "13600000005": {"announcement": {"text": "您拨打的电话正在通话中", "locale": "zh-CN", "then": "busy"}},
    "13600000006": {"reject": "notfound"},
    "13600000007": {"answer_after_ms": 500, "steps": [{"dtmf": "1"}, {"dtmf": "1234"}, {"dtmf": "1"}]},
    # the network answers and plays the announcement (no early media)
    "13600000008": {"announcement": {"text": "您拨打的电话已关机", "locale": "zh-CN", "then": "answer"}},
}
BORROWERS = {n: {"name": "张伟", "locale": "zh-CN", "id_last4": "1234", "amount_due": 3500} for n in PERSONAS}


@pytest.fixture(scope="module")
def announce_calls(stack_settings):
    settings = stack_settings("announce", ring_timeout_s=10)
    with running_stack(settings, PERSONAS, agents=False) as stack:
        rows = asyncio.run(call_all(settings, stack.personas, BORROWERS, concurrency=8, run_tag="announce"))
    db = connect(settings.database)
    by_number = {}
    for row in rows:
        finalize = controller.finalize(db, row["id"], dt.datetime.now(dt.timezone.utc))
        row = dict(db.query("SELECT * FROM attempts WHERE id = ?", [row["id"]]).__next__())
        row["events"] = [dict(e, data=json.loads(e["data"])) for e in
                         db.query("SELECT name, data FROM events WHERE attempt_id = ? ORDER BY id", [row["id"]])]
        row["finalize"] = finalize
        row["dialog"] = next(iter(db.query("SELECT * FROM dialogs WHERE attempt_id = ?", [row["id"]])), None)
        row["answers"] = list(db.query("SELECT * FROM answers WHERE attempt_id = ?", [row["id"]]))
        by_number[row["number"]] = row
    return settings, by_number


@pytest.mark.parametrize("number, reason, outcome, sip, disposition", [
    ("13600000001", "empty_number", "invalid-number", 404, "carrier-announcement"),
    ("13600000002", "powered_off", "unreachable", 480, "unreachable"),
    ("13600000003", "suspended", "invalid-number", 404, "carrier-announcement"),
    ("13600000004", "unreachable", "unreachable", 480, "unreachable"),
])
def test_announcement_reason_is_stored(announce_calls, number, reason, outcome, sip, disposition):
    settings, rows = announce_calls
    row = rows[number]
    assert row["announcement"] == reason
    assert (row["outcome"], row["sip_code"], row["state"]) == (outcome, sip, "ended")
    assert row["disposition"] == disposition
    [dial] = [e["data"] for e in row["events"] if e["name"] == "HuifangDial"]
    assert dial["Announcement"] == reason and dial["AnnouncementVia"] == "fingerprint"
    assert dial["ProgressMs"] and float(dial["EarlyMedia"]) >= 2.0   # the whole announcement was heard
    # the early media is kept as evidence of what the network said
    early = settings.recordings_dir / f"early-{row['id']}.sln"
    assert early.stat().st_size >= 2 * 16000


def test_other_early_media_is_not_taken_for_an_announcement(announce_calls):
    """您拨打的电话正在通话中 (busy) shares the 您拨打的电话 prefix: no reason, outcome from the 486."""
    _, rows = announce_calls
    row = rows["13600000005"]
    assert row["announcement"] is None
    assert (row["outcome"], row["sip_code"]) == ("busy", 486)
    [dial] = [e["data"] for e in row["events"] if e["name"] == "HuifangDial"]
    assert dial["ProgressMs"] and dial["AnnouncementVia"] == "none"


def test_plain_404_stays_as_before(announce_calls):
    settings, rows = announce_calls
    row = rows["13600000006"]
    assert row["announcement"] is None
    assert (row["outcome"], row["cause"], row["sip_code"], row["disposition"]) == \
        ("invalid-number", 1, 404, "invalid-number")
    [dial] = [e["data"] for e in row["events"] if e["name"] == "HuifangDial"]
    assert not dial.get("ProgressMs") and not dial.get("Announcement")
    assert not (settings.recordings_dir / f"early-{row['id']}.sln").exists()


def test_answered_call_is_unaffected_and_leaves_no_early_media(announce_calls):
    settings, rows = announce_calls
    row = rows["13600000007"]
    assert row["outcome"] == "answered" and row["announcement"] is None
    assert row["disposition"] == "answered-completed"
    assert not (settings.recordings_dir / f"early-{row['id']}.sln").exists()


def test_announcement_after_an_answer_ends_the_call_without_a_dialog(announce_calls):
    """200 OK, then 您拨打的电话已关机: heard before the greeting, the call ends as unreachable (关机:
    retry later, the number stays valid) and not one prompt is played."""
    _, rows = announce_calls
    row = rows["13600000008"]
    assert row["outcome"] == "answered" and row["announcement"] == "powered_off"
    assert row["disposition"] == "unreachable"
    assert row["dialog"]["result"] == "announcement" and row["dialog"]["announcement"] == "powered_off"
    assert json.loads(row["dialog"]["played"] or "[]") == [] and row["answers"] == []


def test_a_person_is_still_greeted_after_the_screen(announce_calls):
    _, rows = announce_calls
    row = rows["13600000007"]
    assert row["dialog"]["result"] != "announcement" and row["dialog"]["announcement"] is None
    assert len(row["answers"]) >= 2

"""Real follow-up calls through the real Asterisk to simulated phones (issue: real calls end to end).

Each test reads one call of the session's persona calls (placed concurrently once) and proves what
was stored about it: outcome, Q.850 cause, SIP code, answers, the dialog's result, the recording.

SQLite only (the session's persona run, shared with test_conversation/test_loopback, is ~3 min per
engine): the same controller and dialog-server paths run on PostgreSQL in test_campaign_dialer.py, the
browser tests' PostgreSQL run and test_dialog_postgres.py.
"""
from __future__ import annotations

import json
import wave

import pytest

from ivr.sim.calllog import calls_to

pytestmark = pytest.mark.integration


def answer_summary(row):
    return [(a["step"], a["intent"], a["via"]) for a in row["answers"]]


def assert_recorded(row, min_seconds=2.0):
    assert row["recording_path"], "answered calls are recorded"
    with wave.open(row["recording_path"]) as w:
        assert w.getnframes() / w.getframerate() >= min_seconds


def voice_never_wrong(row, meant):
    """Every spoken answer was decided on evidence, and none was acted on as something the
    borrower did not mean: accepted ones carry the meant intent, rejected ones none."""
    for a in row["answers"]:
        if a["via"] != "voice":
            continue
        assert a["decision"] in ("accept", "confirm", "reject"), a
        if a["decision"] == "accept":
            assert a["intent"] == meant[a["step"]], a
        if a["decision"] == "reject":
            assert a["intent"] == "unknown", a


def test_voice_answer_korean(persona_calls, stack):
    """ko-KR borrower says 네 (voice, Vosk grammar mode) and presses 1 when asked to confirm it
    (a yes to "are you ...?" is never taken from voice alone), keys the ID digits, says 네 to the
    plan (pressing 1 if asked again)."""
    row = persona_calls["13900000001"]
    assert row["outcome"] == "answered" and row["cause"] == 16
    identity = row["answers"][0]
    assert (identity["step"], identity["via"]) == ("identity", "voice")
    assert identity["decision"] in ("confirm", "reject")
    # a yes to identity is confirmed whatever its word posteriors, so the call did not wait for that
    # second decoding: the evidence kept is the n-best's (ivr/dialog/decision.py)
    evidence = json.loads(identity["evidence"]) if isinstance(identity["evidence"], str) else identity["evidence"]
    assert identity["confidence"] is None and evidence["word_conf"] is None
    assert evidence["nbest"] and evidence["posterior"] is not None
    voice_never_wrong(row, {"identity": "confirm", "plan": "confirm", "digits": "digits"})
    assert ("digits", "digits", "keypad") in answer_summary(row)
    assert row["dialog"]["result"] == "will_pay_on_time"
    assert_recorded(row)
    # the phone saw exactly one call for this number, tagged with our attempt id
    received = calls_to(stack.calls_log, "13900000001")
    assert [c["attempt"] for c in received] == [row["id"]]


def test_recording_is_registered_with_its_size(persona_calls, settings):
    """The controller registers each answered call's MixMonitor file once the call has ended."""
    from ivr.db.connect import connect
    row = persona_calls["13900000002"]
    [rec] = list(connect(settings.database).query("SELECT * FROM recordings WHERE attempt_id = ?", [row["id"]]))
    assert rec["path"] == row["recording_path"] and rec["bytes"] > 16000


def test_keypad_answer_chinese(persona_calls):
    """zh-CN borrower answers every question by keypad: 1 (it is me), 1234 (ID), 1 (on time)."""
    row = persona_calls["13900000002"]
    assert row["outcome"] == "answered"
    assert answer_summary(row) == [("identity", "confirm", "keypad"), ("digits", "digits", "keypad"),
                                   ("plan", "confirm", "keypad")]
    assert row["answers"][1]["digits"] == "1234"
    assert row["dialog"]["result"] == "will_pay_on_time"
    assert_recorded(row)


@pytest.mark.parametrize("number, outcome, cause, sip", [
    ("13900000003", "busy", 17, 486),
    ("13900000004", "no-answer", 19, None),
    ("13900000005", "rejected", 21, 603),
    ("13900000006", "invalid-number", 1, 404),
])
def test_failed_calls_have_their_reason(persona_calls, number, outcome, cause, sip):
    """Busy, never answering, declining and unknown numbers end with the right outcome and cause."""
    row = persona_calls[number]
    assert (row["outcome"], row["cause"]) == (outcome, cause)
    if sip is not None:
        assert row["sip_code"] == sip
    assert row["answers"] == [] and row["recording_path"] is None
    assert row["state"] == "ended" and row["ended_at"]


def test_hang_up_mid_question(persona_calls):
    """The borrower hangs up while the identity question plays: stored as a hangup answer."""
    row = persona_calls["13900000007"]
    assert row["outcome"] == "answered"
    assert row["dialog"]["result"] == "hung_up"
    assert row["dialog"]["last_node"] == "identity"
    assert answer_summary(row) == [("identity", "hangup", "hangup")]


def test_wrong_person_by_voice(persona_calls):
    """아니요 at the identity question: apology, nothing else asked, number flagged as wrong person."""
    row = persona_calls["13900000008"]
    assert row["answers"][0]["via"] == "voice" and row["answers"][0]["step"] == "identity"
    voice_never_wrong(row, {"identity": "deny"})
    assert row["answers"][-1]["intent"] == "deny"
    assert row["dialog"]["result"] == "wrong_person"


def test_agent_request_reaches_the_queue(persona_calls, stack):
    """Key 0 at the identity question: the call goes to the agent queue and an agent phone answers."""
    row = persona_calls["13900000009"]
    assert answer_summary(row) == [("identity", "agent", "keypad")]
    assert row["dialog"]["result"] == "transferred"
    from ivr.sim.calllog import calls
    agent_calls = [c for c in calls(stack.agent_log) if c.get("attempt") == row["id"]]
    assert agent_calls and agent_calls[0]["status"] == 200


def test_id_mismatch_ends_politely(persona_calls):
    """Wrong ID digits: recorded as a mismatch, the reminder (the debt) is never played."""
    row = persona_calls["13900000010"]
    assert answer_summary(row) == [("identity", "confirm", "keypad"), ("digits", "digits", "keypad")]
    assert row["dialog"]["result"] == "id_mismatch"

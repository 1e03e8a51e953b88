"""The attempt reducer and outcome classification, fed with AMI event streams recorded from real calls
(tests/fixtures/ami/<number>.json, recorded with scripts/record_ami.py against the simulator personas).
"""
from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from ivr.dialer.attempt_state import AttemptView, belongs, reduce
from ivr.dialer.outcomes import classify

FIXTURES = Path(__file__).parent.parent / "fixtures" / "ami"


def replay(number):
    data = json.loads((FIXTURES / f"{number}.json").read_text())
    view = AttemptView(data["attempt_id"])
    states = [view.state]
    for event in data["events"]:
        if not belongs(event, data["attempt_id"], f"orig-{data['attempt_id']}"):
            continue  # what the controller would not route to this attempt
        view = reduce(view, event)
        if view.state != states[-1]:
            states.append(view.state)
    return view, states


@pytest.mark.parametrize("number, outcome, cause, sip", [
    ("13900000003", "busy", 17, 486),
    ("13900000004", "no-answer", 19, None),
    ("13900000005", "rejected", 21, 603),
    ("13900000006", "invalid-number", 1, 404),
])
def test_recorded_failures_classify(number, outcome, cause, sip):
    view, states = replay(number)
    assert view.finished and states[-1] == "ended"
    assert classify(view) == (outcome, cause)
    assert view.sip_code == sip
    assert not view.answered


def test_recorded_answered_call_walks_the_states():
    view, states = replay("13900000002")
    assert states[0] == "queued" and states[-1] == "ended"
    assert "in_dialog" in states
    assert view.answered and view.recording.endswith(f"{view.attempt_id}.wav")
    assert classify(view) == ("answered", 16)


def test_reducer_ignores_unrelated_and_garbage_events():
    data = json.loads((FIXTURES / "13900000003.json").read_text())
    view = AttemptView(data["attempt_id"])
    junk = [{}, {"Event": "Hangup"}, {"Event": "UserEvent", "UserEvent": "HuifangDial", "Cause": "x"},
            {"Event": "Newstate", "ChannelStateDesc": ["Up", "Down"]}, {"Event": "OriginateResponse", "Reason": ""}]
    for event in junk:
        view = reduce(view, event)
    assert not view.finished or view.state == "ended"


def test_not_finished_until_our_channel_hangs_up():
    view = AttemptView("a")
    view = reduce(view, {"Event": "UserEvent", "UserEvent": "HuifangDial", "Attempt": "a", "DialStatus": "BUSY",
                         "Cause": "17", "TechCause": "SIP 486 Busy Here"})
    assert not view.finished
    view = reduce(view, {"Event": "Hangup", "Uniqueid": "a", "Linkedid": "a", "Cause": "17"})
    assert view.finished and classify(view) == ("busy", 17)


def test_event_order_does_not_change_a_failed_outcome():
    data = json.loads((FIXTURES / "13900000005.json").read_text())
    rng = random.Random(7)
    for _ in range(20):
        events = list(data["events"])
        rng.shuffle(events)
        view = AttemptView(data["attempt_id"])
        for event in events:
            view = reduce(view, event)
        assert classify(view)[0] == "rejected"


@pytest.mark.parametrize("view, expected", [
    (AttemptView("x", originate_ok=False, originate_reason=5, main_hangup=True), ("busy", 17)),
    (AttemptView("x", originate_ok=False, originate_reason=3, main_hangup=True), ("no-answer", 19)),
    (AttemptView("x", dial_status="CHANUNAVAIL", cause=3, main_hangup=True), ("unreachable", 3)),
    (AttemptView("x", dial_status="CONGESTION", cause=34, main_hangup=True), ("unreachable", 34)),
    (AttemptView("x", dial_status="NOANSWER", cause=16, main_hangup=True), ("no-answer", 19)),
    (AttemptView("x", main_hangup=True), ("failed", None)),
])
def test_classify_fallbacks(view, expected):
    assert classify(view) == expected


def _split_call(aid="a", trunk="pbx-1.7"):
    """An answered call as today's dialplan runs it (order seen on Asterisk 22): the Local pair
    reports the answer and hangs up at once; the borrower's trunk channel runs the call."""
    return [
        {"Event": "Newstate", "Uniqueid": trunk, "Linkedid": aid, "ChannelStateDesc": "Up"},
        {"Event": "Newstate", "Uniqueid": aid, "Linkedid": aid, "ChannelStateDesc": "Up"},
        {"Event": "UserEvent", "UserEvent": "HuifangDial", "Attempt": aid, "Uniqueid": f"{aid};2",
         "DialStatus": "ANSWER", "Cause": "16"},
        {"Event": "OriginateResponse", "Uniqueid": aid, "Response": "Success", "Reason": "4"},
        {"Event": "Hangup", "Uniqueid": f"{aid};2", "Linkedid": aid, "Cause": "16"},
        {"Event": "Hangup", "Uniqueid": aid, "Linkedid": aid, "Cause": "16"},
        {"Event": "UserEvent", "UserEvent": "HuifangStage", "Attempt": aid, "Uniqueid": trunk, "Stage": "answered",
         "Recording": f"/r/{aid}.wav"},
        {"Event": "UserEvent", "UserEvent": "HuifangStage", "Attempt": aid, "Uniqueid": trunk, "Stage": "dialog-ended"},
        {"Event": "UserEvent", "UserEvent": "HuifangHangup", "Attempt": aid, "Uniqueid": trunk, "Cause": "16"},
        {"Event": "Hangup", "Uniqueid": trunk, "Linkedid": aid, "Cause": "16"},
    ]


def test_an_answered_call_outlives_the_local_pair():
    """The Local pair hangs up right after the answer (Dial G()): the attempt goes on until the
    borrower's channel, which runs the dialog, is gone."""
    view = AttemptView("a")
    events = _split_call()
    for event in events[:-2]:
        view = reduce(view, event)
        assert not view.finished, event
    assert view.main_hangup and view.answered and view.call_channel == "pbx-1.7"
    view = reduce(view, events[-2])          # the call's hangup handler
    assert view.finished and view.state == "ended" and classify(view) == ("answered", 16)


@pytest.mark.parametrize("last", ["HuifangHangup", "Hangup"])
def test_either_end_of_the_call_channel_ends_the_attempt(last):
    view = AttemptView("a")
    for event in _split_call():
        if event.get("UserEvent", event["Event"]) in ("HuifangHangup", "Hangup") and event["Uniqueid"] == "pbx-1.7" \
                and event.get("UserEvent", event["Event"]) != last:
            continue
        view = reduce(view, event)
    assert view.finished and classify(view)[0] == "answered"


def test_an_answered_call_in_any_order_ends_only_with_its_channel():
    rng = random.Random(11)
    for _ in range(30):
        events = _split_call()
        rng.shuffle(events)
        view = AttemptView("a")
        ends = 0
        for event in events:
            view = reduce(view, event)
            ends += event.get("Uniqueid") == "pbx-1.7" and event.get("UserEvent", event["Event"]) in (
                "HuifangHangup", "Hangup")
            # the trunk channel's own Hangup ends it only once we know it is the call's channel
            assert not view.finished or ends
        assert classify(view)[0] == "answered"


def test_an_agent_legs_hangup_does_not_end_the_call():
    view = AttemptView("a")
    for event in _split_call()[:-2]:
        view = reduce(view, event)
    view = reduce(view, {"Event": "Hangup", "Uniqueid": "pbx-1.9", "Linkedid": "a", "Cause": "16"})   # an agent's leg
    assert not view.finished

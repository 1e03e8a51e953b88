"""The follow-up conversation through the real Asterisk: promise read back, callback, dispute to an
agent, barge-in, no input twice, and what a wrong person hears (issue: the follow-up conversation).

SQLite only (it reads the session's persona run, ~3 min per engine): conversations on PostgreSQL are
in test_campaign_dialer.py (keypad, Korean voice, wrong person, hang-ups) and the browser tests'
PostgreSQL run (a promise, a transfer an agent answers).
"""
from __future__ import annotations

import datetime as dt
import json
import wave

import pytest

from ivr.db.connect import connect
from ivr.sim.calllog import calls

pytestmark = pytest.mark.integration


def rows(settings, sql, args):
    return list(connect(settings.database).query(sql, args))


def intents_of(row):
    return [(a["node"], a["intent"], a["via"]) for a in row["answers"]]


def test_promise_by_keypad_is_read_back_confirmed_and_stored(persona_calls, settings):
    """zh-CN, keypad: 2 (another date) → 1220 (20 December) → read back → 1 (confirm)."""
    row = persona_calls["13900000011"]
    assert [n for n, _, _ in intents_of(row)] == ["identity", "id_check", "plan", "promise_ask", "promise_readback"]
    assert row["dialog"]["result"] == "promise"
    today = dt.date.today()
    expected = dt.date(today.year, 12, 20)
    if expected < today:
        expected = expected.replace(year=today.year + 1)
    [promise] = rows(settings, "SELECT * FROM promises WHERE attempt_id = ?", [row["id"]])
    assert (promise["promise_date"], promise["amount"], promise["confirmed"]) == (expected.isoformat(), 5000, 1)
    played = [p["prompt"] for p in json.loads(row["dialog"]["played"])]
    readback = [p for p in json.loads(row["dialog"]["played"]) if p["prompt"] == "promise_readback"][0]
    assert f"{expected.month}月{expected.day}日" in readback["text"] and "5000" in readback["text"]
    assert played[-1] == "closing"


def test_call_me_later_schedules_a_callback(persona_calls, settings):
    """zh-CN, keypad 9 at the identity question, then 1500: a callback at 15:00 is recorded."""
    row = persona_calls["13900000012"]
    assert row["dialog"]["result"] == "callback_requested"
    [cb] = rows(settings, "SELECT * FROM callbacks WHERE attempt_id = ?", [row["id"]])
    assert (cb["reason"], cb["requested_time"]) == ("requested", "15:00")
    assert cb["due_at"].endswith("T15:00")


def test_dispute_is_escalated_to_an_agent_with_context(persona_calls, settings, stack):
    """zh-CN, keypad 4 (dispute) at the plan: the borrower is queued, an agent phone answers, and the
    screen-pop record carries who it is and why."""
    row = persona_calls["13900000013"]
    assert row["dialog"]["result"] == "dispute"
    [esc] = rows(settings, "SELECT * FROM escalations WHERE attempt_id = ?", [row["id"]])
    context = json.loads(esc["context"])
    assert esc["reason"] == "dispute" and context["name"] == "刘洋" and context["amount_due"] == 5000
    assert [a["intent"] for a in context["answers"]][-1] == "dispute"
    agent_calls = [c for c in calls(stack.agent_log) if c.get("attempt") == row["id"]]
    assert agent_calls and agent_calls[0]["status"] == 200


def test_key_press_barges_in_during_a_long_prompt(persona_calls):
    """The borrower presses 1 two and a half seconds into the plan question: the prompt stops."""
    row = persona_calls["13900000014"]
    plan = [a for a in row["answers"] if a["node"] == "plan"][0]
    assert plan["barge_in"] == 1 and plan["intent"] == "confirm" and plan["via"] == "keypad"
    started = dt.datetime.fromisoformat(plan["prompt_started_at"])
    ended = dt.datetime.fromisoformat(plan["prompt_ended_at"])
    assert (ended - started).total_seconds() < 8  # the plan prompt is ~13 s long
    assert row["dialog"]["result"] == "will_pay_on_time"


def test_no_input_twice_ends_the_call(persona_calls):
    """A borrower who answers the phone and says nothing is asked twice, then told goodbye."""
    row = persona_calls["13900000015"]
    assert intents_of(row) == [("identity", "no_input", "none"), ("identity", "no_input", "none")]
    assert row["dialog"]["result"] == "no_input"
    assert row["answers"][1]["prompt_text"].startswith("抱歉")  # the reprompt


def test_wrong_person_hears_nothing_about_the_debt(persona_calls, stack):
    """아니요 at the identity question: only the greeting, the question and an apology are played —
    no amount, no due date — and what the phone recorded is no longer than those prompts."""
    row = persona_calls["13900000008"]
    played = json.loads(row["dialog"]["played"])
    keys = [p["prompt"] for p in played]
    assert keys[:2] == ["greeting", "identity"] and keys[-1] == "wrong_person"
    # asked again or asked to confirm, at most: nothing about the debt in between
    assert set(keys[2:-1]) <= {"identity_reprompt", "heard_identity_deny", "keypad_identity"}
    assert not any("420000" in p["text"] or "원이고" in p["text"] for p in played)
    [call] = [c for c in calls(stack.calls_log) if c["number"] == "13900000008"]
    with wave.open(call["recording"]) as w:
        heard = w.getnframes() / w.getframerate()
    assert heard < 45  # greeting + identity (+ confirmation) + apology; no reminder


def test_korean_voice_promise_read_back_and_confirmed(persona_calls, settings):
    """ko-KR: 네 맞아요 (confirmed by key 1) → ID by keypad → 월말에 낼게요 by voice. Whatever the
    recognizer made of the promise (accepted, to confirm, or rejected), the date that is stored is
    the one the borrower confirmed on the read-back: here the borrower presses 2 (another date),
    keys 1231 and confirms with 1, so the end of December is recorded and nothing else."""
    row = persona_calls["13900000016"]
    said = [(a["node"], a["intent"], a["via"]) for a in row["answers"]]
    assert said[0][0] == "identity" and said[0][2] == "voice"
    plan = [a for a in row["answers"] if a["node"] == "plan" and a["via"] == "voice"][0]
    assert plan["decision"] in ("accept", "confirm", "reject")
    if plan["decision"] != "reject":
        assert plan["intent"] == "promise"
    assert said[-1] == ("promise_readback", "confirm", "keypad")
    [promise] = rows(settings, "SELECT * FROM promises WHERE attempt_id = ?", [row["id"]])
    today = dt.date.today()
    month_end = (today.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(days=1)
    assert (promise["promise_date"], promise["amount"], promise["confirmed"]) == (month_end.isoformat(), 300000, 1)
    assert row["dialog"]["result"] == "promise"


def test_korean_voice_dispute_goes_to_an_agent(persona_calls, settings):
    """ko-KR by voice: 이미 갚았어요 (already paid) at the plan question is a dispute: escalated."""
    row = persona_calls["13900000017"]
    plan = [a for a in row["answers"] if a["step"] == "plan"]
    assert plan[0]["via"] == "voice" and plan[0]["intent"] in ("dispute", "unknown")
    assert plan[-1]["intent"] == "dispute"
    assert row["dialog"]["result"] == "dispute"
    [esc] = rows(settings, "SELECT reason FROM escalations WHERE attempt_id = ?", [row["id"]])
    assert esc["reason"] == "dispute"


def test_korean_voice_call_me_later(persona_calls, settings):
    """ko-KR by voice: 나중에 at the identity question, then the time by keypad: a callback at 15:00."""
    row = persona_calls["13900000018"]
    first = row["answers"][0]
    assert (first["step"], first["via"]) == ("identity", "voice") and first["decision"] in ("confirm", "reject")
    # espeak-ng's 나중에 is not always heard as 나중에 (beside another test run it was once heard as a yes):
    # whatever it was heard as, it was not acted on — asked back or asked again — and the borrower's
    # key 9, the question's own key for "call me later", settled it
    settled = row["answers"][1]
    assert (settled["step"], settled["via"], settled["digits"], settled["intent"]) == \
        ("identity", "keypad", "9", "callback"), row["answers"]
    [cb] = rows(settings, "SELECT * FROM callbacks WHERE attempt_id = ?", [row["id"]])
    assert cb["requested_time"] == "15:00"


def test_wrong_person_by_keypad(persona_calls):
    """zh-CN, key 2 at the identity question: apology only, nothing disclosed."""
    row = persona_calls["13900000019"]
    assert intents_of(row) == [("identity", "deny", "keypad")]
    assert [p["prompt"] for p in json.loads(row["dialog"]["played"])] == ["greeting", "identity", "wrong_person"]
    assert row["dialog"]["result"] == "wrong_person"


def test_id_mismatch_after_a_voice_answer(persona_calls):
    """ko-KR: 네 by voice, then wrong ID digits: a mismatch, ended politely, the debt never mentioned."""
    row = persona_calls["13900000020"]
    said = intents_of(row)
    assert said[0][0] == "identity" and said[0][2] == "voice" and said[-1] == ("id_check", "digits", "keypad")
    assert row["dialog"]["result"] == "id_mismatch"
    played = [p["prompt"] for p in json.loads(row["dialog"]["played"])]
    assert "reminder" not in played and played[-1] == "id_mismatch"


def test_voice_barges_in_during_the_identity_question(persona_calls):
    """ko-KR: the borrower says 네 while the identity question is still playing: the prompt stops."""
    row = persona_calls["13900000021"]
    identity = row["answers"][0]
    assert (identity["via"], identity["barge_in"]) == ("voice", 1)
    assert identity["intent"] in ("confirm", "unknown") and identity["decision"] in ("confirm", "reject")


def test_korean_no_input_twice_and_hang_up_mid_question(persona_calls):
    """ko-KR: silence twice ends the call; a hang-up during the identity question is recorded as such."""
    silent = persona_calls["13900000022"]
    assert [a["via"] for a in silent["answers"]] == ["none", "none"]
    assert silent["dialog"]["result"] == "no_input"
    gone = persona_calls["13900000023"]
    assert intents_of(gone) == [("identity", "hangup", "hangup")]
    assert gone["dialog"]["result"] == "hung_up"


def test_speech_outside_the_grammar_is_rejected_and_the_keypad_offered(persona_calls):
    """ko-KR: the borrower answers "are you …?" with 여보세요 twice (not an answer): each is
    rejected — stored with no intent — the keypad is then offered explicitly, and the key 2 (not me)
    is what the call acts on."""
    row = persona_calls["13900000024"]
    spoken = [a for a in row["answers"] if a["via"] == "voice"]
    assert len(spoken) == 2 and all(a["decision"] == "reject" and a["intent"] == "unknown" for a in spoken)
    played = [p["prompt"] for p in json.loads(row["dialog"]["played"])]
    assert played[:5] == ["greeting", "identity", "identity_reprompt", "keypad_identity", "wrong_person"]
    assert row["answers"][-1]["via"] == "keypad" and row["answers"][-1]["intent"] == "deny"
    assert row["dialog"]["result"] == "wrong_person"


def test_an_unsure_spoken_yes_to_identity_is_confirmed_by_keypad(persona_calls):
    """ko-KR: 네 맞아요 to "are you …?" is understood, but a yes that unlocks the debt talk is never
    taken from voice alone: the IVR says what it heard and asks for the key; the borrower presses 1."""
    row = persona_calls["13900000016"]
    first = row["answers"][0]
    assert (first["node"], first["via"], first["decision"], first["intent"]) == ("identity", "voice", "confirm", "confirm")
    assert first["confirmed_by"] == "keypad"
    evidence = json.loads(first["evidence"])
    assert evidence["nbest"] and any("always confirmed" in r for r in evidence["reasons"])
    played = [p["prompt"] for p in json.loads(row["dialog"]["played"])]
    assert played[2] == "heard_identity_confirm" and played[3] == "id_check"

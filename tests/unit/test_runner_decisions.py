"""The runner acts only on answers it is sure of: scripted turns through the real flow, the real
decision layer and the real prompt texts; audio, recognizer and database are stand-ins."""
import asyncio
import dataclasses
import datetime as dt
import functools

import pytest

from ivr.config import load
from ivr.dialog.flow import load as load_flow
from ivr.dialog.prompts import Prompts
from ivr.dialog.runner import CallContext, FlowRunner
from ivr.dialog.speech import Recognition
from ivr.dialog.turns import Turn

TODAY = dt.date(2026, 12, 1)
BORROWER = {"id": 1, "name": "김민수", "amount_due": 420000, "due_date": "2026-12-10", "id_last4": "1234",
            "loan_id": "L1"}


def voice(*alts):
    return Turn(via="voice", text=alts[0][0], alternatives=[{"text": t, "score": s} for t, s in alts],
                words=[{"word": w, "conf": 0.99} for w in alts[0][0].split()])


def keys(digits):
    return Turn(via="keypad", digits=digits)


class TextOnlyPrompts(Prompts):
    def audio(self, locale, key, values=None):
        return self.text(locale, key, values), b""


class ScriptedAudio:
    def __init__(self, turns):
        self.turns, self.asked = list(turns), []

    async def say(self, pcm):
        return 0.0, 0.0

    async def ask(self, pcm, utterance, **kw):
        if not self.turns:
            return Turn(via="none")
        return self.turns.pop(0)


class Speech:
    def available(self, locale):
        return True

    def recognizer(self, locale, step):
        return None


class Store:
    def __init__(self):
        self.rows, self.confirmations, self.records = [], [], []

    async def answer(self, row):
        self.rows.append(row)

    async def confirmed(self, attempt_id, seq, via):
        self.confirmations.append((seq, via))

    async def answers(self, attempt_id):
        return self.rows

    async def reply(self, *a):
        pass

    async def promise(self, row):
        self.records.append(("promise", row))

    async def callback(self, row):
        self.records.append(("callback", row))

    async def escalation(self, row):
        self.records.append(("escalation", row))


def run(turns, locale="ko-KR", speech=None):
    settings = load(env={})
    flow = load_flow(settings.flows_dir / "followup.yaml", settings.prompts_dir)
    prompts = TextOnlyPrompts(settings)
    store = Store()
    ctx = CallContext(attempt_id="a1", locale=locale, borrower=dict(BORROWER), today=TODAY)
    asyncio.run(FlowRunner(flow, prompts, speech or Speech(), ScriptedAudio(turns), store, ctx).run())
    return ctx, store


def played(ctx):
    return [p["prompt"] for p in ctx.played]


def test_a_spoken_yes_to_identity_is_confirmed_by_keypad_before_anything_is_disclosed():
    ctx, store = run([voice(("네", 100.0)), keys("1"), keys("1234"), keys("1")])
    first = store.rows[0]
    assert (first["via"], first["decision"], first["intent"]) == ("voice", "confirm", "confirm")
    assert played(ctx)[:4] == ["greeting", "identity", "heard_identity_confirm", "id_check"]
    assert store.confirmations == [(1, "keypad")]
    assert ctx.result == "will_pay_on_time"


def test_speech_outside_the_grammar_is_rejected_asked_again_then_the_keypad_is_offered():
    ctx, store = run([voice(("여보세요", 100.0)), voice(("누구 세요", 100.0)), keys("2")])
    assert [r["decision"] for r in store.rows] == ["reject", "reject", None]
    assert all(r["intent"] == "unknown" for r in store.rows[:2]), "a rejected answer never becomes an intent"
    assert played(ctx) == ["greeting", "identity", "identity_reprompt", "keypad_identity", "wrong_person"]
    assert ctx.result == "wrong_person"


def test_an_unsure_no_said_again_is_not_taken_the_question_is_asked_again():
    unsure = voice(("아니요", 100.0), ("네", 99.6))
    clear = voice(("아니요", 100.0), ("아니요 요", 95.0))
    ctx, store = run([unsure, clear, keys("2")])
    assert store.rows[0]["decision"] == "confirm" and store.rows[1]["node"] == "identity:confirm"
    assert store.confirmations == [], "a repeated answer is no evidence: the same mishearing repeats"
    assert played(ctx)[:4] == ["greeting", "identity", "heard_identity_deny", "identity_reprompt"]
    assert ctx.result == "wrong_person"


def test_where_the_evidence_file_allows_it_an_answer_said_again_confirms_it(monkeypatch):
    from ivr.dialog import decision, runner
    lenient = dataclasses.replace(decision.load_policy("ko-KR"), confirm_by_repeating=True)
    monkeypatch.setattr(runner, "decide", functools.partial(decision.decide, policy=lenient))
    unsure = voice(("아니요", 100.0), ("네", 99.6))
    clear = voice(("아니요", 100.0), ("아니요 요", 95.0))
    ctx, store = run([unsure, clear])
    assert store.confirmations == [(1, "voice")]
    assert ctx.result == "wrong_person"


def test_a_key_pressed_at_the_confirmation_answers_the_question_itself():
    unsure_no = voice(("아니요", 100.0), ("네", 99.6))
    ctx, store = run([unsure_no, keys("1"), keys("1234"), keys("3")])
    assert store.confirmations == [], "the borrower did not confirm what we heard"
    assert "id_check" in played(ctx) and ctx.result == "refused"


def test_a_confirmation_that_is_not_given_counts_as_not_understood():
    unsure_no = voice(("아니요", 100.0), ("네", 99.6))
    ctx, store = run([unsure_no, Turn(via="none"), keys("2")])
    assert "wrong_person" in played(ctx)
    assert played(ctx)[:4] == ["greeting", "identity", "heard_identity_deny", "identity_reprompt"]


def test_silence_only_is_no_input_not_a_rejection():
    ctx, store = run([Turn(via="none"), Turn(via="none")])
    assert ctx.result == "no_input" and "keypad_identity" not in played(ctx)


def test_an_unsure_promise_goes_to_the_read_back_and_only_the_confirmed_date_is_stored():
    promise = voice(("월말에 낼게요", 100.0), ("모레 낼게요", 99.0))
    ctx, store = run([keys("1"), keys("1234"), promise, keys("1")])
    plan = [r for r in store.rows if r["node"] == "plan"][0]
    assert plan["decision"] == "confirm"
    [(kind, row)] = [r for r in store.records if r[0] == "promise"]
    assert row["promise_date"] == "2026-12-31" and row["confirmed"] == 1
    assert ctx.result == "promise"


def first_decoding(*alts):
    """A voice turn as a call hands it over: the n-best finished, the MBR decoding not yet."""
    return dataclasses.replace(voice(*alts), words=[], second_decoding=False)


class SecondDecoding:
    """Every question's recognizer; its MBR decoding reads `words` [(word, posterior)]."""

    def __init__(self, words):
        self.words, self.asked = [{"word": w, "conf": c} for w, c in words], 0

    def available(self, locale):
        return True

    def recognizer(self, locale, step):
        return self

    async def with_second_decoding(self):
        self.asked += 1
        return Recognition(text=" ".join(w["word"] for w in self.words), confidence=min(w["conf"] for w in self.words),
                           words=self.words)


def test_an_answer_the_n_best_would_accept_is_acted_on_only_after_the_word_posteriors_agree():
    speech = SecondDecoding([("아니요", 0.99)])
    ctx, store = run([first_decoding(("아니요", 100.0), ("아니요 요", 90.0))], speech=speech)
    assert speech.asked == 1
    first = store.rows[0]
    assert (first["decision"], first["intent"], first["confidence"]) == ("accept", "deny", 0.99)
    assert first["evidence"]["word_conf"] == 0.99
    assert played(ctx)[:3] == ["greeting", "identity", "wrong_person"]


def test_an_answer_the_n_best_would_accept_is_confirmed_when_a_word_posterior_is_low():
    speech = SecondDecoding([("아니요", 0.4)])
    ctx, store = run([first_decoding(("아니요", 100.0), ("아니요 요", 90.0)), keys("2")], speech=speech)
    assert speech.asked == 1
    assert store.rows[0]["decision"] == "confirm"
    assert any("word confidence" in r for r in store.rows[0]["evidence"]["reasons"])
    assert played(ctx)[:3] == ["greeting", "identity", "heard_identity_deny"]


def test_an_answer_confirmed_anyway_does_not_wait_for_the_second_decoding():
    speech = SecondDecoding([("네", 0.99)])
    ctx, store = run([first_decoding(("네", 100.0), ("네 요", 90.0)), keys("1"), keys("1234"), keys("1")],
                     speech=speech)
    assert speech.asked == 0
    first = store.rows[0]
    assert (first["decision"], first["intent"], first["evidence"]["word_conf"]) == ("confirm", "confirm", None)
    assert ctx.result == "will_pay_on_time"


@pytest.mark.parametrize("locale", ["zh-CN", "ko-KR"])
def test_every_confirmation_and_keypad_prompt_exists(locale):
    prompts = TextOnlyPrompts(load(env={}))
    for key in ("heard_identity_confirm", "heard_identity_deny", "keypad_identity", "keypad_plan",
                "keypad_digits", "keypad_confirm", "keypad_date", "keypad_time", "heard_digits"):
        assert prompts.text(locale, key, {"name": "x", "digits": "1 2 3 4"})

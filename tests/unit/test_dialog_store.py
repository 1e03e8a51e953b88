"""What a conversation leaves in the database, on both engines: the real flow runner, driven by scripted
turns (as in test_runner_decisions.py), writes through the dialog server's `DialogStore` (its own
database thread, opened from the database URL) the way `DialogServer.followup` does; the rows are then
read back with plain SQL."""
from __future__ import annotations

import asyncio
import datetime as dt
import json

import pytest

from ivr.config import load
from ivr.db import attempts
from ivr.dialog import store as dialog_store
from ivr.dialog.flow import load as load_flow
from ivr.dialog.runner import CallContext, FlowRunner
from ivr.dialog.store import DialogStore
from tests.unit.test_runner_decisions import ScriptedAudio, Speech, TextOnlyPrompts, keys, voice

TODAY = dt.date(2026, 12, 1)


@pytest.fixture
def attempt_id(any_db):
    bid, cid = attempts.ensure_borrower(any_db, loan_id="L1", name="김민수", id_last4="1234", amount_due=420000,
                                        due_date="2026-12-10", locale="ko-KR", phone="01000000001")
    attempts.create(any_db, attempts.new_row("a1", "01000000001", locale="ko-KR", borrower_id=bid, contact_id=cid,
                                             campaign_id=None, flow="followup", caller_id="1", trunk="main"))
    return "a1"


def converse(where, attempt_id: str, turns) -> CallContext:
    """One call's dialog as the server runs it: context, start, the flow, finish (then close)."""
    settings = load(env={})
    flow = load_flow(settings.flows_dir / "followup.yaml", settings.prompts_dir)

    async def call() -> CallContext:
        db = DialogStore(where)
        try:
            context = await db.context(attempt_id)
            ctx = CallContext(attempt_id=attempt_id, locale=context["attempt"]["locale"],
                              borrower=context["borrower"], today=TODAY)
            await db.start(attempt_id)
            await FlowRunner(flow, TextOnlyPrompts(settings), Speech(), ScriptedAudio(turns), db, ctx).run()
            await db.finish(attempt_id, ctx.result, ctx.last_node, None, ctx.played)
            return ctx
        finally:
            db.close()
    return asyncio.run(call())


def test_a_confirmed_identity_and_a_read_back_promise_are_stored(engine_url, store, attempt_id):
    promise = voice(("월말에 낼게요", 100.0), ("모레 낼게요", 99.0))
    ctx = converse(engine_url, attempt_id, [voice(("네", 100.0)), keys("1"), keys("1234"), promise, keys("1")])
    assert ctx.result == "promise" and ctx.borrower["loan_id"] == "L1"

    rows = store.query("SELECT * FROM answers WHERE attempt_id = :id ORDER BY seq", {"id": attempt_id})
    assert [(r["seq"], r["node"], r["via"], r["intent"]) for r in rows] == [
        (1, "identity", "voice", "confirm"), (2, "identity:confirm", "keypad", "confirm"),
        (3, "id_check", "keypad", "digits"), (4, "plan", "voice", "promise"),
        (5, "promise_readback", "keypad", "confirm")]
    assert rows[0]["confirmed_by"] == "keypad" and [r["confirmed_by"] for r in rows[1:]] == [None] * 4
    assert rows[0]["decision"] == "confirm" and json.loads(rows[0]["evidence"])["hypothesis"]
    assert json.loads(rows[2]["slots"]) == {"digits": "1234"} and rows[2]["digits"] == "1234"
    assert rows[3]["text"] == "월말에 낼게요" and rows[3]["confidence"] is None and rows[3]["barge_in"] == 0
    assert all(r["result_at"] > "2026" for r in rows)

    [p] = store.query("SELECT * FROM promises")
    assert (p["attempt_id"], p["promise_date"], p["amount"], p["confirmed"]) == ("a1", "2026-12-31", 420000, 1)
    assert p["created_at"] > "2026"
    dialog = store.get("dialogs", attempt_id)
    assert (dialog["result"], dialog["last_node"], dialog["error"]) == ("promise", "end", None)
    assert dialog["started_at"] <= dialog["ended_at"]
    assert [p["prompt"] for p in json.loads(dialog["played"])][:4] == [
        "greeting", "identity", "heard_identity_confirm", "id_check"]


def test_a_dispute_is_escalated_with_what_was_said_and_a_callback_keeps_its_time(engine_url, store, attempt_id):
    converse(engine_url, attempt_id, [keys("1"), keys("1234"), keys("4")])
    [esc] = store.query("SELECT * FROM escalations")
    assert (esc["attempt_id"], esc["reason"], esc["agent"]) == ("a1", "dispute", None) and esc["queued_at"]
    context = json.loads(esc["context"])
    assert context["identity_verified"] is True and context["loan_id"] == "L1"
    assert [a["intent"] for a in context["answers"]] == ["confirm", "digits", "dispute"]

    # the same attempt escalated again (a re-run dialog) replaces the row: one escalation per attempt
    dialog_store.escalation(store, {"attempt_id": "a1", "borrower_id": esc["borrower_id"], "reason": "hardship"})
    assert [(e["reason"], e["context"]) for e in store.query("SELECT * FROM escalations")] == [("hardship", "{}")]

    store.execute("DELETE FROM answers")
    converse(engine_url, attempt_id, [keys("1"), keys("1234"), keys("9"), keys("1430")])
    [cb] = store.query("SELECT * FROM callbacks")
    assert (cb["reason"], cb["requested_date"], cb["requested_time"], cb["due_at"], cb["done_at"]) == (
        "requested", "2026-12-01", "14:30", "2026-12-01T14:30", None)
    assert store.get("dialogs", attempt_id)["result"] == "callback_requested"


def test_statements_for_an_unknown_or_borrowerless_attempt(any_db, store, attempt_id, caplog):
    assert dialog_store.context(any_db, "nobody") is None
    attempts.create(any_db, attempts.new_row("bare", "1", locale="zh-CN", borrower_id=None, contact_id=None,
                                             campaign_id=None, flow="followup", caller_id="1", trunk="main"))
    assert dialog_store.context(any_db, "bare")["borrower"] == {}
    dialog_store.finish(any_db, "bare", "error", None, "boom", [], None)          # never started: logged
    assert store.get("dialogs", "bare") is None and "no dialog row" in caplog.text

    dialog_store.start(any_db, "a1")
    first = store.get("dialogs", "a1")["started_at"]
    dialog_store.start(any_db, "a1")                                               # AGI re-run: one row
    assert store.scalar("SELECT COUNT(*) FROM dialogs") == 1 and store.get("dialogs", "a1")["started_at"] >= first
    for seq in (1, 2):
        dialog_store.answer(any_db, {"attempt_id": "a1", "seq": seq, "step": "plan", "node": "plan", "try": 1,
                                     "via": "voice", "intent": "promise", "slots": {"date": "2026-12-05"},
                                     "confidence": 0.5 + seq / 10, "evidence": {"posterior": 0.9}})
    dialog_store.reply(any_db, "a1", 2, "2026-12-01T02:00:00.123+00:00")
    dialog_store.confirmed(any_db, "a1", 2, "voice")
    second = store.one("SELECT * FROM answers WHERE seq = 2")
    assert (second["reply_audio_at"], second["confirmed_by"], second["confidence"]) == (
        "2026-12-01T02:00:00.123+00:00", "voice", pytest.approx(0.7))
    assert store.one("SELECT reply_audio_at FROM answers WHERE seq = 1")["reply_audio_at"] is None
    assert [a["step"] for a in dialog_store.answers(any_db, "a1")] == ["plan", "plan"]
    with pytest.raises(ValueError, match="not 'answers'"):
        dialog_store.record(any_db, "answers", {})

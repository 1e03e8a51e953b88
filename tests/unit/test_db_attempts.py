"""ivr/db/attempts.py on both engines, through the handle each engine gives a component."""
from __future__ import annotations

import json

import pytest

from ivr.db import attempts

PHONE = "13800000001"


@pytest.fixture
def borrower(any_db):
    return attempts.ensure_borrower(any_db, loan_id="L1", name="张伟", id_last4="1234", amount_due=5000,
                                    due_date="2026-12-10", locale="zh-CN", phone=PHONE)


def new(attempt_id, borrower, **extra):
    bid, cid = borrower
    row = attempts.new_row(attempt_id, PHONE, locale="zh-CN", borrower_id=bid, contact_id=cid, campaign_id=None,
                           flow="followup", caller_id="95500", trunk="main", **extra)
    return row


def test_ensure_borrower_inserts_once_then_updates(any_db, store, borrower):
    again = attempts.ensure_borrower(any_db, loan_id="L1", name="张伟伟", id_last4=None, amount_due=6000,
                                     due_date=None, locale="zh-CN", phone=PHONE)
    assert again == borrower
    other_phone = attempts.ensure_borrower(any_db, loan_id="L1", name="张伟伟", id_last4=None, amount_due=6000,
                                           due_date=None, locale="zh-CN", phone="13900000002")
    assert other_phone[0] == borrower[0] and other_phone[1] != borrower[1]
    assert store.get("borrowers", borrower[0])["amount_due"] == 6000
    assert store.scalar("SELECT COUNT(*) FROM borrowers") == 1
    assert store.scalar("SELECT COUNT(*) FROM contacts") == 2
    assert all(isinstance(i, int) for i in (*borrower, *other_phone))


def test_create_then_get_fills_state_and_creation_time(any_db, borrower):
    attempts.create(any_db, new("a1", borrower))
    attempts.create(any_db, new("a2", borrower, created_at="2026-12-03T01:00:00.000+00:00"))
    a1, a2 = attempts.get(any_db, "a1"), attempts.get(any_db, "a2")
    assert a1["state"] == "queued" and a1["borrower_id"] == borrower[0] and a1["created_at"] > "2026"
    assert a2["created_at"] == "2026-12-03T01:00:00.000+00:00" and a2["flow"] == "followup"
    assert attempts.get(any_db, "nobody") is None


def test_mark_dialing_only_from_queued_and_update(any_db, borrower):
    attempts.create(any_db, new("a1", borrower))
    assert attempts.mark_dialing(any_db, "a1", "2026-12-03T02:00:00Z")
    assert not attempts.mark_dialing(any_db, "a1", "2026-12-03T02:00:01Z"), "already dialing"
    attempts.update(any_db, "a1", {"state": "ended", "outcome": "answered", "cause": 16})
    row = attempts.get(any_db, "a1")
    assert (row["state"], row["outcome"], row["cause"], row["originated_at"]) == (
        "ended", "answered", 16, "2026-12-03T02:00:00Z")
    attempts.update(any_db, "missing", {"state": "ended"})        # logged, nothing written
    assert attempts.get(any_db, "missing") is None


def test_events_keep_their_data_as_json(any_db, store, borrower):
    attempts.create(any_db, new("a1", borrower))
    attempts.add_event(any_db, "a1", "ami", "Hangup", {"Cause": "16", "名字": "张"})
    attempts.add_event(any_db, "a1", "controller", "OriginateUnconfirmed", {})
    rows = store.query("SELECT source, name, data FROM events WHERE attempt_id = :a ORDER BY id", {"a": "a1"})
    assert [(r["source"], r["name"]) for r in rows] == [("ami", "Hangup"), ("controller", "OriginateUnconfirmed")]
    assert json.loads(rows[0]["data"]) == {"Cause": "16", "名字": "张"}


def test_note_recording_registers_size_then_replaces_it(any_db, store, borrower, tmp_path):
    attempts.create(any_db, new("a1", borrower))
    wav = tmp_path / "a1.wav"
    attempts.note_recording(any_db, "a1", str(wav))
    assert store.get("recordings", "a1")["bytes"] is None, "a missing file is recorded as missing"
    wav.write_bytes(b"x" * 44)
    attempts.note_recording(any_db, "a1", str(wav))
    assert store.get("recordings", "a1")["bytes"] == 44
    assert store.scalar("SELECT COUNT(*) FROM recordings") == 1


def test_answers_come_in_turn_order(any_db, store, borrower):
    attempts.create(any_db, new("a1", borrower))
    for seq in (2, 1):
        store.insert("answers", {"attempt_id": "a1", "seq": seq, "step": f"s{seq}", "node": f"n{seq}", "via": "speech",
                                 "intent": "yes"})
    assert [a["step"] for a in attempts.answers(any_db, "a1")] == ["s1", "s2"]
    assert attempts.answers(any_db, "nobody") == []

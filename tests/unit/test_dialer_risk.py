"""Risk flags and levels, each with its reason; broken promises against imported payments.
On SQLite and on PostgreSQL (`any_db`)."""
from __future__ import annotations

import datetime as dt
import json

import pytest

from ivr.db.store import store_of
from ivr.dialer import risk

TODAY = dt.date(2026, 12, 10)


@pytest.fixture
def db(any_db, store):
    assert store.insert("borrowers", {"loan_id": "L1", "name": "n", "amount_due": 3000, "locale": "zh-CN",
                                      "timezone": "Asia/Shanghai", "created_at": "x", "updated_at": "x"}) == 1
    assert store.insert("contacts", {"borrower_id": 1, "phone": "13800000001", "kind": "mobile",
                                     "created_at": "x"}) == 1
    return any_db


def attempt(db, aid, outcome, when="2026-12-05T02:00:00.000+00:00", result=None, answers=()):
    store_of(db).insert("attempts", {"id": aid, "borrower_id": 1, "contact_id": 1, "number": "13800000001", "locale": "zh-CN",
                           "state": "ended", "outcome": outcome, "created_at": when,
                           "answered_at": when if outcome == "answered" else None})
    if result:
        store_of(db).insert("dialogs", {"attempt_id": aid, "started_at": when, "result": result})
    for i, (intent, slots) in enumerate(answers):
        store_of(db).insert("answers", {"attempt_id": aid, "seq": i, "step": "plan", "node": "plan", "via": "keypad",
                              "intent": intent, "slots": json.dumps(slots)})


def test_no_history_is_low(db):
    r = risk.assess(db, 1, TODAY)
    assert (r.level, r.score, r.reasons) == ("low", 0, [])


def test_unreachable_is_medium(db):
    for k in range(3):
        attempt(db, f"a{k}", "no-answer")
    r = risk.assess(db, 1, TODAY)
    assert r.level == "medium" and [x.flag for x in r.reasons] == ["unreachable"]
    attempt(db, "ok", "answered", result="completed")
    assert risk.assess(db, 1, TODAY).level == "low"


def test_refusal_and_false_info_is_high(db):
    attempt(db, "a1", "answered", result="id_mismatch")
    attempt(db, "a2", "answered", result="refused")
    r = risk.assess(db, 1, TODAY)
    assert r.level == "high" and {x.flag for x in r.reasons} == {"false-info", "refused"}
    assert "id_mismatch on attempt a1" in r.reasons[0].detail


def test_broken_promise_from_answers_unless_paid(db):
    attempt(db, "p1", "answered", when="2026-12-01T02:00:00.000+00:00", result="promise",
            answers=[("promise", {"date": "2026-12-05", "amount": 2000})])
    r = risk.assess(db, 1, TODAY)
    assert [x.flag for x in r.reasons] == ["broken-promise"] and "promised 2000 by 2026-12-05" in r.reasons[0].detail
    assert risk.assess(db, 1, dt.date(2026, 12, 6)).reasons == []       # within grace
    store_of(db).insert("payments", {"borrower_id": 1, "paid_amount": 2000, "paid_at": "2026-12-04", "created_at": "x"})
    assert risk.assess(db, 1, TODAY).reasons == []


def test_promises_table_is_used_when_present(db):
    attempt(db, "x", "answered", when="2026-12-01T01:00:00.000+00:00", result="promise")
    store_of(db).insert("promises", {"attempt_id": "x", "borrower_id": 1, "promise_date": "2026-12-02", "amount": 500,
                           "created_at": "2026-12-01T00:00:00"})
    r = risk.assess(db, 1, TODAY)
    assert [x.flag for x in r.reasons] == ["broken-promise"]

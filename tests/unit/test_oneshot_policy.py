"""`ivr call` obeys the campaign rules: calling hours in the borrower's zone, caps, on-call, do-not-call
(on both engines: `any_db`)."""
import datetime as dt

import pytest

from ivr.db import attempts as attempts_db
from ivr.db.store import store_of
from ivr.dialer.policy import Dial, Refuse
from ivr.oneshot import CallRefused, may_call

UTC = dt.timezone.utc
NUMBER = "13800000001"


def setup(db, zone="Asia/Shanghai"):
    borrower_id, contact_id = attempts_db.ensure_borrower(
        db, loan_id=f"adhoc-{NUMBER}", name="张伟", id_last4="1234", amount_due=1000, due_date="2026-12-10",
        locale="zh-CN", phone=NUMBER, timezone=zone)
    return db, borrower_id, contact_id


def test_inside_calling_hours_the_call_may_go(any_db):
    db, b, c = setup(any_db)
    verdict = may_call(db, b, "zh-CN", dt.datetime(2026, 12, 3, 2, 0, tzinfo=UTC))   # 10:00 in Shanghai
    assert isinstance(verdict, Dial) and verdict.number == NUMBER and verdict.contact_id == c


def test_at_night_in_the_borrowers_zone_it_is_refused_until_the_morning(any_db):
    db, b, _ = setup(any_db, zone="Asia/Seoul")
    verdict = may_call(db, b, "ko-KR", dt.datetime(2026, 12, 3, 12, 30, tzinfo=UTC))  # 21:30 in Seoul
    assert isinstance(verdict, Refuse) and verdict.reason == "outside-calling-hours"
    assert verdict.until == dt.datetime(2026, 12, 3, 23, 0, tzinfo=UTC)                # 08:00 in Seoul
    assert "outside-calling-hours until 2026-12-03T23:00" in str(CallRefused(verdict))


def test_caps_an_open_call_and_do_not_call_refuse(any_db):
    db, b, c = setup(any_db)
    now = dt.datetime(2026, 12, 3, 4, 0, tzinfo=UTC)
    for n in range(3):
        attempts_db.create(db, {"id": f"a{n}", "borrower_id": b, "contact_id": c, "number": NUMBER, "locale": "zh-CN", "state": "ended",
                                "outcome": "answered", "created_at": f"2026-12-03T0{n + 1}:00:00Z",
                                "answered_at": f"2026-12-03T0{n + 1}:00:10Z"})
    assert may_call(db, b, "zh-CN", now).reason == "borrower-daily-connected-cap"
    store_of(db).execute("DELETE FROM attempts")
    attempts_db.create(db, {"id": "open", "borrower_id": b, "contact_id": c, "number": NUMBER, "locale": "zh-CN", "state": "ringing",
                            "created_at": "2026-12-03T03:59:00Z"})
    assert may_call(db, b, "zh-CN", now).reason == "borrower-on-call"
    store_of(db).execute("DELETE FROM attempts")
    store_of(db).insert("dnc", {"number": NUMBER, "reason": "asked", "created_at": "2026-12-01T00:00:00Z"})
    assert may_call(db, b, "zh-CN", now).reason == "do-not-call"


def test_an_unknown_borrower_is_named(any_db):
    with pytest.raises(LookupError, match="no borrower 404"):
        may_call(any_db, 404, "zh-CN", dt.datetime(2026, 12, 3, 2, 0, tzinfo=UTC))

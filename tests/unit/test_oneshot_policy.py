"""`ivr call` obeys the campaign rules: calling hours in the borrower's zone, caps, on-call, do-not-call."""
import datetime as dt

from ivr.db import attempts as attempts_db
from ivr.db.connect import connect
from ivr.dialer.policy import Dial, Refuse
from ivr.oneshot import CallRefused, may_call

UTC = dt.timezone.utc
NUMBER = "13800000001"


def setup(tmp_path, zone="Asia/Shanghai"):
    db = connect(tmp_path / "h.db")
    borrower_id, contact_id = attempts_db.ensure_borrower(
        db, loan_id=f"adhoc-{NUMBER}", name="张伟", id_last4="1234", amount_due=1000, due_date="2026-12-10",
        locale="zh-CN", phone=NUMBER, timezone=zone)
    return db, borrower_id, contact_id


def test_inside_calling_hours_the_call_may_go(tmp_path):
    db, b, c = setup(tmp_path)
    verdict = may_call(db, b, "zh-CN", dt.datetime(2026, 12, 3, 2, 0, tzinfo=UTC))   # 10:00 in Shanghai
    assert isinstance(verdict, Dial) and verdict.number == NUMBER and verdict.contact_id == c


def test_at_night_in_the_borrowers_zone_it_is_refused_until_the_morning(tmp_path):
    db, b, _ = setup(tmp_path, zone="Asia/Seoul")
    verdict = may_call(db, b, "ko-KR", dt.datetime(2026, 12, 3, 12, 30, tzinfo=UTC))  # 21:30 in Seoul
    assert isinstance(verdict, Refuse) and verdict.reason == "outside-calling-hours"
    assert verdict.until == dt.datetime(2026, 12, 3, 23, 0, tzinfo=UTC)                # 08:00 in Seoul
    assert "outside-calling-hours until 2026-12-03T23:00" in str(CallRefused(verdict))


def test_caps_an_open_call_and_do_not_call_refuse(tmp_path):
    db, b, c = setup(tmp_path)
    now = dt.datetime(2026, 12, 3, 4, 0, tzinfo=UTC)
    for n in range(3):
        attempts_db.create(db, {"id": f"a{n}", "borrower_id": b, "contact_id": c, "number": NUMBER, "locale": "zh-CN", "state": "ended",
                                "outcome": "answered", "created_at": f"2026-12-03T0{n + 1}:00:00Z",
                                "answered_at": f"2026-12-03T0{n + 1}:00:10Z"})
    assert may_call(db, b, "zh-CN", now).reason == "borrower-daily-connected-cap"
    db.execute("DELETE FROM attempts")
    attempts_db.create(db, {"id": "open", "borrower_id": b, "contact_id": c, "number": NUMBER, "locale": "zh-CN", "state": "ringing",
                            "created_at": "2026-12-03T03:59:00Z"})
    assert may_call(db, b, "zh-CN", now).reason == "borrower-on-call"
    db.execute("DELETE FROM attempts")
    db["dnc"].insert({"number": NUMBER, "reason": "asked", "created_at": "2026-12-01T00:00:00Z"})
    assert may_call(db, b, "zh-CN", now).reason == "do-not-call"

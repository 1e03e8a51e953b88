"""The dialing rules with a controllable clock: calling hours, holidays, every cap, third parties."""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from ivr.dialer.policy import Candidate, ContactFacts, Dial, Policy, Refuse, decide, plan

SH = ZoneInfo("Asia/Shanghai")
SEOUL = ZoneInfo("Asia/Seoul")


def at(h, m=0, day=dt.date(2026, 12, 1), tz=SH):
    return dt.datetime.combine(day, dt.time(h, m), tzinfo=tz).astimezone(dt.timezone.utc)


def cand(*contacts, **kw):
    base = dict(campaign_id=1, borrower_id=7, timezone="Asia/Shanghai", locale="zh-CN", flow="followup",
                attempts=0, next_at="2026-12-01T00:00:00.000+00:00")
    base.update(kw)
    return Candidate(contacts=tuple(contacts) or (ContactFacts(1, "13800000001"),), **base)


P = Policy()


@pytest.mark.parametrize("h,m,ok", [(7, 59, False), (8, 0, True), (12, 0, True), (20, 59, True), (21, 0, False),
                                    (23, 30, False)])
def test_default_window_in_local_time(h, m, ok):
    d = decide(cand(), at(h, m), P)
    assert isinstance(d, Dial) == ok
    if not ok:
        assert d.reason == "outside-calling-hours"
        assert d.until.astimezone(SH).time() == dt.time(8, 0)
        assert d.until > at(h, m)
        assert d.until - at(h, m) <= dt.timedelta(hours=24)


def test_window_follows_borrower_timezone():
    # 08:30 in Shanghai is 09:30 in Seoul; 07:30 Shanghai = 08:30 Seoul
    assert isinstance(decide(cand(timezone="Asia/Seoul"), at(7, 30), P), Dial)
    assert isinstance(decide(cand(), at(7, 30), P), Refuse)


def test_config_cannot_widen_hard_limits_but_can_narrow():
    wide = Policy.from_dict({"window_start": "06:00", "window_end": "23:30"})
    assert wide.window == (dt.time(8, 0), dt.time(22, 0))
    assert isinstance(decide(cand(), at(7, 59), wide), Refuse)
    assert isinstance(decide(cand(), at(21, 30), wide), Dial)
    assert isinstance(decide(cand(), at(22, 0), wide), Refuse)
    narrow = Policy.from_dict({"window_start": "10:00", "window_end": "18:00"})
    assert decide(cand(), at(9, 59), narrow).until == at(10, 0)
    assert isinstance(decide(cand(), at(18, 0), narrow), Refuse)
    with pytest.raises(ValueError):
        Policy.from_dict({"window_start": "22:00", "window_end": "23:00"})
    with pytest.raises(ValueError):
        Policy.from_dict({"no_such": 1})


def test_public_holiday_skipped_only_when_enabled():
    national_day = dt.date(2026, 10, 1)
    on = Policy(skip_holidays=True)
    d = decide(cand(), at(10, day=national_day), on)
    assert isinstance(d, Refuse) and d.reason == "public-holiday"
    assert d.until.astimezone(SH).date() > national_day and d.until.astimezone(SH).time() == dt.time(8, 0)
    assert isinstance(decide(cand(), at(10, day=national_day), P), Dial)
    # a make-up working Saturday is not a holiday
    assert isinstance(decide(cand(), at(10, day=dt.date(2026, 10, 10)), on), Dial)
    # an ordinary weekend is not skipped
    assert isinstance(decide(cand(), at(10, day=dt.date(2026, 12, 5)), on), Dial)


def test_on_call_is_refused_with_short_recheck():
    d = decide(cand(on_call=True), at(10), P)
    assert d.reason == "borrower-on-call" and d.until == at(10) + dt.timedelta(seconds=30)


def test_connected_cap_per_borrower_per_day():
    assert isinstance(decide(cand(connected_today=2), at(10), P), Dial)
    d = decide(cand(connected_today=3), at(10), P)
    assert d.reason == "borrower-daily-connected-cap" and d.until == at(8, day=dt.date(2026, 12, 2))
    assert isinstance(decide(cand(connected_today=3), at(10), Policy(max_connected_per_borrower_day=4)), Dial)


def test_unanswered_cap_per_number_rotates_then_refuses():
    a = ContactFacts(1, "13800000001", unanswered_today=6, attempts_today=6)
    b = ContactFacts(2, "13800000002", unanswered_today=5, attempts_today=5, position=2)
    d = decide(cand(a, b), at(10), P)
    assert isinstance(d, Dial) and d.number == "13800000002"
    b6 = ContactFacts(2, "13800000002", unanswered_today=6, attempts_today=6, position=2)
    d = decide(cand(a, b6), at(10), P)
    assert d.reason == "number-daily-unanswered-cap" and d.until == at(8, day=dt.date(2026, 12, 2))


def test_least_tried_number_first():
    a = ContactFacts(1, "13800000001", attempts_today=2, unanswered_today=2)
    b = ContactFacts(2, "01065529988", kind="home", position=2, attempts_today=1, unanswered_today=1)
    assert decide(cand(a, b), at(10), P).number == "01065529988"


def test_invalid_and_dnc_numbers_never_dialled():
    bad = ContactFacts(1, "13800000001", status="invalid")
    dnc = ContactFacts(2, "13800000002", dnc=True, position=2)
    ok = ContactFacts(3, "13800000003", position=3)
    assert decide(cand(bad, dnc, ok), at(10), P).number == "13800000003"
    d = decide(cand(dnc), at(10), P)
    assert d.reason == "do-not-call" and d.until is None
    d = decide(cand(bad), at(10), P)
    assert d.reason == "no-dialable-number" and d.until is None


def test_third_party_only_when_unreachable_and_with_third_party_flow():
    own = ContactFacts(1, "13800000001")
    tp = ContactFacts(9, "13900000009", kind="third_party", position=101)
    assert decide(cand(own, tp, fails_in_row=2), at(10), P).number == "13800000001"
    d = decide(cand(own, tp, fails_in_row=3), at(10), P)
    assert (d.number, d.flow) == ("13900000009", "third_party")
    dead = ContactFacts(1, "13800000001", status="invalid")
    d = decide(cand(dead, tp), at(10), P)
    assert (d.number, d.flow) == ("13900000009", "third_party")
    # a third party already reached is not called again: back to own numbers, else nothing
    reached = ContactFacts(9, "13900000009", kind="third_party", answered_ever=1)
    assert decide(cand(own, reached, fails_in_row=3), at(10), P).number == "13800000001"
    assert decide(cand(dead, reached), at(10), P).reason == "no-dialable-number"


def test_plan_orders_fresh_first_then_oldest_retry_and_respects_budgets():
    c = [cand(borrower_id=1, attempts=2, next_at="2026-12-01T01:00:00.000+00:00"),
         cand(borrower_id=2, attempts=0, next_at="2026-12-01T02:00:00.000+00:00"),
         cand(borrower_id=3, attempts=1, next_at="2026-12-01T00:30:00.000+00:00"),
         cand(borrower_id=4, attempts=0, next_at="2026-12-01T01:30:00.000+00:00"),
         cand(campaign_id=2, borrower_id=5, attempts=0, next_at="2026-12-01T03:00:00.000+00:00"),
         cand(campaign_id=2, borrower_id=1, attempts=0, next_at="2026-12-01T00:00:00.000+00:00")]
    dials, refusals = plan(c, at(10), {1: P, 2: P}, {1: 4, 2: 5})
    assert [(d.campaign_id, d.borrower_id) for d in dials] == [(2, 1), (1, 4), (1, 2), (2, 5), (1, 3)]
    # borrower 1 was dialled by campaign 2 in this plan: campaign 1's entry is refused as on call
    assert [(r.campaign_id, r.borrower_id, r.reason) for r in refusals] == [(1, 1, "borrower-on-call")]
    # campaign 1 with 3 slots: its oldest retry (1, 1) is waiting, not refused
    dials, refusals = plan(c, at(10), {1: P, 2: P}, {1: 3, 2: 5})
    assert [(d.campaign_id, d.borrower_id) for d in dials] == [(2, 1), (1, 4), (1, 2), (2, 5), (1, 3)]
    assert refusals == []
    dials, _ = plan(c, at(10), {1: P, 2: P}, {1: 3, 2: 5}, global_slots=2)
    assert len(dials) == 2
    dials, refusals = plan(c, at(10), {1: P, 2: P}, {1: 0, 2: 1})
    assert [(d.campaign_id, d.borrower_id) for d in dials] == [(2, 1)] and refusals == []

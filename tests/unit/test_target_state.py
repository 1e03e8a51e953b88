"""The campaign target lifecycle: each transition moves a row only from the state it expects."""
import datetime as dt

import pytest

from ivr.db.connect import connect
from ivr.dialer import target_state

NOW = dt.datetime(2026, 12, 3, 2, 0, tzinfo=dt.timezone.utc)


@pytest.fixture
def db(tmp_path):
    d = connect(tmp_path / "t.db")
    d.conn.execute("PRAGMA foreign_keys = OFF")    # targets alone; campaigns and borrowers are not the point
    d["campaign_targets"].insert({"campaign_id": 1, "borrower_id": 7, "status": "pending",
                                  "next_at": "2026-12-03T00:00:00Z", "updated_at": "2026-12-03T00:00:00Z"})
    return d


def row(db):
    return db.execute("SELECT status, attempts, retry, last_attempt_id, next_at, done_reason, last_disposition "
                      "FROM campaign_targets").fetchone()


def test_claim_then_settle_back_to_pending_for_a_retry(db):
    assert target_state.claim(db, 1, 7, "a1", NOW)
    assert not target_state.claim(db, 1, 7, "a2", NOW), "an active target is never claimed twice"
    assert row(db)[:4] == ("active", 1, 1, "a1")
    later = NOW + dt.timedelta(hours=1)
    assert not target_state.settle(db, 1, 7, "a2", status="done", next_at=None, done_reason="x",
                                   fails_in_row=0, disposition="busy", now=NOW), "only the attempt that claimed it"
    assert target_state.settle(db, 1, 7, "a1", status="pending", next_at=later, done_reason=None,
                               fails_in_row=1, disposition="busy", now=NOW)
    status, attempts, _, _, next_at, _, disposition = row(db)
    assert (status, attempts, disposition) == ("pending", 1, "busy") and next_at.startswith("2026-12-03T03:00")


def test_release_uncounts_an_attempt_that_never_left(db):
    target_state.claim(db, 1, 7, "a1", NOW)
    assert target_state.release(db, 1, 7, NOW)
    assert row(db)[:3] == ("pending", 0, 0)
    assert not target_state.release(db, 1, 7, NOW), "only an active target is released"


def test_defer_and_close_touch_only_pending_targets(db):
    until = NOW + dt.timedelta(hours=8)
    assert target_state.defer(db, 1, 7, until, NOW)
    target_state.claim(db, 1, 7, "a1", NOW)
    assert not target_state.defer(db, 1, 7, until, NOW)
    assert not target_state.close(db, 1, 7, "calling-hours", NOW), "a call in progress is never closed under it"
    assert target_state.close_all_pending(db, 1, "schedule-ended", NOW) == 0
    target_state.release(db, 1, 7, NOW)
    assert target_state.close(db, 1, 7, "no-consent", NOW)
    assert row(db)[0] == "done" and row(db)[5] == "no-consent"


def test_a_settled_target_is_pending_or_done(db):
    target_state.claim(db, 1, 7, "a1", NOW)
    with pytest.raises(ValueError):
        target_state.settle(db, 1, 7, "a1", status="active", next_at=None, done_reason=None, fails_in_row=0,
                            disposition="x", now=NOW)

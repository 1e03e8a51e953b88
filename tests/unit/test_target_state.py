"""The campaign target lifecycle: each transition moves a row only from the state it expects — on SQLite
and on PostgreSQL — and two controllers racing to claim one target on PostgreSQL: exactly one wins."""
import datetime as dt
import threading
import time

import pytest

from ivr.db.store import open_store, store_of
from ivr.dialer import target_state

NOW = dt.datetime(2026, 12, 3, 2, 0, tzinfo=dt.timezone.utc)
T0 = "2026-12-03T00:00:00Z"


def add_target(store, campaign_id=1, borrower_id=7):
    store.insert("campaigns", {"id": campaign_id, "name": "c", "created_at": T0, "updated_at": T0})
    store.insert("borrowers", {"id": borrower_id, "loan_id": f"L{borrower_id}", "name": "b",
                               "created_at": T0, "updated_at": T0})
    store.insert("campaign_targets", {"campaign_id": campaign_id, "borrower_id": borrower_id, "status": "pending",
                                      "next_at": T0, "updated_at": T0})


@pytest.fixture
def db(any_db, store):
    add_target(store)
    return any_db


def row(db):
    r = store_of(db).one("SELECT status, attempts, retry, last_attempt_id, next_at, done_reason, last_disposition "
                         "FROM campaign_targets")
    return tuple(r.values())


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


def test_settle_without_next_at_keeps_the_old_one(db):
    target_state.claim(db, 1, 7, "a1", NOW)
    assert target_state.settle(db, 1, 7, "a1", status="done", next_at=None, done_reason="paid",
                               fails_in_row=0, disposition="answered", now=NOW)
    assert row(db)[4:6] == (T0, "paid")


def test_release_uncounts_an_attempt_that_never_left(db):
    target_state.claim(db, 1, 7, "a1", NOW)
    assert target_state.release(db, 1, 7, NOW)
    assert row(db)[:3] == ("pending", 0, 0)
    assert not target_state.release(db, 1, 7, NOW), "only an active target is released"


def test_release_after_earlier_attempts_keeps_them_counted(db):
    for n in (1, 2):
        target_state.claim(db, 1, 7, f"a{n}", NOW)
        target_state.settle(db, 1, 7, f"a{n}", status="pending", next_at=None, done_reason=None,
                            fails_in_row=n, disposition="busy", now=NOW)
    target_state.claim(db, 1, 7, "a3", NOW)
    assert target_state.release(db, 1, 7, NOW)
    assert row(db)[:3] == ("pending", 2, 1)


def test_release_never_counts_below_zero(db, store):
    store.execute("UPDATE campaign_targets SET status = 'active', attempts = 0")
    assert target_state.release(db, 1, 7, NOW)
    assert row(db)[:3] == ("pending", 0, 0)


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


def test_add_creates_pending_targets_once_and_leaves_existing_ones_alone(db, store, monkeypatch):
    monkeypatch.setattr(target_state, "ADD_CHUNK", 2)     # several statements in one transaction
    target_state.claim(db, 1, 7, "a1", NOW)
    for b in (8, 9, 10):
        store.insert("borrowers", {"loan_id": f"L{b}", "name": "b", "created_at": T0, "updated_at": T0})
    ids = [r["id"] for r in store.query("SELECT id FROM borrowers WHERE id != 7 ORDER BY id")]
    assert target_state.add(db, 1, [7, *ids], "2026-12-04T00:00:00.000+00:00", NOW) == 3
    assert target_state.add(db, 1, [7, *ids], "2026-12-05T00:00:00.000+00:00", NOW) == 0
    assert row(db)[:3] == ("active", 1, 1), "a target already there is not reset by a second add"
    added = store.query("SELECT borrower_id, status, next_at, attempts FROM campaign_targets "
                        "WHERE borrower_id != 7 ORDER BY borrower_id")
    assert added == [{"borrower_id": b, "status": "pending", "next_at": "2026-12-04T00:00:00.000+00:00",
                      "attempts": 0} for b in ids]
    assert target_state.add(db, 1, [], T0, NOW) == 0


# ---- two controllers, one PostgreSQL ----------------------------------------------------------------
def _waiting_on_a_lock(store):
    return store.scalar("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                        "AND wait_event_type = 'Lock'")


def test_a_claim_waiting_on_anothers_transaction_loses_when_it_commits(postgres_url):
    """B's claim blocks on the row A claimed in a still-open transaction; once A commits, B re-checks
    `status = 'pending'` and changes nothing."""
    from ivr.db import migrate
    migrate.upgrade(postgres_url)
    a, b, watcher = open_store(postgres_url), open_store(postgres_url), open_store(postgres_url)
    try:
        add_target(a)
        result = {}
        with a.transaction():
            assert target_state.claim(a, 1, 7, "from-a", NOW)
            thread = threading.Thread(target=lambda: result.setdefault("b", _claim_in_transaction(b, "from-b")))
            thread.start()
            deadline = time.monotonic() + 10
            while not _waiting_on_a_lock(watcher):
                assert time.monotonic() < deadline, "B never waited for A's row lock"
                time.sleep(0.01)
        thread.join(10)
        assert result == {"b": False}
        assert watcher.one("SELECT status, attempts, last_attempt_id FROM campaign_targets") == {
            "status": "active", "attempts": 1, "last_attempt_id": "from-a"}
    finally:
        for s in (a, b, watcher):
            s.close()


def _race(store, attempt_id, start, wins):
    start.wait()
    if _claim_in_transaction(store, attempt_id):
        wins.append(attempt_id)


def _claim_in_transaction(store, attempt_id):
    with store.transaction():
        return target_state.claim(store, 1, 7, attempt_id, NOW)


def test_two_controllers_claiming_at_once_exactly_one_wins_every_time(postgres_url):
    from ivr.db import migrate
    migrate.upgrade(postgres_url)
    stores = [open_store(postgres_url) for _ in range(2)]
    try:
        add_target(stores[0])
        for round_ in range(25):
            stores[0].execute("UPDATE campaign_targets SET status = 'pending', attempts = 0")
            start = threading.Barrier(2)
            wins = []

            threads = [threading.Thread(target=_race, args=(s, f"r{round_}-{i}", start, wins))
                       for i, s in enumerate(stores)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(10)
            assert len(wins) == 1, f"round {round_}: {wins}"
            assert stores[0].one("SELECT attempts, last_attempt_id FROM campaign_targets") == {
                "attempts": 1, "last_attempt_id": wins[0]}
    finally:
        for s in stores:
            s.close()

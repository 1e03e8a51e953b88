"""The lifecycle of a campaign target (one borrower in one campaign), in one place.

    (none) --add--> pending (the campaign starts: its selection becomes targets)
    pending --claim--> active --settle--> pending (retry at next_at) | done (done_reason)
       |                  \\--release--> pending (never originated: the attempt is not counted)
       |--defer--> pending (next_at moved: calling hours, caps, holidays)
       \\--close--> done (refused for good, or the campaign's schedule ended)

Every transition is one guarded UPDATE: it changes the row only from the state it expects (and,
for `settle`, only for the attempt that made it active), and says whether it did. A transition
that finds the row elsewhere changes nothing: the controller, the scheduler and the campaign
loop can never move a target past each other. `attempt_state` does the same for attempts.

The statements run through the Store (`ivr.db.store`), on SQLite or PostgreSQL; callers pass the handle
they have. Inside a caller's transaction on PostgreSQL, a second controller's transition of the same
row waits for the first to commit and then finds the row moved (READ COMMITTED re-checks the WHERE).
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from ..db.store import HasStore, Store, store_of
from .clock import iso

PENDING, ACTIVE, DONE = "pending", "active", "done"
Handle = Store | HasStore
ADD_CHUNK = 1000     # borrower ids per INSERT: far below either engine's limit on parameters


def add(db: Handle, campaign_id: int, borrower_ids: Sequence[int], next_at: str, now: dt.datetime) -> int:
    """(none) -> pending at `next_at` for each borrower not yet a target of the campaign; a borrower
    who already is one keeps its row as it is. Returns how many targets were added."""
    store = store_of(db)
    added = 0
    with store.transaction():
        for start in range(0, len(borrower_ids), ADD_CHUNK):
            ids = [int(b) for b in borrower_ids[start:start + ADD_CHUNK]]
            added += store.execute(
                "INSERT INTO campaign_targets (campaign_id, borrower_id, status, next_at, updated_at) "
                "SELECT :c, id, 'pending', :next_at, :now FROM borrowers WHERE id IN :ids "
                "ON CONFLICT (campaign_id, borrower_id) DO NOTHING",
                {"c": campaign_id, "next_at": next_at, "now": iso(now), "ids": ids})
    return added


def claim(db: Handle, campaign_id: int, borrower_id: int, attempt_id: str, now: dt.datetime) -> bool:
    """pending -> active for `attempt_id`, counting the attempt."""
    return store_of(db).execute(
        "UPDATE campaign_targets SET status = 'active', attempts = attempts + 1, retry = 1, "
        "last_attempt_id = :attempt, updated_at = :now WHERE campaign_id = :c AND borrower_id = :b "
        "AND status = 'pending'", {"attempt": attempt_id, "now": iso(now), "c": campaign_id, "b": borrower_id}) == 1


def settle(db: Handle, campaign_id: int, borrower_id: int, attempt_id: str, *, status: str,
           next_at: dt.datetime | None, done_reason: str | None, fails_in_row: int, disposition: str,
           now: dt.datetime) -> bool:
    """active (made so by `attempt_id`) -> pending again at `next_at`, or done with `done_reason`."""
    if status not in (PENDING, DONE):
        raise ValueError(f"a settled target is pending or done, not {status!r}")
    return store_of(db).execute(
        "UPDATE campaign_targets SET status = :status, next_at = COALESCE(:next_at, next_at), "
        "done_reason = :reason, fails_in_row = :fails, last_disposition = :disposition, updated_at = :now "
        "WHERE campaign_id = :c AND borrower_id = :b AND status = 'active' AND last_attempt_id = :attempt",
        {"status": status, "next_at": iso(next_at) if next_at else None, "reason": done_reason,
         "fails": fails_in_row, "disposition": disposition, "now": iso(now), "c": campaign_id,
         "b": borrower_id, "attempt": attempt_id}) == 1


def release(db: Handle, campaign_id: int, borrower_id: int, now: dt.datetime) -> bool:
    """active -> pending when its attempt was never originated: the attempt is not counted."""
    return store_of(db).execute(
        "UPDATE campaign_targets SET status = 'pending', "
        "attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END, "
        "retry = CASE WHEN attempts - 1 > 0 THEN 1 ELSE 0 END, updated_at = :now "
        "WHERE campaign_id = :c AND borrower_id = :b AND status = 'active'",
        {"now": iso(now), "c": campaign_id, "b": borrower_id}) == 1


def defer(db: Handle, campaign_id: int, borrower_id: int, until: dt.datetime, now: dt.datetime) -> bool:
    """A pending target is not called before `until`."""
    return store_of(db).execute(
        "UPDATE campaign_targets SET next_at = :until, updated_at = :now "
        "WHERE campaign_id = :c AND borrower_id = :b AND status = 'pending'",
        {"until": iso(until), "now": iso(now), "c": campaign_id, "b": borrower_id}) == 1


def close(db: Handle, campaign_id: int, borrower_id: int, reason: str, now: dt.datetime) -> bool:
    """pending -> done for good (a refusal no later time can lift)."""
    return store_of(db).execute(
        "UPDATE campaign_targets SET status = 'done', done_reason = :reason, updated_at = :now "
        "WHERE campaign_id = :c AND borrower_id = :b AND status = 'pending'",
        {"reason": reason, "now": iso(now), "c": campaign_id, "b": borrower_id}) == 1


def close_all_pending(db: Handle, campaign_id: int, reason: str, now: dt.datetime) -> int:
    """Every pending target of the campaign -> done (its schedule ended); active ones are left to end."""
    return store_of(db).execute(
        "UPDATE campaign_targets SET status = 'done', done_reason = :reason, updated_at = :now "
        "WHERE campaign_id = :c AND status = 'pending'", {"reason": reason, "now": iso(now), "c": campaign_id})

"""The lifecycle of a campaign target (one borrower in one campaign), in one place.

    pending --claim--> active --settle--> pending (retry at next_at) | done (done_reason)
       |                  \\--release--> pending (never originated: the attempt is not counted)
       |--defer--> pending (next_at moved: calling hours, caps, holidays)
       \\--close--> done (refused for good, or the campaign's schedule ended)

Every transition is one guarded UPDATE: it changes the row only from the state it expects (and,
for `settle`, only for the attempt that made it active), and says whether it did. A transition
that finds the row elsewhere changes nothing: the controller, the scheduler and the campaign
loop can never move a target past each other. `attempt_state` does the same for attempts.
"""
from __future__ import annotations

import datetime as dt

from sqlite_utils import Database

from .clock import iso

PENDING, ACTIVE, DONE = "pending", "active", "done"


def claim(db: Database, campaign_id: int, borrower_id: int, attempt_id: str, now: dt.datetime) -> bool:
    """pending -> active for `attempt_id`, counting the attempt."""
    cur = db.execute("UPDATE campaign_targets SET status = 'active', attempts = attempts + 1, retry = 1, "
                     "last_attempt_id = ?, updated_at = ? WHERE campaign_id = ? AND borrower_id = ? "
                     "AND status = 'pending'", [attempt_id, iso(now), campaign_id, borrower_id])
    return cur.rowcount == 1


def settle(db: Database, campaign_id: int, borrower_id: int, attempt_id: str, *, status: str,
           next_at: dt.datetime | None, done_reason: str | None, fails_in_row: int, disposition: str,
           now: dt.datetime) -> bool:
    """active (made so by `attempt_id`) -> pending again at `next_at`, or done with `done_reason`."""
    if status not in (PENDING, DONE):
        raise ValueError(f"a settled target is pending or done, not {status!r}")
    cur = db.execute("UPDATE campaign_targets SET status = ?, next_at = COALESCE(?, next_at), done_reason = ?, "
                     "fails_in_row = ?, last_disposition = ?, updated_at = ? "
                     "WHERE campaign_id = ? AND borrower_id = ? AND status = 'active' AND last_attempt_id = ?",
                     [status, iso(next_at) if next_at else None, done_reason, fails_in_row, disposition, iso(now),
                      campaign_id, borrower_id, attempt_id])
    return cur.rowcount == 1


def release(db: Database, campaign_id: int, borrower_id: int, now: dt.datetime) -> bool:
    """active -> pending when its attempt was never originated: the attempt is not counted."""
    cur = db.execute("UPDATE campaign_targets SET status = 'pending', attempts = MAX(attempts - 1, 0), "
                     "retry = CASE WHEN attempts - 1 > 0 THEN 1 ELSE 0 END, updated_at = ? "
                     "WHERE campaign_id = ? AND borrower_id = ? AND status = 'active'",
                     [iso(now), campaign_id, borrower_id])
    return cur.rowcount == 1


def defer(db: Database, campaign_id: int, borrower_id: int, until: dt.datetime, now: dt.datetime) -> bool:
    """A pending target is not called before `until`."""
    cur = db.execute("UPDATE campaign_targets SET next_at = ?, updated_at = ? "
                     "WHERE campaign_id = ? AND borrower_id = ? AND status = 'pending'",
                     [iso(until), iso(now), campaign_id, borrower_id])
    return cur.rowcount == 1


def close(db: Database, campaign_id: int, borrower_id: int, reason: str, now: dt.datetime) -> bool:
    """pending -> done for good (a refusal no later time can lift)."""
    cur = db.execute("UPDATE campaign_targets SET status = 'done', done_reason = ?, updated_at = ? "
                     "WHERE campaign_id = ? AND borrower_id = ? AND status = 'pending'",
                     [reason, iso(now), campaign_id, borrower_id])
    return cur.rowcount == 1


def close_all_pending(db: Database, campaign_id: int, reason: str, now: dt.datetime) -> int:
    """Every pending target of the campaign -> done (its schedule ended); active ones are left to end."""
    cur = db.execute("UPDATE campaign_targets SET status = 'done', done_reason = ?, updated_at = ? "
                     "WHERE campaign_id = ? AND status = 'pending'", [reason, iso(now), campaign_id])
    return cur.rowcount

"""Server-side web sessions: what the cookie may carry and when a session ends.

Why it looks like this: Flask's default session is a signed cookie, valid until it expires whatever
happens on the server, so a cookie copied before logout kept working for eight hours, and to notice
a password change the cookie had to carry part of the password hash. Here the signed cookie holds
only a random session id (`sid`, plus the UI language and the CSRF token); the `web_sessions` table
keeps a SHA-256 of that id with its user, expiry and `revoked_at`. Every request looks the id up,
so logging out, changing a password or disabling a user (`revoke_user`) ends the session at once,
in every process that shares the database.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import logging
import secrets

from ..db.clock import now_iso
from ..db.store import HasStore, Store, store_of

log = logging.getLogger(__name__)
LIFETIME = dt.timedelta(hours=8)
LAST_SEEN_EVERY = dt.timedelta(minutes=1)  # write last_seen_at at most this often


def _hash(sid: str) -> str:
    return hashlib.sha256(sid.encode()).hexdigest()


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _iso(d: dt.datetime) -> str:
    return d.isoformat(timespec="milliseconds")


def create(db: Store | HasStore, user_id: int, *, ip: str | None = None, lifetime: dt.timedelta = LIFETIME) -> str:
    """A new session for `user_id`; returns the id to put in the cookie (the database keeps its hash)."""
    sid = secrets.token_urlsafe(32)
    now = _now()
    store_of(db).insert("web_sessions", {"token_hash": _hash(sid), "user_id": user_id, "created_at": _iso(now),
                               "last_seen_at": _iso(now), "expires_at": _iso(now + lifetime), "ip": ip})
    return sid


def user_of(db: Store | HasStore, sid) -> dict | None:
    """The active user of a live session id, or None (unknown, expired, revoked, user disabled)."""
    if not isinstance(sid, str) or not sid:
        return None
    s = store_of(db)
    now = _now()
    user = s.one("""SELECT s.id AS session_id, s.last_seen_at, u.* FROM web_sessions s
                    JOIN users u ON u.id = s.user_id
                    WHERE s.token_hash = :token AND s.revoked_at IS NULL AND s.expires_at > :now AND u.active = 1""",
                 {"token": _hash(sid), "now": _iso(now)})
    if user is None:
        return None
    seen = dt.datetime.fromisoformat(user.pop("last_seen_at"))
    if now - seen >= LAST_SEEN_EVERY:
        s.execute("UPDATE web_sessions SET last_seen_at = :now WHERE id = :id", {"now": _iso(now), "id": user["session_id"]})
    return user


def revoke(db: Store | HasStore, sid, reason: str) -> None:
    if isinstance(sid, str) and sid:
        store_of(db).execute("UPDATE web_sessions SET revoked_at = :at, revoked_reason = :reason "
                             "WHERE token_hash = :token AND revoked_at IS NULL",
                             {"at": now_iso(), "reason": reason, "token": _hash(sid)})


def revoke_user(db: Store | HasStore, user_id: int, reason: str) -> int:
    """End every session of a user (password changed, disabled, role taken away); returns how many."""
    ended = store_of(db).execute("UPDATE web_sessions SET revoked_at = :at, revoked_reason = :reason "
                                 "WHERE user_id = :user AND revoked_at IS NULL",
                                 {"at": now_iso(), "reason": reason, "user": user_id})
    if ended:
        log.info("user %s: %d session(s) ended (%s)", user_id, ended, reason)
    return ended


def forget_expired(db: Store | HasStore, older_than: dt.timedelta = dt.timedelta(days=30)) -> int:
    """Delete session rows that ended long ago (called at login, so the table stays small)."""
    cutoff = _iso(_now() - older_than)
    return store_of(db).execute("DELETE FROM web_sessions WHERE expires_at < :cutoff OR revoked_at < :cutoff",
                                {"cutoff": cutoff})

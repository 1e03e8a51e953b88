"""The outbox: messages queued for sending, one row per idempotency key.

The dialer enqueues (`enqueue`), a notifier sends (`ivr.notify.notifier`). The idempotency key
makes enqueueing safe to repeat (a restart, a retried disposition): the same key never creates a
second message, and the key is sent to providers that support one.
"""
from __future__ import annotations

import datetime as dt
import json

from sqlite_utils import Database

from .. import metrics
from ..dialer.clock import iso, parse_iso
from .templates import render

CHANNELS = ("sms", "wechat")


def enqueue(db: Database, *, key: str, channel: str, borrower: dict, to_address: str, template: str,
            campaign_id: int | None = None, lender: str = "", now: dt.datetime | None = None) -> tuple[int, bool]:
    """Queue one message; returns (outbox id, created). An existing key returns the existing row."""
    if channel not in CHANNELS:
        raise ValueError(f"unknown channel {channel!r}")
    existing = list(db.query("SELECT id FROM outbox WHERE idempotency_key = ?", [key]))
    if existing:
        return existing[0]["id"], False
    now = now or dt.datetime.now(dt.timezone.utc)
    locale = borrower.get("locale") or "zh-CN"
    body, params = render(template, locale, borrower, lender)
    cur = db.execute(
        "INSERT OR IGNORE INTO outbox (idempotency_key, channel, borrower_id, campaign_id, to_address, locale, "
        "template, params, body, status, tries, next_try_at, created_at) VALUES (?,?,?,?,?,?,?,?,?,'queued',0,?,?)",
        [key, channel, borrower.get("id"), campaign_id, to_address, locale, template,
         json.dumps(params, ensure_ascii=False), body, iso(now), iso(now)])
    if cur.rowcount == 0:
        return next(db.query("SELECT id FROM outbox WHERE idempotency_key = ?", [key]))["id"], False
    return cur.lastrowid, True


def for_borrower(db: Database, borrower_id: int) -> list[dict]:
    return list(db.query("SELECT * FROM outbox WHERE borrower_id = ? ORDER BY id", [borrower_id]))


def measure_backlog(db: Database, now: dt.datetime) -> dict[str, int]:
    """Set huifang_outbox_backlog{channel} and huifang_outbox_oldest_age_seconds from the queued
    rows (every channel, a quiet one at 0); returns {channel: queued}."""
    queued = {c: 0 for c in CHANNELS}
    oldest = None
    for row in db.query("SELECT channel, count(*) AS n, min(created_at) AS oldest FROM outbox "
                        "WHERE status = 'queued' GROUP BY channel"):
        queued[row["channel"]] = row["n"]
        at = parse_iso(row["oldest"])
        oldest = at if oldest is None or at < oldest else oldest
    for channel, n in queued.items():
        metrics.OUTBOX_BACKLOG.labels(channel).set(n)
    metrics.OUTBOX_OLDEST_AGE.set(max(0.0, (now - oldest).total_seconds()) if oldest else 0.0)
    return queued

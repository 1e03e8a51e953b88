"""The outbox: messages and events queued for sending, one row per idempotency key.

Every outbound notification goes through here and is sent by the notifier only
(`ivr.notify.notifier`): the dialer enqueues messages to borrowers (`enqueue`: SMS, WeChat), the
web app enqueues call results for the lender's webhooks (`enqueue_event`, channel "webhook", the
JSON payload as the body). The idempotency key makes enqueueing safe to repeat (a restart, a
retried disposition): the same key never creates a second row, and the key is sent to providers
that support one.

Every function takes the handle `ivr.db.connect.open_database` gives and works through its Store, so
the outbox is the same on SQLite and PostgreSQL.
"""
from __future__ import annotations

import datetime as dt
import json

from typing import Any

from .. import metrics
from ..db.store import HasStore, Store, store_of
from ..dialer.clock import iso, parse_iso
from .templates import render

MESSAGE_CHANNELS = ("sms", "wechat")   # rendered from a template for a borrower
EVENT_CHANNEL = "webhook"                # a JSON event for one of the lender's webhooks (table `webhooks`)
CHANNELS = MESSAGE_CHANNELS + (EVENT_CHANNEL,)

Db = Store | HasStore


def enqueue(db: Db, *, key: str, channel: str, borrower: dict, to_address: str, template: str,
            campaign_id: int | None = None, lender: str = "", now: dt.datetime | None = None) -> tuple[int, bool]:
    """Queue one message; returns (outbox id, created). An existing key returns the existing row."""
    if channel not in MESSAGE_CHANNELS:
        raise ValueError(f"unknown channel {channel!r}")
    existing = store_of(db).scalar("SELECT id FROM outbox WHERE idempotency_key = :key", {"key": key})
    if existing is not None:
        return int(existing), False
    locale = borrower.get("locale") or "zh-CN"
    body, params = render(template, locale, borrower, lender)
    return _insert(db, key=key, channel=channel, borrower_id=borrower.get("id"), campaign_id=campaign_id,
                   to_address=to_address, locale=locale, template=template, params=params, body=body, now=now)


def enqueue_event(db: Db, *, key: str, webhook_id: int, event: str, payload: dict,
                  idempotency_key: str, borrower_id: int | None = None, campaign_id: int | None = None,
                  locale: str = "zh-CN", now: dt.datetime | None = None) -> tuple[int, bool]:
    """Queue one event for webhook `webhook_id`; returns (outbox id, created). `key` is unique per
    webhook and event; `idempotency_key` is what the receiver sees (the same for every webhook)."""
    body = json.dumps({"event": event, **payload}, ensure_ascii=False)
    return _insert(db, key=key, channel=EVENT_CHANNEL, borrower_id=borrower_id, campaign_id=campaign_id,
                   to_address=str(webhook_id), locale=locale, template=event,
                   params={"idempotency_key": idempotency_key}, body=body, now=now)


def _insert(db: Db, *, key: str, channel: str, borrower_id: Any, campaign_id: Any, to_address: str, locale: str,
            template: str, params: dict, body: str, now: dt.datetime | None) -> tuple[int, bool]:
    now = now or dt.datetime.now(dt.timezone.utc)
    s = store_of(db)
    created = s.execute(
        "INSERT INTO outbox (idempotency_key, channel, borrower_id, campaign_id, to_address, locale, template, "
        "params, body, status, tries, next_try_at, created_at) VALUES (:key, :channel, :borrower_id, "
        ":campaign_id, :to_address, :locale, :template, :params, :body, 'queued', 0, :now, :now) "
        "ON CONFLICT (idempotency_key) DO NOTHING",
        {"key": key, "channel": channel, "borrower_id": borrower_id, "campaign_id": campaign_id,
         "to_address": to_address, "locale": locale, "template": template,
         "params": json.dumps(params, ensure_ascii=False), "body": body, "now": iso(now)}) == 1
    return int(s.scalar("SELECT id FROM outbox WHERE idempotency_key = :key", {"key": key})), created


def for_borrower(db: Db, borrower_id: int) -> list[dict]:
    return store_of(db).query("SELECT * FROM outbox WHERE borrower_id = :b ORDER BY id", {"b": borrower_id})


def measure_backlog(db: Db, now: dt.datetime) -> dict[str, int]:
    """Set huifang_outbox_backlog{channel} and huifang_outbox_oldest_age_seconds from the queued
    rows (every channel, a quiet one at 0); returns {channel: queued}."""
    queued = {c: 0 for c in CHANNELS}
    oldest = None
    for row in store_of(db).query("SELECT channel, count(*) AS n, min(created_at) AS oldest FROM outbox "
                                  "WHERE status = 'queued' GROUP BY channel"):
        queued[row["channel"]] = int(row["n"])
        at = parse_iso(row["oldest"])
        oldest = at if oldest is None or at < oldest else oldest
    for channel, n in queued.items():
        metrics.OUTBOX_BACKLOG.labels(channel).set(n)
    metrics.OUTBOX_OLDEST_AGE.set(max(0.0, (now - oldest).total_seconds()) if oldest else 0.0)
    return queued

"""Send what the outbox holds, with retries and exponential backoff; store every delivery result.

A sender is anything with `name` and `send(message: dict) -> Delivery` (blocking; run in a
thread). `Notifier.run_once()` sends every due message; a failed one is retried after
base_delay * 2**(tries-1) up to max_tries, then marked failed. Every try is a `deliveries` row.
The database handle is what `ivr.db.connect.open_database` gives (SQLite or PostgreSQL); every
statement goes through its Store.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from typing import Protocol

from .. import metrics, redact
from ..db.store import HasStore, Store, store_of
from ..dialer.clock import iso
from .outbox import measure_backlog

log = logging.getLogger(__name__)


@dataclasses.dataclass
class Delivery:
    ok: bool
    status_code: int | None = None
    provider_id: str | None = None
    response: str | None = None
    error: str | None = None
    retryable: bool = True


class Sender(Protocol):
    name: str

    def send(self, message: dict) -> Delivery: ...


class Notifier:
    def __init__(self, db: Store | HasStore, senders: dict[str, Sender], *, max_tries: int = 5,
                 base_delay_s: float = 30.0, max_delay_s: float = 3600.0, clock=None):
        self.db = db
        self.senders = senders
        self.max_tries = max_tries
        self.base_delay_s = base_delay_s
        self.max_delay_s = max_delay_s
        self.clock = clock

    def _now(self) -> dt.datetime:
        return self.clock.now() if self.clock else dt.datetime.now(dt.timezone.utc)

    def due(self, limit: int = 50) -> list[dict]:
        channels = list(self.senders)
        if not channels:
            return []
        return store_of(self.db).query(
            "SELECT * FROM outbox WHERE status = 'queued' AND next_try_at <= :now AND channel IN :channels "
            "ORDER BY next_try_at, id LIMIT :limit", {"now": iso(self._now()), "channels": channels, "limit": limit})

    def send_one(self, message: dict) -> Delivery:
        sender = self.senders[message["channel"]]
        try:
            result = sender.send(message)
        except Exception as exc:  # a sender bug or network error is one failed try, never fatal
            log.warning("outbox %s: %s raised %s", message["id"], sender.name, redact.scrub(exc))
            result = Delivery(ok=False, error=f"{type(exc).__name__}: {exc}")
        now = self._now()
        tries = message["tries"] + 1
        store = store_of(self.db)
        store.insert("deliveries", {"outbox_id": message["id"], "at": iso(now), "notifier": sender.name,
                                    "ok": int(result.ok), "status_code": result.status_code,
                                    "provider_id": result.provider_id, "response": (result.response or "")[:2000],
                                    "error": result.error})
        if result.ok:
            changes = {"status": "sent", "tries": tries, "sent_at": iso(now), "provider_id": result.provider_id,
                       "last_error": None}
        elif tries >= self.max_tries or not result.retryable:
            changes = {"status": "failed", "tries": tries, "last_error": result.error}
        else:
            delay = min(self.max_delay_s, self.base_delay_s * 2 ** (tries - 1))
            changes = {"tries": tries, "last_error": result.error,
                       "next_try_at": iso(now + dt.timedelta(seconds=delay))}
        store.update("outbox", message["id"], changes)
        metrics.OUTBOX_DELIVERIES.labels(message["channel"], "sent" if result.ok else changes.get("status", "retry")).inc()
        log.info("outbox %s via %s: %s", message["id"], sender.name, "sent" if result.ok else redact.scrub(result.error))
        return result

    def run_once(self) -> int:
        """Send every due message once; returns how many were tried."""
        messages = self.due()
        for m in messages:
            self.send_one(m)
        measure_backlog(self.db, self._now())
        return len(messages)

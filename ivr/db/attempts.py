"""The attempts and events tables (written by the controller only), through the Store.

Every function takes the handle its caller has — the sqlite-utils handle of `connect()` or a Store
(PostgreSQL) — and works on its Store side, so it runs on both engines and, on SQLite, inside a
transaction the caller opened through either API.
"""
from __future__ import annotations

import json
import logging
import os
from typing import Any

from .clock import now_iso
from .store import HasStore, Store, store_of

log = logging.getLogger(__name__)


def new_row(attempt_id: str, number: str, *, locale: str, borrower_id: int | None, contact_id: int | None,
            campaign_id: int | None, flow: str, caller_id: str, trunk: str,
            created_at: str | None = None, node: str | None = None) -> dict[str, Any]:
    """An attempt as it is first written (queued), before its Originate is sent; `node`: the
    telephony node that places it (campaign calls)."""
    row: dict[str, Any] = {"id": attempt_id, "number": number, "locale": locale, "borrower_id": borrower_id,
                           "contact_id": contact_id, "campaign_id": campaign_id, "flow": flow, "state": "queued",
                           "caller_id": caller_id, "trunk": trunk, "node": node}
    if created_at:
        row["created_at"] = created_at
    return row


def create(db: Store | HasStore, row: dict[str, Any]) -> None:
    row = dict(row)
    row.setdefault("state", "queued")
    row.setdefault("created_at", now_iso())
    store_of(db).insert("attempts", row)


def update(db: Store | HasStore, attempt_id: str, changes: dict[str, Any]) -> None:
    if changes and not store_of(db).update("attempts", attempt_id, changes):
        log.warning("attempt %s: not in the database, changes %s not written", attempt_id, sorted(changes))


def mark_dialing(db: Store | HasStore, attempt_id: str, at: str) -> bool:
    """queued -> dialing, just before the Originate is sent; False if the attempt is no longer queued."""
    return store_of(db).execute("UPDATE attempts SET state = 'dialing', originated_at = :at "
                                "WHERE id = :id AND state = 'queued'", {"at": at, "id": attempt_id}) == 1


def add_event(db: Store | HasStore, attempt_id: str, source: str, name: str, data: dict[str, Any]) -> None:
    store_of(db).insert("events", {"attempt_id": attempt_id, "at": now_iso(), "source": source, "name": name,
                                   "data": json.dumps(data, ensure_ascii=False, default=str)})


def note_recording(db: Store | HasStore, attempt_id: str, path: str) -> None:
    """Register an ended call's recording (its size tells QA whether anything was captured)."""
    try:
        size: int | None = os.path.getsize(path)
    except OSError:
        size = None  # MixMonitor could not write it (disk full, permissions): recorded as missing
    store_of(db).upsert("recordings", {"attempt_id": attempt_id, "path": path, "bytes": size,
                                       "created_at": now_iso()})


def get(db: Store | HasStore, attempt_id: str) -> dict[str, Any] | None:
    return store_of(db).get("attempts", attempt_id)


def answers(db: Store | HasStore, attempt_id: str) -> list[dict[str, Any]]:
    return store_of(db).query("SELECT * FROM answers WHERE attempt_id = :id ORDER BY seq", {"id": attempt_id})


def ensure_borrower(db: Store | HasStore, *, loan_id: str, name: str, id_last4: str | None,
                    amount_due: int | None, due_date: str | None, locale: str, phone: str,
                    timezone: str = "Asia/Shanghai") -> tuple[int, int]:
    """Insert or update one borrower and its primary contact; returns (borrower id, contact id)."""
    store = store_of(db)
    now = now_iso()
    values = {"name": name, "id_last4": id_last4, "amount_due": amount_due, "due_date": due_date,
              "locale": locale, "timezone": timezone, "updated_at": now}
    borrower_id = store.scalar("SELECT id FROM borrowers WHERE loan_id = :loan", {"loan": loan_id})
    if borrower_id is not None:
        store.update("borrowers", borrower_id, values)
    else:
        borrower_id = store.insert("borrowers", {"loan_id": loan_id, "created_at": now, **values})
    contact_id = store.scalar("SELECT id FROM contacts WHERE borrower_id = :b AND phone = :phone",
                              {"b": borrower_id, "phone": phone})
    if contact_id is None:
        contact_id = store.insert("contacts", {"borrower_id": borrower_id, "phone": phone, "kind": "mobile",
                                               "status": "ok", "created_at": now})
    return int(borrower_id), int(contact_id)

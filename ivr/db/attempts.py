"""The attempts and events tables (written by the controller only)."""
from __future__ import annotations

import json
from typing import Any

from sqlite_utils import Database
from sqlite_utils.db import Table

from .clock import now_iso


def _table(db: Database, name: str) -> Table:
    return db.table(name)


def new_row(attempt_id: str, number: str, *, locale: str, borrower_id: int | None, contact_id: int | None,
            campaign_id: int | None, flow: str, caller_id: str, trunk: str,
            created_at: str | None = None) -> dict[str, Any]:
    """An attempt as it is first written (queued), before its Originate is sent."""
    row: dict[str, Any] = {"id": attempt_id, "number": number, "locale": locale, "borrower_id": borrower_id,
                           "contact_id": contact_id, "campaign_id": campaign_id, "flow": flow, "state": "queued",
                           "caller_id": caller_id, "trunk": trunk}
    if created_at:
        row["created_at"] = created_at
    return row


def create(db: Database, row: dict[str, Any]) -> None:
    row = dict(row)
    row.setdefault("state", "queued")
    row.setdefault("created_at", now_iso())
    _table(db, "attempts").insert(row, pk="id")


def update(db: Database, attempt_id: str, changes: dict[str, Any]) -> None:
    if changes:
        _table(db, "attempts").update(attempt_id, changes)


def mark_dialing(db: Database, attempt_id: str, at: str) -> bool:
    """queued -> dialing, just before the Originate is sent; False if the attempt is no longer queued."""
    cur = db.execute("UPDATE attempts SET state = 'dialing', originated_at = ? WHERE id = ? AND state = 'queued'",
                     [at, attempt_id])
    return cur.rowcount == 1


def add_event(db: Database, attempt_id: str, source: str, name: str, data: dict[str, Any]) -> None:
    _table(db, "events").insert({"attempt_id": attempt_id, "at": now_iso(), "source": source, "name": name,
                         "data": json.dumps(data, ensure_ascii=False, default=str)})


def note_recording(db: Database, attempt_id: str, path: str) -> None:
    """Register an ended call's recording (its size tells QA whether anything was captured)."""
    import os
    try:
        size = os.path.getsize(path)
    except OSError:
        size = None  # MixMonitor could not write it (disk full, permissions): recorded as missing
    _table(db, "recordings").upsert({"attempt_id": attempt_id, "path": path, "bytes": size, "created_at": now_iso()},
                            pk="attempt_id")


def get(db: Database, attempt_id: str) -> dict[str, Any] | None:
    rows = list(db.query("SELECT * FROM attempts WHERE id = ?", [attempt_id]))
    return rows[0] if rows else None


def answers(db: Database, attempt_id: str) -> list[dict[str, Any]]:
    return list(db.query("SELECT * FROM answers WHERE attempt_id = ? ORDER BY seq", [attempt_id]))


def ensure_borrower(db: Database, *, loan_id: str, name: str, id_last4: str | None, amount_due: int | None,
                    due_date: str | None, locale: str, phone: str, timezone: str = "Asia/Shanghai") -> tuple[int, int]:
    """Insert or update one borrower and its primary contact; returns (borrower id, contact id)."""
    now = now_iso()
    existing = list(db.query("SELECT id FROM borrowers WHERE loan_id = ?", [loan_id]))
    values = {"name": name, "id_last4": id_last4, "amount_due": amount_due, "due_date": due_date,
              "locale": locale, "timezone": timezone, "updated_at": now}
    if existing:
        borrower_id = existing[0]["id"]
        _table(db, "borrowers").update(borrower_id, values)
    else:
        borrower_id = _table(db, "borrowers").insert({"loan_id": loan_id, "created_at": now, **values}).last_pk
    contact = list(db.query("SELECT id FROM contacts WHERE borrower_id = ? AND phone = ?", [borrower_id, phone]))
    if contact:
        contact_id = contact[0]["id"]
    else:
        contact_id = _table(db, "contacts").insert({"borrower_id": borrower_id, "phone": phone, "kind": "mobile",
                                            "status": "ok", "created_at": now}).last_pk
    return borrower_id, contact_id

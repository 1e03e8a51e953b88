"""What the dialog server writes: the conversation (dialogs) and every question asked (answers).

All writes go through one thread (`ivr.db.writer.AsyncDb`), so a database held by another writer
for seconds delays our records without ever stalling the event loop that is feeding audio to
callers. The statements themselves are the module-level functions below, on the Store API, so the
dialog server runs on SQLite or PostgreSQL (`database_url`) alike and tests can call them directly.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..db import attempts as attempts_db
from ..db.clock import now_iso
from ..db.store import HasStore, Store, store_of
from ..db.writer import AsyncDb

if TYPE_CHECKING:
    from ..config import Settings

log = logging.getLogger(__name__)

# tables the conversation adds rows to (`DialogStore.promise` / `.callback`)
RECORD_TABLES = ("promises", "callbacks")


# ---- the statements (any handle `open_database` returns) -----------------------------------------
def context(db: Store | HasStore, attempt_id: str) -> dict[str, Any] | None:
    """The attempt and its borrower ({} when it has none), or None for an unknown attempt."""
    attempt = attempts_db.get(db, attempt_id)
    if attempt is None:
        return None
    borrower = store_of(db).get("borrowers", attempt["borrower_id"]) if attempt["borrower_id"] else None
    return {"attempt": attempt, "borrower": borrower or {}}


def start(db: Store | HasStore, attempt_id: str) -> None:
    store_of(db).upsert("dialogs", {"attempt_id": attempt_id, "started_at": now_iso()})


def answer(db: Store | HasStore, row: dict[str, Any]) -> None:
    row = dict(row)
    row["slots"] = json.dumps(row.get("slots") or {}, ensure_ascii=False)
    if row.get("evidence") is not None:
        row["evidence"] = json.dumps(row["evidence"], ensure_ascii=False)
    store_of(db).insert("answers", row)


def confirmed(db: Store | HasStore, attempt_id: str, seq: int, via: str) -> None:
    store_of(db).execute("UPDATE answers SET confirmed_by = :via WHERE attempt_id = :id AND seq = :seq",
                         {"via": via, "id": attempt_id, "seq": seq})


def reply(db: Store | HasStore, attempt_id: str, seq: int, at: str) -> None:
    store_of(db).execute("UPDATE answers SET reply_audio_at = :at WHERE attempt_id = :id AND seq = :seq",
                         {"at": at, "id": attempt_id, "seq": seq})


def finish(db: Store | HasStore, attempt_id: str, result: str, last_node: str | None, error: str | None,
           played: list[Any], announcement: str | None) -> None:
    changes = {"ended_at": now_iso(), "result": result, "last_node": last_node, "error": error,
               "played": json.dumps(played, ensure_ascii=False), "announcement": announcement}
    if not store_of(db).update("dialogs", attempt_id, changes):
        log.warning("call %s: no dialog row to finish (result %s not written)", attempt_id, result)


def record(db: Store | HasStore, table: str, row: dict[str, Any]) -> None:
    """A promise or a callback the conversation produced."""
    if table not in RECORD_TABLES:
        raise ValueError(f"the dialog server records {', '.join(RECORD_TABLES)}, not {table!r}")
    row = dict(row)
    row.setdefault("created_at", now_iso())
    if "context" in row:
        row["context"] = json.dumps(row["context"], ensure_ascii=False, default=str)
    store_of(db).insert(table, row)


def escalation(db: Store | HasStore, row: dict[str, Any]) -> None:
    """Queue the call for an agent (one escalation per attempt: a second one replaces the first)."""
    row = dict(row)
    row["context"] = json.dumps(row.get("context") or {}, ensure_ascii=False, default=str)
    row.setdefault("queued_at", now_iso())
    store_of(db).upsert("escalations", row, pk="attempt_id")


def answers(db: Store | HasStore, attempt_id: str) -> list[dict[str, Any]]:
    return store_of(db).query("SELECT step, intent, via, text, digits FROM answers WHERE attempt_id = :id "
                              "ORDER BY seq", {"id": attempt_id})


# ---- the dialog server's asynchronous face -----------------------------------------------------
class DialogStore:
    """The statements above, each run in the database thread. `where`: the server's settings
    (`database_url` or the SQLite file), a database URL, or an SQLite file."""

    def __init__(self, where: Settings | str | Path) -> None:
        self._db = AsyncDb(where)

    async def context(self, attempt_id: str) -> dict[str, Any] | None:
        return await self._db.call(context, attempt_id)

    async def start(self, attempt_id: str) -> None:
        await self._db.call(start, attempt_id)

    async def answer(self, row: dict[str, Any]) -> None:
        await self._db.call(answer, row)

    async def confirmed(self, attempt_id: str, seq: int, via: str) -> None:
        """The answer recorded as ``seq`` was confirmed by the borrower (by voice or keypad)."""
        await self._db.call(confirmed, attempt_id, seq, via)

    async def reply(self, attempt_id: str, seq: int, at: str) -> None:
        """When the first frame of the prompt that followed answer `seq` went out (turn latency, 0005)."""
        await self._db.call(reply, attempt_id, seq, at)

    async def finish(self, attempt_id: str, result: str, last_node: str | None, error: str | None = None,
                     played: list[Any] | None = None, announcement: str | None = None) -> None:
        await self._db.call(finish, attempt_id, result, last_node, error, played or [], announcement)

    async def promise(self, row: dict[str, Any]) -> None:
        await self._db.call(record, "promises", row)

    async def callback(self, row: dict[str, Any]) -> None:
        await self._db.call(record, "callbacks", row)

    async def escalation(self, row: dict[str, Any]) -> None:
        await self._db.call(escalation, row)

    async def answers(self, attempt_id: str) -> list[dict[str, Any]]:
        return await self._db.call(answers, attempt_id)

    def close(self) -> None:
        self._db.close()

"""What the dialog server writes: the conversation (dialogs) and every question asked (answers).

All writes go through one thread, so a database held by another writer for seconds delays our
records without ever stalling the event loop that is feeding audio to callers.
"""
from __future__ import annotations

import asyncio
import json
import logging
from concurrent.futures import ThreadPoolExecutor

from ..db import attempts as attempts_db
from ..db.clock import now_iso
from ..db.connect import connect

log = logging.getLogger(__name__)


class DialogStore:
    def __init__(self, db_path):
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dialog-db")
        self._db = self._executor.submit(connect, db_path).result()

    async def _run(self, fn, *args):
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    # ---- reads -------------------------------------------------------------------------------
    def _context(self, attempt_id: str) -> dict | None:
        attempt = attempts_db.get(self._db, attempt_id)
        if attempt is None:
            return None
        borrower = {}
        if attempt["borrower_id"]:
            found = list(self._db.query("SELECT * FROM borrowers WHERE id = ?", [attempt["borrower_id"]]))
            borrower = found[0] if found else {}
        return {"attempt": attempt, "borrower": borrower}

    async def context(self, attempt_id: str) -> dict | None:
        return await self._run(self._context, attempt_id)

    # ---- writes ------------------------------------------------------------------------------
    def _start(self, attempt_id: str) -> None:
        self._db["dialogs"].upsert({"attempt_id": attempt_id, "started_at": now_iso()}, pk="attempt_id")

    async def start(self, attempt_id: str) -> None:
        await self._run(self._start, attempt_id)

    def _answer(self, row: dict) -> None:
        row = dict(row)
        row["slots"] = json.dumps(row.get("slots") or {}, ensure_ascii=False)
        if row.get("evidence") is not None:
            row["evidence"] = json.dumps(row["evidence"], ensure_ascii=False)
        self._db["answers"].insert(row, pk="id", replace=False)

    def _confirmed(self, attempt_id: str, seq: int, via: str) -> None:
        self._db.execute("UPDATE answers SET confirmed_by = ? WHERE attempt_id = ? AND seq = ?",
                         [via, attempt_id, seq])
        self._db.conn.commit()

    async def confirmed(self, attempt_id: str, seq: int, via: str) -> None:
        """The answer recorded as ``seq`` was confirmed by the borrower (by voice or keypad)."""
        await self._run(self._confirmed, attempt_id, seq, via)

    async def answer(self, row: dict) -> None:
        await self._run(self._answer, row)

    def _finish(self, attempt_id: str, result: str, last_node: str | None, error: str | None, played: list,
                announcement: str | None) -> None:
        self._db["dialogs"].update(attempt_id, {"ended_at": now_iso(), "result": result, "last_node": last_node,
                                                "error": error, "played": json.dumps(played, ensure_ascii=False),
                                                "announcement": announcement})

    async def finish(self, attempt_id: str, result: str, last_node: str | None, error: str | None = None,
                     played: list | None = None, announcement: str | None = None) -> None:
        await self._run(self._finish, attempt_id, result, last_node, error, played or [], announcement)

    def _reply(self, attempt_id: str, seq: int, at: str) -> None:
        with self._db.conn:
            self._db.execute("UPDATE answers SET reply_audio_at = ? WHERE attempt_id = ? AND seq = ?",
                             [at, attempt_id, seq])

    async def reply(self, attempt_id: str, seq: int, at: str) -> None:
        """When the first frame of the prompt that followed answer `seq` went out (turn latency, 0005)."""
        await self._run(self._reply, attempt_id, seq, at)

    # ---- what the conversation produced ------------------------------------------------------
    def _insert(self, table: str, row: dict) -> None:
        row = dict(row)
        row.setdefault("created_at", now_iso())
        if "context" in row:
            row["context"] = json.dumps(row["context"], ensure_ascii=False, default=str)
        self._db[table].insert(row)

    async def promise(self, row: dict) -> None:
        await self._run(self._insert, "promises", row)

    async def callback(self, row: dict) -> None:
        await self._run(self._insert, "callbacks", row)

    def _escalation(self, row: dict) -> None:
        row = dict(row)
        row["context"] = json.dumps(row.get("context") or {}, ensure_ascii=False, default=str)
        row.setdefault("queued_at", now_iso())
        self._db["escalations"].upsert(row, pk="attempt_id")

    async def escalation(self, row: dict) -> None:
        await self._run(self._escalation, row)

    def _answers(self, attempt_id: str) -> list[dict]:
        return list(self._db.query("SELECT step, intent, via, text, digits FROM answers WHERE attempt_id = ? "
                                   "ORDER BY seq", [attempt_id]))

    async def answers(self, attempt_id: str) -> list[dict]:
        return await self._run(self._answers, attempt_id)

    def close(self) -> None:
        self._executor.shutdown(wait=True)

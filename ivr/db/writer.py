"""A database handle for asyncio code: every statement runs in one dedicated thread.

A writer held up by another process's lock (busy timeout) then delays only its own records,
never the event loop that is following calls.

It opens its database with `open_database`, from settings (their `database_url` picks the engine),
a URL or an SQLite file: `fn` gets the sqlite-utils handle with `.store` on SQLite, a Store on
PostgreSQL, and ported code takes either (`store_of`).
"""
from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .connect import Database, open_database
from .store import Store

if TYPE_CHECKING:
    from ..config import Settings


class AsyncDb:
    def __init__(self, where: Settings | str | Path) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="db")
        self.db: Database | Store = self._executor.submit(open_database, where).result()

    async def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run fn(db, *args) in the database thread."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, self.db, *args)

    def close(self) -> None:
        self._executor.shutdown(wait=True)

"""A database handle for asyncio code: every statement runs in one dedicated thread.

A writer held up by another process's lock (busy timeout, a PostgreSQL row lock) then delays only
its own records, never the event loop that is following calls.

The handle is what `ivr.db.connect.open_database` returns for the caller's settings or URL (the
sqlite-utils handle with `.store` on SQLite, a bare Store on PostgreSQL), opened and closed in
that thread: a Store belongs to one thread at a time, and this one is the only thread using it.
"""
from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .connect import Database, open_database
from .store import Store, store_of

if TYPE_CHECKING:
    from ..config import Settings


class AsyncDb:
    def __init__(self, where: Settings | str | Path) -> None:
        """`where`: the process's settings (their `database_url_effective`), a database URL, or an
        SQLite file."""
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="db")
        self.db: Database | Store = self._executor.submit(open_database, where).result()

    @property
    def store(self) -> Store:
        return store_of(self.db)

    async def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run fn(db, *args) in the database thread."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, self.db, *args)

    def close(self) -> None:
        """Finish the queued statements, then close the connection (in its own thread)."""
        try:
            self._executor.submit(store_of(self.db).close).result()
        except RuntimeError:   # closed already: the executor refuses new work
            return
        finally:
            self._executor.shutdown(wait=True)

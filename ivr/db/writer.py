"""A database handle for asyncio code: every statement runs in one dedicated thread.

A writer held up by another process's lock (busy timeout, a PostgreSQL row lock) then delays only
its own records, never the event loop that is following calls.

The handle is what `ivr.db.connect.open_database` returns for the caller's settings or URL (the
sqlite-utils handle with `.store` on SQLite, a bare Store on PostgreSQL), opened and closed in
that thread: a Store belongs to one thread at a time, and this one is the only thread using it.

When a shared PostgreSQL goes away (a restart, a failover), a call waits for it and runs again on a
fresh connection (`ivr.db.outage`): the controller's tick stalls, so it originates nothing it could not
record, and a call's disposition or a dialog's answers are written late rather than lost. `close()`
stops the waiting.
"""
from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, TypeVarTuple

from . import outage
from .connect import Database, open_database
from .store import Store, store_of

if TYPE_CHECKING:
    from ..config import Settings

T = TypeVar("T")
Args = TypeVarTuple("Args")


class AsyncDb:
    def __init__(self, where: Settings | str | Path) -> None:
        """`where`: the process's settings (their `database_url_effective`), a database URL, or an
        SQLite file."""
        self._where = where
        self._closing = threading.Event()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="db")
        self.db: Database | Store = self._executor.submit(
            lambda: outage.through_outage(lambda: open_database(where), lambda: None, what="opening the database",
                                          stop=self._closing)).result()

    @property
    def store(self) -> Store:
        return store_of(self.db)

    async def call(self, fn: Callable[[Database | Store, *Args], T], *args: *Args) -> T:
        """Run fn(db, *args) in the database thread (again, on a fresh connection, if the database
        was lost meanwhile)."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, self._through_outage, fn, args)

    def _through_outage(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> Any:
        return outage.through_outage(lambda: fn(self.db, *args), self._reopen,
                                     what=getattr(fn, "__name__", "database work"), stop=self._closing)

    def _reopen(self) -> None:
        """In the database thread: the old connection is dead; a new one for the next try (raises,
        leaving the old one, while the database is still away)."""
        fresh = open_database(self._where, migrate=False)
        try:
            store_of(self.db).close()
        except Exception:   # closing a broken connection may fail too; it is gone either way
            pass
        self.db = fresh

    def close(self) -> None:
        """Finish the queued statements, then close the connection (in its own thread). Work waiting
        for a lost database gives up (its error is raised to its caller)."""
        self._closing.set()
        try:
            self._executor.submit(store_of(self.db).close).result()
        except RuntimeError:   # closed already: the executor refuses new work
            return
        finally:
            self._executor.shutdown(wait=True)

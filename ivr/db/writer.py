"""A database handle for asyncio code: every statement runs in one dedicated thread.

A writer held up by another process's lock (busy timeout) then delays only its own records,
never the event loop that is following calls.
"""
from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from .connect import connect


class AsyncDb:
    def __init__(self, path: str | Path) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="db")
        self.db = self._executor.submit(connect, path).result()

    async def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run fn(db, *args) in the database thread."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, self.db, *args)

    def close(self) -> None:
        self._executor.shutdown(wait=True)

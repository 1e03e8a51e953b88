"""Waiting in tests for something another process does: poll until it holds or time runs out."""
from __future__ import annotations

import asyncio
import time
from typing import Awaitable, Callable, TypeVar

T = TypeVar("T")


def wait_for(predicate: Callable[[], T], timeout: float, step: float = 0.2) -> T:
    """`predicate()`'s first truthy value within `timeout` seconds, else its value at the deadline."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    return predicate()


async def wait_for_async(predicate: Callable[[], Awaitable[T]], timeout: float, step: float = 0.1) -> T:
    """`wait_for` for a coroutine predicate, sleeping on the event loop."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = await predicate()
        if value:
            return value
        await asyncio.sleep(step)
    return await predicate()

"""The dialer's notion of "now": injectable so that every rule can be tested at any hour.

All times the dialer stores are ISO 8601 UTC with milliseconds (as `ivr.db.clock.now_iso`), so
they compare correctly as strings.
"""
from __future__ import annotations

import datetime as dt
import time

UTC = dt.timezone.utc


def iso(moment: dt.datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


def parse_iso(text: str) -> dt.datetime:
    value = dt.datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class SystemClock:
    def now(self) -> dt.datetime:
        return dt.datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        import asyncio
        await asyncio.sleep(seconds)


class OffsetClock(SystemClock):
    """Real time shifted by a fixed offset: runs at real speed, but e.g. at 10:00 Beijing time.

    Used by tests and demos so calling-hours rules pass whatever the machine's hour is."""

    def __init__(self, offset: dt.timedelta):
        self.offset = offset

    @classmethod
    def starting_at(cls, moment: dt.datetime) -> "OffsetClock":
        return cls(moment - dt.datetime.now(UTC))

    def now(self) -> dt.datetime:
        return dt.datetime.now(UTC) + self.offset


class FixedClock:
    """A clock that only moves when told to (unit tests)."""

    def __init__(self, moment: dt.datetime):
        self.moment = moment

    def now(self) -> dt.datetime:
        return self.moment

    def advance(self, **delta) -> dt.datetime:
        self.moment += dt.timedelta(**delta)
        return self.moment

    async def sleep(self, seconds: float) -> None:
        import asyncio
        await asyncio.sleep(0)


def monotonic() -> float:
    return time.monotonic()

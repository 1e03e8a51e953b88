"""The dialer's notion of "now".

Two different things are kept apart on purpose:

* the *stamping* clock: every time written to the database (attempt created/ended, refusals,
  commands, the compliance export's proof) comes from the real clock (`SystemClock`). Unit tests
  may hand the controller a `FixedClock` in-process; nothing else ever replaces it.
* the *policy shift*: a `timedelta` added to the real time only where the calling-hours policy
  decides "may this borrower be called now?" (`Controller(policy_shift=...)`,
  `scheduler.tick(policy_shift=...)`). Production uses no shift. Only `ivr demo` (campaign at
  10:00 Beijing so it works at any hour) and the test fixtures set one, in-process, with
  `shift_to`. No command-line flag, environment variable or setting can shift either clock:
  an auditor can rely on every stored time being real time and on the rules being applied to it.

All times the dialer stores are ISO 8601 UTC with milliseconds (as `ivr.db.clock.now_iso`), so
they compare correctly as strings.
"""
from __future__ import annotations

import datetime as dt
import time
from typing import Protocol

UTC = dt.timezone.utc


class Clock(Protocol):
    """The stamping clock as the controller uses it: `SystemClock`, or a test's `FixedClock`."""

    def now(self) -> dt.datetime: ...


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


NO_SHIFT = dt.timedelta(0)


def shift_to(moment: dt.datetime) -> dt.timedelta:
    """The policy shift that makes the calling-hours policy see `moment` now (and time run on at
    real speed from there). For `ivr demo` and tests only, passed in-process to the controller;
    stored times stay real."""
    return moment - dt.datetime.now(UTC)


class FixedClock:
    """A clock that only moves when told to (unit tests)."""

    def __init__(self, moment: dt.datetime) -> None:
        self.moment = moment

    def now(self) -> dt.datetime:
        return self.moment

    def advance(self, **delta: float) -> dt.datetime:
        self.moment += dt.timedelta(**delta)
        return self.moment

    async def sleep(self, seconds: float) -> None:
        import asyncio
        await asyncio.sleep(0)


def monotonic() -> float:
    return time.monotonic()

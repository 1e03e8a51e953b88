"""Riding through a database outage: a PostgreSQL restart must not lose a call's record (issue 12).

Why it looks like this: on one box the database is a file and cannot go away under a process; a shared
PostgreSQL can (a restart, a failover, a network blip). When it does, every statement fails with an
OperationalError and the Store's connection is dead for good. What a process should do then is the
same everywhere: wait for the database, open a fresh connection and run the unit of work again —
the controller's tick simply stalls (so it originates nothing while the database cannot record the
call), and an attempt's disposition or a dialog's answers are written when the database is back
instead of being dropped.

Running the unit again is safe because a unit that failed this way did not commit: the connection
broke before or during it, and PostgreSQL rolls back whatever was open. (A break exactly during COMMIT
is ambiguous — the client cannot know — and the retried unit may then apply twice; our units are
transactions or guarded transitions, which refuse to apply twice.)

Only losing the connection counts (SQLSTATE class 08 connection exception, 57P operator intervention —
a server shutting down —, or no SQLSTATE at all: the server could not be reached). Every other error,
a constraint violated, a bad statement, SQLite's "database is locked" after its busy timeout, is the
caller's to see at once.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import sqlalchemy as sa

log = logging.getLogger(__name__)

T = TypeVar("T")

FIRST_WAIT_S = 0.5
LONGEST_WAIT_S = 5.0
REPORT_EVERY_S = 30.0


def connection_lost(exc: BaseException) -> bool:
    """Did `exc` come from losing (or not reaching) a PostgreSQL server, rather than from the work itself?"""
    if not isinstance(exc, sa.exc.DBAPIError):
        return False
    if exc.connection_invalidated:
        return True
    if not isinstance(exc, sa.exc.OperationalError):
        return False
    orig = exc.orig
    if type(orig).__module__.split(".")[0] != "psycopg":
        return False  # SQLite: "database is locked" and the like are not outages
    state = getattr(orig, "sqlstate", None)
    return state is None or state.startswith("08") or state.startswith("57P")


def through_outage(run: Callable[[], T], reopen: Callable[[], Any], *, what: str = "database work",
                   stop: threading.Event | None = None, clock: Callable[[], float] = time.monotonic,
                   sleep: Callable[[float], Any] = time.sleep) -> T:
    """`run()`; when it fails because the database is unreachable, wait (0.5 s doubling to 5 s) and
    `reopen()` (a fresh connection) until that succeeds, then run again. Gives up only when `stop` is
    set (the last error is raised). A warning when the outage starts, every 30 s while it lasts, and
    when it ends."""
    since: float | None = None
    while True:
        try:
            result = run()
        except sa.exc.DBAPIError as exc:
            if not connection_lost(exc) or (stop is not None and stop.is_set()):
                raise
            if since is None:
                since = clock()
                log.warning("database unreachable during %s; waiting for it (%s)", what, _reason(exc))
            _wait_and_reopen(exc, reopen, since, what, stop, clock, sleep)
            continue
        if since is not None:
            log.warning("database reachable again after %.1f s; %s done", clock() - since, what)
        return result


def _wait_and_reopen(exc: sa.exc.DBAPIError, reopen: Callable[[], Any], since: float, what: str,
                     stop: threading.Event | None, clock: Callable[[], float], sleep: Callable[[float], Any]) -> None:
    wait = FIRST_WAIT_S
    reported = clock()
    while True:
        sleep(wait)
        wait = min(wait * 2, LONGEST_WAIT_S)
        if stop is not None and stop.is_set():
            raise exc
        try:
            reopen()
            return
        except sa.exc.DBAPIError as again:
            if not connection_lost(again):
                raise
            exc = again
        if clock() - reported >= REPORT_EVERY_S:
            reported = clock()
            log.warning("database still unreachable after %.0f s (%s)", reported - since, what)


def _reason(exc: sa.exc.DBAPIError) -> str:
    first = str(exc.orig).strip().splitlines()
    return first[0] if first else type(exc.orig).__name__

"""What the simulated phones wrote down, read by tests that must wait for it."""
from __future__ import annotations

from pathlib import Path

from ivr.sim.calllog import calls
from tests.support.waiting import wait_for


def finished_call(log: str | Path, attempt: str, *, timeout: float = 30.0) -> dict:
    """The phone's record of the call of `attempt`, once it is written. The phone writes it on its
    next tick after the BYE, which on a loaded machine can come after the controller has already
    closed the attempt in the database (a test read the log a moment too early in a run beside
    another test run)."""
    def logged() -> list[dict]:
        found = [c for c in calls(log) if c.get("attempt") == attempt]
        if len(found) > 1:
            raise AssertionError(f"the phones logged {len(found)} calls for attempt {attempt}: {found}")
        return found

    found = wait_for(logged, timeout)
    if not found:
        raise AssertionError(f"no phone logged the end of attempt {attempt} within {timeout:.0f} s")
    return found[0]

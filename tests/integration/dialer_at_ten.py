"""A dialer controller for the integration tests that must run it as a child process (the SIGKILL
fault test): `python -m tests.integration.dialer_at_ten` with the settings in the environment.

Why this exists: production's `ivr dialer run` takes no clock option at all, so a test that needs
the calling-hours policy to see 10:00 Beijing (whatever the machine's hour) starts this test-only
entry instead. It is not installed with the package, takes no time argument, and, like the demo,
shifts only the policy's "now" (`Controller(policy_shift=...)`); every stored time is real.

Its database is the settings' (`IVR_DATABASE_URL` picks PostgreSQL, as for every process).

`DIE_AT` in the environment makes it SIGKILL itself at a chosen moment, for the tests that kill the
controller where it hurts most:
  before-originate  an attempt's row is written, its Originate not yet sent;
  after-originate   the Originate was sent and accepted, nothing heard back yet;
  in-finalize       inside the transaction that applies an ended attempt's disposition.

SIGUSR1 makes it print what it is doing (every asyncio task's stack, the calls it places or follows,
whether it owes a reconcile) to its log: the test sends it before killing a run that did not finish.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import signal
import sys
from zoneinfo import ZoneInfo

from ivr import config
from ivr.dialer.clock import shift_to
from ivr.db import attempts as attempts_db
from ivr.dialer import calls, target_state
from ivr.dialer.controller import Controller


def ten_am_beijing() -> dt.datetime:
    return dt.datetime.combine(dt.date.today(), dt.time(10, 0), tzinfo=ZoneInfo("Asia/Shanghai"))


def die(*_args, **_kwargs):
    print(f"dying at {os.environ['DIE_AT']}", flush=True)
    os.kill(os.getpid(), signal.SIGKILL)


def arm(point: str) -> None:
    """Make the process kill itself at `point` (see the module docstring)."""
    if point == "before-originate":
        attempts_db.mark_dialing = die
    elif point == "after-originate":
        place = calls.CallPlacer.place

        async def place_then_die(self, *args, **kwargs):
            await place(self, *args, **kwargs)
            die()
        calls.CallPlacer.place = place_then_die
    elif point == "in-finalize":
        target_state.settle = die
    else:
        raise SystemExit(f"DIE_AT: unknown point {point!r}")


def report(ctl: Controller) -> None:
    """SIGUSR1: the controller's own view, for a run that does not finish."""
    print(f"SIGUSR1 report: stats {ctl.stats}", flush=True)
    print(f"  placing {sorted(ctl._placing)}; in flight {sorted(ctl._in_flight)}; needs reconcile "
          f"{ctl._needs_reconcile}; AMI connected {ctl.placer.ami.connected if ctl.placer else None}; "
          f"followed {ctl.placer.pending_ids() if ctl.placer else None}", flush=True)
    for task in asyncio.all_tasks():
        print(f"  task {task.get_name()}:", flush=True)
        task.print_stack(limit=8, file=sys.stdout)
    sys.stdout.flush()


async def run(ctl: Controller) -> None:
    asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, report, ctl)
    await ctl.run(until_idle=True)


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = config.load()
    if os.environ.get("DIE_AT"):
        arm(os.environ["DIE_AT"])
    ctl = Controller(settings, max_channels=8, tick_s=0.2, lender=settings.lender_name,
                     policy_shift=shift_to(ten_am_beijing()))
    where = "PostgreSQL" if settings.database_url.startswith("postgres") else settings.database
    print(f"test dialer starting: db {where}, policy time 10:00 Beijing", flush=True)
    asyncio.run(run(ctl))
    return 0


if __name__ == "__main__":
    sys.exit(main())

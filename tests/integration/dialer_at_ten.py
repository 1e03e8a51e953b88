"""A dialer controller for the integration tests that must run it as a child process (the SIGKILL
fault test): `python -m tests.integration.dialer_at_ten` with the settings in the environment.

Why this exists: production's `ivr dialer run` takes no clock option at all, so a test that needs
the calling-hours policy to see 10:00 Beijing (whatever the machine's hour) starts this test-only
entry instead. It is not installed with the package, takes no time argument, and, like the demo,
shifts only the policy's "now" (`Controller(policy_shift=...)`); every stored time is real.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import logging
import sys
from zoneinfo import ZoneInfo

from ivr import config
from ivr.dialer.clock import shift_to
from ivr.dialer.controller import Controller


def ten_am_beijing() -> dt.datetime:
    return dt.datetime.combine(dt.date.today(), dt.time(10, 0), tzinfo=ZoneInfo("Asia/Shanghai"))


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = config.load()
    ctl = Controller(settings, max_channels=8, tick_s=0.2, lender=settings.lender_name,
                     policy_shift=shift_to(ten_am_beijing()))
    print(f"test dialer starting: db {settings.database}, policy time 10:00 Beijing", flush=True)
    asyncio.run(ctl.run(until_idle=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())

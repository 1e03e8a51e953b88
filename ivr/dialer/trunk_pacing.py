"""Per-trunk channel and calls-per-second limits, applied by the dialer before it originates.

Why here and not only in Asterisk: a carrier contract caps concurrent calls and new calls per
second on each trunk; going over gets 503s or a blocked account. The dialer already paces each
campaign (scheduler.Pacer); this adds the trunks' own caps on top: a call is placed only when some
trunk has both a free channel and a calls-per-second token, and it starts on the first such trunk
(in configured order); the trunks after it are its failover, tried by the dialplan only on a trunk
failure (ivr/dialer/failover.py). A failover leg is not paced here (it follows a failed leg at
most once per call); the dialplan refuses it when that trunk is at its channel limit
(GROUP_COUNT in `[huifang-dial]`), so the channel cap holds on every trunk.
"""
from __future__ import annotations

import time
from collections.abc import Callable

from ..config import Trunk
from .scheduler import Pacer


class TrunkPacing:
    def __init__(self, trunks: list[Trunk], clock: Callable[[], float] = time.monotonic) -> None:
        self.trunks = list(trunks)
        self._pacers = {t.endpoint: Pacer(t.max_cps, clock=clock) for t in self.trunks}
        self._busy = {t.endpoint: 0 for t in self.trunks}

    def _room(self, trunk: Trunk) -> int:
        return max(0, min(trunk.max_channels - self._busy[trunk.endpoint], self._pacers[trunk.endpoint].available()))

    def room(self) -> int:
        """How many calls may start now over all trunks."""
        return sum(self._room(t) for t in self.trunks)

    def assign(self) -> list[Trunk] | None:
        """The trunks for one new call (the first with room, then the ones after it as failover),
        taking that trunk's channel and token; None when no trunk has room."""
        for i, trunk in enumerate(self.trunks):
            if self._room(trunk) > 0:
                self._pacers[trunk.endpoint].take(1)
                self._busy[trunk.endpoint] += 1
                return self.trunks[i:]
        return None

    def adopt(self, endpoint: str | None) -> None:
        """Count a call placed before a restart (still up) on its trunk."""
        if endpoint in self._busy:
            self._busy[endpoint] += 1

    def release(self, endpoint: str | None) -> None:
        if endpoint in self._busy and self._busy[endpoint] > 0:
            self._busy[endpoint] -= 1

    def busy(self) -> dict[str, int]:
        return dict(self._busy)

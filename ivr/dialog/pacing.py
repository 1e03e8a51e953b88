"""Real-time pacing of every call's outgoing audio with one timer per event loop.

Asterisk plays AudioSocket audio the moment it arrives, so we must send it in real time. Before,
each call had its own sender task sleeping 20 ms between frames: at N calls that is 50·N timer
wake-ups and socket writes a second, all Python on the one event loop. Now:

* One :class:`Pacer` task per event loop wakes every ``frames_per_write`` × 20 ms on an absolute
  (monotonic) schedule and tops up every playing connection until its audio covers the time up to
  the next wake-up — ``frames_per_write`` frames in one socket write in the steady state. The
  schedule is re-anchored rather than bursting a backlog when the loop stalls.
* A playback that starts between two wake-ups gets its first frames at once (a reply must not wait
  for the grid), enough to reach the next wake-up.
* Asterisk writes each AudioSocket frame to the channel as it reads it, so with 2 frames per write
  the phone receives two 20 ms RTP packets together every 40 ms: 20 ms of jitter, which any jitter
  buffer absorbs. ``frames_per_write=1`` is the old timing exactly.

The connection keeps its own queue (``AudioSocketConnection``); the pacer only asks it to send.
"""
from __future__ import annotations

import asyncio
import logging
import time
import weakref
from typing import Protocol

log = logging.getLogger(__name__)

FRAME_SECONDS = 0.020
FRAMES_PER_WRITE = 2          # 40 ms per wake-up and per socket write
RESYNC_FRAMES = 3             # re-anchor when this many frames late
STALL_WARN_SECONDS = 0.25     # a gap a listener can hear inside a prompt is logged as a warning


class Paced(Protocol):
    def _top_up(self, now: float, until: float) -> bool:
        """Send what is due up to ``until``; False once nothing is left to pace."""


class Pacer:
    """Wakes every ``frames_per_write`` frames and tops up every registered connection."""

    def __init__(self, frames_per_write: int = FRAMES_PER_WRITE):
        if frames_per_write < 1:
            raise ValueError("frames_per_write must be at least 1")
        self.period = frames_per_write * FRAME_SECONDS
        self._members: dict[Paced, None] = {}
        self._task: asyncio.Task | None = None
        self._next_at = 0.0
        self.wakeups = 0

    def add(self, member: Paced) -> None:
        """Start pacing ``member`` now: its first frames go out before this returns."""
        now = time.monotonic()
        if self._task is None or self._task.done():
            self._next_at = now + self.period
            self._task = asyncio.get_running_loop().create_task(self._run(), name="audio-pacer")
        if member in self._members:
            return
        if member._top_up(now, self._next_at):
            self._members[member] = None

    async def _run(self) -> None:
        clock = time.monotonic
        try:
            while self._members:
                delay = self._next_at - clock()
                if delay > 0:
                    await asyncio.sleep(delay)
                now = clock()
                late = now - self._next_at
                if late > RESYNC_FRAMES * FRAME_SECONDS:
                    # every playing prompt now has a gap this long: a borrower may hear it as the
                    # prompt's end (what stalled the loop is the thing to look for)
                    (log.warning if late >= STALL_WARN_SECONDS else log.debug)(
                        "pacer %.0f ms late: %d playing prompts paused; re-anchoring", late * 1000, len(self._members))
                    self._next_at = now
                self._next_at += self.period
                self.wakeups += 1
                for member in list(self._members):
                    try:
                        still = member._top_up(now, self._next_at)
                    except Exception:   # one broken connection must not stop everyone's audio
                        log.exception("pacing a connection failed; dropping it")
                        still = False
                    if not still:
                        self._members.pop(member, None)
        finally:
            self._task = None


_pacers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Pacer] = weakref.WeakKeyDictionary()


def pacer() -> Pacer:
    """The running event loop's pacer (one per loop: tests run many loops in one process)."""
    loop = asyncio.get_running_loop()
    found = _pacers.get(loop)
    if found is None:
        found = _pacers[loop] = Pacer(FRAMES_PER_WRITE)
    return found

"""How long escalated borrowers wait for an agent, from the AMI events of their call.

Why it looks like this: the wait starts at our dialplan's `HuifangStage` `Stage: queued` (sent
just before `Queue()`) and ends at the first of
  * Asterisk's `AgentConnect` for the call (an agent answered)      -> result "answered"
  * our `HuifangStage` `Stage: queue-ended` (Queue() returned)       -> result = QUEUESTATUS
    in lower case (timeout, joinempty, leaveempty, full, ...)
  * the `Hangup` of the call's own channel (the one that sent `queued`) while still waiting
                                                                    -> result "abandoned"
`CallPlacer` feeds it every event of a followed attempt; the wait goes to
`huifang_queue_wait_seconds{result}`. Only the start time of calls in the queue is kept.
"""
from __future__ import annotations

import time
from collections.abc import Callable

from .. import metrics
from ..ami.protocol import Message


def _h(event: Message, name: str) -> str:
    value = event.get(name)
    if isinstance(value, list):
        value = value[0] if value else ""
    return "" if value is None else str(value)


class QueueWaits:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._since: dict[str, tuple[float, str]] = {}   # attempt id -> (when it joined the queue, its channel)

    def observe(self, attempt_id: str, event: Message) -> tuple[str, float] | None:
        """Feed one event of `attempt_id`; (result, seconds waited) when it ends a wait."""
        name = _h(event, "Event")
        stage = _h(event, "Stage") if name == "UserEvent" and _h(event, "UserEvent") == "HuifangStage" else ""
        if stage == "queued":
            self._since[attempt_id] = (self.clock(), _h(event, "Uniqueid") or attempt_id)
            return None
        if attempt_id not in self._since:
            return None
        if name == "AgentConnect":
            result = "answered"
        elif stage == "queue-ended":
            result = (_h(event, "QueueStatus") or "ended").lower()
        elif name == "Hangup" and _h(event, "Uniqueid") == self._since[attempt_id][1]:
            result = "abandoned"
        else:
            return None
        waited = max(0.0, self.clock() - self._since.pop(attempt_id)[0])
        metrics.QUEUE_WAIT.labels(result).observe(waited)
        return result, waited

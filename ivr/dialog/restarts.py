"""When the dialog server's supervisor starts a dead worker again: at once, then slower if it keeps dying.

Why it looks like this: a worker that dies now and then (a crash, an operator's `kill`) should be back
within a second, since until then the other workers take every new call. A worker that dies again
right after each start (a model file gone, its port taken by something else) must not spin a core
restarting: each quick death in a row doubles the wait, up to a cap, and a worker that then stays up
long enough is trusted again. Pure (no clock, no processes) so the rule is tested on its own; the
supervisor (ivr/dialog/workers.py) passes in how long the worker lived.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class RestartPolicy:
    first_delay_s: float = 0.5     # a worker that lived long enough is started again after this
    max_delay_s: float = 30.0      # the longest wait between two starts of one worker
    stable_after_s: float = 60.0   # a worker up this long has its count of quick deaths cleared
    quick_deaths: dict[int, int] = field(default_factory=dict)   # worker index -> deaths in a row

    def delay_after_death(self, index: int, lived_s: float) -> float:
        """Seconds to wait before starting worker `index` again, which just died after `lived_s` s."""
        if lived_s < 0:
            raise ValueError(f"lived_s must be >= 0, not {lived_s}")
        streak = 1 if lived_s >= self.stable_after_s else self.quick_deaths.get(index, 0) + 1
        self.quick_deaths[index] = streak
        return min(self.max_delay_s, self.first_delay_s * 2 ** (streak - 1))

"""How busy the whole machine was, and when: /proc/stat jiffies, sampled on a thread.

`machine_ticks()` is one reading; `BusyTimeline` keeps a reading every `interval` seconds so that a
bench can ask how busy the machine was inside a window (e.g. while a borrower waited for the reply).
"""
from __future__ import annotations

import threading
import time
from pathlib import Path


def machine_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs, to show how busy the shared machine was."""
    parts = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = parts[3] + (parts[4] if len(parts) > 4 else 0)
    return sum(parts) - idle, sum(parts)


class BusyTimeline:
    """Wall-clock readings of the machine's busy jiffies; `busy_pct(a, b)` over a window."""

    def __init__(self, interval: float = 0.05):
        self.interval = interval
        self.readings: list[tuple[float, int, int]] = []    # (time.time(), busy, total)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="busy-timeline", daemon=True)

    def __enter__(self) -> "BusyTimeline":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            busy, total = machine_ticks()
            self.readings.append((time.time(), busy, total))
            self._stop.wait(self.interval)

    def busy_pct(self, start: float, end: float) -> float | None:
        """Busy share of all CPUs between the readings that enclose [start, end], in %."""
        before = [r for r in self.readings if r[0] <= start]
        after = [r for r in self.readings if r[0] >= end]
        if not before or not after:
            return None
        a, b = before[-1], after[0]
        return round(100 * (b[1] - a[1]) / max(1, b[2] - a[2]), 1)

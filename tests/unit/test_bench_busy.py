"""bench/busy.py: the machine's busy share inside a window of wall-clock time."""
import time

from bench.busy import BusyTimeline, machine_ticks


def test_busy_share_between_the_enclosing_readings():
    t = BusyTimeline()
    # (time, busy jiffies, total jiffies): 2 cores, 100 jiffies per second per core
    t.readings = [(10.0, 0, 0), (10.5, 50, 100), (11.0, 150, 200), (11.5, 160, 300)]
    assert t.busy_pct(10.5, 11.0) == 100.0
    assert t.busy_pct(11.0, 11.5) == 10.0
    assert t.busy_pct(10.2, 10.9) == 75.0          # widened to 10.0 .. 11.0
    assert t.busy_pct(9.0, 10.5) is None           # no reading before the window
    assert t.busy_pct(11.2, 12.0) is None          # nor after it


def test_the_sampler_reads_proc_stat():
    busy, total = machine_ticks()
    assert 0 <= busy <= total
    with BusyTimeline(interval=0.01) as t:
        time.sleep(0.1)
    assert len(t.readings) >= 3
    assert all(a[0] <= b[0] and a[2] <= b[2] for a, b in zip(t.readings, t.readings[1:]))

"""The dialog server's workers (ivr/dialog/workers.py), without Asterisk or models: which ports each
worker takes, when a dead worker is started again (ivr/dialog/restarts.py), and the supervisor itself
over stand-in worker processes (a few lines of Python that print the ready line, or die)."""
from __future__ import annotations

import asyncio
import os
import signal
import sys
import textwrap

import pytest

from ivr import config
from ivr.config import MAX_DIALOG_WORKERS, Settings
from ivr.dialog import workers
from ivr.dialog.restarts import RestartPolicy

# ---- ports -------------------------------------------------------------------------------------


def test_worker_zero_keeps_the_dialog_servers_own_ports():
    s = Settings(port_base=20000)
    assert s.worker_audiosocket_port(0) == s.audiosocket_port == 20074
    assert s.worker_metrics_port(0) == s.metrics_port("dialog") == 20582


def test_other_workers_take_ports_of_their_own_inside_the_block():
    s = Settings(port_base=20000)
    assert [s.worker_audiosocket_port(i) for i in (1, 2, 63)] == [20601, 20602, 20663]
    assert [s.worker_metrics_port(i) for i in (1, 2, 63)] == [20701, 20702, 20763]
    # the next instance's block (3000 ports on) shares none of them
    nxt = Settings(port_base=23000)
    mine = {s.worker_audiosocket_port(i) for i in range(MAX_DIALOG_WORKERS)}
    assert not mine & {nxt.worker_audiosocket_port(i) for i in range(MAX_DIALOG_WORKERS)}


def test_a_configured_metrics_port_is_counted_up_from():
    s = Settings(port_base=20000, dialog_metrics_port=9102)
    assert [s.worker_metrics_port(i) for i in range(3)] == [9102, 9103, 9104]


@pytest.mark.parametrize("index", [-1, MAX_DIALOG_WORKERS])
def test_a_worker_outside_the_range_is_refused(index):
    with pytest.raises(ValueError, match=r"workers are numbered 0\.\.63"):
        Settings().worker_audiosocket_port(index)


def test_zero_workers_means_one_per_core(monkeypatch):
    monkeypatch.setattr(os, "cpu_count", lambda: 6)
    assert Settings().dialog_workers_effective == 6
    assert Settings(dialog_workers=3).dialog_workers_effective == 3
    monkeypatch.setattr(os, "cpu_count", lambda: None)
    assert Settings().dialog_workers_effective == 1
    monkeypatch.setattr(os, "cpu_count", lambda: 512)
    assert Settings().dialog_workers_effective == MAX_DIALOG_WORKERS


@pytest.mark.parametrize("value", ["-1", "65"])
def test_a_bad_worker_count_is_refused_by_name(value):
    with pytest.raises(ValueError, match=rf"dialog_workers must be 0 \(one per core\) to 64, not {value}"):
        config.load(env={"IVR_DIALOG_WORKERS": value, "IVR_CONFIG": os.devnull})


# ---- restart policy ----------------------------------------------------------------------------


def test_a_worker_that_lived_long_is_started_again_at_once_every_time():
    policy = RestartPolicy(first_delay_s=0.5, stable_after_s=60)
    assert [policy.delay_after_death(0, 3600) for _ in range(4)] == [0.5, 0.5, 0.5, 0.5]


def test_quick_deaths_in_a_row_double_the_wait_up_to_the_cap():
    policy = RestartPolicy(first_delay_s=0.5, max_delay_s=5, stable_after_s=60)
    assert [policy.delay_after_death(1, 2) for _ in range(6)] == [0.5, 1, 2, 4, 5, 5]
    # another worker has its own count
    assert policy.delay_after_death(0, 2) == 0.5
    # once it stays up long enough it is trusted again
    assert policy.delay_after_death(1, 61) == 0.5
    assert policy.delay_after_death(1, 2) == 1


def test_a_negative_lifetime_is_a_bug_not_a_delay():
    with pytest.raises(ValueError):
        RestartPolicy().delay_after_death(0, -1)


# ---- the supervisor over stand-in workers ---------------------------------------------------------

STANDIN = textwrap.dedent("""
    import os, sys, time
    index, behaviour = int(sys.argv[1]), sys.argv[2]
    if behaviour == "fail":
        sys.exit(3)
    print(f"{READY}: worker {index} pid {os.getpid()}", flush=True)
    time.sleep(120)
""")


def standin(behaviours):
    """A worker command: worker i runs STANDIN with behaviours[i] ("ready" or "fail")."""
    code = STANDIN.replace("{READY}", workers.READY)

    def command(index, supervisor_pid):
        return [sys.executable, "-c", code, str(index), behaviours[index]]
    return command


async def wait_until(condition, timeout=10.0):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError("timed out")
        await asyncio.sleep(0.05)


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_ready_once_every_worker_is_and_a_dead_one_comes_back(capfd):
    seen = []

    def printed(text):   # the workers' lines are passed on to the supervisor's stdout
        seen.append(capfd.readouterr().out)
        return text in "".join(seen)

    async def scenario():
        sup = workers.Supervisor(Settings(), count=2, policy=RestartPolicy(first_delay_s=0.1),
                                 command=standin(["ready", "ready"]))
        await sup.start(timeout=20)
        first = sup.pids()
        assert set(first) == {0, 1}
        assert all(printed(f"{workers.READY}: worker {i} pid {first[i]}") for i in (0, 1))
        os.kill(first[1], signal.SIGKILL)
        await wait_until(lambda: sup.pids().get(1) not in (None, first[1]))
        await wait_until(lambda: printed(f"{workers.READY}: worker 1 pid {sup.pids()[1]}"))
        assert sup.pids()[0] == first[0]   # the other worker was left alone
        pids = sup.pids()
        await sup.stop(grace_s=5)
        return first, pids

    first, pids = asyncio.run(scenario())
    assert not any(alive(p) for p in (*first.values(), *pids.values()))   # stop() stopped them all


def test_a_worker_that_fails_to_start_fails_the_start_and_stops_the_others():
    async def scenario():
        sup = workers.Supervisor(Settings(), count=2, command=standin(["ready", "fail"]))
        with pytest.raises(workers.WorkerFailed, match=r"dialog worker 1 ended before it was ready \(exit status 3"):
            await sup.start(timeout=20)
        return sup

    sup = asyncio.run(scenario())
    assert all(p.returncode is not None for p in sup.procs.values())


def test_how_a_worker_ended_is_said_plainly():
    assert workers.how_it_ended(-9) == "killed by SIGKILL"
    assert workers.how_it_ended(1) == "exit status 1"

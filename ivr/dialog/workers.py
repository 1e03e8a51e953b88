"""The dialog server as a supervisor of worker processes, so that every core takes calls.

Why it looks like this:

* One asyncio process paces every call's audio and runs every recognizer's bookkeeping; at about a
  hundred calls it is the ceiling while the second core idles. So `ivr dialog serve` starts
  `dialog_workers` processes (0: one per core), each a whole dialog server (ivr/dialog/server.py)
  with its own calls, and only supervises them: it loads no model and handles no call.
* One call's two connections must meet in one worker. Every worker listens on the one FastAGI port
  with SO_REUSEPORT, so the kernel hands each AGI connection (each answered call) to one of them;
  each worker has an AudioSocket port of its own (`Settings.worker_audiosocket_port`) and its AGI
  session names that port in `EXEC AudioSocket(...)`. Asterisk needs no change and no knowledge of
  the workers: the dialplan still dials one AGI address.
* A worker that dies takes only its own calls: their AGI and AudioSocket connections drop,
  IVR_DIALOG_DONE stays unset and the dialplan's `dialog-down` path apologises and hangs up, as it
  does when the whole server goes away; the controller records the attempt as it always has. The
  kernel stops giving the dead worker's AGI socket connections the moment it closes, so new calls go
  to the others until the supervisor has started it again (`restarts.RestartPolicy`: at once, slower
  if it keeps dying).
* Workers die with the supervisor, however it dies (PR_SET_PDEATHSIG): a killed supervisor never
  leaves workers holding the ports, and a fault test's SIGKILL of the server still kills every call.
* Ready means every worker is ready: the supervisor prints the one line the stack, the demo and the
  tests wait for ("dialog server ready ...") once each worker has printed its own. A worker that
  exits before its first ready line fails the whole start (a port taken, a broken flow file): the
  error it printed is the reason, and there is no point starting the rest.
* Metrics are per worker: each serves /metrics and /healthz on `Settings.worker_metrics_port(i)`
  (worker 0 on the dialog server's usual port); the supervisor serves none.
"""
from __future__ import annotations

import asyncio
import ctypes
import logging
import os
import signal
import sys
import time

from ..config import REPO_ROOT, Settings
from .restarts import RestartPolicy

log = logging.getLogger(__name__)

READY = "dialog worker ready"    # what a worker prints on stdout once it takes calls
SERVER_READY = "dialog server ready"   # what the supervisor prints once every worker has
START_TIMEOUT_S = 180.0          # the speech models load in each worker: seconds, not minutes
STOP_GRACE_S = 8.0               # SIGTERM, then SIGKILL (the stack waits 10 s for the supervisor)
_PR_SET_PDEATHSIG = 1


class WorkerFailed(RuntimeError):
    pass


def ready_line(settings: Settings, index: int) -> str:
    """The line worker `index` prints when it is ready (the supervisor and the tests read it)."""
    return (f"{READY}: worker {index} pid {os.getpid()}, AudioSocket {settings.bind}:"
            f"{settings.worker_audiosocket_port(index)}, metrics http://{settings.bind}:"
            f"{settings.worker_metrics_port(index)}/metrics")


def worker_command(index: int, supervisor_pid: int) -> list[str]:
    return [sys.executable, "-m", "ivr.cli", "dialog", "serve", "--worker", str(index),
            "--supervisor", str(supervisor_pid)]


def die_with(supervisor_pid: int) -> None:
    """In a worker: have the kernel SIGKILL this process when its supervisor dies, however it dies."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) != 0:
        log.warning("cannot tie this worker to its supervisor (prctl: %s)", os.strerror(ctypes.get_errno()))
    if os.getppid() != supervisor_pid:   # it died before we asked
        os._exit(1)


def how_it_ended(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit status {code}"


class Supervisor:
    """Starts `count` workers, starts again any that dies, stops them all."""

    def __init__(self, settings: Settings, count: int | None = None, policy: RestartPolicy | None = None,
                 command=worker_command):
        self.settings = settings
        self.count = count or settings.dialog_workers_effective
        self.policy = policy or RestartPolicy()
        self.command = command
        self.env = {**os.environ, **settings.to_env(), "PYTHONPATH": str(REPO_ROOT)}
        self.procs: dict[int, asyncio.subprocess.Process] = {}
        self.stopping = False
        self._first_ready: dict[int, asyncio.Future] = {}
        self._tasks: list[asyncio.Task] = []

    async def start(self, timeout: float = START_TIMEOUT_S) -> None:
        """Start every worker and return once each is ready; WorkerFailed if one exits first."""
        loop = asyncio.get_running_loop()
        self._first_ready = {i: loop.create_future() for i in range(self.count)}
        self._tasks = [asyncio.create_task(self._keep(i), name=f"dialog-worker-{i}") for i in range(self.count)]
        every = asyncio.gather(*self._first_ready.values())
        every.add_done_callback(lambda f: f.cancelled() or f.exception())   # read, even when start is cancelled
        try:
            await asyncio.wait_for(every, timeout)
        except asyncio.TimeoutError:
            await self.stop()
            raise WorkerFailed(f"the dialog workers were not ready within {timeout:.0f} s") from None
        except BaseException:
            await self.stop()
            raise

    async def _keep(self, index: int) -> None:
        """Run worker `index` until the supervisor stops, starting it again whenever it dies."""
        first = self._first_ready[index]
        while not self.stopping:
            started = time.monotonic()
            proc = await asyncio.create_subprocess_exec(
                *self.command(index, os.getpid()), cwd=str(REPO_ROOT), env=self.env,
                stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE)   # stderr: the supervisor's
            self.procs[index] = proc
            if self.stopping:
                proc.terminate()
            await self._pump(index, proc, first)
            code = await proc.wait()
            if self.stopping:
                return
            if not first.done():
                first.set_exception(WorkerFailed(f"dialog worker {index} ended before it was ready "
                                                 f"({how_it_ended(code)}; its own message is above)"))
                return
            delay = self.policy.delay_after_death(index, time.monotonic() - started)
            log.error("dialog worker %d (pid %d) ended (%s): its calls were dropped; starting it again in %.1f s",
                      index, proc.pid, how_it_ended(code), delay)
            await asyncio.sleep(delay)

    async def _pump(self, index: int, proc: asyncio.subprocess.Process, first: asyncio.Future) -> None:
        """Pass the worker's stdout on to ours, noting its ready line."""
        assert proc.stdout is not None
        async for line in proc.stdout:
            sys.stdout.buffer.write(line)
            sys.stdout.flush()
            if line.startswith(READY.encode()):
                if not first.done():
                    first.set_result(proc.pid)
                else:
                    log.info("dialog worker %d is back (pid %d)", index, proc.pid)

    def pids(self) -> dict[int, int]:
        """The running workers' pids by index."""
        return {i: p.pid for i, p in self.procs.items() if p.returncode is None}

    async def stop(self, grace_s: float = STOP_GRACE_S) -> None:
        """SIGTERM every worker, SIGKILL those still up after `grace_s`, and wait for them all."""
        self.stopping = True
        for proc in self.procs.values():
            if proc.returncode is None:
                proc.terminate()
        live = [t for t in self._tasks if not t.done()]
        if live:
            _, pending = await asyncio.wait(live, timeout=grace_s)
            for index, proc in self.procs.items():
                if proc.returncode is None:
                    log.warning("dialog worker %d (pid %d) did not stop within %.0f s: killing it",
                                index, proc.pid, grace_s)
                    proc.kill()
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        for proc in self.procs.values():
            if proc.returncode is None:
                await proc.wait()


async def serve(settings: Settings) -> None:
    """`ivr dialog serve`: the workers, until SIGTERM or SIGINT."""
    supervisor = Supervisor(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    starting = asyncio.create_task(supervisor.start())
    stopped = asyncio.create_task(stop.wait())
    await asyncio.wait({starting, stopped}, return_when=asyncio.FIRST_COMPLETED)
    if not starting.done():   # stopped while starting
        starting.cancel()
        await asyncio.gather(starting, return_exceptions=True)
        await supervisor.stop()
        return
    stopped.cancel()
    if starting.exception() is not None:
        raise SystemExit(f"error: {starting.exception()}")
    ports = ", ".join(str(settings.worker_audiosocket_port(i)) for i in range(supervisor.count))
    print(f"{SERVER_READY} on {settings.bind}:{settings.agi_port} (AGI) and {settings.bind}:{ports} (AudioSocket), "
          f"{supervisor.count} worker(s)", flush=True)
    await stop.wait()
    await supervisor.stop()

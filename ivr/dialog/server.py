"""The dialog server: FastAGI for call control plus AudioSocket for the conversation, in one worker process.

For each answered call Asterisk runs `AGI(agi://.../followup)`. The handler looks the attempt up,
asks Asterisk to `EXEC AudioSocket(<attempt id>,<this worker's AudioSocket address>)`, and, once
that audio connection arrives on our AudioSocket port, runs the follow-up flow over it. When the
flow ends we close the audio connection (AudioSocket returns), tell the dialplan what to do next
(IVR_NEXT: hangup or queue) and mark the dialog done (IVR_DIALOG_DONE=1): a call whose dialog
server vanished is then told apart by the dialplan and ended politely.

`ivr dialog serve` runs several of these (ivr/dialog/workers.py supervises them): each worker
shares the FastAGI port with the others (SO_REUSEPORT: the kernel picks the worker of each call)
and has an AudioSocket port of its own, the one its AGI sessions name, so both connections of a
call meet in the worker that took it.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import functools
import logging
import os
import signal

from .. import metrics
from ..asterisk import media
from ..config import Settings
from .agi import AgiSession, CallHungUp, start_agi_server
from . import answer_screen
from .announce import AnnouncementRoute, recognize_answered, warm_up as warm_up_announcements
from .audiosocket import AudioSocketConnection, start_audiosocket_server
from .baseline import BaselineDialog
from .flow import Flow, load as load_flow
from .prompts import Prompts
from .runner import CallContext, FlowRunner
from .speech import SpeechEngine
from .store import DialogStore
from .turns import CallAudio

log = logging.getLogger(__name__)
AUDIO_CONNECT_TIMEOUT = 5.0


class DialogServer:
    def __init__(self, settings: Settings, *, worker: int = 0, today: dt.date | None = None):
        self.settings = settings
        self.worker = worker                     # this process's index among the dialog workers
        self.audiosocket_port = settings.worker_audiosocket_port(worker)
        # every flow is checked before the first call; an attempt names the one it runs
        self.flows: dict[str, Flow] = {p.stem: load_flow(p, settings.prompts_dir)
                                       for p in sorted(settings.flows_dir.glob("*.yaml"))}
        self.prompts = Prompts(settings)
        self.speech = SpeechEngine(settings)
        self.store = DialogStore(settings)   # database_url, else the SQLite file
        self.today = today
        self._waiting: dict[str, asyncio.Future] = {}    # attempt id -> future of its audio connection
        self._done: dict[str, asyncio.Event] = {}
        self._servers: list[asyncio.Server] = []
        self.calls_active = 0

    async def start(self) -> None:
        loaded = await self.speech.preload(self.prompts.locales)
        log.info("%d prompts in memory", await asyncio.get_running_loop().run_in_executor(None, self.prompts.preload))
        await warm_up_announcements(self.settings)
        if self.settings.asterisk_mode == "external":
            # the managed Asterisk gets them when its configuration is rendered
            try:
                media.install_sounds(self.settings)
            except OSError as exc:
                log.error("cannot install the sounds Asterisk plays into %s (%s); `ivr asterisk check` "
                          "says what is missing", self.settings.media_dir_on_host, exc)
        log.info("speech models loaded: %s", ", ".join(loaded) or "none (keypad only)")
        routes = {"followup": self.followup, "no-agent": self.no_agent,
                  # the dial wrapper: early media of a failed call
                  "announcement": AnnouncementRoute(self)}
        if self.settings.bench_baseline:   # record-then-recognize, only when bench/capacity.py asks
            routes["baseline"] = BaselineDialog(self)
        # the AudioSocket listener first: a worker takes AGI connections only once it can take their audio
        self._servers.append(await start_audiosocket_server(self.settings.bind, self.audiosocket_port,
                                                            self.on_audio))
        self._servers.append(await start_agi_server(self.settings.bind, self.settings.agi_port, routes,
                                                    reuse_port=True))
        log.info("dialog worker %d: FastAGI on %s:%d (shared), AudioSocket on %s:%d", self.worker,
                 self.settings.bind, self.settings.agi_port, self.settings.bind, self.audiosocket_port)

    async def close(self) -> None:
        for server in self._servers:
            server.close()
        for server in self._servers:
            await server.wait_closed()
        self.speech.close()
        self.store.close()

    # ---- AudioSocket side ---------------------------------------------------------------------
    async def on_audio(self, conn: AudioSocketConnection) -> None:
        waiter = self._waiting.get(conn.uuid)
        if waiter is None or waiter.done():
            log.warning("AudioSocket for unknown call %s: closing", conn.uuid)
            return
        done = self._done[conn.uuid]
        waiter.set_result(conn)
        await done.wait()  # the connection stays open until the flow has finished

    # ---- AGI side ------------------------------------------------------------------------------
    async def followup(self, agi: AgiSession) -> None:
        attempt_id = (await agi.get_variable("IVR_ATTEMPT")) or agi.env.get("agi_uniqueid", "")
        context = await self.store.context(attempt_id)
        if context is None:
            log.warning("call %s: no such attempt in the database; ending the call", attempt_id)
            await agi.set_variable("IVR_NEXT", "hangup")
            await agi.set_variable("IVR_DIALOG_DONE", "1")
            return
        attempt, borrower = context["attempt"], context["borrower"]
        ctx = CallContext(attempt_id=attempt_id, locale=attempt["locale"], borrower=borrower,
                          today=self.today or dt.date.today())
        loop = asyncio.get_running_loop()
        self._waiting[attempt_id] = loop.create_future()
        self._done[attempt_id] = asyncio.Event()
        self.calls_active += 1
        metrics.DIALOGS_ACTIVE.inc()
        log.info("call %s: dialog worker %d (pid %d) takes it", attempt_id, self.worker, os.getpid())
        await self.store.start(attempt_id)
        error = None
        audio = None
        exec_task = asyncio.create_task(
            agi.exec("AudioSocket", attempt_id, f"{self.settings.dialog_host}:{self.audiosocket_port}"))
        try:
            done, _ = await asyncio.wait({self._waiting[attempt_id], exec_task}, timeout=AUDIO_CONNECT_TIMEOUT,
                                         return_when=asyncio.FIRST_COMPLETED)
            if self._waiting[attempt_id] not in done:
                if exec_task.done() and exec_task.exception():
                    raise exec_task.exception()
                raise RuntimeError("Asterisk did not open the AudioSocket connection")
            conn = self._waiting[attempt_id].result()
            audio = CallAudio(conn)
            flow = self.flows.get(attempt["flow"] or "followup")
            if flow is None:
                raise RuntimeError(f"attempt names unknown flow {attempt['flow']!r}")
            screen = None
            if self.settings.answer_screen:
                recognize = functools.partial(recognize_answered, self.settings, ctx.locale)
                screen = functools.partial(answer_screen.screen, audio, recognize, call_id=attempt_id)
            runner = FlowRunner(flow, self.prompts, self.speech, audio, self.store, ctx, screen=screen)
            await runner.run()
        except CallHungUp:
            ctx.result = "hung_up" if ctx.result in ("completed", "identity_confirmed") else ctx.result
            ctx.next = "hangup"
            log.info("call %s: borrower hung up at %s", attempt_id, ctx.last_node)
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            log.exception("call %s: dialog failed at %s", attempt_id, ctx.last_node)
            ctx.result, ctx.next = "error", "hangup"
        finally:
            self.calls_active -= 1
            metrics.DIALOGS_ACTIVE.dec()
            self._done[attempt_id].set()
            if audio is not None:
                await audio.close()
            await self.store.finish(attempt_id, ctx.result, ctx.last_node, error, ctx.played, ctx.announcement)
            self._waiting.pop(attempt_id, None)
            self._done.pop(attempt_id, None)
        # the AudioSocket application returns once our side has closed
        try:
            await asyncio.wait_for(exec_task, 5.0)
        except (CallHungUp, asyncio.TimeoutError):
            exec_task.cancel()
            return  # the borrower is gone: nothing more to tell the dialplan
        if error is not None:
            return  # IVR_DIALOG_DONE stays unset: the dialplan apologises and hangs up
        await agi.set_variable("IVR_RESULT", ctx.result)
        await agi.set_variable("IVR_NEXT", ctx.next)
        await agi.set_variable("IVR_DIALOG_DONE", "1")

    async def no_agent(self, agi: AgiSession) -> None:
        """No agent answered within the queue's limit: apologise and promise a call back."""
        locale = (await agi.get_variable("IVR_LOCALE")) or self.settings.default_locale
        attempt_id = (await agi.get_variable("IVR_ATTEMPT")) or ""
        log.info("call %s: no agent answered; offering a callback", attempt_id)
        context = await self.store.context(attempt_id) if attempt_id else None
        if context is not None:
            await self.store.callback({"attempt_id": attempt_id, "borrower_id": context["attempt"]["borrower_id"],
                                       "reason": "no_agent"})
        # played by Asterisk from the prompt audio copied into the media directory
        await agi.exec("Playback", media.sound(self.settings, locale, "no_agent"))


async def serve_worker(settings: Settings, index: int) -> None:
    """One dialog worker (`ivr dialog serve --worker N`, started by ivr/dialog/workers.py)."""
    from .. import health
    from .workers import ready_line
    server = DialogServer(settings, worker=index)
    try:   # 503 until the models are loaded
        ops = health.serve("dialog", settings, health.dialog_checks(server), port=settings.worker_metrics_port(index))
    except OSError as exc:   # its metrics port is taken: say so, no traceback
        raise SystemExit(f"error: {exc}") from None
    try:
        await server.start()
    except OSError as exc:   # a listener's port is taken
        raise SystemExit(f"error: dialog worker {index}: {exc}") from None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(ready_line(settings, index), flush=True)
    await stop.wait()
    await server.close()
    ops.stop()

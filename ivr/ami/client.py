"""A long-lived AMI connection that survives Asterisk restarts and half-open sockets.

Why it looks like this:

* The dialer must notice a dead Asterisk quickly, and TCP alone does not tell us when the
  peer vanished without a FIN (half-open). A watchdog therefore sends ``Action: Ping`` every
  ``ping_interval`` seconds and drops the connection if no reply comes within
  ``ping_timeout``.
* After a drop we reconnect forever with exponential backoff, until :meth:`AmiClient.close`.
* Actions in flight when a connection drops fail with :class:`AmiDisconnected` and are
  **never re-sent**: an ``Originate`` may already have dialled somebody, and only the caller
  can decide whether repeating it is safe.
* Events go to ``on_event`` one at a time, in arrival order, from a single dispatcher task
  that outlives individual connections. A slow or failing handler never blocks reading (so
  Pings keep working) and an exception in it is logged, not fatal. ``on_state`` changes are
  sent through the same queue so they are ordered with the events around them.
* ``Event: TestEvent`` is dropped (Debian's build emits lots of them).
* ``Event: OriginateResponse`` carries the ActionID of its ``Originate`` but arrives after
  the action's Response; it is delivered to ``on_event`` like any other event. Pass your own
  ``ActionID`` to ``send_action`` if you need to match it.
"""
from __future__ import annotations

import asyncio
import itertools
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from .. import metrics
from .protocol import AmiParser, Message, encode_action, get_header, message_kind

__all__ = ["AmiClient", "AmiError", "AmiAuthError", "AmiDisconnected", "AmiTimeout"]

log = logging.getLogger(__name__)

EventHandler = Callable[[Message], Awaitable[Any]]
StateHandler = Callable[[bool], Awaitable[Any]]

_READ_CHUNK = 65536
_BACKLOG_WARN = 1000  # warn each time the undelivered-event backlog crosses a multiple of this


class AmiError(Exception):
    """Base class of the client's errors."""


class AmiAuthError(AmiError):
    """Asterisk rejected the Login (wrong username or secret)."""


class AmiDisconnected(AmiError):
    """Not connected, or the connection dropped while the action was in flight.

    The action may or may not have been executed by Asterisk; it is not retried.
    """


class AmiTimeout(AmiError, TimeoutError):
    """No response to an action within its timeout."""


@dataclass
class _Pending:
    """An action awaiting its Response (and, for list actions, its events)."""

    future: asyncio.Future[Any]     # a Message, or (Message, [Message]) for a list action
    is_list: bool
    response: Message | None = None
    events: list[Message] = field(default_factory=list)


class _Link:
    """One TCP connection to AMI together with the actions in flight on it."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.parser = AmiParser()
        self.pending: dict[str, _Pending] = {}
        self.dead = False
        self.reason = ""
        self.reader_task: asyncio.Task[None] | None = None


class AmiClient:
    """See the module docstring. All public methods must be called from one event loop."""

    def __init__(
        self,
        host: str,
        port: int,
        username: str,
        secret: str,
        *,
        on_event: EventHandler,
        on_state: StateHandler | None = None,
        ping_interval: float = 5.0,
        ping_timeout: float = 3.0,
        reconnect_backoff: tuple[float, float] = (0.5, 10.0),
        connect_timeout: float = 5.0,
        login_timeout: float = 5.0,
    ) -> None:
        self.host, self.port = host, port
        self._username, self._secret = username, secret
        self._on_event = on_event
        self._on_state = on_state
        self._ping_interval = ping_interval
        self._ping_timeout = ping_timeout
        self._backoff = reconnect_backoff
        self._connect_timeout = connect_timeout
        self._login_timeout = login_timeout
        self._link: _Link | None = None
        self._connected = asyncio.Event()
        self._queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self._dispatcher: asyncio.Task[None] | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._closing = False
        self._reported = False  # last state sent to on_state
        self._ids = itertools.count(1)
        self._id_prefix = f"hf-{secrets.token_hex(4)}-"
        self.banner: str | None = None

    # -- public API ------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """True while logged in on a live connection."""
        return self._link is not None and not self._link.dead

    async def start(self) -> None:
        """Connect and log in once (errors propagate), then stay connected in background.

        Raises :class:`AmiAuthError` on a rejected Login, ``OSError``/``TimeoutError`` if
        Asterisk cannot be reached. Later reconnects never raise; they log and retry.
        """
        if self._supervisor is not None or self._dispatcher is not None:
            raise RuntimeError("AmiClient.start() called twice")
        self._closing = False
        self._dispatcher = asyncio.create_task(self._dispatch_loop(), name="ami-dispatch")
        try:
            link = await self._open_link()
        except BaseException:
            self._dispatcher.cancel()
            self._dispatcher = None
            raise
        self._adopt(link)
        self._supervisor = asyncio.create_task(self._supervise(link), name="ami-supervisor")

    async def close(self) -> None:
        """Log off, stop reconnecting, fail in-flight actions, deliver queued events."""
        if self._closing:
            return
        self._closing = True
        link = self._link
        if link is not None and not link.dead:
            try:
                await self._request(link, {"Action": "Logoff"}, timeout=1.0)
            except (AmiError, OSError):
                pass
        if self._supervisor is not None:
            self._supervisor.cancel()
            await asyncio.gather(self._supervisor, return_exceptions=True)
            self._supervisor = None
        if link is not None:
            self._kill(link, "client closed")
        self._link = None
        self._connected.clear()
        self._report(False)
        if self._dispatcher is not None:
            self._queue.put_nowait(("stop", None))
            try:
                await asyncio.wait_for(asyncio.shield(self._dispatcher), 5.0)
            except (asyncio.TimeoutError, Exception):
                self._dispatcher.cancel()
                await asyncio.gather(self._dispatcher, return_exceptions=True)
            self._dispatcher = None

    async def wait_connected(self, timeout: float | None = None) -> None:
        """Return once connected and logged in; raise ``TimeoutError`` after ``timeout``."""
        await asyncio.wait_for(self._connected.wait(), timeout)

    async def send_action(self, action: Mapping[str, Any], timeout: float = 10.0) -> Message:
        """Send one action and return its Response (whatever its ``Response:`` value).

        An ``ActionID`` is generated if absent. Raises :class:`AmiDisconnected` if not
        connected or if the connection drops before the Response (no retry), and
        :class:`AmiTimeout` on timeout. ``ValueError`` for CR/LF in a value.
        """
        return cast(Message, await self._request(self._require_link(), action, timeout))

    async def send_action_list(
        self, action: Mapping[str, Any], timeout: float = 10.0
    ) -> tuple[Message, list[Message]]:
        """Send an action answered by an event list (e.g. ``CoreShowChannels``).

        Returns ``(response, events)``: the events carrying this ActionID, in order,
        **excluding** the final ``EventList: Complete`` marker event. If the Response is not a
        Success with ``EventList: start``, returns ``(response, [])`` at once.
        """
        return cast("tuple[Message, list[Message]]",
                    await self._request(self._require_link(), action, timeout, is_list=True))

    # -- connection lifecycle -------------------------------------------------------

    def _require_link(self) -> _Link:
        link = self._link
        if link is None or link.dead:
            raise AmiDisconnected("not connected to AMI")
        return link

    async def _open_link(self) -> _Link:
        """TCP connect and Login; returns a live link or raises."""
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(self.host, self.port), self._connect_timeout)
        link = _Link(reader, writer)
        link.reader_task = asyncio.create_task(self._read_loop(link), name="ami-reader")
        try:
            resp = await self._request(
                link,
                {"Action": "Login", "Username": self._username, "Secret": self._secret},
                timeout=self._login_timeout,
            )
        except BaseException:
            self._kill(link, "login did not complete")
            raise
        if (get_header(resp, "Response") or "").lower() != "success":
            self._kill(link, "login rejected")
            raise AmiAuthError(
                f"AMI login as {self._username!r} rejected: {get_header(resp, 'Message', '')}")
        log.info("AMI connected to %s:%s as %s", self.host, self.port, self._username)
        return link

    def _adopt(self, link: _Link) -> None:
        self._link = link
        self._connected.set()
        self._report(True)

    def _report(self, state: bool) -> None:
        """Queue an on_state call, only when the state really changed."""
        if self._reported is not state:
            self._reported = state
            metrics.AMI_CONNECTED.set(1 if state else 0)
            self._queue.put_nowait(("state", state))

    async def _supervise(self, link: _Link) -> None:
        """Serve the current link; when it dies, reconnect with backoff, forever."""
        low, high = self._backoff
        try:
            while True:
                await self._serve(link)
                self._connected.clear()
                self._link = None
                self._report(False)
                if self._closing:
                    return
                log.warning("AMI connection lost: %s", link.reason)
                delay = low
                while True:
                    await asyncio.sleep(delay)
                    try:
                        link = await self._open_link()
                        break
                    except AmiAuthError as exc:
                        log.error("AMI reconnect: %s; retrying in %.1f s", exc, min(delay * 2, high))
                    except (OSError, asyncio.TimeoutError, AmiError) as exc:
                        log.warning("AMI reconnect to %s:%s failed: %s; retrying in %.1f s",
                                    self.host, self.port, exc or type(exc).__name__,
                                    min(delay * 2, high))
                    delay = min(delay * 2, high)
                metrics.AMI_RECONNECTS.inc()
                self._adopt(link)
        finally:
            if self._link is not None:
                self._kill(self._link, "client closed")
            self._connected.clear()
            self._link = None
            self._report(False)

    async def _serve(self, link: _Link) -> None:
        """Run the watchdog until the link's reader ends."""
        watchdog = asyncio.create_task(self._watchdog(link), name="ami-watchdog")
        try:
            assert link.reader_task is not None
            await asyncio.shield(link.reader_task)
        finally:
            watchdog.cancel()
            self._kill(link, link.reason or "connection ended")
            await asyncio.gather(watchdog, return_exceptions=True)

    def _kill(self, link: _Link, reason: str) -> None:
        """Tear a link down at once (idempotent) and fail everything in flight on it."""
        if link.dead:
            return
        link.dead = True
        link.reason = reason
        if link is self._link:
            self._connected.clear()
        link.writer.transport.abort()
        for pending in link.pending.values():
            if not pending.future.done():
                pending.future.set_exception(AmiDisconnected(f"AMI connection dropped: {reason}"))
        link.pending.clear()

    async def _watchdog(self, link: _Link) -> None:
        """Ping periodically; an unanswered Ping means the connection is half-open."""
        while not link.dead:
            await asyncio.sleep(self._ping_interval)
            try:
                await self._request(link, {"Action": "Ping"}, timeout=self._ping_timeout)
            except AmiTimeout:
                log.warning("AMI watchdog: no reply to Ping within %.1f s; dropping connection",
                            self._ping_timeout)
                self._kill(link, f"watchdog: no reply to Ping within {self._ping_timeout} s")
                return
            except AmiDisconnected:
                return

    # -- requests --------------------------------------------------------------------

    async def _request(self, link: _Link, action: Mapping[str, Any], timeout: float,
                       is_list: bool = False) -> Any:
        action = dict(action)
        aid_key = next((k for k in action if k.lower() == "actionid"), None)
        if aid_key is None or not str(action[aid_key]):
            aid_key = aid_key or "ActionID"
            action[aid_key] = f"{self._id_prefix}{next(self._ids)}"
        aid = str(action[aid_key])
        data = encode_action(action)  # ValueError on injection before anything is sent
        if link.dead:
            raise AmiDisconnected("not connected to AMI")
        if aid in link.pending:
            raise ValueError(f"ActionID {aid!r} is already in flight")
        future = asyncio.get_running_loop().create_future()
        pending = _Pending(future, is_list)
        link.pending[aid] = pending
        try:
            async with asyncio.timeout(timeout):
                try:
                    link.writer.write(data)
                    await link.writer.drain()
                except (OSError, RuntimeError) as exc:
                    self._kill(link, f"write failed: {exc}")
                return await future
        except TimeoutError:
            raise AmiTimeout(f"no response to {action.get('Action')!r} (ActionID {aid}) "
                             f"within {timeout} s") from None
        finally:
            if link.pending.get(aid) is pending:
                del link.pending[aid]
            if future.done() and not future.cancelled():
                future.exception()  # mark retrieved

    # -- reading & routing -----------------------------------------------------------

    async def _read_loop(self, link: _Link) -> None:
        reason = "connection closed by Asterisk"
        try:
            while True:
                data = await link.reader.read(_READ_CHUNK)
                if not data:
                    break
                messages = link.parser.feed(data)
                for err in link.parser.take_errors():
                    log.warning("AMI protocol error (message skipped): %s", err)
                for msg in messages:
                    try:
                        self._route(link, msg)
                    except Exception:
                        log.exception("AMI: failed to route message %r", msg)
        except (OSError, ConnectionError) as exc:
            reason = f"read failed: {exc}"
        except asyncio.CancelledError:
            reason = "reader cancelled"
            raise
        except Exception as exc:  # a bug here must not leave a zombie connection
            log.exception("AMI reader crashed")
            reason = f"reader crashed: {exc}"
        finally:
            self._kill(link, link.reason or reason)

    def _route(self, link: _Link, msg: Message) -> None:
        if "__malformed__" in msg:
            log.warning("AMI: malformed lines from server: %r", msg["__malformed__"])
        kind = message_kind(msg)
        if kind == "banner":
            self.banner = str(msg["Banner"])
            log.debug("AMI banner: %s", self.banner)
            return
        aid = get_header(msg, "ActionID")
        if kind == "response":
            pending = link.pending.get(aid) if aid is not None else None
            if pending is None or pending.future.done():
                log.debug("AMI: response with no waiting action (ActionID %r) ignored", aid)
                return
            if not pending.is_list:
                pending.future.set_result(msg)
                return
            if pending.response is None:
                ok = (get_header(msg, "Response") or "").lower() == "success"
                if ok and (get_header(msg, "EventList") or "").lower() == "start":
                    pending.response = msg
                else:
                    pending.future.set_result((msg, []))
            return
        if kind == "event":
            name = get_header(msg, "Event")
            if name == "TestEvent":
                return
            if aid is not None and name != "OriginateResponse":
                pending = link.pending.get(aid)
                if pending is not None and pending.is_list and not pending.future.done():
                    if (get_header(msg, "EventList") or "").lower() == "complete":
                        pending.future.set_result((pending.response or {}, pending.events))
                    else:
                        pending.events.append(msg)
                    return
            self._queue.put_nowait(("event", msg))
            size = self._queue.qsize()
            if size % _BACKLOG_WARN == 0:
                log.warning("AMI: %d events waiting for on_event (handler too slow?)", size)
            return
        log.warning("AMI: unrecognised message ignored: %r", msg)

    async def _dispatch_loop(self) -> None:
        """The single task that calls on_event/on_state, strictly in order."""
        while True:
            kind, payload = await self._queue.get()
            if kind == "stop":
                return
            try:
                if kind == "event":
                    _observe_lag(payload)
                    await self._on_event(payload)
                elif kind == "state" and self._on_state is not None:
                    await self._on_state(payload)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("AMI %s handler raised (ignored; connection kept)", kind)


def _observe_lag(event: Message) -> None:
    """AMI event lag: Asterisk's `Timestamp` (timestampevents = yes in our manager.conf) to now,
    as the event reaches the handler (so a slow handler's backlog counts too)."""
    try:
        stamp = float(get_header(event, "Timestamp") or "")
    except ValueError:
        return
    metrics.AMI_EVENT_LAG.observe(max(0.0, time.time() - stamp))

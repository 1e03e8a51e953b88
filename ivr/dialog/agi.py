"""FastAGI: Asterisk connects to us per call; we drive the call with text commands.

Why it looks like this:

* The parsing (environment block, response lines) is pure so it can be fuzzed and tested
  without sockets; :class:`AgiSession` only adds the line I/O around it.
* :class:`CallHungUp` is *the* hangup signal for the whole dialog layer. It is raised when
  Asterisk sends the asynchronous ``HANGUP`` line, when the socket closes, on ``511``
  (command not permitted on a dead channel), and on ``result=-1`` from commands that
  interact with the caller (``EXEC``, ``STREAM FILE``, ``GET DATA``...), where -1 means the
  channel went away. Dialog code therefore needs a single ``except CallHungUp``.
* ``HANGUP`` may arrive before or after the response of the command in flight. The session
  always reads through to the command's own response before raising, so the command/response
  stream never gets out of step; later commands raise at once unless ``allow_dead=True``
  (e.g. reading ``HANGUPCAUSE`` after the caller left).
* Command text must be a single line: CR/LF are rejected with ``ValueError``, otherwise a
  value could inject an extra AGI command.
"""
from __future__ import annotations

import asyncio
import logging
import re
import urllib.parse
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field

from .. import redact

__all__ = [
    "AgiProtocolError",
    "CallHungUp",
    "AgiResult",
    "parse_agi_env",
    "parse_agi_response",
    "agi_quote",
    "app_quote",
    "AgiSession",
    "start_agi_server",
]

log = logging.getLogger(__name__)

_MAX_LINE = 16 * 1024          # longest line we accept from Asterisk
_MAX_ENV_LINES = 512           # an environment block longer than this is garbage
_MAX_USAGE_LINES = 200         # longest 520- usage text we collect
ENV_TIMEOUT = 10.0             # seconds Asterisk gets to send its environment block


class AgiProtocolError(Exception):
    """Asterisk (or whoever connected) sent something that is not FastAGI."""


class CallHungUp(Exception):
    """The call is gone: HANGUP received, socket closed, 511, or result=-1 of an exec-type command."""


@dataclass(frozen=True)
class AgiResult:
    """One parsed AGI response.

    ``code`` is the status (200, 510, 511, 520...). For 200, ``result`` is the text after
    ``result=`` (may be empty, as in ``200 result= (timeout)``), ``data`` the text in
    parentheses if any, and ``extra`` the trailing ``key=value`` pairs (e.g. ``endpos``).
    For other codes ``result`` is ``""`` and ``data`` holds the message text.
    """

    code: int
    result: str
    data: str | None = None
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.code == 200

    @property
    def value(self) -> int | None:
        """``result`` as an int, or None if it is not numeric."""
        try:
            return int(self.result)
        except ValueError:
            return None


_ENV_KEY = re.compile(r"[A-Za-z0-9_]+")
_CODE = re.compile(r"([1-5][0-9][0-9])([ -])(.*)", re.S)
_RESULT = re.compile(r"result=(\S*)(.*)", re.S)
_PAIRS_TAIL = re.compile(r"(?:\s+[A-Za-z_][A-Za-z0-9_]*=\S*)*\s*")
_PAIR = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)=(\S*)")


def parse_agi_env(lines: Iterable[str | bytes]) -> dict[str, str]:
    """Parse the ``agi_xxx: value`` block Asterisk sends first, up to the blank line.

    Keys are kept as sent (``agi_request``, ``agi_arg_1``...). Lines after the blank line
    are ignored. Raises :class:`AgiProtocolError` on a line that is not ``key: value``.
    """
    env: dict[str, str] = {}
    for raw in lines:
        line = raw.decode("utf-8", "replace") if isinstance(raw, (bytes, bytearray)) else raw
        line = line.rstrip("\r\n")
        if not line:
            break
        key, sep, value = line.partition(":")
        if not sep or not _ENV_KEY.fullmatch(key):
            raise AgiProtocolError(f"bad AGI environment line: {line[:200]!r}")
        env[key] = value[1:] if value.startswith(" ") else value
    return env


def parse_agi_response(text: str) -> AgiResult:
    """Parse one response: a single line, or a whole ``520-`` ... ``520 `` usage block.

    Raises :class:`AgiProtocolError` if it is not an AGI response.
    """
    lines = text.replace("\r\n", "\n").rstrip("\n").split("\n")
    first = lines[0].rstrip("\r")
    m = _CODE.fullmatch(first)
    if not m:
        raise AgiProtocolError(f"not an AGI response: {first[:200]!r}")
    code, dash, rest = int(m.group(1)), m.group(2), m.group(3)
    if dash == "-" or len(lines) > 1:
        if code != 520 and dash == "-":
            raise AgiProtocolError(f"unexpected multi-line AGI response: {first[:200]!r}")
        body = [rest] + [ln.rstrip("\r") for ln in lines[1:]]
        return AgiResult(code, "", "\n".join(body), {})
    if code != 200:
        return AgiResult(code, "", rest, {})
    r = _RESULT.match(rest)
    if not r:
        raise AgiProtocolError(f"AGI 200 response without result=: {first[:200]!r}")
    result, tail = r.group(1), r.group(2)
    data: str | None = None
    stripped = tail.lstrip(" ")
    if stripped.startswith("("):
        # The value in parentheses may itself contain ')' and spaces (GET VARIABLE returns
        # it raw), so take the last ')' after which only key=value pairs follow.
        end = None
        pos = len(stripped)
        while True:
            pos = stripped.rfind(")", 0, pos)
            if pos < 0:
                break
            if _PAIRS_TAIL.fullmatch(stripped, pos + 1):
                end = pos
                break
        if end is None:
            raise AgiProtocolError(f"unbalanced parentheses in AGI response: {first[:200]!r}")
        data = stripped[1:end]
        tail = stripped[end + 1:]
    if not _PAIRS_TAIL.fullmatch(tail):
        raise AgiProtocolError(f"trailing garbage in AGI response: {first[:200]!r}")
    extra = dict(_PAIR.findall(tail))
    return AgiResult(200, result, data, extra)


def agi_quote(arg: str) -> str:
    """Quote one AGI command argument (Asterisk's res_agi splitter: "..." and backslash)."""
    if "\n" in arg or "\r" in arg or "\0" in arg:
        raise ValueError(f"AGI argument must not contain CR, LF or NUL: {arg!r}")
    return '"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"'


_APP_SPECIAL = re.compile(r'[\\",()|]')


def app_quote(arg: str) -> str:
    """Escape one dialplan-application argument so ',' '(' ')' '"' '\\' are literal.

    Applications split their argument string on ',' honouring parentheses, quotes and
    backslash escapes; plain arguments are left untouched so apps that read their
    arguments raw still see exactly what was passed.
    """
    if not _APP_SPECIAL.search(arg):
        return arg
    return _APP_SPECIAL.sub(lambda m: "\\" + m.group(0), arg)


# Commands for which result=-1 means "the channel hung up".
_HANGUP_ON_MINUS_ONE = (
    "ANSWER", "EXEC", "STREAM FILE", "CONTROL STREAM FILE", "GET DATA", "GET OPTION",
    "WAIT FOR DIGIT", "SAY", "RECORD FILE", "RECEIVE CHAR", "RECEIVE TEXT",
    "SPEECH RECOGNIZE",
)


def _is_exec_type(command: str) -> bool:
    upper = " ".join(command.split()).upper()
    return any(upper == p or upper.startswith(p + " ") for p in _HANGUP_ON_MINUS_ONE)


class AgiSession:
    """One FastAGI connection (one call).

    Responses are matched to commands purely by order, so a lock serialises ``command()``
    calls; a command cancelled mid-flight leaves the stream out of step and the session is
    then treated as gone (further commands raise :class:`CallHungUp`).
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.env: dict[str, str] = {}
        self.hung_up = False
        self._broken = False     # stream out of step (cancelled mid-command, EOF, garbage)
        self._lock = asyncio.Lock()

    # -- environment -----------------------------------------------------------------

    async def read_env(self, timeout: float = ENV_TIMEOUT) -> dict[str, str]:
        """Read the environment block; raises AgiProtocolError / CallHungUp / TimeoutError."""
        lines: list[str] = []
        async with asyncio.timeout(timeout):
            while True:
                line = await self._readline()
                if not line:
                    break
                lines.append(line)
                if len(lines) > _MAX_ENV_LINES:
                    raise AgiProtocolError("AGI environment block too long")
        self.env = parse_agi_env(lines)
        if not any(k.startswith("agi_") for k in self.env):
            raise AgiProtocolError("AGI environment block has no agi_ variables")
        return self.env

    @property
    def request(self) -> str:
        """The script path of ``agi://host:port/PATH?query``, without slashes at the ends."""
        url = self.env.get("agi_request", "")
        if "://" in url:
            path = urllib.parse.urlsplit(url).path
        else:
            path = self.env.get("agi_network_script", url).split("?", 1)[0]
        return path.strip("/")

    @property
    def query(self) -> dict[str, str]:
        """Query parameters of ``agi_request`` (last value wins)."""
        url = self.env.get("agi_request", "")
        return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))

    @property
    def args(self) -> list[str]:
        """``agi_arg_1`` ... ``agi_arg_N`` in order."""
        out = []
        n = 1
        while f"agi_arg_{n}" in self.env:
            out.append(self.env[f"agi_arg_{n}"])
            n += 1
        return out

    # -- commands --------------------------------------------------------------------

    async def command(self, text: str, *, allow_dead: bool = False) -> AgiResult:
        """Send one AGI command line and return its parsed response.

        Raises :class:`CallHungUp` as described in the module docstring. With
        ``allow_dead=True`` the command is still sent after a HANGUP (only 511 or a closed
        socket then raise).
        """
        if "\n" in text or "\r" in text:
            raise ValueError(f"AGI command must be one line: {text!r}")
        async with self._lock:
            if self._broken:
                raise CallHungUp("AGI session is closed")
            if self.hung_up and not allow_dead:
                raise CallHungUp("caller hung up")
            completed = False
            try:
                try:
                    self.writer.write(text.encode("utf-8") + b"\n")
                    await self.writer.drain()
                except (OSError, RuntimeError) as exc:
                    raise CallHungUp(f"AGI socket write failed: {exc}") from exc
                result = await self._read_response()
                completed = True
            finally:
                if not completed:
                    self._broken = True
        if result.code == 511:
            self.hung_up = True
            raise CallHungUp(f"{text.split(' ', 1)[0]}: {result.data}")
        if result.code == 200 and result.result == "-1" and _is_exec_type(text):
            self.hung_up = True
            raise CallHungUp(f"{text[:60]}: result=-1")
        if self.hung_up and not allow_dead:
            raise CallHungUp("caller hung up")
        return result

    async def exec(self, app: str, *args: str) -> AgiResult:
        """``EXEC app arg1,arg2,...``: args are app-escaped, joined by ',' and AGI-quoted."""
        if not re.fullmatch(r"[A-Za-z0-9_]+", app):
            raise ValueError(f"bad application name: {app!r}")
        if not args:
            return await self.command(f"EXEC {app}")
        joined = ",".join(app_quote(str(a)) for a in args)
        return await self.command(f"EXEC {app} {agi_quote(joined)}")

    async def get_variable(self, name: str, *, allow_dead: bool = True) -> str | None:
        """Value of a channel variable or function, None if unset."""
        res = await self.command(f"GET VARIABLE {agi_quote(name)}", allow_dead=allow_dead)
        if res.result != "1":
            return None
        return res.data if res.data is not None else ""

    async def set_variable(self, name: str, value: str) -> None:
        await self.command(f"SET VARIABLE {agi_quote(name)} {agi_quote(str(value))}")

    async def answer(self) -> None:
        await self.command("ANSWER")

    async def hangup(self) -> None:
        """Hang the channel up; a call that is already gone is not an error here."""
        try:
            await self.command("HANGUP", allow_dead=True)
        except CallHungUp:
            pass
        self.hung_up = True

    async def verbose(self, message: str, level: int = 1) -> None:
        await self.command(f"VERBOSE {agi_quote(message)} {int(level)}", allow_dead=True)

    async def close(self) -> None:
        """Close the socket; Asterisk then continues its dialplan."""
        self._broken = True
        try:
            self.writer.close()
            await self.writer.wait_closed()
        except (OSError, RuntimeError):
            pass

    # -- internals -------------------------------------------------------------------

    async def _readline(self) -> str:
        """One line without its terminator; '' for a blank line; CallHungUp at EOF."""
        try:
            raw = await self.reader.readline()
        except (ValueError, asyncio.LimitOverrunError) as exc:
            raise AgiProtocolError(f"AGI line too long: {exc}") from exc
        except (OSError, ConnectionError) as exc:
            raise CallHungUp(f"AGI socket error: {exc}") from exc
        if not raw:
            self.hung_up = True
            raise CallHungUp("AGI socket closed by Asterisk")
        if not raw.endswith(b"\n"):
            self.hung_up = True
            raise CallHungUp("AGI socket closed mid-line")
        return raw.decode("utf-8", "replace").rstrip("\r\n")

    async def _read_response(self) -> AgiResult:
        while True:
            line = await self._readline()
            if line == "HANGUP":
                self.hung_up = True
                continue
            if not line:
                continue
            if line.startswith("520-"):
                block = [line]
                while True:
                    nxt = await self._readline()
                    block.append(nxt)
                    if nxt.startswith("520 "):
                        break
                    if len(block) > _MAX_USAGE_LINES:
                        raise AgiProtocolError("AGI 520 usage block never ended")
                return parse_agi_response("\n".join(block))
            result = parse_agi_response(line)
            if 100 <= result.code < 200:  # provisional ("100 result=0 Trying..."): keep reading
                continue
            return result


Handler = Callable[[AgiSession], Awaitable[object]]


async def start_agi_server(host: str, port: int, routes: Mapping[str, Handler],
                           *, env_timeout: float = ENV_TIMEOUT, reuse_port: bool = False) -> asyncio.Server:
    """Listen for FastAGI; dispatch each connection by its request path to ``routes``.

    Route keys are matched without leading/trailing '/'. An unknown route is logged, told
    to the Asterisk console with VERBOSE, and closed. A handler's exception is logged and
    its connection closed; the server and the other calls keep running. With ``reuse_port``
    several processes listen on one port (SO_REUSEPORT) and the kernel gives each connection to
    one of them: the dialog workers (ivr/dialog/workers.py).
    """
    table = {k.strip("/"): v for k, v in routes.items()}

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        session = AgiSession(reader, writer)
        try:
            try:
                await session.read_env(env_timeout)
            except (AgiProtocolError, CallHungUp, TimeoutError) as exc:
                log.warning("AGI connection from %s dropped before start: %s",
                            peer, exc or type(exc).__name__)
                return
            handler = table.get(session.request)
            channel = redact.scrub(session.env.get("agi_channel", "?"))  # Local/<number>@...: masked
            if handler is None:
                log.warning("AGI: unknown route %r from %s (channel %s); closing",
                            session.request, peer, channel)
                try:
                    await session.verbose(f"Huifang: unknown AGI route {session.request!r}")
                except (CallHungUp, AgiProtocolError):
                    pass
                return
            try:
                await handler(session)
            except CallHungUp as exc:
                log.info("AGI %s: call ended (%s)", channel, exc)
            except AgiProtocolError as exc:
                log.warning("AGI %s: protocol error: %s", channel, exc)
            except Exception:
                log.exception("AGI handler for route %r failed (channel %s)",
                              session.request, channel)
        except Exception:
            log.exception("AGI connection from %s failed", peer)
        finally:
            await session.close()

    return await asyncio.start_server(on_connect, host, port, limit=_MAX_LINE, reuse_port=reuse_port or None)

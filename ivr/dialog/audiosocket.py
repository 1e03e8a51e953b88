"""AudioSocket (Asterisk 22 ``app_audiosocket``): raw call audio over one TCP connection.

Wire format: ``kind`` (1 byte) + ``length`` (2 bytes, big-endian) + ``payload``.

========  =====================================================================
``0x00``  hangup, empty payload
``0x01``  UUID of the call, 16 raw bytes; always the first frame Asterisk sends
``0x03``  DTMF digit, 1 ASCII byte
``0x10``  audio: signed-linear 16-bit little-endian, 8 kHz mono (320 bytes = 20 ms)
``0xff``  error, payload empty or a 1-byte code
========  =====================================================================

Why it looks like this:

* The codec (:func:`encode_frame`, :class:`FrameDecoder`) is pure, so it can be fuzzed.
  A TCP stream cannot be resynchronised after a bad header, so the decoder raises
  :class:`AudioSocketProtocolError` and stays failed; only that one call is lost.
* Asterisk plays whatever we send as soon as it arrives, so we must send in real time. One
  pacer per event loop (``ivr.dialog.pacing``) does it for every call on a monotonic schedule,
  a few frames per socket write; no call has a timer of its own.
* Audio is queued already encoded as AudioSocket frames (:func:`encode_audio`); a prompt's
  frames are cached by its PCM (the prompt cache hands out the same bytes object every time), so
  playing a prompt again is slicing, not re-framing, and a write is one ``bytes`` join.
* Barge-in needs :meth:`AudioSocketConnection.stop_playback` to take effect at once, so queued
  audio lives in one deque that can be cleared at once; at most what was already written plays.
"""
from __future__ import annotations

import asyncio
import collections
import enum
import logging
import threading
import time
import uuid as uuidlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import numpy as np

from . import pacing

__all__ = [
    "Kind",
    "Frame",
    "AudioSocketProtocolError",
    "encode_frame",
    "encode_audio",
    "FrameDecoder",
    "AudioSocketConnection",
    "start_audiosocket_server",
    "FRAME_BYTES",
    "FRAME_SECONDS",
    "WIRE_FRAME",
    "MAX_PAYLOAD",
]

log = logging.getLogger(__name__)

FRAME_BYTES = 320            # 20 ms of 8 kHz 16-bit mono
FRAME_SECONDS = 0.020
MAX_PAYLOAD = 8192           # largest audio payload we accept (~256 ms); Asterisk sends 320
_HEADER = 3
WIRE_FRAME = _HEADER + FRAME_BYTES
_BACKLOG_LIMIT = 64 * WIRE_FRAME   # Asterisk stopped reading: hold our audio back
HANDSHAKE_TIMEOUT = 5.0


class Kind(enum.IntEnum):
    HANGUP = 0x00
    UUID = 0x01
    DTMF = 0x03
    AUDIO = 0x10
    ERROR = 0xFF


class AudioSocketProtocolError(Exception):
    """The peer sent bytes that are not a valid AudioSocket stream.

    ``frames`` holds the valid frames decoded from the same ``feed()`` call before the error.
    """

    def __init__(self, message: str, frames: list["Frame"] | None = None) -> None:
        super().__init__(message)
        self.frames = frames or []


@dataclass(frozen=True)
class Frame:
    kind: Kind
    payload: bytes = b""

    @property
    def uuid(self) -> str:
        """Canonical UUID string of a UUID frame."""
        return str(uuidlib.UUID(bytes=self.payload))

    @property
    def digit(self) -> str:
        """The DTMF digit of a DTMF frame."""
        return self.payload.decode("ascii", "replace")

    @property
    def error_code(self) -> int | None:
        return self.payload[0] if self.payload else None


def _check(kind: int, payload: bytes, max_payload: int) -> str | None:
    """Why (kind, payload) is invalid, or None if it is fine."""
    if kind not in Kind._value2member_map_:
        return f"unknown AudioSocket frame kind 0x{kind:02x}"
    n = len(payload)
    if kind == Kind.HANGUP and n != 0:
        return f"hangup frame with {n}-byte payload"
    if kind == Kind.UUID and n != 16:
        return f"UUID frame must carry 16 bytes, got {n}"
    if kind == Kind.DTMF:
        if n != 1:
            return f"DTMF frame must carry 1 byte, got {n}"
        if not (0x20 < payload[0] < 0x7F):
            return f"DTMF frame with non-printable byte 0x{payload[0]:02x}"
    if kind == Kind.ERROR and n > 1:
        return f"error frame with {n}-byte payload"
    if kind == Kind.AUDIO:
        if n > max_payload:
            return f"audio frame of {n} bytes exceeds {max_payload}"
        if n % 2:
            return f"audio frame of odd length {n} (16-bit samples)"
    return None


def encode_frame(kind: int, payload: bytes = b"", *, max_payload: int = MAX_PAYLOAD) -> bytes:
    """Encode one frame; ``ValueError`` if it would not be valid on the wire."""
    payload = bytes(payload)
    problem = _check(int(kind), payload, max_payload)
    if problem:
        raise ValueError(problem)
    return bytes((int(kind),)) + len(payload).to_bytes(2, "big") + payload


_wire_cache: "collections.OrderedDict[bytes, bytes]" = collections.OrderedDict()
_wire_lock = threading.Lock()
_WIRE_CACHE_ENTRIES = 256
_WIRE_CACHE_MIN = 4 * FRAME_BYTES   # shorter audio is framed each time, not cached


def encode_audio(pcm: bytes) -> bytes:
    """8 kHz s16le mono PCM as consecutive 320-byte AudioSocket audio frames on the wire, the
    last one padded with silence. Cached for prompt-sized audio, keyed by the PCM itself."""
    if len(pcm) % 2:
        raise ValueError("PCM must be whole 16-bit samples (even length)")
    if not pcm:
        return b""
    key = bytes(pcm) if not isinstance(pcm, bytes) else pcm
    if len(key) >= _WIRE_CACHE_MIN:
        with _wire_lock:
            wire = _wire_cache.get(key)
            if wire is not None:
                _wire_cache.move_to_end(key)
                return wire
    frames = -(-len(key) // FRAME_BYTES)
    out = np.zeros((frames, WIRE_FRAME), dtype=np.uint8)
    out[:, 0] = Kind.AUDIO
    out[:, 1:3] = np.frombuffer(FRAME_BYTES.to_bytes(2, "big"), dtype=np.uint8)
    payload = np.zeros(frames * FRAME_BYTES, dtype=np.uint8)
    payload[:len(key)] = np.frombuffer(key, dtype=np.uint8)
    out[:, _HEADER:] = payload.reshape(frames, FRAME_BYTES)
    wire = out.tobytes()
    if len(key) >= _WIRE_CACHE_MIN:
        with _wire_lock:
            _wire_cache[key] = wire
            while len(_wire_cache) > _WIRE_CACHE_ENTRIES:
                _wire_cache.popitem(last=False)
    return wire


_AUDIO = int(Kind.AUDIO)


class FrameDecoder:
    """Incremental decoder: feed bytes as they arrive, get whole frames back."""

    def __init__(self, *, max_payload: int = MAX_PAYLOAD) -> None:
        self.max_payload = max_payload
        self._buf = bytearray()
        self._failed: AudioSocketProtocolError | None = None

    def feed(self, data: bytes) -> list[Frame]:
        if self._failed is not None:
            raise AudioSocketProtocolError(f"stream already failed: {self._failed}")
        self._buf += data
        frames: list[Frame] = []
        buf = self._buf
        pos = 0
        while len(buf) - pos >= _HEADER:
            kind = buf[pos]
            length = int.from_bytes(buf[pos + 1:pos + 3], "big")
            if kind not in Kind._value2member_map_:
                return self._fail(f"unknown AudioSocket frame kind 0x{kind:02x}", frames)
            if kind == Kind.AUDIO and length > self.max_payload:
                return self._fail(f"audio frame of {length} bytes exceeds {self.max_payload}", frames)
            if kind != Kind.AUDIO and length > 16:
                return self._fail(f"frame kind 0x{kind:02x} with oversize length {length}", frames)
            if len(buf) - pos - _HEADER < length:
                break
            payload = bytes(buf[pos + _HEADER:pos + _HEADER + length])
            if kind == _AUDIO and not length % 2:      # 50 a second per call: the short way
                frames.append(Frame(Kind.AUDIO, payload))
                pos += _HEADER + length
                continue
            problem = _check(kind, payload, self.max_payload)
            if problem:
                return self._fail(problem, frames)
            frames.append(Frame(Kind(kind), payload))
            pos += _HEADER + length
        del buf[:pos]
        return frames

    def _fail(self, message: str, frames: list[Frame]) -> list[Frame]:
        self._failed = AudioSocketProtocolError(message)
        self._buf.clear()
        raise AudioSocketProtocolError(message, frames)


class AudioSocketConnection:
    """One AudioSocket call: inbound frames via :meth:`frames`, outbound paced playback."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.uuid: str | None = None
        self._decoder = FrameDecoder()
        self._inbox: collections.deque[Frame] = collections.deque()
        self._pending_error: AudioSocketProtocolError | None = None
        self._out: collections.deque[memoryview] = collections.deque()   # encoded frames to send
        self._busy_until = 0.0        # monotonic time the audio already written ends playing
        self._drained = asyncio.Event()
        self._drained.set()
        self._drain_check: asyncio.TimerHandle | None = None
        self._closed = False
        self._sender_done = False   # the peer is gone: further play() is a no-op
        self._new_burst = False
        self.frames_sent = 0
        self.bursts = 0                         # playbacks started from an empty queue
        self.burst_started_at: float | None = None   # monotonic time the latest one's first frame went out

    # -- inbound ---------------------------------------------------------------------

    async def handshake(self, timeout: float = HANDSHAKE_TIMEOUT) -> str:
        """Read the first frame, which must be the call UUID; start the sender."""
        async with asyncio.timeout(timeout):
            first = await self._next_frame()
        if first is None:
            raise AudioSocketProtocolError("connection closed before the UUID frame")
        if first.kind != Kind.UUID:
            raise AudioSocketProtocolError(
                f"first AudioSocket frame must be UUID, got {first.kind.name}")
        self.uuid = first.uuid
        return self.uuid

    async def frames(self) -> AsyncIterator[Frame]:
        """Yield audio/DTMF/hangup/error frames until hangup or EOF.

        Raises :class:`AudioSocketProtocolError` on garbage (after the valid frames before
        it). Someone must keep iterating during a call, or Asterisk's writes back up.
        """
        while True:
            frame = await self._next_frame()
            if frame is None:
                self.stop_playback()
                return
            if frame.kind == Kind.HANGUP:
                self.stop_playback()  # the caller is gone; do not keep pacing audio at nobody
            yield frame
            if frame.kind == Kind.HANGUP:
                return

    async def _next_frame(self) -> Frame | None:
        while not self._inbox:
            if self._pending_error is not None:
                raise self._pending_error
            try:
                data = await self.reader.read(65536)
            except (OSError, ConnectionError):
                return None
            if not data:
                return None
            try:
                self._inbox.extend(self._decoder.feed(data))
            except AudioSocketProtocolError as exc:
                self._inbox.extend(exc.frames)   # deliver the good ones, then raise
                self._pending_error = exc
        return self._inbox.popleft()

    # -- outbound --------------------------------------------------------------------

    @property
    def playing(self) -> bool:
        """True while queued audio remains or what was written has not finished playing."""
        return bool(self._out) or time.monotonic() < self._busy_until

    def play(self, pcm: bytes) -> None:
        """Queue 8 kHz s16le mono audio; it is sent paced, after anything already queued."""
        wire = encode_audio(pcm)
        if self._closed or self._sender_done or not wire:
            return  # nobody left to hear it; wait_played() stays resolved
        if not self.playing:
            self._new_burst = True
        self._out.append(memoryview(wire))
        self._drained.clear()
        pacing.pacer().add(self)

    def stop_playback(self) -> None:
        """Drop all queued audio now (barge-in); at most what is already on the wire plays."""
        self._out.clear()
        self._busy_until = 0.0
        self._new_burst = False
        self._drained.set()

    async def wait_played(self) -> None:
        """Return when the queue has drained (or playback was stopped / connection closed)."""
        await self._drained.wait()

    async def close(self) -> None:
        """Send a hangup frame and close the socket (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self.stop_playback()
        try:
            self.writer.write(encode_frame(Kind.HANGUP))
            await asyncio.wait_for(self.writer.drain(), 1.0)
        except (OSError, RuntimeError, asyncio.TimeoutError):
            pass
        try:
            self.writer.close()
            await asyncio.wait_for(self.writer.wait_closed(), 1.0)
        except (OSError, RuntimeError, asyncio.TimeoutError):
            pass

    def _top_up(self, now: float, until: float) -> bool:
        """Called by the pacer: write the frames that make the audio sent reach ``until``.
        Returns False once there is nothing left to pace (the pacer then forgets us)."""
        if self._closed or self._sender_done:
            return False
        if not self._out:
            self._schedule_drained(now)
            return False
        transport = self.writer.transport
        if transport.is_closing():
            log.info("AudioSocket %s: peer closed the connection; playback stopped", self.uuid)
            self._sender_done = True
            self.stop_playback()
            return False
        if transport.get_write_buffer_size() > _BACKLOG_LIMIT:
            return True                                  # Asterisk is not reading: hold back
        if self._busy_until < now - pacing.RESYNC_FRAMES * FRAME_SECONDS:
            self._busy_until = now                       # fell behind (or starting): no burst
        start = max(self._busy_until, now)
        due = int((until - start) / FRAME_SECONDS + 0.5)
        if due <= 0:
            return True
        want = due * WIRE_FRAME
        parts: list[memoryview] = []
        while want and self._out:
            head = self._out[0]
            if len(head) <= want:
                parts.append(self._out.popleft())
                want -= len(head)
            else:
                parts.append(head[:want])
                self._out[0] = head[want:]
                want = 0
        data = b"".join(parts)
        sent = len(data) // WIRE_FRAME
        try:
            self.writer.write(data)
        except (OSError, RuntimeError) as exc:
            log.info("AudioSocket %s: send failed (%s); playback stopped", self.uuid, exc)
            self._sender_done = True
            self.stop_playback()
            return False
        if self._new_burst:
            self.burst_started_at, self.bursts, self._new_burst = now, self.bursts + 1, False
        self.frames_sent += sent
        self._busy_until = start + sent * FRAME_SECONDS
        if not self._out:
            self._schedule_drained(now)
            return False
        return True

    def _schedule_drained(self, now: float) -> None:
        """Resolve wait_played when the last written frame has played (one timer per playback)."""
        if self._drain_check is not None:
            self._drain_check.cancel()
        self._drain_check = asyncio.get_running_loop().call_later(
            max(0.0, self._busy_until - now), self._check_drained)

    def _check_drained(self) -> None:
        self._drain_check = None
        if not self._out and time.monotonic() >= self._busy_until - 0.001:
            self._drained.set()
        elif not self._out:
            self._schedule_drained(time.monotonic())


ConnHandler = Callable[[AudioSocketConnection], Awaitable[object]]


async def start_audiosocket_server(host: str, port: int, handler: ConnHandler,
                                   *, handshake_timeout: float = HANDSHAKE_TIMEOUT) -> asyncio.Server:
    """Accept AudioSocket connections; call ``handler(conn)`` once the UUID is known.

    Bad handshakes and handler exceptions are logged and only close that connection.
    """

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        conn = AudioSocketConnection(reader, writer)
        try:
            try:
                await conn.handshake(handshake_timeout)
            except (AudioSocketProtocolError, TimeoutError) as exc:
                log.warning("AudioSocket from %s rejected: %s", peer, exc or type(exc).__name__)
                return
            try:
                await handler(conn)
            except AudioSocketProtocolError as exc:
                log.warning("AudioSocket %s: protocol error: %s", conn.uuid, exc)
            except Exception:
                log.exception("AudioSocket handler failed (call %s)", conn.uuid)
        finally:
            await conn.close()

    return await asyncio.start_server(on_connect, host, port)

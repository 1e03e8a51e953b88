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
* Asterisk plays whatever we send as soon as it arrives, so we must send in real time:
  one 320-byte frame every 20 ms. A single sender task follows a monotonic-clock schedule
  (frame *n* is due at ``t0 + n * 20 ms``), so timer jitter never accumulates into drift.
  If the loop stalls by more than a few frames the schedule is re-anchored rather than
  bursting the backlog (a burst would be heard as garbled fast audio or dropped).
* Barge-in needs :meth:`AudioSocketConnection.stop_playback` to take effect on the very
  next tick, so queued audio lives in one buffer that can be cleared at once.
"""
from __future__ import annotations

import asyncio
import collections
import enum
import logging
import time
import uuid as uuidlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

__all__ = [
    "Kind",
    "Frame",
    "AudioSocketProtocolError",
    "encode_frame",
    "FrameDecoder",
    "AudioSocketConnection",
    "start_audiosocket_server",
    "FRAME_BYTES",
    "FRAME_SECONDS",
    "MAX_PAYLOAD",
]

log = logging.getLogger(__name__)

FRAME_BYTES = 320            # 20 ms of 8 kHz 16-bit mono
FRAME_SECONDS = 0.020
MAX_PAYLOAD = 8192           # largest audio payload we accept (~256 ms); Asterisk sends 320
_HEADER = 3
_RESYNC_FRAMES = 3           # re-anchor the schedule when this many frames late
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
        self._out = bytearray()
        self._wake = asyncio.Event()
        self._drained = asyncio.Event()
        self._drained.set()
        self._sending = False
        self._closed = False
        self._sender: asyncio.Task | None = None
        self._sender_done = False   # sender exited (peer gone): further play() is a no-op
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
        self._start_sender()
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
        """True while queued audio remains or a frame is being sent."""
        return bool(self._out) or self._sending

    def play(self, pcm: bytes) -> None:
        """Queue 8 kHz s16le mono audio; it is sent paced, after anything already queued."""
        if len(pcm) % 2:
            raise ValueError("PCM must be whole 16-bit samples (even length)")
        if self._closed or self._sender_done or not pcm:
            return  # nobody left to hear it; wait_played() stays resolved
        self._start_sender()
        self._out += pcm
        self._drained.clear()
        self._wake.set()

    def stop_playback(self) -> None:
        """Drop all queued audio now (barge-in); at most the frame on the wire completes."""
        self._out.clear()
        self._sending = False
        self._drained.set()
        self._wake.set()

    async def wait_played(self) -> None:
        """Return when the queue has drained (or playback was stopped / connection closed)."""
        await self._drained.wait()

    async def close(self) -> None:
        """Send a hangup frame and close the socket (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self._out.clear()
        self._wake.set()
        if self._sender is not None:
            self._sender.cancel()
            await asyncio.gather(self._sender, return_exceptions=True)
        self._drained.set()
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

    def _start_sender(self) -> None:
        if self._sender is None and not self._closed:
            self._sender = asyncio.create_task(self._send_loop(), name="audiosocket-sender")

    async def _send_loop(self) -> None:
        """Send one frame per 20 ms on a monotonic schedule while audio is queued.

        After the last frame we still wait for its slot to end, so ``wait_played`` resolves
        when the audio has actually been played out, not merely written.
        """
        clock = time.monotonic
        try:
            while not self._closed:
                if not self._out:
                    self._sending = False
                    self._drained.set()
                    self._wake.clear()
                    await self._wake.wait()
                    continue
                t0, n = clock(), 0
                first = True
                while not self._closed:
                    delay = t0 + n * FRAME_SECONDS - clock()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    elif -delay > _RESYNC_FRAMES * FRAME_SECONDS:
                        log.debug("AudioSocket %s: sender %.0f ms late; re-anchoring",
                                  self.uuid, -delay * 1000)
                        t0, n = clock(), 0
                    if not self._out:  # drained (last slot over) or stop_playback()
                        break
                    self._sending = True
                    chunk = bytes(self._out[:FRAME_BYTES])
                    del self._out[:FRAME_BYTES]
                    if len(chunk) < FRAME_BYTES:
                        chunk += bytes(FRAME_BYTES - len(chunk))  # pad with silence
                    if self.writer.transport.is_closing():
                        raise ConnectionResetError("peer closed the connection")
                    self.writer.write(encode_frame(Kind.AUDIO, chunk))
                    if first:
                        self.burst_started_at, self.bursts, first = clock(), self.bursts + 1, False
                    self.frames_sent += 1
                    n += 1
                    if self.writer.transport.get_write_buffer_size() > 64 * FRAME_BYTES:
                        await self.writer.drain()
        except (OSError, ConnectionError, RuntimeError) as exc:
            log.info("AudioSocket %s: send failed (%s); playback stopped", self.uuid, exc)
        finally:
            self._sender_done = True
            self._sending = False
            self._out.clear()
            self._drained.set()


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

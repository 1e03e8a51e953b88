"""AudioSocket codec, handshake, paced playback and barge-in over loopback."""
import asyncio
import functools
import time
import uuid

import pytest

from ivr.dialog.audiosocket import (
    FRAME_BYTES, AudioSocketConnection, AudioSocketProtocolError, Frame, FrameDecoder, Kind,
    encode_frame, start_audiosocket_server,
)

pytestmark = pytest.mark.timeout(20)
CALL = uuid.UUID("12345678-1234-5678-1234-567812345678")


def aio(fn):
    @functools.wraps(fn)
    def wrapper(*a, **kw):
        asyncio.run(asyncio.wait_for(fn(*a, **kw), 15))
    return wrapper


def test_encode_decode_incremental():
    data = (encode_frame(Kind.UUID, CALL.bytes) + encode_frame(Kind.DTMF, b"5")
            + encode_frame(Kind.AUDIO, b"\x01\x00" * 160) + encode_frame(Kind.ERROR, b"\x02")
            + encode_frame(Kind.ERROR) + encode_frame(Kind.HANGUP))
    dec = FrameDecoder()
    frames = []
    for i in range(0, len(data), 7):
        frames += dec.feed(data[i:i + 7])
    assert [f.kind for f in frames] == [Kind.UUID, Kind.DTMF, Kind.AUDIO, Kind.ERROR, Kind.ERROR, Kind.HANGUP]
    assert frames[0].uuid == str(CALL)
    assert frames[1].digit == "5"
    assert len(frames[2].payload) == 320
    assert frames[3].error_code == 2 and frames[4].error_code is None


@pytest.mark.parametrize("bad", [
    b"\x02\x00\x00",                    # unknown kind
    b"\x10\xff\xff",                    # oversize audio
    b"\x01\x00\x05abcde",               # UUID of wrong size
    b"\x00\x00\x01x",                   # hangup with payload
    b"\x10\x00\x03abc",                 # odd audio length
])
def test_decoder_rejects(bad):
    dec = FrameDecoder()
    with pytest.raises(AudioSocketProtocolError):
        dec.feed(encode_frame(Kind.DTMF, b"1") + bad)
    with pytest.raises(AudioSocketProtocolError):   # the stream stays failed
        dec.feed(encode_frame(Kind.HANGUP))


def test_decoder_error_keeps_good_frames():
    dec = FrameDecoder()
    with pytest.raises(AudioSocketProtocolError) as info:
        dec.feed(encode_frame(Kind.DTMF, b"1") + b"\x07\x00\x00")
    assert info.value.frames == [Frame(Kind.DTMF, b"1")]


def test_encode_rejects_invalid():
    for kind, payload in [(0x02, b""), (Kind.UUID, b"short"), (Kind.AUDIO, b"x")]:
        with pytest.raises(ValueError):
            encode_frame(kind, payload)


class Peer:
    """Plays Asterisk's side: connects, sends the UUID, records what we send."""

    def __init__(self, port):
        self.port = port
        self.received: list[tuple[float, Frame]] = []

    async def connect(self, first=None):
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        self.writer.write(first if first is not None else encode_frame(Kind.UUID, CALL.bytes))
        await self.writer.drain()
        self.reading = asyncio.create_task(self._read())

    async def _read(self):
        dec = FrameDecoder()
        try:
            while data := await self.reader.read(4096):
                now = time.monotonic()
                self.received += [(now, f) for f in dec.feed(data)]
        finally:
            self.writer.close()
            await self.writer.wait_closed()

    def audio(self):
        return [(t, f) for t, f in self.received if f.kind == Kind.AUDIO]


@aio
async def test_pacing_padding_dtmf_and_hangup():
    result = {}

    async def handler(conn: AudioSocketConnection):
        result["uuid"] = conn.uuid
        conn.play(b"\x01\x00" * (160 * 10 + 10))   # 10 full frames + 20 bytes
        assert conn.playing
        t0 = time.monotonic()
        await conn.wait_played()
        result["elapsed"] = time.monotonic() - t0
        async for frame in conn.frames():
            result.setdefault("in", []).append(frame)

    server = await start_audiosocket_server("127.0.0.1", 0, handler)
    async with server:
        peer = Peer(server.sockets[0].getsockname()[1])
        await peer.connect()
        async with asyncio.timeout(5):
            while len(peer.audio()) < 11:
                await asyncio.sleep(0.01)
        peer.writer.write(encode_frame(Kind.DTMF, b"#") + encode_frame(Kind.HANGUP))
        await asyncio.wait_for(peer.reading, 5)   # ends when our side closes
    audio = peer.audio()
    assert result["uuid"] == str(CALL)
    assert len(audio) == 11 and all(len(f.payload) == FRAME_BYTES for _, f in audio)
    assert audio[-1][1].payload == b"\x01\x00" * 10 + bytes(300)   # silence-padded tail
    span = audio[-1][0] - audio[0][0]             # 10 intervals of 20 ms = 0.2 s, loosely
    assert 0.12 < span < 1.0
    assert 0.15 < result["elapsed"] < 1.5
    assert [f.kind for f in result["in"]] == [Kind.DTMF, Kind.HANGUP]
    assert peer.received[-1][1].kind == Kind.HANGUP  # close() sent our hangup


@aio
async def test_stop_playback_barge_in():
    done = asyncio.Event()
    state = {}

    async def handler(conn):
        conn.play(bytes(FRAME_BYTES * 200))   # 4 s of audio
        await asyncio.sleep(0.1)
        conn.stop_playback()
        state["playing_after_stop"] = conn.playing
        await asyncio.wait_for(conn.wait_played(), 0.5)
        state["sent"] = conn.frames_sent
        await asyncio.sleep(0.2)
        state["sent_later"] = conn.frames_sent
        done.set()

    server = await start_audiosocket_server("127.0.0.1", 0, handler)
    async with server:
        peer = Peer(server.sockets[0].getsockname()[1])
        await peer.connect()
        await asyncio.wait_for(done.wait(), 5)
    assert state["playing_after_stop"] is False
    assert 1 <= state["sent"] < 50
    assert state["sent_later"] == state["sent"]


@aio
async def test_bad_first_frame_logged_server_survives(caplog):
    handled = []

    async def handler(conn):
        handled.append(conn.uuid)

    server = await start_audiosocket_server("127.0.0.1", 0, handler)
    async with server:
        port = server.sockets[0].getsockname()[1]
        bad = Peer(port)
        await bad.connect(first=encode_frame(Kind.DTMF, b"1"))
        await asyncio.wait_for(bad.reading, 5)
        junk = Peer(port)
        await junk.connect(first=b"\x42garbage")
        await asyncio.wait_for(junk.reading, 5)
        good = Peer(port)
        await good.connect()
        await asyncio.wait_for(good.reading, 5)
    assert handled == [str(CALL)]
    assert "must be UUID" in caplog.text and "unknown AudioSocket frame kind" in caplog.text


@aio
async def test_garbage_mid_call_raises_from_frames():
    seen = {}

    async def handler(conn):
        try:
            async for f in conn.frames():
                seen.setdefault("frames", []).append(f.kind)
        except AudioSocketProtocolError as exc:
            seen["error"] = str(exc)

    server = await start_audiosocket_server("127.0.0.1", 0, handler)
    async with server:
        peer = Peer(server.sockets[0].getsockname()[1])
        await peer.connect(first=encode_frame(Kind.UUID, CALL.bytes) + encode_frame(Kind.DTMF, b"2") + b"\x99\x00\x00")
        await asyncio.wait_for(peer.reading, 5)
    assert seen["frames"] == [Kind.DTMF] and "0x99" in seen["error"]


@aio
async def test_play_after_peer_hangup_does_not_hang():
    state = {}

    async def handler(conn):
        async for f in conn.frames():
            pass
        conn.play(bytes(FRAME_BYTES * 100))
        await asyncio.sleep(0.1)
        conn.play(bytes(FRAME_BYTES * 100))
        await asyncio.wait_for(conn.wait_played(), 3)
        state["ok"] = not conn.playing

    server = await start_audiosocket_server("127.0.0.1", 0, handler)
    async with server:
        peer = Peer(server.sockets[0].getsockname()[1])
        await peer.connect(first=encode_frame(Kind.UUID, CALL.bytes) + encode_frame(Kind.HANGUP))
        peer.writer.transport.abort()
        await asyncio.sleep(0.5)
    assert state["ok"]

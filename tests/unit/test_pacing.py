"""Outgoing audio: frames encoded once per prompt, and one pacer per event loop for every call."""
from __future__ import annotations

import asyncio
import time
import uuid

import pytest

from ivr.dialog import pacing
from ivr.dialog.audiosocket import (FRAME_BYTES, FrameDecoder, Kind, encode_audio, encode_frame,
                                    start_audiosocket_server)

pytestmark = pytest.mark.timeout(20)


def test_encode_audio_is_frames_of_the_pcm_padded_with_silence():
    pcm = bytes(range(256)) * 5 + b"\x07\x00"          # 4 frames + 2 bytes
    frames = FrameDecoder().feed(encode_audio(pcm))
    assert [f.kind for f in frames] == [Kind.AUDIO] * 5
    assert all(len(f.payload) == FRAME_BYTES for f in frames)
    assert b"".join(f.payload for f in frames) == pcm + bytes(5 * FRAME_BYTES - len(pcm))
    with pytest.raises(ValueError):
        encode_audio(b"\x01")
    assert encode_audio(b"") == b""


def test_a_prompt_is_framed_once():
    prompt = b"\x10\x00" * 8000
    assert encode_audio(prompt) is encode_audio(prompt)
    assert encode_audio(bytearray(prompt)) == encode_audio(prompt)


async def _calls(n: int, seconds: float, per_write: int):
    """n connections each playing `seconds` of audio at once; (arrival times per call, wake-ups)."""
    arrivals: list[list[tuple[float, int]]] = [[] for _ in range(n)]
    played = asyncio.Event()
    done = 0
    pacing._pacers[asyncio.get_running_loop()] = pacing.Pacer(per_write)

    async def handler(conn):
        nonlocal done
        conn.play(bytes(int(FRAME_BYTES * 50 * seconds)))
        await conn.wait_played()
        done += 1
        if done == n:
            played.set()
        async for _ in conn.frames():
            pass

    async def peer(port, i):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(encode_frame(Kind.UUID, uuid.uuid4().bytes))
        dec = FrameDecoder()
        while True:
            data = await reader.read(65536)
            if not data:
                break
            arrivals[i].append((time.monotonic(), len(dec.feed(data))))
            if sum(k for _, k in arrivals[i]) >= 50 * seconds:
                break
        writer.close()

    server = await start_audiosocket_server("127.0.0.1", 0, handler)
    async with server:
        port = server.sockets[0].getsockname()[1]
        started = time.monotonic()
        await asyncio.gather(*(peer(port, i) for i in range(n)))
        await asyncio.wait_for(played.wait(), 5)
        elapsed = time.monotonic() - started
    return arrivals, pacing.pacer().wakeups, elapsed


def test_one_pacer_paces_every_call_in_real_time_two_frames_a_write():
    arrivals, wakeups, elapsed = asyncio.run(_calls(8, 1.0, 2))
    for call in arrivals:
        assert sum(k for _, k in call) == 50
        span = call[-1][0] - call[0][0]
        assert 0.85 <= span <= 1.5                 # 1 s of audio took about 1 s to send
    assert 0.9 <= elapsed <= 2.5
    # one timer for all eight calls, every 40 ms: about 25 wake-ups, not 8 x 50
    assert wakeups <= 40


def test_one_frame_a_write_keeps_the_old_20_ms_timing():
    arrivals, wakeups, _ = asyncio.run(_calls(2, 0.5, 1))
    assert 20 <= wakeups <= 40
    for call in arrivals:
        gaps = [b[0] - a[0] for a, b in zip(call, call[1:])]
        assert sorted(gaps)[len(gaps) // 2] == pytest.approx(0.02, abs=0.008)


def test_pacer_rejects_nonsense():
    with pytest.raises(ValueError):
        pacing.Pacer(0)

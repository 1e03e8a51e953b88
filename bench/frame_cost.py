"""Per-frame cost of the dialog server's audio path, without Asterisk: CPU per call-second.

The dialog server's own share of a call that is neither recognition nor the database: reading
20 ms frames from AudioSocket, deciding voice or not, taking turns (barge-in, end of turn) and
pacing prompts back. This bench runs exactly that code (`CallAudio.ask` over a real loopback
AudioSocket, no recognizer) for --calls calls at once; a child process plays Asterisk: it sends
every call a 20 ms frame every 20 ms (silence, then 0.5 s of a speech-like sound, on a 4 s cycle,
so prompts are barged in on and turns end) and reads what comes back. Reported: the server
process's CPU time (user + system, both threads and kernel work for its sockets) per call per
second of call, and the same as % of one core for all calls.

    PYTHONPATH=. .venv/bin/python bench/frame_cost.py --calls 50 --seconds 20 [--json runs/frame-cost.json]

It only uses the public turn-taking API, so the same file measures an older checkout too.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import socket
import sys
import time
import uuid
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ivr.dialog.agi import CallHungUp  # noqa: E402
from ivr.dialog.audiosocket import Kind, encode_frame, start_audiosocket_server  # noqa: E402
from ivr.dialog.turns import CallAudio  # noqa: E402

FRAME = 320
CYCLE_FRAMES = 200                # 4 s
SPEECH = range(75, 100)           # 1.5 s .. 2.0 s of each cycle


def speech_like(frames: int) -> bytes:
    t = np.arange(frames * 160) / 8000
    x = sum((5000 / k) * np.sin(2 * np.pi * 120 * k * t) for k in range(1, 25)) * (1 + 0.3 * np.sin(2 * np.pi * 4 * t))
    return np.clip(x, -32000, 32000).astype("<i2").tobytes()


def asterisk_side(port: int, calls: int, seconds: float, ready) -> None:
    """The child: `calls` connections, one frame per call every 20 ms, replies read and dropped."""
    voice = speech_like(len(SPEECH))
    silence = encode_frame(Kind.AUDIO, bytes(FRAME))
    spoken = [encode_frame(Kind.AUDIO, voice[i * FRAME:(i + 1) * FRAME]) for i in range(len(SPEECH))]
    socks = []
    for _ in range(calls):
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(encode_frame(Kind.UUID, uuid.uuid4().bytes))
        s.setblocking(False)
        socks.append(s)
    ready.set()
    start = time.monotonic()
    n = 0
    while time.monotonic() - start < seconds:
        for i, s in enumerate(socks):
            k = (n + i * 7) % CYCLE_FRAMES           # calls out of step with each other
            try:
                s.send(spoken[k - SPEECH.start] if k in SPEECH else silence)
                while s.recv(65536):
                    pass
            except BlockingIOError:
                pass
        n += 1
        delay = start + n * 0.02 - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    for s in socks:
        try:
            s.send(encode_frame(Kind.HANGUP))
        except OSError:
            pass
        s.close()


async def serve(calls: int, seconds: float, warmup: float) -> dict:
    prompt = speech_like(50) * 3                    # a 3 s prompt
    turns = {"voice": 0, "none": 0, "keypad": 0}
    open_calls: set[asyncio.Task] = set()

    async def handler(conn):
        open_calls.add(asyncio.current_task())
        audio = CallAudio(conn)
        try:
            while True:
                turn = await audio.ask(prompt, None, timeout_ms=1000, max_digits=1, end_silence_ms=300)
                turns[turn.via] = turns.get(turn.via, 0) + 1
        except CallHungUp:
            pass
        finally:
            await audio.close()

    server = await start_audiosocket_server("127.0.0.1", 0, handler)
    port = server.sockets[0].getsockname()[1]
    ctx = multiprocessing.get_context("spawn")
    ready = ctx.Event()
    child = ctx.Process(target=asterisk_side, args=(port, calls, seconds + warmup, ready), daemon=True)
    child.start()
    while not ready.is_set():
        await asyncio.sleep(0.05)
    await asyncio.sleep(warmup)
    cpu0, wall0 = os.times(), time.monotonic()
    await asyncio.sleep(seconds)
    cpu1, wall1 = os.times(), time.monotonic()
    await asyncio.get_running_loop().run_in_executor(None, child.join, 10)
    if open_calls:
        await asyncio.wait(open_calls, timeout=5)     # every call sees its hangup and closes
    server.close()
    wall = wall1 - wall0
    user, system = cpu1.user - cpu0.user, cpu1.system - cpu0.system
    return {"calls": calls, "seconds": round(wall, 2), "cpu_user_s": round(user, 3), "cpu_system_s": round(system, 3),
            "core_percent": round(100 * (user + system) / wall, 1),
            "cpu_ms_per_call_second": round(1000 * (user + system) / wall / calls, 3),
            "turns": turns}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calls", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--warmup", type=float, default=3.0)
    ap.add_argument("--json", default="")
    a = ap.parse_args(argv)
    if a.calls < 1 or a.seconds <= 0:
        ap.error("--calls must be >= 1 and --seconds > 0")
    result = asyncio.run(serve(a.calls, a.seconds, a.warmup))
    print(f"{a.calls} calls for {result['seconds']} s: dialog-side audio path {result['core_percent']} % of a core "
          f"(user {result['cpu_user_s']} s + system {result['cpu_system_s']} s), "
          f"{result['cpu_ms_per_call_second']} ms CPU per call-second; turns {result['turns']}")
    if a.json:
        Path(a.json).parent.mkdir(parents=True, exist_ok=True)
        Path(a.json).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Before the greeting: is it a person who answered, or a network announcement after a 200 OK?

Some carriers answer the call (SIP 200) and then play 您拨打的电话已关机 instead of failing it with
early media. Without this screen the dialog would greet, ask and re-ask an announcement. So the
first audio after the answer is heard before the greeting starts:

* nothing within `initial_s` (the borrower waits for us to speak): greet;
* a short sound and then a pause of `pause_s` ("喂?"): greet;
* sound that goes on: every `step_s` once `min_sound_s` of it was heard, the announcement
  recognizers (learned library, then the shipped references) look at everything heard so far; a
  recognized announcement ends the call with its disposition, no dialog;
* at `max_s` or when the sound pauses, one last look, then greet.

The screen overlaps the synthesis of the call's opening prompts (runner.prefetch), so a silent
borrower waits `initial_s` at most, usually less than synthesis takes anyway. A hangup during the
screen still gets its last look: the carrier may hang up right after the announcement.
"""
from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from .audiosocket import Kind
from .turns import CallAudio, rms

log = logging.getLogger(__name__)


@dataclass
class ScreenTuning:
    initial_s: float = 1.0
    pause_s: float = 0.7
    min_sound_s: float = 1.2
    step_s: float = 0.5
    max_s: float = 6.0
    floor_rms: float = 350.0


@dataclass
class Heard:
    reason: str | None          # the announcement; None: a recording labelled "not an announcement"
    via: str                    # library, fingerprint
    seconds: float


class Screen:
    """The decision over 20 ms frames (pure: the clock is the audio itself)."""

    FRAME_S = 0.02

    def __init__(self, tuning: ScreenTuning | None = None):
        self.t = tuning or ScreenTuning()
        self.frames: list[bytes] = []
        self.sound_frames = 0
        self.last_sound: float | None = None
        self.looked_at = 0.0

    @property
    def elapsed(self) -> float:
        return len(self.frames) * self.FRAME_S

    def feed(self, pcm: bytes) -> None:
        self.frames.append(pcm)
        if rms(pcm) >= self.t.floor_rms:
            self.sound_frames += 1
            self.last_sound = self.elapsed

    def over(self) -> bool:
        """Time to stop listening (and greet, unless the last look finds an announcement)."""
        if self.last_sound is None:
            return self.elapsed >= self.t.initial_s
        return self.elapsed - self.last_sound >= self.t.pause_s or self.elapsed >= self.t.max_s

    def worth_a_look(self) -> bool:
        return (self.sound_frames * self.FRAME_S >= self.t.min_sound_s
                and self.elapsed - self.looked_at >= self.t.step_s)

    def samples(self) -> np.ndarray:
        self.looked_at = self.elapsed
        return np.frombuffer(b"".join(self.frames), dtype="<i2").astype(np.float32)


async def screen(audio: CallAudio, recognize: Callable[[np.ndarray], Heard | None],
                 tuning: ScreenTuning | None = None, *, call_id: str = "") -> Heard | None:
    """Listen to the first audio after the answer; an announcement if one was recognized."""
    s = Screen(tuning)
    loop = asyncio.get_running_loop()
    inbox: asyncio.Queue = asyncio.Queue()
    audio._inbox = inbox
    started = time.monotonic()
    looking: asyncio.Future | None = None
    heard: Heard | None = None
    hung_up = False
    try:
        while not s.over():
            try:
                frame = inbox.get_nowait()
            except asyncio.QueueEmpty:
                if audio.hungup.is_set():
                    frame = None
                elif time.monotonic() - started > s.t.max_s + 1.0:
                    break                             # no audio arrives at all: greet and let the dialog cope
                else:
                    try:
                        async with asyncio.timeout(0.1):
                            frame = await inbox.get()
                    except TimeoutError:
                        continue
            if frame is None:
                hung_up = True
                break
            if frame.kind == Kind.DTMF:
                break                                 # a key press: a person
            if frame.kind != Kind.AUDIO:
                continue
            s.feed(frame.payload)
            if looking is not None and looking.done():
                heard, looking = looking.result(), None
                if heard is not None:
                    break
            if looking is None and s.worth_a_look():
                looking = loop.run_in_executor(None, recognize, s.samples())
    finally:
        audio._inbox = None
    if heard is None and looking is not None:
        heard = await looking
    if heard is None and s.sound_frames * s.FRAME_S >= s.t.min_sound_s and s.looked_at < s.elapsed:
        heard = await loop.run_in_executor(None, recognize, s.samples())
    log.info("call %s: first %.1f s after the answer (%.1f s of sound, %s): %s", call_id, s.elapsed,
             s.sound_frames * s.FRAME_S, "hung up" if hung_up else f"{time.monotonic() - started:.1f} s",
             f"announcement {heard.reason} via {heard.via}" if heard else "a person, greeting")
    if hung_up and heard is None:
        audio._check()
    return heard

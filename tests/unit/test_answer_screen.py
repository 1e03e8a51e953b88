"""The after-answer screen: a network announcement after a 200 ends the call before the greeting;
a person ("喂?", or silence) is greeted after a short listen; a carrier that hangs up right after
its announcement is still recognized."""
from __future__ import annotations

import asyncio
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np
import pytest

from ivr.dialer import announcement_library as lib
from ivr.dialer import landmarks
from ivr.dialog.agi import CallHungUp
from ivr.dialog.answer_screen import Heard, Screen, ScreenTuning, screen
from ivr.dialog.audiosocket import Frame, Kind
from tests.unit.carrier_audio import line, recording, ringback, silence

OFF = "您拨打的电话已关机。"


class LookCounter(ThreadPoolExecutor):
    """The loop's executor, counting looks in progress so the fake line can wait for them."""

    def __init__(self):
        super().__init__(max_workers=2)
        self.loop = asyncio.get_running_loop()
        self.pending = 0
        self.idle = asyncio.Event()
        self.idle.set()

    def submit(self, fn, /, *args, **kwargs):
        self.pending += 1
        self.idle.clear()
        result: Future = Future()

        def relay(done: Future):              # the screen hears of the result before the line moves on
            if done.exception() is not None:
                result.set_exception(done.exception())
            else:
                result.set_result(done.result())
            self.loop.call_soon_threadsafe(self._done)
        super().submit(fn, *args, **kwargs).add_done_callback(relay)
        return result

    def _done(self):
        self.pending -= 1
        if not self.pending:
            self.idle.set()


class FakeAudio:
    """What screen() uses of CallAudio: the inbox its reader fills, and the hangup flag.

    The line's clock is the audio itself and stands still while a look is in progress, so how much
    audio the screen hears before deciding never depends on how busy the machine is (on a real line
    a look costs a few frames of audio; here it costs none)."""

    def __init__(self, samples: np.ndarray, *, hang_up_after: bool = False):
        self.hungup = asyncio.Event()
        self._inbox = None
        self._pcm = np.clip(samples, -32768, 32767).astype("<i2").tobytes()
        self._hang_up_after = hang_up_after
        self.looks = LookCounter()
        asyncio.get_running_loop().set_default_executor(self.looks)
        self.task = asyncio.get_running_loop().create_task(self._feed())

    async def _next(self, frame):
        await self.looks.idle.wait()
        if self._inbox is None:
            return False
        self._inbox.put_nowait(frame)
        await asyncio.sleep(0)                      # the screen takes this frame before the next one
        return True

    async def _feed(self):
        while self._inbox is None:
            await asyncio.sleep(0.001)
        for i in range(0, len(self._pcm) - 319, 320):
            if not await self._next(Frame(Kind.AUDIO, self._pcm[i:i + 320])):
                return
        if self._hang_up_after:
            self.hungup.set()
            if self._inbox is not None:
                self._inbox.put_nowait(None)
        else:
            while await self._next(Frame(Kind.AUDIO, bytes(320))):
                pass                                # the line stays open and silent

    def _check(self):
        if self.hungup.is_set():
            raise CallHungUp("borrower hung up")


@pytest.fixture(scope="module")
def recognize():
    rec = recording(OFF)
    first = line(ringback(2.0), rec, silence(1.0), rec, gain=0.5, seed=1)
    library = lib.Library([lib.Learned(1, "powered_off", landmarks.reference_of(first))])
    calls = []

    def recognize(samples):
        calls.append(len(samples) / 8000)
        found = library.match(samples)
        return Heard(found.reason, "library", len(samples) / 8000) if found else None
    recognize.calls = calls
    return recognize


def run(audio_samples, recognize, **kw):
    async def go():
        audio = FakeAudio(audio_samples, **kw)
        try:
            return await screen(audio, recognize, ScreenTuning())
        finally:
            audio.task.cancel()
    return asyncio.run(go())


def test_an_announcement_after_the_answer_is_recognized(recognize):
    announcement = recording(OFF)
    heard = run(line(silence(0.2), announcement, silence(1.0), announcement, law="alaw", gain=1.3, seed=2),
                recognize)
    assert heard is not None and heard.reason == "powered_off"
    assert heard.seconds < 0.2 + len(announcement) / 8000   # decided while it still plays the first time


def test_carrier_hanging_up_right_after_its_announcement_is_still_recognized(recognize):
    heard = run(line(silence(0.1), recording(OFF), law="alaw", seed=3), recognize, hang_up_after=True)
    assert heard is not None and heard.reason == "powered_off"


def test_a_person_saying_hello_is_greeted_after_a_short_pause(recognize):
    hello = recording("喂？")
    assert len(hello) / 8000 < 1.0
    assert run(line(silence(0.3), hello, silence(3.0), seed=4), recognize) is None


def test_a_silent_borrower_waits_only_the_initial_window():
    s = Screen(ScreenTuning())
    while not s.over():
        s.feed(bytes(320))
    assert s.elapsed == pytest.approx(1.0, abs=0.021)


def test_long_speech_that_is_no_announcement_is_greeted(recognize):
    talk = recording("喂，你好，哪位啊？我现在在开车，不太方便，你晚点再打过来吧，谢谢啊。")
    assert run(line(silence(0.2), talk, silence(2.0), seed=5), recognize) is None
    assert recognize.calls                            # it was looked at, and not taken for one


def test_hangup_without_an_announcement_is_a_hangup(recognize):
    with pytest.raises(CallHungUp):
        run(line(silence(0.2), recording("喂？"), seed=6), recognize, hang_up_after=True)

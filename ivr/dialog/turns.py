"""Turn-taking on one call's AudioSocket: play prompts, hear the borrower, decide when they are done.

One reader task consumes every frame Asterisk sends (audio, DTMF, hangup) and routes it to the
question being asked, if any. A question (`ask`) plays its prompt and listens at the same time:
speech or a key press stops the prompt at once (barge-in). The end of the borrower's turn is
decided here, from our own voice-activity detection (``ivr.dialog.vad``: level gate + webrtcvad) and
the recognizer, instead of waiting for a long silence: a turn ends after the question's silence
(300 ms for yes/no), after the recognizer's endpoint plus 200 ms, or — where the question allows it
(`complete_silence_ms`) — after a shorter silence if the recognizer's result, taken then, is a
whole answer (`complete`, e.g. 네 / 아니요 at "are you ...?"; a human answer gap is ~200 ms); if it
is not, the result is taken back and the turn goes on. That result then goes through the
decision layer like any other: ending the turn early decides nothing about the answer.

Frames are taken in batches: whatever arrived since the last look is classified at once (levels
and webrtcvad, both in C) and then walked through the turn's state in order, so a loop that fell
behind catches up without one await per frame. No timer guards each frame's wait: audio arrives
every 20 ms, and one re-armed waker per question keeps the clocks running if it stops.
"""
from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from .agi import CallHungUp
from .audiosocket import AudioSocketConnection, Frame, Kind
from .speech import Utterance
from .vad import VadTuning, VoiceDetector, level

log = logging.getLogger(__name__)

FRAME_MS = 20


@dataclass
class TurnTuning:
    speech_start_frames: int = 3       # 60 ms of voice starts a turn
    end_silence_ms: int = 450          # this much silence after speech ends it
    min_speech_ms: int = 120           # shorter bursts are noise
    max_speech_ms: int = 9000
    pre_roll_frames: int = 15          # 300 ms of audio before speech onset go to the recognizer
    inter_digit_ms: int = 3000
    floor_rms: float = 350.0           # minimum energy counted as voice
    feed_frames: int = 5               # 100 ms per recognizer chunk
    vad_mode: int = 1                  # webrtcvad aggressiveness (0..3); -1: the level gate alone
    endpoint_silence_ms: int = 200     # the recognizer's endpoint ends the turn after this much silence

    def vad(self) -> VadTuning:
        return VadTuning(floor_rms=self.floor_rms, mode=self.vad_mode)


@dataclass
class Turn:
    via: str = "none"                  # voice, keypad, none
    text: str | None = None
    confidence: float | None = None
    digits: str = ""
    barge_in: bool = False
    prompt_started: float | None = None
    prompt_ended: float | None = None
    speech_started: float | None = None
    speech_ended: float | None = None
    result_at: float | None = None
    words: list = field(default_factory=list)
    alternatives: list = field(default_factory=list)   # the recognizer's n-best, for the decision layer
    pieces: list = field(default_factory=list)         # word pieces of the grammar heard (Recognition.pieces)
    ended_by: str = ""                 # silence, endpoint, complete (a whole answer heard), max-length
    second_decoding: bool = True       # False: text/words are the n-best's (Recognition.second_decoding)


def rms(pcm: bytes) -> float:
    """Root-mean-square level of signed 16-bit little-endian samples (see ivr.dialog.vad.level)."""
    return level(pcm)


_TICK = Frame(Kind.ERROR, b"")   # the waker's marker in a question's inbox; never from the wire


class _Waker:
    """Puts a tick into a question's inbox every ``period`` seconds, so the turn's clocks (no
    input, end of speech, inter-digit) are looked at even if audio stopped arriving. One re-armed
    timer per question instead of a timeout around every frame's wait."""

    def __init__(self, inbox: asyncio.Queue, period: float = 0.1):
        self.inbox, self.period = inbox, period
        self._handle = asyncio.get_running_loop().call_later(period, self._fire)

    def _fire(self) -> None:
        self.inbox.put_nowait(_TICK)
        self._handle = asyncio.get_running_loop().call_later(self.period, self._fire)

    def cancel(self) -> None:
        self._handle.cancel()


class CallAudio:
    """All audio of one answered call."""

    def __init__(self, conn: AudioSocketConnection, tuning: TurnTuning | None = None):
        self.conn = conn
        self.tuning = tuning or TurnTuning()
        self.hungup = asyncio.Event()
        self._inbox: asyncio.Queue | None = None   # set while a question listens
        self._reader = asyncio.create_task(self._read(), name=f"audio-reader-{conn.uuid}")
        self.vad = VoiceDetector(self.tuning.vad())   # keeps the line's noise level across questions
        self.first_audio_at: float | None = None    # when our last prompt's first frame went out

    async def _read(self) -> None:
        try:
            async for frame in self.conn.frames():
                if frame.kind == Kind.HANGUP:
                    break
                if frame.kind == Kind.ERROR:
                    log.warning("call %s: AudioSocket error frame %s", self.conn.uuid, frame.error_code)
                    continue
                if self._inbox is not None:
                    self._inbox.put_nowait(frame)
        except Exception as exc:  # garbage on the socket ends this call's audio only
            log.warning("call %s: audio stream ended: %s", self.conn.uuid, exc)
        finally:
            self.hungup.set()
            if self._inbox is not None:
                self._inbox.put_nowait(None)

    def _check(self) -> None:
        if self.hungup.is_set():
            raise CallHungUp("borrower hung up")

    async def say(self, pcm: bytes) -> tuple[float, float]:
        """Play a prompt to the end (no barge-in). Returns (started, ended) monotonic times."""
        self._check()
        started = time.monotonic()
        self.conn.play(pcm)
        played = asyncio.create_task(self.conn.wait_played())
        hung = asyncio.create_task(self.hungup.wait())
        await asyncio.wait({played, hung}, return_when=asyncio.FIRST_COMPLETED)
        played.cancel(), hung.cancel()
        self._check()
        return started, time.monotonic()

    async def ask(self, pcm: bytes, utterance: Utterance | None, *, timeout_ms: int, max_digits: int = 1,
                  end_silence_ms: int | None = None, complete_silence_ms: int | None = None,
                  complete: Callable[[str], bool] | None = None) -> Turn:
        """Play `pcm` and listen (voice via `utterance` if given, keypad always).

        `end_silence_ms` overrides how much silence ends the borrower's turn for this question:
        short for yes/no, longer where people pause mid-answer (dates, digits).
        `complete_silence_ms` with `complete`: after this shorter silence the recognizer's result
        is taken at once; if `complete` says its text is a whole answer the turn is over, else the
        result is taken back (`Utterance.resume`) and the turn goes on. (Vosk's running partial
        result lags the audio by its decoding chunk, too late to decide on.)"""
        self._check()
        t = self.tuning
        end_silence = end_silence_ms or t.end_silence_ms
        early = complete_silence_ms if (complete is not None and utterance is not None and complete_silence_ms
                                        and complete_silence_ms < end_silence) else None
        early_tried = False      # a result was taken early in this stretch of quiet
        turn = Turn(prompt_started=time.monotonic())
        inbox: asyncio.Queue = asyncio.Queue()
        self._inbox = inbox
        self.conn.play(pcm)
        pre_roll: collections.deque[bytes] = collections.deque(maxlen=t.pre_roll_frames)
        pending: list[bytes] = []
        voiced_run = 0
        last_voice = None
        speech_frames = 0
        last_digit = None
        waker = _Waker(inbox)   # audio arrives every 20 ms; this only matters if it stops
        try:
            while True:
                now = time.monotonic()
                if turn.prompt_ended is None and not self.conn.playing:
                    turn.prompt_ended = now
                # ---- decide whether the turn is over ----
                if turn.speech_started is not None and last_voice is not None:
                    silent_ms = (now - last_voice) * 1000
                    spoken_ms = (now - turn.speech_started) * 1000
                    ended_by = ("silence" if silent_ms >= end_silence
                                else "max-length" if spoken_ms >= t.max_speech_ms
                                else "endpoint" if (utterance is not None and utterance.endpoint
                                                    and silent_ms >= t.endpoint_silence_ms)
                                else "")
                    rec = None
                    if (not ended_by and early is not None and silent_ms >= early and not early_tried
                            and speech_frames * FRAME_MS >= t.min_speech_ms
                            and utterance is not None and complete is not None):
                        early_tried = True
                        rec, pending = await utterance.result(b"".join(pending)), []
                        if complete(rec.text):
                            ended_by = "complete"
                        else:                      # not an answer yet: the borrower may go on
                            rec = None
                            await utterance.resume()
                    if ended_by:
                        if speech_frames * FRAME_MS < t.min_speech_ms:
                            # a click or a cough: forget it and keep listening
                            turn.speech_started, last_voice, speech_frames, pending = None, None, 0, []
                        else:
                            turn.speech_ended = last_voice
                            turn.via = "voice"
                            turn.ended_by = ended_by
                            if utterance is not None:
                                rec = rec or await utterance.result(b"".join(pending))
                                turn.text, turn.confidence, turn.words = rec.text, rec.confidence, rec.words
                                turn.alternatives, turn.pieces = rec.alternatives, rec.pieces
                                turn.second_decoding = rec.second_decoding
                            break
                if turn.digits:
                    if len(turn.digits) >= max_digits or turn.digits.endswith("#"):
                        turn.via = "keypad"
                        break
                    if last_digit and (now - last_digit) * 1000 >= t.inter_digit_ms:
                        turn.via = "keypad"
                        break
                if (turn.speech_started is None and not turn.digits and turn.prompt_ended is not None
                        and (now - turn.prompt_ended) * 1000 >= timeout_ms):
                    turn.via = "none"
                    break
                # ---- take what has arrived (usually one frame; more when the loop fell behind) ----
                batch = await self._take(inbox)
                if batch is None:
                    continue
                audio = [f.payload for f in batch if f.kind == Kind.AUDIO]
                verdicts = iter(self.vad.voiced(audio))
                for frame in batch:
                    if frame.kind == Kind.DTMF:
                        if self.conn.playing:
                            self.conn.stop_playback()
                            turn.barge_in = True
                        turn.digits += frame.digit
                        last_digit = time.monotonic()
                        continue
                    if frame.kind != Kind.AUDIO:
                        continue
                    voiced = next(verdicts)
                    if turn.speech_started is None:
                        pre_roll.append(frame.payload)
                        voiced_run = voiced_run + 1 if voiced else 0
                        if voiced_run >= t.speech_start_frames and not turn.digits:
                            turn.speech_started = time.monotonic() - (t.speech_start_frames - 1) * FRAME_MS / 1000
                            last_voice = time.monotonic()
                            speech_frames = voiced_run
                            if self.conn.playing:
                                self.conn.stop_playback()
                                turn.barge_in = True
                            if utterance is not None:
                                pending = list(pre_roll)
                            pre_roll.clear()
                        continue
                    # inside speech
                    if voiced:
                        last_voice = time.monotonic()
                        speech_frames += 1
                        early_tried = False
                    if utterance is not None:
                        pending.append(frame.payload)
                        if len(pending) >= t.feed_frames:
                            chunk, pending = b"".join(pending), []
                            await utterance.feed(chunk)
        finally:
            waker.cancel()
            self._inbox = None
        if self.conn.playing:
            self.conn.stop_playback()
        if turn.prompt_ended is None:
            turn.prompt_ended = time.monotonic()
        turn.result_at = time.monotonic()
        return turn

    @staticmethod
    async def _take(inbox: asyncio.Queue) -> list[Frame] | None:
        """Every frame waiting in ``inbox`` (waiting for the first); None when only the waker's
        tick came. Raises CallHungUp at the end-of-call marker."""
        batch = [inbox.get_nowait() if not inbox.empty() else await inbox.get()]
        while not inbox.empty():
            batch.append(inbox.get_nowait())
        if None in batch:
            raise CallHungUp("borrower hung up")
        frames = [f for f in batch if f is not _TICK]
        return frames or None


    async def close(self) -> None:
        self._reader.cancel()
        await asyncio.gather(self._reader, return_exceptions=True)

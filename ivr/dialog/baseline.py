"""The common alternative to our streaming dialog, for comparison only (bench/capacity.py).

Most IVRs built on plain AGI do each question as: play the prompt with `STREAM FILE` (keys
interrupt it, voice does not), then `RECORD FILE ... s=1` (Asterisk stops recording after one
second of silence), then run the recognizer over the recorded file. This module runs exactly
our flows that way: `FlowRunner` walks the same flow with the same understanding and writes the
same records; only the audio object differs (`AgiAudio` instead of `turns.CallAudio`).

Timestamps are comparable with ours: `prompt_started` is when STREAM FILE is sent (Asterisk
starts streaming at once), `speech_ended` is placed on the recording by its energy: the file
ends when RECORD FILE returns, so a voiced frame at offset t of a file of length D ended
(D - t) before that.

Reached through the dialplan context `huifang-call-baseline` (AGI route `baseline`); nothing in
the product uses it.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import logging
import os
import time
import wave
from collections.abc import Callable
from pathlib import Path

from ..asterisk import media
from .agi import AgiSession, CallHungUp, agi_quote
from .runner import CallContext, FlowRunner
from .speech import Utterance
from .turns import FRAME_MS, Turn, TurnTuning, rms

log = logging.getLogger(__name__)

ESCAPE = "0123456789*#"
SILENCE_S = 1          # RECORD FILE s=1
SPEECH_ALLOWANCE_MS = 9000


class _PromptClock:
    bursts = 0
    burst_started_at: float | None = None


class AgiAudio:
    """`CallAudio`'s interface (say/ask/close) over plain AGI commands."""

    def __init__(self, agi: AgiSession, settings, attempt_id: str, tuning: TurnTuning | None = None):
        self.agi = agi
        self.settings = settings
        self.attempt_id = attempt_id
        self.tuning = tuning or TurnTuning()
        self.first_audio_at: float | None = None
        # what FlowRunner reads off `audio.conn` for answers.reply_audio_at (first frame of the
        # prompt after an answer): here, when STREAM FILE was sent
        self.conn = _PromptClock()
        self._n = 0
        # prompts as files Asterisk can open: <media>/sounds/baseline/<sha>.wav (host and Asterisk views)
        self._sounds_host = media.on_host(settings, media.SOUNDS, "baseline")
        self._sounds_chroot = media.in_asterisk(settings, media.SOUNDS, "baseline")
        self._rec_host = media.on_host(settings, media.RECORDINGS, "baseline")
        self._rec_chroot = media.in_asterisk(settings, media.RECORDINGS, "baseline")

    # ---- files -----------------------------------------------------------------------------
    def _prompt_file(self, pcm: bytes) -> str:
        name = hashlib.sha256(pcm).hexdigest()[:20]
        path = self._sounds_host / f"{name}.wav"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            staged = path.with_name(f".{name}.{os.getpid()}.{time.monotonic_ns()}.tmp")
            with wave.open(str(staged), "wb") as w:
                w.setnchannels(1), w.setsampwidth(2), w.setframerate(8000)
                w.writeframes(pcm)
            os.replace(staged, path)
        return f"{self._sounds_chroot}/{name}"

    async def _stream(self, pcm: bytes, escape: str) -> tuple[str, float, float]:
        """STREAM FILE; returns (digit pressed or '', started, ended)."""
        loop = asyncio.get_running_loop()
        target = await loop.run_in_executor(None, self._prompt_file, pcm)
        started = time.monotonic()
        self.first_audio_at = self.conn.burst_started_at = started
        self.conn.bursts += 1
        res = await self.agi.command(f"STREAM FILE {agi_quote(target)} {agi_quote(escape)}")
        digit = chr(res.value) if res.value and res.value > 0 else ""
        return digit, started, time.monotonic()

    # ---- CallAudio interface ----------------------------------------------------------------
    async def say(self, pcm: bytes) -> tuple[float, float]:
        _, started, ended = await self._stream(pcm, "")
        return started, ended

    async def ask(self, pcm: bytes, utterance: Utterance | None, *, timeout_ms: int, max_digits: int = 1,
                  end_silence_ms: int | None = None, complete_silence_ms: int | None = None,
                  complete: Callable[[str], bool] | None = None) -> Turn:
        # end_silence_ms, complete_silence_ms and complete are ignored on purpose: the common
        # alternative this baseline stands for ends the borrower's turn with RECORD FILE's own
        # silence detection (s=1: one second)
        turn = Turn()
        digit, turn.prompt_started, turn.prompt_ended = await self._stream(pcm, ESCAPE)
        if digit:
            turn.barge_in = True
            turn.digits = digit
        else:
            self._n += 1
            name = f"{self.attempt_id}-{self._n}"
            self._rec_host.mkdir(parents=True, exist_ok=True)
            res = await self.agi.command(
                f"RECORD FILE {agi_quote(self._rec_chroot + '/' + name)} wav {agi_quote(ESCAPE)} "
                f"{timeout_ms + SPEECH_ALLOWANCE_MS} 0 s={SILENCE_S}")
            ended = time.monotonic()
            # "result=<digit> (dtmf)", "result=<ms left> (timeout)" on silence or time out, -1 (hangup)
            if (res.data or "").strip() == "dtmf" and res.value and res.value > 0:
                turn.digits = chr(res.value)
            else:
                await self._recognize(turn, self._rec_host / f"{name}.wav", ended, utterance)
        if turn.digits:
            while len(turn.digits) < max_digits and not turn.digits.endswith("#"):
                res = await self.agi.command(f"WAIT FOR DIGIT {self.tuning.inter_digit_ms}")
                if not res.value or res.value <= 0:
                    break
                turn.digits += chr(res.value)
            turn.via = "keypad"
        turn.result_at = time.monotonic()
        return turn

    async def _recognize(self, turn: Turn, path: Path, ended: float, utterance: Utterance | None) -> None:
        loop = asyncio.get_running_loop()
        try:
            pcm = await loop.run_in_executor(None, _read_wav, path)
        except (OSError, EOFError, wave.Error) as exc:
            log.warning("call %s: recording %s unreadable: %s", self.attempt_id, path, exc)
            return
        frame = 8 * FRAME_MS * 2
        voiced = [i for i in range(0, len(pcm) - frame + 1, frame) if rms(pcm[i:i + frame]) >= self.tuning.floor_rms]
        if not voiced:
            return  # silence only: no input
        start_of_file = ended - len(pcm) / 16000
        turn.speech_started = start_of_file + voiced[0] / 16000
        turn.speech_ended = start_of_file + (voiced[-1] + frame) / 16000
        turn.via = "voice"
        if utterance is not None:
            await utterance.feed(pcm)
            rec = await utterance.result()
            turn.text, turn.confidence, turn.words = rec.text, rec.confidence, rec.words
            turn.alternatives, turn.pieces = rec.alternatives, rec.pieces

    async def close(self) -> None:
        return None


def _read_wav(path: Path) -> bytes:
    with wave.open(str(path), "rb") as w:
        return w.readframes(w.getnframes())


class BaselineDialog:
    """AGI route `baseline`: the follow-up flow with record-then-recognize turns."""

    def __init__(self, server):
        self.server = server

    async def __call__(self, agi: AgiSession) -> None:
        s = self.server
        attempt_id = (await agi.get_variable("IVR_ATTEMPT")) or agi.env.get("agi_uniqueid", "")
        context = await s.store.context(attempt_id)
        if context is None:
            await agi.set_variable("IVR_NEXT", "hangup")
            return
        attempt, borrower = context["attempt"], context["borrower"]
        ctx = CallContext(attempt_id=attempt_id, locale=attempt["locale"], borrower=borrower,
                          today=s.today or dt.date.today())
        await s.store.start(attempt_id)
        error = None
        try:
            flow = s.flows[attempt["flow"] or "followup"]
            await FlowRunner(flow, s.prompts, s.speech, AgiAudio(agi, s.settings, attempt_id), s.store, ctx).run()
        except CallHungUp:
            ctx.result = "hung_up" if ctx.result in ("completed", "identity_confirmed") else ctx.result
            ctx.next = "hangup"
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            log.exception("call %s: baseline dialog failed at %s", attempt_id, ctx.last_node)
            ctx.result, ctx.next = "error", "hangup"
        finally:
            await s.store.finish(attempt_id, ctx.result, ctx.last_node, error, ctx.played)
        if error is None and not agi.hung_up:
            await agi.set_variable("IVR_RESULT", ctx.result)
            await agi.set_variable("IVR_NEXT", ctx.next)

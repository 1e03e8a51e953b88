"""The listening borrower's ears (issue 13 item 4): when has the IVR's prompt ended, and which
question was it?

The capacity bench's SIPp borrower answers on a fixed schedule, so at overload a late prompt and a
missed turn look alike. A borrower that listens answers once the IVR has gone quiet after
speaking, and picks its answer by what it heard: the IVR's say-nodes run straight into the next
prompt, so a quiet stretch of `end_silence_s` means the IVR is waiting, and the speech heard since
the borrower last answered is the run of prompts that led to the question. Which question is
decided by that run's length against the expected runs (our prompt audio's lengths): the flow may
ask something the script did not plan (a confirmation), and the borrower must notice that instead
of answering the wrong question.

Pure and per packet: `Ears.hear(t, payload)` takes each received PCMU payload with its arrival
time; no sockets here, so it is tested without a stack (the sockets: bench/borrower_media.py).
"""
from __future__ import annotations

import dataclasses

from bench.rtp import ulaw


def _ulaw_magnitude(byte: int) -> int:
    """|linear sample| of one G.711 mu-law byte."""
    u = ~byte & 0xFF
    exponent, mantissa = (u >> 4) & 0x07, u & 0x0F
    return (((mantissa << 3) + 0x84) << exponent) - 0x84


MAGNITUDE = [_ulaw_magnitude(b) for b in range(256)]
# |sample| depends on the low 7 bits only and falls as they rise (0x00 / 0x80 loudest, 0x7F / 0xFF
# silent), so the loudest sample of a payload is its smallest byte once the sign bit is dropped:
# two C loops (translate, min) instead of one Python step per sample (the borrower of 200 calls
# hears 10,000 packets a second)
_NO_SIGN = bytes(b & 0x7F for b in range(256))


def peak(payload: bytes) -> int:
    """Largest |sample| of a PCMU payload."""
    return MAGNITUDE[min(payload.translate(_NO_SIGN))] if payload else 0


@dataclasses.dataclass(frozen=True)
class Question:
    name: str
    speech_s: float      # the IVR's speech expected between the borrower's previous answer and this question


@dataclasses.dataclass(frozen=True)
class Heard:
    """The IVR went quiet at `at` after `speech_s` of speech: it waits for `question` (None: no
    expected question is within `tolerance_s`). `started` / `ended`: the first and the end of the
    last speech packet heard since the borrower last answered."""
    at: float
    speech_s: float
    question: str | None
    started: float | None = None
    ended: float | None = None


class Ears:
    def __init__(self, questions: list[Question], *, speech_peak: int = 800, end_silence_s: float = 0.5,
                 tolerance_s: float = 1.0):
        self.questions = questions
        self.speech_peak, self.end_silence_s, self.tolerance_s = speech_peak, end_silence_s, tolerance_s
        self._speech_s = 0.0          # speech heard since the last answer
        self._last_speech: float | None = None
        self._first_speech: float | None = None

    def answered(self) -> None:
        """The borrower spoke or pressed keys: what the IVR says next leads to another question."""
        self._speech_s, self._last_speech, self._first_speech = 0.0, None, None

    def hear(self, t: float, payload: bytes) -> Heard | None:
        """One received packet at time t (seconds); a `Heard` once the IVR has been quiet long enough."""
        if peak(payload) >= self.speech_peak:
            # the packet's own length: pauses inside a prompt are not speech, and packets that
            # arrive in a burst (an IVR catching up after a stall) are not shortened to nothing
            self._speech_s += len(payload) / 8000
            self._last_speech = t
            if self._first_speech is None:
                self._first_speech = t
            return None
        if self._last_speech is None or t - self._last_speech < self.end_silence_s:
            return None
        heard = Heard(at=t, speech_s=round(self._speech_s, 2), question=self.which(self._speech_s),
                      started=self._first_speech, ended=self._last_speech + 0.02)
        self._last_speech = None      # report each quiet stretch once
        return heard

    def which(self, speech_s: float) -> str | None:
        best = min(self.questions, key=lambda q: abs(q.speech_s - speech_s), default=None)
        if best is None or abs(best.speech_s - speech_s) > self.tolerance_s:
            return None
        return best.name


def speech_seconds(pcm: bytes) -> float:
    """How much speech `Ears` hear in 8 kHz 16-bit audio (our prompt audio), as the IVR plays it:
    the expected lead-in of a question is measured by the same ears that listen on the call."""
    ears, t = Ears([]), 0.0
    for i in range(0, len(pcm), 320):
        ears.hear(t, ulaw(pcm[i:i + 320]))
        t += 0.02
    while True:
        heard = ears.hear(t, b"")
        if heard is not None or t > len(pcm) / 16000 + 1:
            return heard.speech_s if heard else 0.0
        t += 0.02

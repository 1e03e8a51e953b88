"""Grammar files: every phrase means what it is listed under, and the garbage path means nothing."""
import datetime as dt

import pytest

from ivr.dialog import grammars
from ivr.dialog.intents import understand

TODAY = dt.date(2026, 12, 1)
CASES = [(locale, step, intent, phrase)
         for locale in ("ko-KR", "zh-CN")
         for step, table in grammars.load(locale).steps.items()
         for intent, phrases in table.items()
         for phrase in phrases
         if not (step == "digits" and intent == "digits" and len(phrase.split()) < 4 and locale == "ko-KR")
         and not (step == "digits" and intent == "digits" and locale == "zh-CN" and len(phrase) < 4)]


@pytest.mark.parametrize("locale,step,intent,phrase", CASES, ids=[f"{c[0]}:{c[1]}:{c[3]}" for c in CASES])
def test_every_phrase_is_understood_as_its_intent(locale, step, intent, phrase):
    assert understand(phrase, locale=locale, step=step, today=TODAY)["intent"] == intent


@pytest.mark.parametrize("locale", ["ko-KR", "zh-CN"])
@pytest.mark.parametrize("step", ["identity", "plan", "digits", "confirm"])
def test_garbage_words_answer_nothing(locale, step):
    junk = grammars.garbage_words(locale, step)
    assert junk, "every step needs a garbage path"
    for word in junk:
        got = understand(word, locale=locale, step=step, today=TODAY)
        assert got["intent"] == "unknown" and not got["digits"], word


def test_answers_are_weighted_and_garbage_added_once():
    g = grammars.for_decoder("ko-KR", "identity", None, weight=3)
    answers = grammars.phrases("ko-KR", "identity")
    assert g.phrases.count(answers[0]) == 3
    junk = grammars.garbage_words("ko-KR", "identity")
    assert all(g.phrases.count(w) == 1 for w in junk)


def test_rejoin_restores_our_spelling():
    g = grammars.DecoderGrammar([], joins={("맞", "아요"): "맞아요", ("이", "미"): "이미"})
    assert g.rejoin("네 맞 아요") == "네 맞아요"
    assert g.rejoin("이 미 갚았어요") == "이미 갚았어요"
    assert g.rejoin("이 가") == "이 가"


def test_a_broken_grammar_file_is_a_clear_error(tmp_path):
    (tmp_path / "xx-XX").mkdir()
    (tmp_path / "xx-XX" / "grammar.yaml").write_text("steps: [1, 2]\n")
    with pytest.raises(grammars.GrammarError, match="steps"):
        grammars.load("xx-XX", str(tmp_path))

"""The decision layer on recorded recognizer output: what is accepted, confirmed, rejected."""
import dataclasses
import datetime as dt

import pytest

from ivr.dialog.decision import Policy, PolicyError, Thresholds, decide, load_policy
from ivr.dialog.speech import Recognition

TODAY = dt.date(2026, 12, 1)


def rec(*alts, words=None, text=None):
    alternatives = [{"text": t, "score": s} for t, s in alts]
    best = text if text is not None else (alternatives[0]["text"] if alternatives else "")
    if words is None:
        words = [{"word": w, "conf": 0.99} for w in best.split()]
    return Recognition(text=best, confidence=None, words=words, alternatives=alternatives)


def test_a_clear_answer_is_accepted():
    d = decide(rec(("아니요", 100.0), ("아니요 요", 90.0)), locale="ko-KR", step="identity", today=TODAY)
    assert d.kind == "accept" and d.meaning["intent"] == "deny" and d.posterior > 0.99


def test_identity_yes_by_voice_is_always_confirmed_however_clear():
    d = decide(rec(("네", 100.0), ("네 요", 90.0)), locale="ko-KR", step="identity", today=TODAY)
    assert d.kind == "confirm" and d.meaning["intent"] == "confirm" and d.posterior > 0.99


def test_a_close_second_reading_that_means_no_makes_a_yes_unsure():
    d = decide(rec(("네", 100.0), ("아니요", 99.5)), locale="ko-KR", step="identity", today=TODAY)
    assert d.kind in ("confirm", "reject") and d.kind != "accept"


def test_yes_and_no_in_one_answer_is_never_accepted():
    d = decide(rec(("아뇨 네", 100.0)), locale="ko-KR", step="identity", today=TODAY)
    assert d.kind != "accept"
    assert any("conflicting" in r for r in d.reasons) or d.kind == "reject"


def test_low_word_confidence_on_identity_yes_asks_to_confirm():
    words = [{"word": "네", "conf": 0.55}]
    d = decide(rec(("네", 100.0), words=words), locale="ko-KR", step="identity", today=TODAY)
    assert d.kind == "confirm" and d.meaning["intent"] == "confirm"


def test_garbage_words_are_rejected_and_never_become_an_intent():
    d = decide(rec(("여보세요", 100.0), ("누구 세요", 99.0)), locale="ko-KR", step="identity", today=TODAY)
    assert d.kind == "reject" and d.meaning["intent"] == "unknown"


def test_an_answer_word_among_garbage_is_rejected():
    d = decide(rec(("네 여보세요 누구", 100.0)), locale="ko-KR", step="identity", today=TODAY)
    assert d.kind == "reject" and d.hypothesis["intent"] == "confirm"


def test_stray_word_pieces_are_evidence_of_nothing():
    pieces = ["게요"]
    with_piece = Recognition(text="내일 낼게요 게요", confidence=None,
                             words=[{"word": w, "conf": 0.99} for w in "내일 낼게요 게요".split()],
                             alternatives=[{"text": "내일 낼게요 게요", "score": 100.0}], pieces=pieces)
    d = decide(with_piece, locale="ko-KR", step="plan", today=TODAY)
    assert d.kind != "reject" and d.hypothesis["date"] == "2026-12-02"
    without = decide(dataclasses.replace(with_piece, pieces=[]), locale="ko-KR", step="plan", today=TODAY)
    assert without.kind == "reject"


def test_an_identity_yes_is_to_be_confirmed_by_a_key():
    d = decide(rec(("네", 100.0)), locale="ko-KR", step="identity", today=TODAY)
    assert d.kind == "confirm" and d.keypad_only


def test_a_promise_date_needs_high_evidence():
    d = decide(rec(("내일 낼게요", 100.0), ("모레 낼게요", 98.0)), locale="ko-KR", step="plan", today=TODAY)
    assert d.kind != "accept" and d.hypothesis["date"] == "2026-12-02"
    clear = decide(rec(("내일 낼게요", 100.0), ("모레 낼게요", 90.0)), locale="ko-KR", step="plan", today=TODAY)
    assert clear.kind == "accept" and clear.meaning["date"] == "2026-12-02"


def test_the_two_decodings_disagreeing_is_not_accepted():
    d = decide(rec(("아니요", 100.0), text="네"), locale="ko-KR", step="identity", today=TODAY)
    assert d.kind != "accept"


def test_nothing_heard_is_a_reject():
    assert decide(rec(), locale="ko-KR", step="identity", today=TODAY).kind == "reject"


def test_thresholds_come_from_the_policy():
    strict = dataclasses.replace(load_policy("ko-KR"), default=Thresholds(accept=1.0, confirm=1.0, word_conf=1.0),
                                 per_intent={})
    d = decide(rec(("상담원", 100.0), ("나중에", 99.5)), locale="ko-KR", step="identity", today=TODAY,
               policy=strict)
    assert d.kind == "reject"


def test_zh_cn_negated_identity_is_never_accepted_as_yes():
    d = decide(rec(("我 不是 他 本人", 100.0)), locale="zh-CN", step="identity", today=TODAY)
    assert not (d.kind == "accept" and d.meaning["intent"] == "confirm")


def test_a_malformed_evidence_file_is_a_clear_error(tmp_path):
    (tmp_path / "xx-XX").mkdir()
    (tmp_path / "xx-XX" / "evidence.yaml").write_text("default: {accept: 0.5, confirm: 0.9}\n")
    with pytest.raises(PolicyError, match="confirm"):
        load_policy("xx-XX", str(tmp_path))
    assert isinstance(load_policy("yy-YY", str(tmp_path)), Policy)


def test_confirmations_are_settled_by_a_key_unless_the_evidence_file_says_otherwise(tmp_path):
    unsure = rec(("아니요", 100.0), ("네", 99.6))
    strict = decide(unsure, locale="ko-KR", step="identity", today=TODAY)
    assert strict.kind == "confirm" and strict.keypad_only
    lenient = decide(unsure, locale="ko-KR", step="identity", today=TODAY,
                     policy=Policy(confirm_by_repeating=True))
    assert lenient.kind == "confirm" and not lenient.keypad_only
    (tmp_path / "xx-XX").mkdir()
    (tmp_path / "xx-XX" / "evidence.yaml").write_text("confirm_by_repeating: sometimes\n")
    with pytest.raises(PolicyError, match="confirm_by_repeating"):
        load_policy("xx-XX", str(tmp_path))


def _phrases(locale: str, step: str) -> list[str]:
    import yaml

    from ivr.config import REPO_ROOT
    steps = yaml.safe_load((REPO_ROOT / "prompts" / locale / "grammar.yaml").read_text())["steps"]
    return [p for phrases in steps[step].values() for p in phrases] + ["여보세요", "누구 세요", "게요", "니다"]


@pytest.mark.parametrize("step", ["identity", "digits", "plan", "confirm"])
def test_deciding_before_the_second_decoding_changes_no_decision(step):
    """In a call the MBR decoding is finished only if the n-best alone would accept the answer
    (`wants_second_decoding`); on a thousand made-up recognitions of this question's phrases,
    deciding that way gives the decision deciding on everything at once gives, and never an accept
    without the word posteriors."""
    import random
    rng = random.Random(step)
    phrases = _phrases("ko-KR", step)
    accepted = checked = 0
    for _ in range(1000):
        alts = [(rng.choice(phrases), rng.uniform(80, 110)) for _ in range(rng.randint(1, 5))]
        if rng.random() < 0.5:       # a clear winner
            alts[0] = (alts[0][0], max(s for _, s in alts) + rng.uniform(0, 12))
        alts.sort(key=lambda a: -a[1])
        mbr_text = alts[0][0] if rng.random() < 0.85 else rng.choice(phrases)
        words = [{"word": w, "conf": rng.choice([0.99, 0.95, rng.uniform(0.3, 1.0)])} for w in mbr_text.split()]
        full = rec(*alts, words=words, text=mbr_text)
        first_only = dataclasses.replace(full, text=alts[0][0], words=[], confidence=None, second_decoding=False)
        at_once = decide(full, locale="ko-KR", step=step, today=TODAY)
        first = decide(first_only, locale="ko-KR", step=step, today=TODAY)
        assert first.kind != "accept"
        then = decide(full, locale="ko-KR", step=step, today=TODAY) if first.wants_second_decoding else first
        assert (then.kind, then.meaning) == (at_once.kind, at_once.meaning), (alts, mbr_text, words)
        assert then.keypad_only == at_once.keypad_only
        checked += first.wants_second_decoding
        accepted += at_once.kind == "accept"
    assert accepted and checked >= accepted          # accepts happened, and each was checked

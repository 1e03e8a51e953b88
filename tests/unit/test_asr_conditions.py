"""The pure parts of bench/asr_robustness.py: channel maths, the condition split, scoring, the corpus.

None of this needs Vosk or espeak-ng: audio is made here with numpy, decisions are written by hand.
"""
import datetime as dt
import math

import numpy as np
import pytest

from bench import asr_conditions as ac
from bench.asr_corpus import CorpusError, Utterance, is_correct, load
from bench.asr_scoring import Tally, Verdict, agrees, outcome, simulate


def tone(seconds=1.0, freq=440.0, amp=8000.0):
    t = np.arange(int(ac.SAMPLE_RATE * seconds)) / ac.SAMPLE_RATE
    return (amp * np.sin(2 * math.pi * freq * t)).astype(np.int16)


# --- channel ------------------------------------------------------------------------------
@pytest.mark.parametrize("codec", ["ulaw", "alaw"])
def test_g711_round_trip_changes_audio_but_keeps_length(codec):
    x = tone() + np.int16(3)
    y = ac.g711_round_trip(x, codec)
    assert len(y) == len(x)
    assert not np.array_equal(x, y)
    # quantisation error is small relative to the signal (8-bit log companding: ~38 dB SNR)
    err = ac.power(x.astype(float) - y.astype(float))
    assert 10 * math.log10(ac.power(x) / err) > 30


def test_ulaw_and_alaw_differ():
    x = tone(amp=3000)
    assert not np.array_equal(ac.g711_round_trip(x, "ulaw"), ac.g711_round_trip(x, "alaw"))


def test_unknown_codec_is_refused():
    with pytest.raises(ValueError, match="unknown codec"):
        ac.g711_round_trip(tone(), "g729")


@pytest.mark.parametrize("snr", [20.0, 10.0, 0.0])
@pytest.mark.parametrize("kind", ["white", "babble"])
def test_noise_mixer_hits_the_requested_snr(snr, kind):
    pad = np.zeros(2400, dtype=np.int16)
    speech = tone(1.5, amp=6000)
    x = np.concatenate([pad, speech, pad])
    region = slice(len(pad), len(pad) + len(speech))
    if kind == "white":
        noise = ac.white_noise(len(x), seed=7)
    else:   # a "babble" stand-in: a sum of tones with a slow envelope, looped from an offset
        t = np.arange(20000) / ac.SAMPLE_RATE
        track = sum(np.sin(2 * math.pi * f * t) * (1 + np.sin(2 * math.pi * 0.7 * t)) for f in (180, 310, 520))
        noise = ac.loop_slice(track, len(x), seed=3)
    mixed = ac.add_noise(x, noise, snr, region)
    added = mixed - x.astype(float)
    measured = 10 * math.log10(ac.power(speech) / ac.power(added))
    assert abs(measured - snr) <= 0.5


def test_noise_for_sounds_uses_the_reference_level():
    x = np.zeros(8000, dtype=np.int16)
    mixed = ac.add_noise(x, ac.white_noise(8000, 1), 10.0, None, reference_dbfs=-21.0)
    level = 10 * math.log10(ac.power(mixed) / 32768 ** 2)
    assert abs(level - (-31.0)) <= 0.5


def test_noise_shorter_than_signal_is_an_error():
    with pytest.raises(ValueError, match="shorter"):
        ac.add_noise(tone(1.0), np.ones(100), 10.0)


@pytest.mark.parametrize("share", [0.02, 0.05])
def test_frame_loss_zeroes_that_share_of_whole_frames(share):
    x = np.full(ac.FRAME * 500, 1000, dtype=np.int16)
    y, lost = ac.lose_frames(x, share, seed=11)
    assert len(y) == len(x)
    assert len(lost) == round(share * 500) and len(set(lost)) == len(lost)
    frames = y.reshape(500, ac.FRAME)
    zero = [i for i in range(500) if not frames[i].any()]
    assert zero == lost
    assert all(frames[i].all() for i in range(500) if i not in lost)
    assert ac.lose_frames(x, share, seed=11)[1] == lost       # deterministic for a seed
    assert ac.lose_frames(x, share, seed=12)[1] != lost


def test_degrade_keeps_length_and_is_deterministic():
    cond = next(c for c in ac.CONDITIONS if c.name == "mobile-street")
    pcm = ac.to_bytes(np.concatenate([np.zeros(2400), tone(1.0), np.zeros(2400)]))
    babble = ac.white_noise(30000, 5)
    a = ac.degrade(pcm, cond, seed=1, speech=slice(2400, 10400), babble=babble)
    b = ac.degrade(pcm, cond, seed=1, speech=slice(2400, 10400), babble=babble)
    assert len(a) == len(pcm) and a == b and a != pcm


# --- the split ----------------------------------------------------------------------------
def test_split_is_deterministic_and_frozen():
    forward, backward = ac.compute_split(ac.CONDITIONS), ac.compute_split(list(reversed(ac.CONDITIONS)))
    assert {h: set(v) for h, v in forward.items()} == {h: set(v) for h, v in backward.items()}
    assert ac.split() == ac.FROZEN_SPLIT


def test_split_halves_are_disjoint_and_cover_every_condition():
    s = ac.split()
    assert not set(s["tuning"]) & set(s["heldout"])
    assert sorted(s["tuning"] + s["heldout"]) == sorted(c.name for c in ac.CONDITIONS)
    assert 8 <= len(s["tuning"]) <= 12


def test_each_half_has_each_degradation_kind():
    s = ac.split()
    every = set().union(*(c.kinds() for c in ac.CONDITIONS))
    assert every >= {"ulaw", "alaw", "voice", "rate", "pitch", "gain", "white", "babble", "loss"}
    for half in ("tuning", "heldout"):
        kinds = set().union(*(c.kinds() for c in ac.by_name(s[half])))
        assert kinds == every, half


def test_split_rule_needs_pairs():
    with pytest.raises(ValueError, match="exactly 2"):
        ac.compute_split(ac.CONDITIONS[:3])


def test_condition_parameters_within_the_matrix_ranges():
    for c in ac.CONDITIONS:
        assert 120 <= c.rate <= 220 and 20 <= c.pitch <= 80 and -20 <= c.gain_db <= 0
        assert c.codec in ac.CODECS and c.loss in (0.0, 0.02, 0.05)
        assert (c.noise is None) == (c.snr_db is None) and c.snr_db in (None, 10, 20)


# --- scoring ------------------------------------------------------------------------------
PROMISE = Utterance("plan/promise/0", "plan", "plan", "내일 삼십만 원 낼게요", None, ("promise",),
                    {"date": "2026-12-02", "amount": 300000})
OOG = Utterance("identity/oog/0", "identity", "identity", "누구세요")


def meaning(intent, **slots):
    return {"intent": intent, "date": None, "time": None, "amount": None, "digits": None, **slots}


def test_a_wrong_date_is_a_false_accept():
    v = Verdict("accept", meaning("promise", date="2026-12-03", amount=300000))
    assert outcome(PROMISE, v) == "false_accept"


def test_an_extra_slot_is_wrong_and_the_right_one_is_right():
    assert outcome(PROMISE, Verdict("accept", meaning("promise", date="2026-12-02", amount=300000))) == "right"
    only_date = Utterance("u", "plan", "plan", "내일 낼게요", None, ("promise",), {"date": "2026-12-02", "amount": None})
    assert outcome(only_date, Verdict("accept", meaning("promise", date="2026-12-02", amount=3000))) == "false_accept"


def test_a_rejected_out_of_grammar_utterance_is_right():
    assert outcome(OOG, Verdict("reject", meaning("unknown"))) == "right"
    assert outcome(OOG, Verdict("accept", meaning("confirm"))) == "false_accept"
    assert outcome(OOG, Verdict("confirm", meaning("confirm"))) == "confirmed_wrong"


def test_confirm_and_reject_outcomes():
    assert outcome(PROMISE, Verdict("confirm", meaning("promise", date="2026-12-02", amount=300000))) == "confirmed_right"
    assert outcome(PROMISE, Verdict("confirm", meaning("refuse"))) == "confirmed_wrong"
    assert outcome(PROMISE, Verdict("reject", meaning("unknown"))) == "rejected"


def scripted(turns):
    """A turn callback answering from a dict {(kind, take): Verdict}; records what was asked."""
    asked = []

    def turn(kind, take):
        asked.append((kind, take))
        return turns[(kind, take)]
    return turn, asked


RIGHT = Verdict("accept", meaning("promise", date="2026-12-02", amount=300000))
WRONG = Verdict("accept", meaning("refuse"))
YES = Verdict("accept", meaning("confirm"))
NO = Verdict("accept", meaning("deny"))
REJECT = Verdict("reject", meaning("unknown"))
READ_BACK = Utterance("plan/promise/0", "plan", "plan", "내일 삼십만 원 낼게요", None, ("promise",),
                      {"date": "2026-12-02", "amount": 300000}, ("promise",))
DENY = Utterance("identity/deny/0", "identity", "identity", "아니요", None, ("deny",))


def test_completion_reject_twice_then_keypad():
    turn, asked = scripted({("answer", 1): REJECT, ("answer", 3): REJECT})
    trail = simulate(PROMISE, turn)
    assert trail.completed and trail.path[-1] == "keypad"
    assert asked == [("answer", 1), ("answer", 3)]


def test_completion_fails_when_a_wrong_answer_is_accepted_on_the_second_try():
    turn, _ = scripted({("answer", 1): REJECT, ("answer", 3): WRONG})
    assert not simulate(PROMISE, turn).completed


def test_read_back_of_a_wrong_hypothesis_with_a_misheard_no_stores_the_wrong_answer():
    hyp = Verdict("confirm", meaning("promise", date="2026-12-03", amount=300000))
    turn, asked = scripted({("answer", 1): hyp, ("no", 1): YES})
    assert not simulate(READ_BACK, turn).completed
    assert ("no", 1) in asked                    # the borrower said no, because the hypothesis was wrong


def test_read_back_yes_that_is_only_confirmed_is_asked_once_more():
    hyp = Verdict("confirm", RIGHT.meaning)
    unsure_yes = Verdict("confirm", meaning("confirm"))
    turn, asked = scripted({("answer", 1): hyp, ("yes", 1): unsure_yes, ("yes", 2): unsure_yes})
    assert simulate(READ_BACK, turn).completed and asked == [("answer", 1), ("yes", 1), ("yes", 2)]


def test_a_read_back_that_is_not_a_yes_goes_back_to_the_question():
    hyp = Verdict("confirm", RIGHT.meaning)
    turn, asked = scripted({("answer", 1): hyp, ("yes", 1): REJECT, ("answer", 3): RIGHT})
    trail = simulate(READ_BACK, turn)
    assert trail.completed and asked == [("answer", 1), ("yes", 1), ("answer", 3)]


def test_without_read_back_the_borrower_repeats_and_a_second_agreeing_recognition_settles_it():
    hyp = Verdict("confirm", meaning("deny"))
    turn, asked = scripted({("answer", 1): hyp, ("answer", 2): Verdict("confirm", meaning("deny"))})
    assert simulate(DENY, turn).completed and asked == [("answer", 1), ("answer", 2)]


def test_a_repetition_that_disagrees_goes_back_to_the_question():
    hyp = Verdict("confirm", meaning("deny"))
    turn, asked = scripted({("answer", 1): hyp, ("answer", 2): YES, ("answer", 3): REJECT})
    assert simulate(DENY, turn).completed
    assert asked == [("answer", 1), ("answer", 2), ("answer", 3)]


def test_a_wrong_hypothesis_heard_the_same_way_twice_is_stored_and_fails():
    hyp = Verdict("confirm", meaning("confirm"))
    turn, _ = scripted({("answer", 1): hyp, ("answer", 2): YES})
    assert not simulate(DENY, turn).completed
    turn, _ = scripted({("answer", 1): hyp, ("answer", 2): hyp})
    assert not simulate(OOG, turn).completed


def test_agreement_is_intent_plus_the_hypothesis_slots():
    first = Verdict("confirm", meaning("promise", date="2026-12-02"))
    assert agrees(Verdict("accept", meaning("promise", date="2026-12-02", amount=5000)), first)
    assert not agrees(Verdict("accept", meaning("promise", date="2026-12-03")), first)
    assert not agrees(Verdict("reject", meaning("unknown")), first)


def test_out_of_grammar_completes_only_if_nothing_was_accepted():
    turn, _ = scripted({("answer", 1): Verdict("confirm", meaning("confirm")), ("answer", 2): REJECT,
                        ("answer", 3): REJECT})
    assert simulate(OOG, turn).completed
    turn, _ = scripted({("answer", 1): REJECT, ("answer", 3): YES})
    assert not simulate(OOG, turn).completed


def test_tally_percentages():
    t = Tally()
    for first, done in [("right", True), ("false_accept", False), ("confirmed_right", True), ("rejected", True)]:
        t.add(first, done)
    r = t.row()
    assert (r["n"], r["right_pct"], r["false_accept_pct"], r["confirmed_pct"], r["completion_pct"]) == (4, 25.0, 25.0, 25.0, 75.0)


# --- corpus -------------------------------------------------------------------------------
def test_corpus_covers_every_intent_of_every_question_and_has_enough_answers():
    today, utts = load()
    assert today == dt.date(2026, 12, 1)
    answers = [u for u in utts if u.in_grammar]
    assert len(answers) >= 150
    assert {u.sound for u in utts if u.sound} == {"silence", "cough", "noise"}
    assert any(not u.in_grammar and u.say for u in utts)
    assert is_correct(answers[0], meaning(answers[0].intents[0], **answers[0].slots))


def test_corpus_with_an_uncovered_intent_is_refused(tmp_path):
    bad = tmp_path / "c.yaml"
    bad.write_text("today: 2026-12-01\nquestions:\n  identity:\n    confirm: [네]\n", encoding="utf-8")
    with pytest.raises(CorpusError, match="no answers"):
        load(bad)


# --- sweep --------------------------------------------------------------------------------
def test_sweep_chooses_on_tuning_only_and_keeps_false_accepts_under_one_percent():
    import dataclasses
    import io

    from bench import asr_sweep

    @dataclasses.dataclass(frozen=True)
    class Th:
        accept: float = 0.9
        confirm: float = 0.5

    @dataclasses.dataclass(frozen=True)
    class Pol:
        lattice_beam: float = 6.0
        default: Th = Th()
        per_intent: dict = dataclasses.field(default_factory=lambda: {("plan", "promise"): Th(0.97, 0.55)})

    calls = []

    def evaluate(pol, names):
        calls.append(tuple(names))
        t = Tally()
        # lower accept thresholds: more right; below 0.8, false accepts
        a = pol.default.accept
        right = int(100 * (1.2 - a))
        fa = 3 if a < 0.8 else 0
        for _ in range(right):
            t.add("right", True)
        for _ in range(fa):
            t.add("false_accept", False)
        for _ in range(100 - right - fa):
            t.add("rejected", True)
        return t

    out = asr_sweep.run(Pol(), evaluate, ["t1", "t2"], ["h1"], out=io.StringIO())
    assert calls[-1] == ("h1",) and all(c == ("t1", "t2") for c in calls[:-1])
    assert out["chosen"]["changes"] == {"default.accept": 0.85}   # the lowest ladder step without false accepts
    assert out["chosen"]["tuning"]["false_accept_pct"] <= 1.0
    assert all("lattice_beam" not in c["changes"] for c in out["candidates"])     # a decoding setting
    assert not asr_sweep.valid(asr_sweep.set_path(Pol(), ("default", "accept"), 0.3))


def test_a_confirm_settled_by_a_key_completes_and_never_stores_what_was_misheard():
    """An always_confirm answer (identity yes) is asked back with the keys only: the borrower
    presses what they meant, so even a wrong hypothesis ends with the right answer stored."""
    from bench.asr_scoring import Verdict, simulate

    utt = next(u for u in load()[1] if u.step == "identity" and u.in_grammar)
    wrong = Verdict("confirm", {"intent": "callback" if "callback" not in utt.intents else "deny",
                                "date": None, "time": None, "amount": None, "digits": None}, keypad_only=True)
    trail = simulate(utt, lambda kind, take: wrong)
    assert trail.completed and trail.path[-1] == "confirm-by-key"

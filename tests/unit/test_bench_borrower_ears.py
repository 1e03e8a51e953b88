"""The listening borrower's ears: a prompt has ended after half a second of quiet following speech,
and the question is the expected one whose lead-in speech is nearest in length (or none)."""
from bench.borrower_ears import Ears, Question, peak, speech_seconds

LOUD, QUIET = b"\x80" * 160, b"\xff" * 160   # mu-law full scale, mu-law zero


def feed(ears: Ears, t: float, pattern: list[tuple[bytes, float]]):
    heard = []
    for payload, seconds in pattern:
        for _ in range(round(seconds / 0.02)):
            h = ears.hear(t, payload)
            if h:
                heard.append(h)
            t += 0.02
    return t, heard


def test_peak_of_mu_law():
    assert peak(QUIET) == 0
    assert peak(LOUD) > 30000
    assert peak(b"\xff" * 159 + b"\x00") > 30000   # one loud sample is enough
    assert peak(b"") == 0


def test_a_prompt_ends_after_half_a_second_of_quiet_not_at_a_pause():
    ears = Ears([Question("identity", 3.0), Question("id_check", 6.0)])
    # 1.5 s speech, a 0.3 s pause inside the prompt, 1.5 s speech, then quiet
    t, heard = feed(ears, 0.0, [(QUIET, 0.4), (LOUD, 1.5), (QUIET, 0.3), (LOUD, 1.5), (QUIET, 1.0)])
    assert len(heard) == 1
    h = heard[0]
    assert 3.7 + 0.5 - 0.03 <= h.at <= 3.7 + 0.5 + 0.03
    assert h.question == "identity" and abs(h.speech_s - 3.0) < 0.1


def test_the_question_follows_the_length_heard_since_the_last_answer():
    ears = Ears([Question("identity", 3.0), Question("id_check", 6.0)])
    t, heard = feed(ears, 0.0, [(LOUD, 3.0), (QUIET, 0.6)])
    assert [h.question for h in heard] == ["identity"]
    ears.answered()
    t, heard = feed(ears, t, [(LOUD, 6.0), (QUIET, 0.6)])
    assert [h.question for h in heard] == ["id_check"]
    ears.answered()
    # an unplanned question (a 9.5 s run: no expected one within a second) is reported as such
    t, heard = feed(ears, t, [(LOUD, 9.5), (QUIET, 0.6)])
    assert [h.question for h in heard] == [None]


def test_without_an_answer_the_speech_keeps_adding_up():
    ears = Ears([Question("long", 4.0)], tolerance_s=0.3)
    t, heard = feed(ears, 0.0, [(LOUD, 2.0), (QUIET, 0.7), (LOUD, 2.0), (QUIET, 0.7)])
    assert [h.question for h in heard] == [None, "long"]
    assert ears.hear(t, QUIET) is None   # each quiet stretch is reported once


def test_quiet_ticks_between_speech_packets_do_not_shorten_the_speech():
    """The media side also calls hear(now, b"") every 20 ms (Asterisk sends nothing between prompts)."""
    ears = Ears([Question("identity", 2.0)])
    t = 0.0
    for _ in range(100):   # 2 s of speech packets, a tick 10 ms after each
        assert ears.hear(t, LOUD) is None
        assert ears.hear(t + 0.01, b"") is None
        t += 0.02
    heard = [h for h in (ears.hear(t + i * 0.02, b"") for i in range(30)) if h]
    assert len(heard) == 1 and abs(heard[0].speech_s - 2.0) < 0.05 and heard[0].question == "identity"


def test_the_prompt_heard_starts_at_the_first_speech_and_ends_after_the_last():
    ears = Ears([Question("identity", 1.0)])
    _, heard = feed(ears, 0.0, [(QUIET, 0.4), (LOUD, 1.0), (QUIET, 0.8)])
    (h,) = heard
    assert abs(h.started - 0.4) < 0.001
    assert abs(h.ended - 1.4) < 0.001      # the end of the last loud 20 ms packet
    assert h.at - (h.ended - 0.02) >= 0.5 - 0.001   # half a second after the last packet arrived


def test_speech_seconds_of_pcm_as_the_ears_hear_it():
    loud = (b"\x00\x40" * 160)    # 16-bit little endian 16384: loud
    quiet = b"\x00\x00" * 160
    pcm = quiet * 10 + loud * 50 + quiet * 5 + loud * 25 + quiet * 10   # 1.0 s + 0.1 s pause + 0.5 s
    assert abs(speech_seconds(pcm) - 1.5) < 0.001
    assert speech_seconds(quiet * 20) == 0.0


def test_peak_is_the_largest_magnitude_of_every_sample():
    import random

    from bench.borrower_ears import MAGNITUDE, _ulaw_magnitude, peak
    assert MAGNITUDE[0x00] == MAGNITUDE[0x80] == max(MAGNITUDE) and MAGNITUDE[0x7F] == MAGNITUDE[0xFF] == 0
    rng = random.Random(7)
    for _ in range(500):
        payload = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 160)))
        assert peak(payload) == max(_ulaw_magnitude(b) for b in payload)
    assert peak(b"") == 0


def test_speech_that_arrives_in_a_burst_is_counted_in_full():
    """An IVR that stalled sends the late frames at once; the borrower hears all of them."""
    ears = Ears([Question("identity", 2.0)])
    t, _ = feed(ears, 0.0, [(LOUD, 1.0)])
    for _ in range(50):            # the second second of the prompt, all at one moment
        assert ears.hear(t, LOUD) is None
    _, heard = feed(ears, t, [(QUIET, 0.6)])
    assert [(h.question, round(h.speech_s, 2)) for h in heard] == [("identity", 2.0)]

"""The simulated phone's sense of a prompt's end: quiet counted over the time it actually listened."""
import pytest

pytest.importorskip("pjsua2")

from ivr.sim.phone import PROMPT_END_SILENCE_S, PromptEnd, after_keys_s  # noqa: E402

TICK = 0.01


def listen(end: PromptEnd, start: float, seconds: float, speech: bool) -> float:
    t = start
    for _ in range(round(seconds / TICK)):
        t += TICK
        end.hear(t, speech)
    return t


def test_quiet_after_speech_ends_the_prompt():
    end = PromptEnd()
    t = listen(end, 100.0, 1.0, True)
    t = listen(end, t, PROMPT_END_SILENCE_S - 0.05, False)
    assert not end.ended(since=99.0)
    listen(end, t, 0.1, False)
    assert end.ended(since=99.0)


def test_quiet_before_any_speech_since_is_not_an_end():
    end = PromptEnd()
    listen(end, 100.0, 2.0, False)
    assert not end.ended(since=99.0)
    t = listen(end, 200.0, 0.5, True)
    listen(end, t, 1.0, False)
    assert not end.ended(since=t + 5)     # the speech came before `since`: it was the last prompt


def test_a_stall_of_the_phone_itself_is_not_heard_as_quiet():
    end = PromptEnd()
    t = listen(end, 100.0, 1.0, True)
    t = listen(end, t, 0.1, False)
    t += 2.0                               # the phone's process did not run for two seconds
    end.hear(t, False)                     # and its first look lands between two words
    assert not end.ended(since=99.0)
    t = listen(end, t, 0.2, True)          # the prompt goes on
    t = listen(end, t, PROMPT_END_SILENCE_S + 0.05, False)
    assert end.ended(since=99.0)


def test_the_tail_of_a_prompt_keyed_into_a_hole_is_not_the_next_prompt():
    """A 0.9 s hole in a prompt reads as its end; the phone keys the ID into it. The prompt's last
    words then arrive (the IVR has not yet got a digit) and must not be taken for the next question:
    only the prompt that starts after the keys were sent answers them."""
    end = PromptEnd()
    t = listen(end, 100.0, 3.0, True)                 # the question ...
    t = listen(end, t, 0.9, False)                    # ... a hole in it
    assert end.ended(since=99.0)                      # which reads as the end: the phone keys 1234
    since = t + after_keys_s("1234")
    t = listen(end, t, 0.1, False)
    t = listen(end, t, 0.6, True)                     # the question's last words
    t = listen(end, t, 1.2, False)                    # the IVR gets the digits, decides
    assert not end.ended(since=since)
    t = listen(end, t, 2.0, True)                     # the next question
    listen(end, t, PROMPT_END_SILENCE_S + 0.05, False)
    assert end.ended(since=since)


def test_a_prompt_that_answers_a_single_key_is_still_heard():
    """The IVR may answer one key within half a second; its prompt goes on past `since`."""
    end = PromptEnd()
    since = 100.0 + after_keys_s("1")
    t = listen(end, 100.0, 0.3, False)
    t = listen(end, t, 1.5, True)                     # the reply starts 0.3 s after the key
    listen(end, t, PROMPT_END_SILENCE_S + 0.05, False)
    assert end.ended(since=since)

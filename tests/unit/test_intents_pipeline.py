"""The one understanding pipeline (``intents.common``) with a locale it has never seen.

A toy English reader made only of tables and small functions runs through ``common.interpret``:
if this works, a third locale needs no control flow of its own. It also pins the Reader interface
the locale modules fill in.
"""
import datetime
import re

from ivr.dialog.intents import READERS, common

TODAY = datetime.date(2026, 12, 1)
WORDS = {"zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5"}


class Mention:
    def __init__(self, start, end, date):
        self.start, self.end, self.date, self.time = start, end, date, None


def find_dates(text, today):
    days = {"today": 0, "tomorrow": 1, "yesterday": -1}
    return [Mention(m.start(), m.end(), today + datetime.timedelta(days=days[m.group()]))
            for m in re.finditer("|".join(days), text)]


def pick(mentions, today):
    return (mentions[-1].date if mentions else None), None


def find_amounts(text):
    return [common.Amount(m.start(), m.end(), int(m.group(1)))
            for m in re.finditer(r"(\d+) dollars", text)]


ENGLISH = common.Reader(
    locale="en-XX",
    normalise=lambda t: " ".join(t.lower().replace(",", " ").split()),
    lexicon=common.Lexicon({"yes": ["yes", "speaking", "it's me"], "ok": ["sure", "fine"],
                            "no": ["wrong number"], "agent": ["agent"], "refuse": ["can't pay"]},
                           negators=r"\bnot\s+|\bno\s+"),
    read_digits=lambda t: "".join(WORDS.get(w, "") for w in t.split()),
    digit_tokens=lambda t: [(w, w in WORDS) for w in t.split()],
    find_dates=find_dates,
    pick=pick,
    find_amounts=find_amounts,
)


def run(text, step):
    return common.interpret(ENGLISH, text, step, TODAY)


def test_a_new_locale_is_tables_and_small_functions():
    assert run("yes speaking", "identity")["intent"] == "confirm"
    assert run("wrong number", "identity")["intent"] == "deny"
    assert run("tomorrow, 300 dollars", "plan") == {
        "intent": "promise", "date": "2026-12-02", "time": None, "amount": 300, "digits": None,
        "conflict": [], "covered": 1.0}
    assert run("one two three four", "digits")["digits"] == "1234"
    assert run("agent", "plan")["intent"] == "agent"


def test_negation_and_ok_words_work_for_any_locale():
    assert run("not sure", "plan")["intent"] == "refuse"      # a negated yes is a no
    assert run("sure", "identity")["intent"] == "unknown"     # "ok" is no identity answer
    assert run("sure", "confirm")["intent"] == "confirm"


def test_past_days_are_never_slots():
    assert run("yesterday", "plan")["date"] is None


def test_shipped_locales_fill_in_every_part_of_the_reader():
    for locale, reader in READERS.items():
        assert reader.locale == locale and isinstance(reader.lexicon, common.Lexicon)
        assert all(callable(getattr(reader, f)) for f in
                   ("normalise", "read_digits", "digit_tokens", "find_dates", "pick", "find_amounts"))

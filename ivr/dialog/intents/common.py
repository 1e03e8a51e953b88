"""The one understanding pipeline every locale runs, driven by a per-locale ``Reader``.

    transcript -> reader.normalise -> (digits step)  reader.read_digits
                                   -> (other steps)  dates -> mask -> amounts -> lexicon hits
                                                     -> rules.decide + rules.evidence -> result

Why a reader and not a subclass per locale: a locale differs in *what* it reads (its words,
numerals, calendar phrases), never in *how* an answer is put together. So a locale module
only fills in a ``Reader`` — tables and small functions — and a third locale adds those, not
control flow. The order here is the one that matters everywhere: dates first (their numerals are
not money), then amounts and keywords on the text with the dates masked out (so 네 in 네 시 is
not a "yes"; amounts are not masked for the keywords: 一分钱都没有 and 천 원도 없어요 are refusals).
"""
from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from typing import Any, Callable

from .lexicon import LABELS, Hit, Lexicon  # noqa: F401  (re-exported: the locale tables use them)
from .rules import STEP_INTENTS, STEPS, check_step, decide, evidence  # noqa: F401
from .slots import Amount, Slots  # noqa: F401

FIELDS = ("intent", "date", "time", "amount", "digits")
MASK_CHAR = "#"


def result(intent: str = "unknown", date: _dt.date | None = None,
           time: tuple[int, int] | None = None, amount: int | None = None,
           digits: str | None = None) -> dict:
    """The one and only result shape."""
    return {
        "intent": intent,
        "date": date.isoformat() if date else None,
        "time": f"{time[0]:02d}:{time[1]:02d}" if time else None,
        "amount": int(amount) if amount is not None else None,
        "digits": digits,
    }


def last_digits(chars: str, n: int = 4) -> str:
    return chars[-n:]


@dataclass(frozen=True)
class Reader:
    """What a locale supplies to the pipeline.

    * ``normalise(text) -> str``: recognizer output -> the text every other function reads
      (punctuation and fillers out, split words glued back); offsets below are into it;
    * ``lexicon``: the keyword table (``Lexicon``) with the locale's negators;
    * ``read_digits(text) -> str``: the ID digits (and ``X``) said, in order;
    * ``digit_tokens(text) -> list[(token, is_digit)]``: the text cut into tokens, each marked
      when it is a digit read out (coverage of the digits step);
    * ``find_dates(text, today) -> [mention]``: date / time mentions in spoken order, each with
      ``start``, ``end``, ``date`` (or None) and ``time`` (``(h, m)`` or None);
    * ``pick(mentions, today) -> (date, time)``: one date and one time from the mentions;
    * ``find_amounts(text) -> [Amount]``: money amounts (dates already masked out).
    """
    locale: str
    normalise: Callable[[str], str]
    lexicon: Lexicon
    read_digits: Callable[[str], str]
    digit_tokens: Callable[[str], list[tuple[str, bool]]]
    find_dates: Callable[[str, _dt.date], list[Any]]
    pick: Callable[[list[Any], _dt.date], tuple[_dt.date | None, tuple[int, int] | None]]
    find_amounts: Callable[[str], list[Amount]]


def mask(text: str, spans: list[tuple[int, int]]) -> str:
    """``text`` with every span overwritten by ``MASK_CHAR`` (offsets stay valid)."""
    chars = list(text)
    for s, e in spans:
        chars[s:e] = MASK_CHAR * (e - s)
    return "".join(chars)


def understand(reader: Reader, text: str, step: str, today: _dt.date) -> dict:
    """``interpret`` without the evidence: exactly ``FIELDS``."""
    out = interpret(reader, text, step, today)
    return {k: out[k] for k in FIELDS}


def interpret(reader: Reader, text: str, step: str, today: _dt.date) -> dict:
    """Intent, slots, ``conflict`` and ``covered`` for one transcript (see ``intents.interpret``)."""
    check_step(step)
    s = reader.normalise(text)
    if step == "digits":
        return _digits(reader, s)

    mentions = reader.find_dates(s, today)
    spans = [(m.start, m.end) for m in mentions]
    # A day already behind us says what was done ("昨天就还了"), never what is promised.
    ahead = [m for m in mentions if m.date is None or m.date >= today]
    date, time = reader.pick(ahead, today)
    slots = Slots(date=date, time=time, positions=[m.start for m in ahead])
    masked = mask(s, spans)
    if step in ("plan", "confirm"):
        amounts = reader.find_amounts(masked)
        if amounts:
            slots.amount = amounts[-1].value  # the last-said amount wins
            slots.positions += [a.start for a in amounts]
            spans += [(a.start, a.end) for a in amounts]
    hits = reader.lexicon.hits(masked)
    intent = decide(step, hits, slots)
    ev = evidence(step, masked, hits, slots, spans)
    if step == "identity" and intent != "callback":
        slots.date = slots.time = None
    return {**result(intent, slots.date, slots.time, slots.amount), **ev}


def _digits(reader: Reader, s: str) -> dict:
    hits = reader.lexicon.hits(s)
    tokens = reader.digit_tokens(s)
    read = sum(len(t) for t, is_digit in tokens if is_digit)
    agent = sum(h.end - h.start for h in hits if h.label == "agent")
    covered = round(min(1.0, (read + agent) / max(1, sum(len(t) for t, _ in tokens))), 3)
    ev = {"conflict": [], "covered": covered}
    if agent:
        return {**result("agent"), **ev}
    digits = reader.read_digits(s)
    if len(digits) >= 4:
        return {**result("digits", digits=last_digits(digits)), **ev}
    return {**result("unknown", digits=digits or None), **ev}

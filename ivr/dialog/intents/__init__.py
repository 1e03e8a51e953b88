"""Understanding layer: transcript (or keypad digits) -> intent + slots.

    understand("我 下周五 还 三千", locale="zh-CN", step="plan",
               today=datetime.date(2026, 12, 1))
    == {"intent": "promise", "date": "2026-12-11", "time": None,
        "amount": 3000, "digits": None}

Steps and their intents:

* ``identity``: confirm, deny, agent, callback, unknown
* ``plan``: confirm (pays on time), promise (date and/or amount), refuse,
  dispute, hardship, agent, callback, unknown
* ``digits``: digits (last four chars of the ID number, ``X`` allowed),
  agent, unknown
* ``confirm``: yes/no read-back: confirm, deny, agent, unknown

``grammar(locale, step)`` gives the phrase list for a Vosk recognizer in
grammar mode; ``keypad(step, digits)`` maps DTMF input.

Modules: ``common`` (the one pipeline and the ``Reader`` a locale fills in),
``lexicon`` (keyword matcher with negation scope), ``rules`` (decision and
evidence rules), ``slots``; per locale ``zh_cn`` / ``ko_kr`` (normaliser,
keyword tables, grammar phrases, the reader), ``dates_zh`` (jionlp wrapper)
with ``days_zh`` (the day phrases jionlp cannot read), ``numbers_zh`` (cn2an
amounts, spoken digits), ``dates_ko`` and ``numbers_ko`` (hand-written Korean
readers); ``keypad``.

A third locale adds one module like ``zh_cn`` (tables + a ``common.Reader``)
and its slot readers, and one line in ``READERS``; no control flow.
"""
from __future__ import annotations

import datetime as _dt

from . import common, ko_kr, zh_cn
from .keypad import keypad

LOCALES = {"zh-CN": zh_cn, "ko-KR": ko_kr}        # locale -> module (grammar phrases)
READERS = {"zh-CN": zh_cn.READER, "ko-KR": ko_kr.READER}  # locale -> pipeline reader

__all__ = ["understand", "interpret", "grammar", "keypad", "LOCALES"]


def _locale(locale: str):
    try:
        return LOCALES[locale]
    except KeyError:
        raise ValueError(f"unsupported locale {locale!r}; expected one of {sorted(LOCALES)}") from None


def understand(text: str, *, locale: str, step: str, today: _dt.date | None = None) -> dict:
    """Intent and slots for one recognizer transcript.

    Returns exactly ``{"intent", "date", "time", "amount", "digits"}``;
    ``date`` is ``YYYY-MM-DD``, ``time`` ``HH:MM``, ``amount`` whole yuan/won.
    Relative dates are resolved against ``today`` (default: the local date).
    """
    out = interpret(text, locale=locale, step=step, today=today)
    return {k: out[k] for k in common.FIELDS}


def grammar(locale: str, step: str) -> list[str]:
    """The answers' phrases a recognizer in grammar mode may hear at ``step``, in natural
    spelling (``prompts/<locale>/grammar.yaml``; the garbage path and the spelling in a model's
    words are added by ``ivr.dialog.grammars.for_decoder``)."""
    _locale(locale)
    common.check_step(step)
    from .. import grammars
    return grammars.phrases(locale, step)


def interpret(text: str, *, locale: str, step: str, today: _dt.date | None = None) -> dict:
    """``understand`` plus the evidence the decision layer (``ivr.dialog.decision``) weighs.

    Returns the result of ``understand`` with two more keys:

    * ``conflict``: sorted labels of answers that contradict each other within this one
      utterance (a yes and a no at identity; a date and a refusal at plan), ``[]`` if none;
    * ``covered``: the share (0..1) of the normalised transcript's characters that the
      lexicon and the slot readers explained. Speech outside the grammar decodes to words
      that explain nothing, so a low coverage is evidence the answer was not understood.
    """
    _locale(locale)
    common.check_step(step)
    today = today or _dt.date.today()
    if not (text or "").strip():
        return {**common.result("unknown"), "conflict": [], "covered": 0.0}
    return common.interpret(READERS[locale], text, step, today)

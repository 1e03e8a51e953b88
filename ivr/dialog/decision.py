"""Accept, confirm or reject: the one place that decides what a spoken answer is worth.

Live calls (``runner``), ``ivr asr`` and the benches all call :func:`decide`. A recognizer's
1-best text is never acted on by itself. The evidence:

* the n-best alternatives and their path scores: ``softmax(score / temperature)`` gives each
  alternative a share; alternatives that read as the same answer (intent and slots, through
  ``intents.interpret``) add up to that answer's *posterior*;
* the minimum-Bayes-risk 1-best with word posteriors: the lowest word posterior of the answer
  (``word_conf``), and whether that decoding reads as the same answer at all. This evidence can
  only keep an answer from being accepted, so in a call it is computed only then: on a
  recognition without it (``Recognition.second_decoding`` False) an answer that would otherwise be
  accepted is returned as a confirm with ``wants_second_decoding``, never as an accept, and the
  caller decides again with it (``runner``); every other answer gets the same decision as with it;
* coverage: the share of what was heard that the understanding layer explains. The garbage
  path of every grammar (``grammars``) turns speech outside the grammar into words that explain
  nothing, so a low coverage means "not an answer";
* conflicts within one answer (a yes and a no; a date and "cannot pay").

Per question and intent, thresholds from ``prompts/<locale>/evidence.yaml`` say what is
accepted outright, what is confirmed with the borrower, and what is rejected (asked again, then
the keypad is offered). A rejected answer never becomes an intent: its meaning is ``unknown``
and the hypothesis is kept only as evidence for QA.
"""
from __future__ import annotations

import datetime as dt
import functools
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import yaml

from . import grammars, intents
from .speech import Recognition

DEFAULT_DIR = Path(__file__).resolve().parents[2] / "prompts"
SLOT_KEYS = ("date", "time", "amount", "digits")


@dataclass(frozen=True)
class Thresholds:
    accept: float = 0.9
    confirm: float = 0.5
    word_conf: float = 0.7
    always_confirm: bool = False     # never acted on by voice alone, however sure the recognizer is


@dataclass(frozen=True)
class Policy:
    lattice_beam: float | None = 6.0
    temperature: float = 1.0
    min_coverage: float = 0.75
    # False: a confirmation is settled by a key (or a promise's yes/no read-back), never by the
    # borrower saying the same answer again: the same talker on the same line is misheard the same
    # way twice (bench/README.md, "ASR robustness": 75 of 96 uncompleted answers were a repeated
    # mishearing that agreed with itself)
    confirm_by_repeating: bool = False
    default: Thresholds = Thresholds()
    per_intent: dict = field(default_factory=dict)     # {(step, intent): Thresholds}

    def thresholds(self, step: str, intent: str) -> Thresholds:
        return self.per_intent.get((step, intent), self.default)


class PolicyError(ValueError):
    """An evidence file is malformed."""


def _thresholds(raw, where: str, base: Thresholds) -> Thresholds:
    if not isinstance(raw, dict):
        raise PolicyError(f"{where}: expected {{accept, confirm, word_conf}}")
    values = {}
    for key in ("accept", "confirm", "word_conf"):
        v = raw.get(key, getattr(base, key))
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0.0 <= float(v) <= 1.0:
            raise PolicyError(f"{where}: {key} must be a number from 0 to 1, got {v!r}")
        values[key] = float(v)
    if values["confirm"] > values["accept"]:
        raise PolicyError(f"{where}: confirm ({values['confirm']}) is above accept ({values['accept']})")
    always = raw.get("always_confirm", False)
    if not isinstance(always, bool):
        raise PolicyError(f"{where}: always_confirm must be true or false")
    return Thresholds(**values, always_confirm=always)


@functools.lru_cache(maxsize=16)
def load_policy(locale: str, prompts_dir: str | None = None) -> Policy:
    path = Path(prompts_dir or DEFAULT_DIR) / locale / "evidence.yaml"
    if not path.is_file():
        return Policy()
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    default = _thresholds(data.get("default", {}), f"{path}: default", Thresholds())
    per = {}
    for step, table in (data.get("steps") or {}).items():
        for intent, raw in (table or {}).items():
            per[(str(step), str(intent))] = _thresholds(raw, f"{path}: {step}.{intent}", default)
    beam = data.get("lattice_beam", 6.0)
    temp = float(data.get("temperature", 1.0))
    if temp <= 0:
        raise PolicyError(f"{path}: temperature must be > 0")
    repeating = data.get("confirm_by_repeating", False)
    if not isinstance(repeating, bool):
        raise PolicyError(f"{path}: confirm_by_repeating must be true or false")
    return Policy(lattice_beam=None if beam is None else float(beam), temperature=temp,
                  min_coverage=float(data.get("min_coverage", 0.75)), confirm_by_repeating=repeating,
                  default=default, per_intent=per)


@dataclass
class Decision:
    kind: str                    # accept | confirm | reject
    meaning: dict                # {intent, date, time, amount, digits}; intent "unknown" when rejected
    hypothesis: dict             # the best reading, even when rejected (for QA and the confirm prompt)
    posterior: float
    word_conf: float | None
    reasons: list[str] = field(default_factory=list)
    nbest: list[dict] = field(default_factory=list)
    keypad_only: bool = False    # to be confirmed by a key, not by saying it again
    wants_second_decoding: bool = False   # accepted unless the MBR decoding says otherwise: decide again with it

    def as_json(self) -> dict:
        return asdict(self)


def _key(meaning: dict) -> tuple:
    return (meaning["intent"],) + tuple(meaning.get(k) for k in SLOT_KEYS)


def _posteriors(alternatives: list[dict], temperature: float) -> list[float]:
    if not alternatives:
        return []
    scores = [float(a.get("score") or 0.0) / temperature for a in alternatives]
    top = max(scores)
    weights = [math.exp(s - top) for s in scores]
    total = sum(weights)
    return [w / total for w in weights]


def _unknown() -> dict:
    return {"intent": "unknown", "date": None, "time": None, "amount": None, "digits": None}


def _read(text: str, locale: str, step: str, today: dt.date, pieces=frozenset()) -> dict:
    """``intents.interpret`` with coverage measured against the grammar: of the words heard, the
    share that are whole words of this question's answers rather than garbage (words that answer
    nothing). Stray pieces of words the model spells in parts (게요 of 갚을게요, 니다 of 맞습니다)
    are left out of the count: the decoder inserts them around real answers as often as around
    noise, so they are evidence of neither (bench/README.md, "ASR robustness")."""
    reading = intents.interpret(text, locale=locale, step=step, today=today)
    words = text.split()
    try:
        known = grammars.answer_words(locale, step)
        junk = grammars.garbage_words(locale, step)
    except grammars.GrammarError:
        return reading
    counted = [w for w in words if w in known or w in junk or w == "<unk>" or w not in pieces]
    if counted and reading["intent"] != "unknown":
        share = sum(1 for w in counted if w in known) / len(counted)
        # Chinese phrases are whole sentences, so a mix of pieces of two phrases is still judged
        # by the lexicon (character coverage); Korean words are judged one by one
        reading["covered"] = round(max(share, reading["covered"]) if locale_has_free_text(locale) else share, 3)
    elif reading["intent"] != "unknown" and not locale_has_free_text(locale):
        reading["covered"] = 0.0
    return reading


def locale_has_free_text(locale: str) -> bool:
    """zh-CN transcripts come unsegmented from text input and are judged by the lexicon's coverage."""
    return locale.startswith("zh")


def decide(rec: Recognition, *, locale: str, step: str, today: dt.date | None = None,
           policy: Policy | None = None) -> Decision:
    policy = policy or load_policy(locale)
    today = today or dt.date.today()
    alternatives = [a for a in rec.alternatives if (a.get("text") or "").strip()] or (
        [{"text": rec.text, "score": 0.0}] if rec.text.strip() else [])
    if not alternatives:
        return Decision("reject", _unknown(), _unknown(), 0.0, None, ["nothing was recognized"], [])

    shares = _posteriors(alternatives, policy.temperature)
    pieces = frozenset(rec.pieces)
    readings = [_read(a["text"], locale, step, today, pieces) for a in alternatives]
    nbest, mass, first = [], {}, {}
    for alt, share, reading in zip(alternatives, shares, readings):
        key = _key(reading)
        mass[key] = mass.get(key, 0.0) + share
        first.setdefault(key, reading)
        nbest.append({"text": alt["text"], "score": alt.get("score"), "posterior": round(share, 4),
                      "intent": reading["intent"], **{k: reading[k] for k in SLOT_KEYS if reading.get(k)},
                      "covered": reading["covered"], **({"conflict": reading["conflict"]} if reading["conflict"] else {})})
    best_key = max(mass, key=lambda k: mass[k])
    best = first[best_key]
    posterior = round(mass[best_key], 4)
    hypothesis = {k: best.get(k) for k in ("intent",) + SLOT_KEYS}
    reasons: list[str] = []

    # word posteriors of the MBR decoding, if it reads as the same answer
    confs = [float(w.get("conf", 0.0)) for w in rec.words]
    word_conf = round(min(confs), 3) if confs else None

    if best["intent"] == "unknown":
        return Decision("reject", _unknown(), hypothesis, posterior, word_conf,
                        ["not understood as an answer"], nbest)
    if best["covered"] < policy.min_coverage:
        return Decision("reject", _unknown(), hypothesis, posterior, word_conf,
                        [f"most of what was heard answers nothing (covered {best['covered']:.2f})"], nbest)
    th = policy.thresholds(step, best["intent"])
    if posterior < th.confirm:
        return Decision("reject", _unknown(), hypothesis, posterior, word_conf,
                        [f"posterior {posterior:.2f} below {th.confirm:.2f}"], nbest)
    if best["conflict"]:
        reasons.append("conflicting answers in one utterance: " + " and ".join(best["conflict"]))
    if rec.second_decoding:
        mbr = _read(rec.text, locale, step, today, pieces) if rec.text.strip() else None
        if mbr is None or _key(mbr) != best_key:
            reasons.append("the two decodings disagree")
        if word_conf is not None and word_conf < th.word_conf:
            reasons.append(f"word confidence {word_conf:.2f} below {th.word_conf:.2f}")
    if posterior < th.accept:
        reasons.append(f"posterior {posterior:.2f} below {th.accept:.2f}")
    if th.always_confirm:
        reasons.append(f"{step} {best['intent']} by voice is always confirmed")
    keypad_only = th.always_confirm or not policy.confirm_by_repeating
    if not reasons and not rec.second_decoding:
        return Decision("confirm", dict(hypothesis), hypothesis, posterior, None,
                        ["not yet weighed against the second decoding"], nbest, keypad_only=keypad_only,
                        wants_second_decoding=True)
    kind = "confirm" if reasons else "accept"
    return Decision(kind, dict(hypothesis), hypothesis, posterior, word_conf, reasons, nbest,
                    keypad_only=keypad_only)

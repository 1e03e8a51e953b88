"""What the recognizer may hear at each question: phrase lists per locale, step and intent.

Why it looks like this:

* The phrases are data (``prompts/<locale>/grammar.yaml``), written the way borrowers answer,
  in natural spelling. Adding a way to say something is a line in that file, not code.
* Vosk turns a grammar into a bigram language model over its words. Without a way out, any
  sound is forced onto the nearest answer ("누구세요" came out as "네 예요"), so every grammar
  gets a *garbage path*: words of the model that answer nothing. Speech outside the grammar decodes to them; the understanding layer explains
  none of them, and the decision layer rejects the answer.
* The answers' phrases are repeated ``weight`` times so that, for speech that really is an
  answer, the answer's words beat the garbage syllables; the weight is set from measurements
  (bench/asr_robustness.py), per locale, in the same file.
* A garbage word that the step itself understands (a digit at the ID question, 아니 anywhere)
  is left out of that step's garbage automatically, so the garbage path can never produce an
  answer.
* Phrases reach the recognizer spelled in the model's own words (``vocab.spell``), since Vosk
  drops words missing from its vocabulary.
"""
from __future__ import annotations

import datetime as dt
import functools
import logging
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from . import intents, vocab

log = logging.getLogger(__name__)

DEFAULT_DIR = Path(__file__).resolve().parents[2] / "prompts"
_PROBE_DAY = dt.date(2026, 12, 1)


class GrammarError(ValueError):
    """A grammar file is missing or malformed."""


@dataclass(frozen=True)
class LocaleGrammar:
    locale: str
    steps: dict[str, dict[str, tuple[str, ...]]]
    garbage: tuple[str, ...]
    weight: int = 1
    file: str = ""

    def phrases(self, step: str) -> list[str]:
        table = self.steps.get(step)
        if not table:
            raise GrammarError(f"{self.file}: no phrases for step {step!r}")
        return list(dict.fromkeys(p for phrases in table.values() for p in phrases))

    def intents(self, step: str) -> dict[str, list[str]]:
        return {intent: list(ps) for intent, ps in self.steps.get(step, {}).items()}

    def garbage_for(self, step: str) -> list[str]:
        """Garbage words that mean nothing at ``step`` (and are not words of its phrases)."""
        used = {w for p in self.phrases(step) for w in p.split()}
        out = []
        for word in self.garbage:
            if word in used:
                continue
            if intents.understand(word, locale=self.locale, step=step, today=_PROBE_DAY)["intent"] != "unknown":
                continue
            if step == "digits" and intents.understand(word, locale=self.locale, step=step,
                                                       today=_PROBE_DAY)["digits"]:
                continue
            out.append(word)
        return out


def _strings(value, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, (str, int)) for v in value):
        raise GrammarError(f"{where}: expected a list of phrases")
    return tuple(str(v).strip() for v in value if str(v).strip())


@functools.lru_cache(maxsize=16)
def load(locale: str, prompts_dir: str | None = None) -> LocaleGrammar:
    path = Path(prompts_dir or DEFAULT_DIR) / locale / "grammar.yaml"
    if not path.is_file():
        raise GrammarError(f"no grammar for {locale}: {path} is missing")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise GrammarError(f"{path}: {exc}") from None
    steps_raw = data.get("steps")
    if not isinstance(steps_raw, dict):
        raise GrammarError(f"{path}: 'steps' must map each step to its intents")
    steps = {}
    for step, table in steps_raw.items():
        if not isinstance(table, dict):
            raise GrammarError(f"{path}: step {step!r} must map intents to phrase lists")
        steps[str(step)] = {str(i): _strings(ps, f"{path}: {step}.{i}") for i, ps in table.items()}
    g = data.get("garbage") or {}
    garbage = _strings(list(g.get("words") or []), f"{path}: garbage")
    weight = data.get("weight", 3)
    if not isinstance(weight, int) or weight < 1:
        raise GrammarError(f"{path}: weight must be a whole number >= 1")
    return LocaleGrammar(locale, steps, tuple(dict.fromkeys(garbage)), weight, str(path))


@functools.lru_cache(maxsize=64)
def garbage_words(locale: str, step: str, prompts_dir: str | None = None) -> frozenset[str]:
    """The garbage words of ``step``: hearing them means hearing no answer."""
    return frozenset(load(locale, prompts_dir).garbage_for(step))


@functools.lru_cache(maxsize=64)
def answer_words(locale: str, step: str, prompts_dir: str | None = None) -> frozenset[str]:
    """The whole words of ``step``'s answers. A decoded token outside them is garbage or a stray
    piece of a word the model spells in parts (게요 without 갚을): either way, not an answer."""
    return frozenset(w for p in load(locale, prompts_dir).phrases(step) for w in p.split())


def phrases(locale: str, step: str, prompts_dir: str | None = None) -> list[str]:
    """The answers' phrases for ``step`` in natural spelling (no garbage)."""
    return load(locale, prompts_dir).phrases(step)


@dataclass
class DecoderGrammar:
    """The phrase list handed to Vosk, what could not be spelled, and how to read the result back."""
    phrases: list[str]
    missing: dict[str, list[str]] = field(default_factory=dict)   # phrase -> pieces the model lacks
    joins: dict[tuple[str, ...], str] = field(default_factory=dict)  # model pieces -> our word

    def rejoin(self, text: str) -> str:
        """A transcript in model words, back in the grammar's spelling ("맞 아요" -> "맞아요")."""
        toks = (text or "").split()
        if not self.joins or not toks:
            return " ".join(toks)
        longest = max(len(k) for k in self.joins)
        out, i = [], 0
        while i < len(toks):
            for n in range(min(longest, len(toks) - i), 1, -1):
                word = self.joins.get(tuple(toks[i:i + n]))
                if word is not None:
                    out.append(word)
                    i += n
                    break
            else:
                out.append(toks[i])
                i += 1
        return " ".join(out)


def for_decoder(locale: str, step: str, model_dir: str | None, *, garbage: bool = True,
                weight: int | None = None, prompts_dir: str | None = None) -> DecoderGrammar:
    """The grammar for a recognizer: answers (weighted) + garbage, in the model's words.

    Without a model directory (no vocabulary to read) the phrases go as written."""
    grammar = load(locale, prompts_dir)
    words = vocab.model_words(model_dir) if model_dir else None
    out: list[str] = []
    missing: dict[str, list[str]] = {}
    joins: dict[tuple[str, ...], str] = {}

    def spelled(phrase: str) -> str | None:
        if words is None:
            return phrase
        s = vocab.spell(phrase, words)
        if s.missing:              # a phrase the model cannot say whole is left out, never truncated
            missing[phrase] = s.missing
            return None
        for word in phrase.split():
            pieces = vocab.spell(word, words).tokens
            if len(pieces) > 1:
                joins[tuple(pieces)] = word
        return " ".join(s.tokens) or None

    answers = [t for t in (spelled(p) for p in grammar.phrases(step)) if t]
    answers = list(dict.fromkeys(answers))
    out += answers * (weight or grammar.weight)
    if garbage:
        junk = [t for t in (spelled(w) for w in grammar.garbage_for(step)) if t]
        out += list(dict.fromkeys(j for j in junk if j not in answers))
        if model_dir and vocab.knows_unk(model_dir):
            out.append("[unk]")    # a model with an unknown-word model gets that garbage path too
    if missing:
        log.warning("%s %s grammar: the model cannot spell %s", locale, step,
                    "; ".join(f"{p!r} ({' '.join(m)})" for p, m in missing.items()))
    return DecoderGrammar(out, missing, joins)

"""How bench/asr_robustness.py recognizes and decides: through the product's own code, nothing else.

Two backends with one shape (``make_engine``, ``recognize`` -> a JSON-able dict, ``decide`` ->
``Verdict``, ``version`` for the recognition cache):

* ``decision``: ``ivr.dialog.speech.recognize_pcm(engine, locale, step, pcm)`` and
  ``ivr.dialog.decision.decide(rec, locale=, step=, today=, policy=)`` — the one place live calls
  and ``ivr asr`` decide on a spoken answer; recognitions are cached with ``Recognition.as_json()``.
* ``baseline``: the same recognitions (shared cache), but every transcript that ``understand``
  reads as an intent is acted on (only "unknown" is rejected): what the thresholds change.

The recognition cache key includes ``version()``, a hash of the grammars and of the recognizer's
source files, so changing a grammar never reuses stale transcripts.
"""
from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path

from bench.asr_scoring import Verdict

LOCALE = "ko-KR"
ROOT = Path(__file__).resolve().parent.parent
# what decoding depends on besides the decoder grammars themselves (hashed below as handed to Vosk):
# understanding code is not here, so a change in how text is read keeps the cached recognitions
_SOURCES = ["ivr/dialog/speech.py", "ivr/dialog/vocab.py", "ivr/dialog/grammars.py", "prompts/ko-KR/grammar.yaml"]


def decision_available() -> bool:
    try:
        import ivr.dialog.decision  # noqa: F401
    except ImportError:
        return False
    return True


def _settings():
    from ivr import config
    return config.load(env={})


class Baseline:
    name = "baseline"

    def make_engine(self):
        from ivr.dialog.speech import SpeechEngine
        return SpeechEngine(_settings(), workers=1)

    def recognize(self, engine, step: str, pcm: bytes) -> dict:
        from ivr.dialog.speech import recognize_pcm
        return recognize_pcm(engine, LOCALE, step, pcm).as_json()

    def load_policy(self):
        return None

    def decide(self, rec: dict, step: str, today, policy) -> Verdict:
        from ivr.dialog.intents import understand
        meaning = understand(rec.get("text") or "", locale=LOCALE, step=step, today=today)
        return Verdict("reject" if meaning["intent"] == "unknown" else "accept", meaning, ("baseline",))

    def version(self) -> str:
        from ivr.dialog import grammars
        from ivr.dialog.speech import model_path
        model = model_path(_settings(), LOCALE)
        h = hashlib.sha256()
        for step in ("identity", "plan", "digits", "confirm"):
            g = grammars.for_decoder(LOCALE, step, model)
            h.update(json.dumps([g.phrases, sorted(map(list, g.joins)), sorted(g.pieces)],
                                ensure_ascii=False).encode())
        for src in _SOURCES:
            p = ROOT / src
            h.update(p.read_bytes() if p.exists() else b"")
        if decision_available():      # the lattice beam is a decoding setting kept in the policy file
            from ivr.dialog.decision import load_policy
            h.update(repr(load_policy(LOCALE).lattice_beam).encode())
        return h.hexdigest()[:16]


class DecisionLayer(Baseline):
    name = "decision"

    def __init__(self):
        # ``decide`` re-reads every n-best text on every call; a threshold sweep decides the same
        # recognitions hundreds of times, so the reading of a text is memoised here (same inputs,
        # same result: the reading does not depend on the policy).
        from ivr.dialog import decision
        if hasattr(decision, "_read") and not hasattr(decision._read, "cache_info"):
            decision._read = functools.lru_cache(maxsize=200_000)(decision._read)

    def load_policy(self):
        from ivr.dialog.decision import load_policy
        return load_policy(LOCALE)

    def decide(self, rec: dict, step: str, today, policy) -> Verdict:
        from ivr.dialog.decision import decide
        from ivr.dialog.speech import Recognition
        d = decide(Recognition.from_json(rec), locale=LOCALE, step=step, today=today, policy=policy)
        return Verdict(d.kind, dict(d.meaning), tuple(d.reasons), keypad_only=d.keypad_only)

def backend(name: str):
    """``auto`` = the decision layer when it exists, else the baseline."""
    if name == "auto":
        name = "decision" if decision_available() else "baseline"
    if name == "decision":
        if not decision_available():
            raise SystemExit("ivr.dialog.decision is not there yet; use --decider baseline")
        return DecisionLayer()
    if name == "baseline":
        return Baseline()
    raise SystemExit(f"unknown decider {name!r}; expected auto, decision or baseline")

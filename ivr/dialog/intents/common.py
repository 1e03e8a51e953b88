"""Locale-independent pieces of the understanding layer.

* the result shape every caller gets back,
* a small phrase matcher (``Lexicon``) that finds non-overlapping keyword hits
  with their positions,
* the per-step decision rules that turn hits + slots into one intent.

The locale modules only supply tables and slot extractors; the decision of
*which* intent wins lives here so both locales behave the same way.
"""
from __future__ import annotations

import datetime as _dt
import re
from dataclasses import dataclass, field

STEPS = ("identity", "plan", "digits", "confirm")

# Intents each step may return (besides slot-carrying ones).
STEP_INTENTS = {
    "identity": ("confirm", "deny", "agent", "callback", "unknown"),
    "plan": ("confirm", "promise", "refuse", "dispute", "hardship", "agent", "callback", "unknown"),
    "digits": ("digits", "agent", "unknown"),
    "confirm": ("confirm", "deny", "agent", "unknown"),
}

# Hit labels a locale lexicon may produce.
#   yes / no      polarity words (是 / 不是, 네 / 아니요)
#   agent         asks for a human;  agent_neg  explicitly does NOT want one
#   callback      call me later
#   refuse        cannot / will not pay
#   dispute       already paid, not my loan, wrong amount
#   wrong         "that's wrong" (不对, 틀려요): dispute in plan, deny elsewhere,
#                 a self-correction marker when a slot follows it
#   hardship      lost job, illness, money trouble
#   ontime        "on time" (按时, 제때): plan confirm
#   partial       partial / delayed payment without a number (先还一部分)
LABELS = ("yes", "no", "agent", "agent_neg", "callback", "refuse", "dispute",
          "wrong", "hardship", "ontime", "partial")


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


def check_step(step: str) -> None:
    if step not in STEPS:
        raise ValueError(f"unknown step {step!r}; expected one of {STEPS}")


@dataclass(frozen=True)
class Hit:
    start: int
    end: int
    label: str


class Lexicon:
    """Keyword table -> compiled matcher.

    ``table`` maps a label to a list of phrases.  A phrase is literal text
    unless it starts with ``re:``, in which case the rest is a regular
    expression.  Matching returns non-overlapping hits, preferring the
    earliest and then the longest match, so a longer phrase such as
    不要人工 shadows the shorter 人工 it contains.
    """

    def __init__(self, table: dict[str, list[str]]):
        self._patterns: list[tuple[re.Pattern, str]] = []
        for label, phrases in table.items():
            if label not in LABELS:
                raise ValueError(f"unknown lexicon label {label!r}")
            for p in phrases:
                rx = p[3:] if p.startswith("re:") else re.escape(p)
                self._patterns.append((re.compile(rx), label))

    def hits(self, text: str) -> list[Hit]:
        found: list[Hit] = []
        for rx, label in self._patterns:
            for m in rx.finditer(text):
                if m.end() > m.start():
                    found.append(Hit(m.start(), m.end(), label))
        found.sort(key=lambda h: (h.start, -(h.end - h.start)))
        out: list[Hit] = []
        pos = 0
        for h in found:
            if h.start >= pos:
                out.append(h)
                pos = h.end
        return out

    def phrases(self) -> list[str]:
        """Literal phrases (for recognizer grammars)."""
        out = []
        for rx, _ in self._patterns:
            src = rx.pattern
            if not any(c in src for c in "\\[](){}|?*+^$."):
                out.append(src)
        return out


@dataclass
class Slots:
    """Slot values found in an utterance plus where they were said."""
    date: _dt.date | None = None
    time: tuple[int, int] | None = None
    amount: int | None = None
    positions: list[int] = field(default_factory=list)  # start offsets of slot mentions

    def any(self) -> bool:
        return self.date is not None or self.amount is not None or self.time is not None

    def after(self, pos: int) -> bool:
        return any(p >= pos for p in self.positions)


def _last(hits: list[Hit], *labels: str) -> Hit | None:
    for h in reversed(hits):
        if h.label in labels:
            return h
    return None


def _wants_agent(hits: list[Hit]) -> bool:
    return any(h.label == "agent" for h in hits)


def decide(step: str, hits: list[Hit], slots: Slots) -> str:
    """Pick the intent for ``step`` from lexicon hits and slots.

    Rules shared by all locales:
      * a (non-negated) request for a human wins over everything;
      * a self-correction ("三千 不对 四千", "내일 아니 모레") is a ``no``/``wrong``
        hit followed by a slot: it is not a refusal or a denial of its own;
      * among yes/no words the last one said wins ("不是…哦是的，是我").
    """
    check_step(step)
    if _wants_agent(hits):
        return "agent"
    # Negative words that only introduce a correction ("三千 不对 四千").
    corrections = [h for h in hits if h.label in ("no", "wrong") and slots.after(h.end)]
    if step == "confirm" and corrections:
        return "deny"  # the read-back was wrong; the new value is in the slots
    hits = [h for h in hits if h not in corrections]
    labels = {h.label for h in hits}

    if step == "digits":
        return "unknown"  # the caller handles the digits themselves

    if step == "identity":
        pol = _last(hits, "yes", "no", "wrong", "dispute")
        if pol is not None and pol.label != "yes":
            return "deny"
        if "callback" in labels:
            return "callback"
        if pol is not None:
            return "confirm"
        return "unknown"

    if step == "confirm":
        pol = _last(hits, "yes", "no", "wrong")
        if pol is not None:
            return "confirm" if pol.label == "yes" else "deny"
        if slots.any():          # a bare new value is a correction
            return "deny"
        return "unknown"

    # step == "plan"
    if "dispute" in labels or ("wrong" in labels and not slots.any()):
        return "dispute"
    if "hardship" in labels:
        return "hardship"
    refuse = _last(hits, "refuse")
    if refuse is not None and not slots.after(refuse.end):
        return "refuse"
    if "callback" in labels:
        return "callback"
    if "ontime" in labels and slots.date is None and refuse is None:
        return "confirm"
    if slots.date is not None or slots.amount is not None or "partial" in labels or refuse is not None:
        return "promise"
    pol = _last(hits, "yes", "no")
    if pol is not None:
        return "confirm" if pol.label == "yes" else "refuse"
    return "unknown"


def last_digits(chars: str, n: int = 4) -> str:
    return chars[-n:]


# Answer families that cannot both be meant in one answer. Hearing two of them is evidence the
# recognizer mixed up the answer (or the borrower is undecided): the decision layer never acts
# on such an utterance without confirming it.
_FAMILIES = {
    "identity": {"yes": "yes", "no": "no", "wrong": "no", "dispute": "no"},
    "confirm": {"yes": "yes", "no": "no", "wrong": "no"},
    "plan": {"yes": "pay", "ontime": "pay", "partial": "pay", "refuse": "refuse", "dispute": "dispute",
             "wrong": "dispute"},
    "digits": {},
}
_CLASHES = {"identity": [{"yes", "no"}], "confirm": [{"yes", "no"}],
            "plan": [{"pay", "refuse"}, {"pay", "dispute"}], "digits": []}


def evidence(step: str, text: str, hits: list[Hit], slots: Slots,
             slot_spans: list[tuple[int, int]]) -> dict:
    """Conflict and coverage of one normalised transcript (see ``intents.interpret``)."""
    corrections = [h for h in hits if h.label in ("no", "wrong") and slots.after(h.end)]
    kept = [h for h in hits if h not in corrections and h.label not in ("agent", "agent_neg")]
    families = {_FAMILIES[step][h.label] for h in kept if h.label in _FAMILIES[step]}
    if step == "plan" and slots.any():
        families.add("pay")       # a date or an amount is an offer to pay, wherever it was said
    conflict: set[str] = set()
    for clash in _CLASHES[step]:
        if clash <= families:
            conflict |= clash
    spans = [(h.start, h.end) for h in hits] + list(slot_spans)
    covered = set()
    for s, e in spans:
        covered.update(i for i in range(s, e) if not text[i].isspace())
    total = sum(1 for c in text if not c.isspace() and c not in "#＃")
    masked = sum(1 for c in text if c in "#＃")
    share = min(1.0, (len(covered) + masked) / (total + masked)) if total + masked else 0.0
    return {"conflict": sorted(conflict), "covered": round(share, 3)}

"""Which intent an utterance means, and how sure the words are: the rules every locale shares.

``decide`` turns lexicon hits + slots into one intent per step; ``evidence`` reports what the
decision layer (``ivr.dialog.decision``) weighs besides the intent: answers that contradict each
other within the utterance, and how much of it the lexicon and the slot readers explained.
Both are locale-free: a locale only changes the tables that produce the hits.
"""
from __future__ import annotations

from .lexicon import Hit
from .slots import Slots

STEPS = ("identity", "plan", "digits", "confirm")

# Intents each step may return.
STEP_INTENTS = {
    "identity": ("confirm", "deny", "agent", "callback", "unknown"),
    "plan": ("confirm", "promise", "refuse", "dispute", "hardship", "agent", "callback", "unknown"),
    "digits": ("digits", "agent", "unknown"),
    "confirm": ("confirm", "deny", "agent", "unknown"),
}

# Hits that count as a yes / no per step. "ok" (可以, 알겠습니다) agrees to a plan or a read-back
# but does not say "I am the borrower".
_YES = {"identity": ("yes",), "confirm": ("yes", "ok"), "plan": ("yes", "ok"), "digits": ()}


def check_step(step: str) -> None:
    if step not in STEPS:
        raise ValueError(f"unknown step {step!r}; expected one of {STEPS}")


def _last(hits: list[Hit], *labels: str) -> Hit | None:
    for h in reversed(hits):
        if h.label in labels:
            return h
    return None


def corrections(hits: list[Hit], slots: Slots) -> list[Hit]:
    """Negative words that only introduce a new value ("三千 不对 四千", "내일 아니 모레")."""
    return [h for h in hits if h.label in ("no", "wrong") and slots.after(h.end)]


def decide(step: str, hits: list[Hit], slots: Slots) -> str:
    """Pick the intent for ``step`` from lexicon hits and slots.

      * a (non-negated) request for a human wins over everything;
      * a self-correction is a ``no``/``wrong`` hit followed by a slot: it is not a refusal or a
        denial of its own;
      * among yes/no words the last one said wins ("不是…哦是的，是我").
    """
    check_step(step)
    if any(h.label == "agent" for h in hits):
        return "agent"
    fixes = corrections(hits, slots)
    if step == "confirm" and fixes:
        return "deny"  # the read-back was wrong; the new value is in the slots
    hits = [h for h in hits if h not in fixes]
    labels = {h.label for h in hits}
    yes = _YES[step]

    if step == "digits":
        return "unknown"  # the driver reads the digits itself

    if step == "identity":
        pol = _last(hits, *yes, "no", "wrong", "dispute")
        if pol is not None and pol.label not in yes:
            return "deny"
        if "callback" in labels:
            return "callback"
        return "confirm" if pol is not None else "unknown"

    if step == "confirm":
        pol = _last(hits, *yes, "no", "wrong", "dispute", "refuse")   # 不行 to a read-back is a no
        if pol is not None:
            return "confirm" if pol.label in yes else "deny"
        return "deny" if slots.any() else "unknown"   # a bare new value is a correction

    # step == "plan"
    if "dispute" in labels or ("wrong" in labels and not slots.any()):
        return "dispute"
    if "hardship" in labels:
        return "hardship"
    refuse = _last(hits, "refuse")
    if refuse is not None and not slots.after(refuse.end):
        return "refuse"
    if "paid" in labels and slots.date is None and slots.amount is None:
        return "dispute"          # "昨天就还了": the past day is no slot, the payment is done
    if "callback" in labels:
        return "callback"
    if "ontime" in labels and slots.date is None and refuse is None:
        return "confirm"
    if slots.date is not None or slots.amount is not None or "partial" in labels or refuse is not None:
        return "promise"
    pol = _last(hits, *yes, "no")
    if pol is not None:
        return "confirm" if pol.label in yes else "refuse"
    return "unknown"


# Answer families that cannot both be meant in one answer. Hearing two of them is evidence the
# recognizer mixed up the answer (or the borrower is undecided): the decision layer never acts
# on such an utterance without confirming it.
_FAMILIES = {
    "identity": {"yes": "yes", "no": "no", "wrong": "no", "dispute": "no"},
    "confirm": {"yes": "yes", "ok": "yes", "no": "no", "wrong": "no", "dispute": "no", "refuse": "no"},
    "plan": {"yes": "pay", "ok": "pay", "ontime": "pay", "partial": "pay", "refuse": "refuse",
             "dispute": "dispute", "wrong": "dispute"},
    "digits": {},
}
_CLASHES = {"identity": [{"yes", "no"}], "confirm": [{"yes", "no"}],
            "plan": [{"pay", "refuse"}, {"pay", "dispute"}], "digits": []}
MASK = "#＃"   # characters a slot reader's span was masked with


def evidence(step: str, text: str, hits: list[Hit], slots: Slots,
             slot_spans: list[tuple[int, int]]) -> dict:
    """Conflict and coverage of one normalised, slot-masked transcript (see ``intents.interpret``)."""
    fixes = corrections(hits, slots)
    kept = [h for h in hits if h not in fixes and h.label not in ("agent", "agent_neg")]
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
    total = sum(1 for c in text if not c.isspace() and c not in MASK)
    masked = sum(1 for c in text if c in MASK)
    share = min(1.0, (len(covered) + masked) / (total + masked)) if total + masked else 0.0
    return {"conflict": sorted(conflict), "covered": round(share, 3)}

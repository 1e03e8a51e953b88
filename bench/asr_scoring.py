"""Scoring for bench/asr_robustness.py: what one decision means, and how the dialog would end.

First answer, one outcome each:
  right            accepted and correct, or out-of-grammar speech rejected
  false_accept     accepted with a wrong intent or slot (a wrong date, amount or digits counts)
  confirmed_right  a confirm decision whose hypothesis was right
  confirmed_wrong  a confirm decision whose hypothesis was wrong
  rejected         an in-grammar answer rejected

Completion, simulating the dialog the runner runs (flows/followup.yaml: one reprompt, then keypad):
two voice tries, the second re-synthesized a little faster so it is not the same audio; a confirm
decision leads to a yes/no turn (step "confirm") where the borrower says yes when the hypothesis
is right and no when it is wrong; only an *accepted* "confirm" there stores the hypothesis,
anything else counts as no and goes back to the question. After two voice tries, the keypad,
which always works. Completed = the stored answer is right and no wrong answer was ever
accepted; for out-of-grammar speech, nothing was ever accepted.

``simulate`` asks a ``turn(kind, attempt)`` callback for decisions; the callback raises
``Missing`` when that turn's audio has not been decoded yet, so the caller can decode the missing
turns in a batch and simulate again. Pure: no audio, no Vosk.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from bench.asr_corpus import Utterance, is_correct

OUTCOMES = ("right", "false_accept", "confirmed_right", "confirmed_wrong", "rejected")
VOICE_TRIES = 2


@dataclass(frozen=True)
class Verdict:
    kind: str            # accept | confirm | reject
    meaning: dict


class Missing(LookupError):
    """A turn's recognition is not available yet; ``key`` says which."""

    def __init__(self, key):
        super().__init__(key)
        self.key = key


def outcome(utt: Utterance, v: Verdict) -> str:
    if v.kind not in ("accept", "confirm", "reject"):
        raise ValueError(f"unknown decision kind {v.kind!r}")
    if not utt.in_grammar:
        return {"accept": "false_accept", "confirm": "confirmed_wrong", "reject": "right"}[v.kind]
    if v.kind == "reject":
        return "rejected"
    good = is_correct(utt, v.meaning)
    if v.kind == "accept":
        return "right" if good else "false_accept"
    return "confirmed_right" if good else "confirmed_wrong"


@dataclass
class Trail:
    completed: bool
    path: list[str] = field(default_factory=list)    # e.g. ["try1:confirm", "yes:reject", "try2:accept"]


def simulate(utt: Utterance, turn) -> Trail:
    """``turn("answer", n)`` -> Verdict for voice try n; ``turn("yes"|"no", n)`` -> Verdict of the
    confirmation reply after try n."""
    path: list[str] = []
    for attempt in range(1, VOICE_TRIES + 1):
        v = turn("answer", attempt)
        path.append(f"try{attempt}:{v.kind}")
        if v.kind == "accept":
            return Trail(is_correct(utt, v.meaning), path)
        if v.kind == "confirm":
            right = is_correct(utt, v.meaning)
            reply = "yes" if right else "no"
            c = turn(reply, attempt)
            said_yes = c.kind == "accept" and c.meaning.get("intent") == "confirm"
            path.append(f"{reply}:{c.kind}:{c.meaning.get('intent')}")
            if said_yes:
                return Trail(right, path)
    path.append("keypad")
    return Trail(True, path)


@dataclass
class Tally:
    n: int = 0
    right: int = 0
    false_accept: int = 0
    confirmed_right: int = 0
    confirmed_wrong: int = 0
    rejected: int = 0
    completed: int = 0

    def add(self, first: str, completed: bool) -> None:
        self.n += 1
        setattr(self, first, getattr(self, first) + 1)
        self.completed += int(completed)

    def merge(self, other: "Tally") -> None:
        for k in ("n", *OUTCOMES, "completed"):
            setattr(self, k, getattr(self, k) + getattr(other, k))

    def pct(self, k: str) -> float:
        return 100.0 * getattr(self, k) / self.n if self.n else 0.0

    def row(self) -> dict:
        return {"n": self.n, **{k: getattr(self, k) for k in (*OUTCOMES, "completed")},
                "right_pct": round(self.pct("right"), 1), "false_accept_pct": round(self.pct("false_accept"), 1),
                "confirmed_pct": round(100.0 * (self.confirmed_right + self.confirmed_wrong) / self.n, 1) if self.n else 0.0,
                "rejected_pct": round(self.pct("rejected"), 1), "completion_pct": round(self.pct("completed"), 1)}

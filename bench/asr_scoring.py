"""Scoring for bench/asr_robustness.py: what one decision means, and how the dialog would end.

First answer, one outcome each:
  right            accepted and correct, or out-of-grammar speech rejected
  false_accept     accepted with a wrong intent or slot (a wrong date, amount or digits counts)
  confirmed_right  a confirm decision whose hypothesis was right
  confirmed_wrong  a confirm decision whose hypothesis was wrong
  rejected         an in-grammar answer rejected

Completion, simulating the dialog ivr/dialog/runner.py runs (flows/followup.yaml: one reprompt,
then the keypad): two voice tries, each spoken afresh (bench/asr_audio.py varies the rate per
take, so no two takes are the same audio). After a *confirm* decision:

* if the question reads that intent back itself (``readback:`` in the flow, a promise at the plan
  question), the borrower answers the read-back with yes when the hypothesis is right and no when
  it is wrong, decided at step "confirm"; an accepted yes stores the hypothesis; a yes that is
  itself only "confirm" is asked once more (another take) and stores it if heard as yes again;
* if the confirmation is settled by a key only (the decision's ``keypad_only``: the evidence
  file's ``always_confirm`` answers, and every answer while ``confirm_by_repeating`` is false, as
  shipped), the borrower presses the key of the answer they meant, which settles it (completed);
* otherwise (``confirm_by_repeating: true``) the runner says what it heard and asks again (the
  question's own keys stay open); the borrower, speaking, repeats the answer they meant, and the
  hypothesis is stored only if that second recognition is accepted or confirmed with the same
  intent and the hypothesis's slots.

Anything else goes back to the question (the next voice try, then the keypad). After two voice
tries, the keypad, which always works. Completed = the stored answer is right and no wrong
answer was ever acted on; for out-of-grammar speech, nothing was ever acted on.

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
    reasons: tuple = ()  # why it was not simply accepted (diagnostics only)
    keypad_only: bool = False   # a confirm the runner settles by a key only (Decision.keypad_only)


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


TAKES = ((1, 2), (3, 4))      # per voice try: (take of the answer, take of its repetition)


def agrees(again: Verdict, first: Verdict) -> bool:
    """The runner's check: same intent, and every slot the first hypothesis has."""
    if again.kind not in ("accept", "confirm"):
        return False
    return all(again.meaning.get(k) == v for k, v in first.meaning.items()
               if k == "intent" or (k in ("date", "time", "amount", "digits") and v is not None))


def simulate(utt: Utterance, turn) -> Trail:
    """``turn("answer", take)`` -> Verdict of the borrower's answer, take 1..4;
    ``turn("yes"|"no", take)`` -> Verdict of a read-back reply (step "confirm")."""
    path: list[str] = []
    for attempt, (take, again) in enumerate(TAKES, 1):
        v = turn("answer", take)
        path.append(f"try{attempt}:{v.kind}")
        if v.kind == "accept":
            return Trail(is_correct(utt, v.meaning), path)
        if v.kind != "confirm":
            continue
        right = is_correct(utt, v.meaning)
        if v.keypad_only and v.meaning.get("intent") not in utt.readback:
            path.append("confirm-by-key")
            return Trail(True, path)
        if v.meaning.get("intent") in utt.readback:
            reply = "yes" if right else "no"
            c = turn(reply, take)
            path.append(f"readback-{reply}:{c.kind}:{c.meaning.get('intent')}")
            yes = c.meaning.get("intent") == "confirm"
            if yes and c.kind == "confirm":
                c = turn(reply, again)
                path.append(f"readback-{reply}:{c.kind}:{c.meaning.get('intent')}")
            if yes and c.kind in ("accept", "confirm") and c.meaning.get("intent") == "confirm":
                return Trail(right, path)
        else:
            r = turn("answer", again)
            path.append(f"repeat:{r.kind}:{r.meaning.get('intent')}")
            if agrees(r, v):
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
    by_voice: int = 0            # completed without the keypad (in-grammar answers only)

    def add(self, first: str, completed: bool, by_voice: bool = False) -> None:
        self.n += 1
        setattr(self, first, getattr(self, first) + 1)
        self.completed += int(completed)
        self.by_voice += int(completed and by_voice)

    def merge(self, other: "Tally") -> None:
        for k in ("n", *OUTCOMES, "completed", "by_voice"):
            setattr(self, k, getattr(self, k) + getattr(other, k))

    def pct(self, k: str) -> float:
        return 100.0 * getattr(self, k) / self.n if self.n else 0.0

    def row(self) -> dict:
        return {"n": self.n, **{k: getattr(self, k) for k in (*OUTCOMES, "completed", "by_voice")},
                "right_pct": round(self.pct("right"), 1), "false_accept_pct": round(self.pct("false_accept"), 1),
                "confirmed_pct": round(100.0 * (self.confirmed_right + self.confirmed_wrong) / self.n, 1) if self.n else 0.0,
                "rejected_pct": round(self.pct("rejected"), 1), "completion_pct": round(self.pct("completed"), 1),
                "by_voice_pct": round(self.pct("by_voice"), 1)}

"""The spoken-answer corpus of bench/asr_robustness.py (bench/data/asr_corpus_ko.yaml), checked against the flow.

The corpus names flow questions (nodes of flows/followup.yaml that ask), not recognizer steps, so the
step an answer is decoded and decided at is the one the live call would use, and the bench can refuse
to run while some intent a question branches on has no answers (a coverage hole would make the
numbers look better than they are).

Which slots must be right: every slot (date, time, amount, digits) that any answer of a group names
is compared for every answer of that group, missing meaning "must be empty". So a promise said with a
date only is wrong if an amount was heard, and a callback time without a date is wrong if one was heard.
"""
from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "bench" / "data" / "asr_corpus_ko.yaml"
FLOW = ROOT / "flows" / "followup.yaml"
SLOTS = ("date", "time", "amount", "digits")
SOUNDS = ("silence", "cough", "noise")


class CorpusError(ValueError):
    """The corpus file is malformed or does not cover the flow."""


@dataclass(frozen=True)
class Utterance:
    uid: str                          # question/intent/index or question/oog/index
    question: str                     # flow node
    step: str                         # understanding step of that node
    say: str | None                   # text spoken, or None for a sound
    sound: str | None = None          # silence | cough | noise
    intents: tuple[str, ...] = ()     # acceptable intents; () = out of grammar, only a rejection is right
    slots: dict = field(default_factory=dict, compare=False, hash=False)   # field -> expected value (None = empty)
    readback: tuple[str, ...] = ()    # intents the question confirms through the flow's read-back

    @property
    def in_grammar(self) -> bool:
        return bool(self.intents)

    @property
    def label(self) -> str:
        return self.say if self.say is not None else f"<{self.sound}>"


def questions_of(flow_path: Path = FLOW) -> dict[str, dict]:
    """Flow nodes that ask: name -> {"step", "intents", "readback"} (the intents the node branches on,
    and those whose unsure answers the flow reads back itself instead of a separate confirmation)."""
    with open(flow_path, encoding="utf-8") as fh:
        flow = yaml.safe_load(fh)
    out = {}
    for name, node in (flow.get("nodes") or {}).items():
        if isinstance(node, dict) and "ask" in node:
            out[name] = {"step": node["step"], "intents": sorted((node.get("when") or {}).keys()),
                         "readback": tuple(node.get("readback") or ())}
    return out


def _norm(name: str, value):
    if value is None:
        return None
    if name == "date":
        return value.isoformat() if isinstance(value, _dt.date) else str(value)
    if name == "amount":
        return int(value)
    return str(value)


def _answers(where: str, group) -> tuple[tuple[str, ...] | None, list]:
    if isinstance(group, list):
        return None, group
    if isinstance(group, dict) and isinstance(group.get("answers"), list):
        intents = group.get("intents")
        if not (isinstance(intents, list) and intents):
            raise CorpusError(f"{where}: `intents` must be a non-empty list")
        return tuple(intents), group["answers"]
    raise CorpusError(f"{where}: expected a list of answers or {{intents, answers}}")


def load(path: Path = CORPUS, flow_path: Path = FLOW) -> tuple[_dt.date, list[Utterance]]:
    """(today, utterances); raises CorpusError naming the first problem."""
    try:
        with open(path, encoding="utf-8") as fh:
            data = yaml.safe_load(fh)
    except (OSError, yaml.YAMLError) as exc:
        raise CorpusError(f"{path}: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("questions"), dict):
        raise CorpusError(f"{path}: expected `today`, `questions` and `out_of_grammar`")
    today = data.get("today")
    if not isinstance(today, _dt.date):
        raise CorpusError(f"{path}: `today` must be a date (YYYY-MM-DD)")
    flow = questions_of(flow_path)
    absent = [q for q in flow if q not in data["questions"]]
    if absent:
        raise CorpusError(f"{path}: no answers for question(s) {', '.join(absent)} of {flow_path.name}")
    out: list[Utterance] = []
    for q, groups in data["questions"].items():
        if q not in flow:
            raise CorpusError(f"{path}: question {q!r} is not an asking node of {flow_path.name}")
        covered = set(groups) | {i for g in groups.values() if isinstance(g, dict) for i in g.get("intents") or ()}
        missing = [i for i in flow[q]["intents"] if i not in covered]
        if missing:
            raise CorpusError(f"{path}: question {q!r} has no answers for intent(s) {', '.join(missing)}")
        for intent, group in groups.items():
            where = f"{path.name}: {q}/{intent}"
            intents, answers = _answers(where, group)
            intents = intents or (intent,)
            bad = [i for i in intents if i not in flow[q]["intents"]]
            if bad:
                raise CorpusError(f"{where}: {q!r} does not branch on {', '.join(bad)}")
            entries = [a if isinstance(a, dict) else {"say": a} for a in answers]
            compared = sorted({k for e in entries for k in e if k in SLOTS})
            for i, e in enumerate(entries):
                unknown = set(e) - {"say", *SLOTS}
                if not isinstance(e.get("say"), str) or unknown:
                    raise CorpusError(f"{where}[{i}]: needs `say` text and only {', '.join(SLOTS)}")
                slots = {k: _norm(k, e.get(k)) for k in compared}
                out.append(Utterance(f"{q}/{intent}/{i}", q, flow[q]["step"], e["say"], None, intents, slots,
                                     flow[q]["readback"]))
    for q, items in (data.get("out_of_grammar") or {}).items():
        if q not in flow:
            raise CorpusError(f"{path}: out_of_grammar question {q!r} is not an asking node")
        for i, e in enumerate(items):
            uid = f"{q}/oog/{i}"
            if isinstance(e, str):
                out.append(Utterance(uid, q, flow[q]["step"], e, readback=flow[q]["readback"]))
            elif isinstance(e, dict) and e.get("sound") in SOUNDS:
                out.append(Utterance(uid, q, flow[q]["step"], None, e["sound"], readback=flow[q]["readback"]))
            else:
                raise CorpusError(f"{path}: out_of_grammar {q}[{i}]: text or {{sound: {'|'.join(SOUNDS)}}}")
    return today, out


def is_correct(utt: Utterance, meaning: dict) -> bool:
    """Is acting on ``meaning`` what the borrower meant? Never for out-of-grammar speech."""
    if not utt.in_grammar or meaning.get("intent") not in utt.intents:
        return False
    return all(meaning.get(k) == v for k, v in utt.slots.items())

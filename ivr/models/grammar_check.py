"""Can the installed model decode every phrase of every step's grammar? (`ivr asr check-grammar`)

Each phrase is spelled in the model's own words exactly as a live recognizer's grammar is
(``vocab.spell``, the same code ``vocab.decoder_grammar`` runs), so what this prints is what
Vosk receives: a phrase with a piece the model cannot spell would be dropped from the grammar.
``[unk]`` is not a phrase: it is reported as whether the model offers a garbage word at all.

The grammar of a step comes from ``step_phrases`` only, so moving the grammars elsewhere is a
one-line change.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..dialog import vocab
from ..dialog.intents import common, grammar


def step_phrases(locale: str, step: str) -> list[str]:
    """The phrases a recognizer gets for ``step``: the answers and the garbage path
    (the single place grammars are read from)."""
    from ..dialog import grammars
    return grammar(locale, step) + grammars.load(locale).garbage_for(step)


@dataclass
class StepReport:
    step: str
    spellings: list[vocab.Spelling] = field(default_factory=list)

    @property
    def missing(self) -> list[vocab.Spelling]:
        return [s for s in self.spellings if not s.ok]


@dataclass
class Report:
    locale: str
    model_dir: str
    words: int
    has_unk: bool
    asks_unk: bool                      # some grammar lists [unk]
    steps: list[StepReport] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(s.missing for s in self.steps)


def check(model_dir: str, locale: str, steps=common.STEPS, phrases_of=step_phrases) -> Report:
    words = vocab.model_words(model_dir)
    report = Report(locale, model_dir, len(words), vocab.knows_unk(model_dir), asks_unk=False)
    for step in steps:
        part = StepReport(step)
        for phrase in phrases_of(locale, step):
            if phrase == vocab.UNK:
                report.asks_unk = True
                continue
            part.spellings.append(vocab.spell(phrase, words))
        report.steps.append(part)
    return report


def format_report(report: Report, *, only_missing: bool = False) -> str:
    lines = [f"{report.locale}: model {report.model_dir} ({report.words} words)"]
    for part in report.steps:
        shown = part.missing if only_missing else part.spellings
        lines.append(f"{part.step}: {len(part.spellings)} phrases, {len(part.missing)} the model cannot decode")
        for s in shown:
            mark = "ok     " if s.ok else "MISSING"
            extra = "" if s.ok else f"   (not in the vocabulary: {', '.join(s.missing)})"
            lines.append(f"  {mark} {s.phrase} -> {s.shown()}{extra}")
    if report.asks_unk and not report.has_unk:
        lines.append("note: [unk] is not a word of this model, so the grammars have no garbage path from it "
                     "(Vosk drops it; speech outside the grammar is forced onto the nearest phrase)")
    missing = sum(len(p.missing) for p in report.steps)
    lines.append("all phrases can be decoded" if report.ok else
                 f"{missing} phrase(s) cannot be decoded: live calls leave them out of the grammar")
    return "\n".join(lines)


def as_dict(report: Report) -> dict:
    return {"locale": report.locale, "model": report.model_dir, "words": report.words,
            "unk_in_model": report.has_unk, "ok": report.ok,
            "steps": {p.step: [{"phrase": s.phrase, "tokens": s.tokens, "missing": s.missing}
                               for s in p.spellings] for p in report.steps}}

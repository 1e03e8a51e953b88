"""Keyword tables -> labelled hits, with negation scope.

A locale describes its answers as a table ``label -> phrases``; ``Lexicon`` finds the
non-overlapping hits in a normalised transcript, preferring the earliest and then the longest
match, so a longer phrase (不要人工, 상담원 필요 없어요) shadows a shorter one it contains.

Why negation lives here and not in the tables: a table of "no" sentences never ends (我不是他本人,
不是我本人, 并不是我, 안 맞아요 ...). Instead a locale names its *negators* — the words that
negate what follows (不/没/别, 안/못) — and an optional short *gap* that may sit between the
negator and the word it negates (他/她 in 不是他本人). Every phrase of an agreeing label (``yes``,
``ok``), and any run of them, preceded by a negator becomes one ``no`` hit covering the whole
span. Because it is one hit, a negated yes is never also a yes: it can neither confirm nor look
like a yes/no conflict. Explicit table phrases win ties of equal length (不能 stays a refusal,
不对 stays ``wrong``).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

# Hit labels a locale lexicon may produce.
#   yes / no      polarity words (是 / 不是, 네 / 아니요)
#   ok            agreement that is no answer to "are you X?" (可以, 好, 알겠습니다): a yes at the
#                 plan and confirm questions, ignored at identity
#   agent         asks for a human;  agent_neg  explicitly does NOT want one
#   callback      call me later
#   refuse        cannot / will not pay
#   dispute       already paid, not my loan, wrong amount
#   wrong         "that's wrong" (不对, 틀려요): dispute in plan, deny elsewhere,
#                 a self-correction marker when a slot follows it
#   hardship      lost job, illness, money trouble
#   ontime        "on time" (按时, 제때, 不会逾期): plan confirm
#   partial       partial / delayed payment without a number (先还一部分)
#   paid          a payment in the past tense (还了, 转过去了): a dispute unless a new date is said
LABELS = ("yes", "no", "ok", "agent", "agent_neg", "callback", "refuse", "dispute",
          "wrong", "hardship", "ontime", "partial", "paid")
AGREEING = ("yes", "ok")


@dataclass(frozen=True)
class Hit:
    start: int
    end: int
    label: str


def _source(phrase: str) -> str:
    return phrase[3:] if phrase.startswith("re:") else re.escape(phrase)


class Lexicon:
    """``table`` maps a label to phrases: literal text, or a regex after ``re:``.

    ``negators`` / ``gap`` are regexes (see the module docstring); without ``negators`` there is
    no negation scope.
    """

    def __init__(self, table: dict[str, list[str]], *, negators: str | None = None, gap: str = ""):
        self._patterns: list[tuple[re.Pattern, str]] = []
        for label, phrases in table.items():
            if label not in LABELS:
                raise ValueError(f"unknown lexicon label {label!r}")
            for p in phrases:
                self._patterns.append((re.compile(_source(p)), label))
        if negators:
            agreeing = [_source(p) for label in AGREEING for p in table.get(label, [])]
            # longest alternatives first: Python's alternation is ordered, not longest-match
            agreeing.sort(key=len, reverse=True)
            run = "(?:" + "|".join(agreeing) + ")"
            rx = re.compile(f"(?:{negators})(?:{gap}){run}+" if gap else f"(?:{negators}){run}+")
            self._patterns.append((rx, "no"))  # last: explicit phrases win ties

    def hits(self, text: str) -> list[Hit]:
        found: list[tuple[int, int, int, str]] = []
        for order, (rx, label) in enumerate(self._patterns):
            for m in rx.finditer(text):
                if m.end() > m.start():
                    found.append((m.start(), -(m.end() - m.start()), order, label))
        found.sort()
        out: list[Hit] = []
        pos = 0
        for start, neg_len, _, label in found:
            if start >= pos:
                out.append(Hit(start, start - neg_len, label))
                pos = start - neg_len
        return out

    def phrases(self) -> list[str]:
        """Literal phrases (for recognizer grammars)."""
        out = []
        for rx, _ in self._patterns:
            src = rx.pattern
            if not any(c in src for c in "\\[](){}|?*+^$."):
                out.append(src)
        return out

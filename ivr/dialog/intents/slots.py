"""Slot values (date, clock time, amount) found in one utterance, and where they were said.

Positions matter: a ``no`` followed by a slot is a self-correction ("三千 不对 四千"), not a
refusal, and the last-said value wins.
"""
from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Amount:
    """A money amount read from the transcript: ``text[start:end]`` said ``value``."""
    start: int
    end: int
    value: int


@dataclass
class Slots:
    date: _dt.date | None = None
    time: tuple[int, int] | None = None
    amount: int | None = None
    positions: list[int] = field(default_factory=list)  # start offsets of slot mentions

    def any(self) -> bool:
        return self.date is not None or self.amount is not None or self.time is not None

    def after(self, pos: int) -> bool:
        return any(p >= pos for p in self.positions)

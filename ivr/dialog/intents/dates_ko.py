"""Korean dates and clock times, relative to ``today``.

Handles 오늘/내일/모레/글피, N일 후, 이틀/사흘 후, 일주일 후, (이번|다음) 주 X요일, (다음) 주말,
bare X요일, N일, N월 N일, (이번|다음) 달 N일, 월말/말일/(다음) 달 말, and clock
times (오후 세 시, 열 시 반, 3시 30분).  Returns mentions with positions so
the caller can mask them out before reading amounts, and so a later mention
("내일 아니 모레") wins.
"""
from __future__ import annotations

import calendar
import datetime as _dt
import re
from dataclasses import dataclass

from .numbers_ko import NATIVE_HOURS, SINO_RUN, parse_sino

RELATIVE_DAYS = {"오늘": 0, "금일": 0, "내일": 1, "낼": 1, "모레": 2, "내일모레": 2, "글피": 3}  # (낼 is left out: it is also "I will pay")
COUNTED_DAYS = {"하루": 1, "이틀": 2, "사흘": 3, "나흘": 4, "닷새": 5, "엿새": 6, "일주일": 7, "열흘": 10}
WEEKDAYS = {"월": 0, "화": 1, "수": 2, "목": 3, "금": 4, "토": 5, "일": 6}
SPECIAL_MONTHS = {"유": 6, "시": 10}
PM_WORDS = ("오후", "저녁", "밤", "낮")
AM_WORDS = ("오전", "아침", "새벽")

_B = r"(?<![가-힣0-9])"  # token start


def _end(allowed: str = "") -> str:
    """Word end: no further Hangul except the given particle syllables."""
    return rf"(?!(?![{allowed}])[가-힣])" if allowed else r"(?![가-힣])"


_WEEK = re.compile(_B + r"(이번\s*주|이번주|금주|다음\s*주|다음주|담주|다다음\s*주)?\s*([월화수목금토일])요일")
_WEEKEND = re.compile(_B + r"(이번\s*|다음\s*|담\s*|다다음\s*)?주말" + _end("에까쯤이로은"))
_MONTH_END = re.compile(_B + r"(?:(이번\s*달|이달|다음\s*달|담달|다음달)\s*(?:말일|말)|월말|말일)" + _end("에까쯤이로"))
_MONTH_DAY = re.compile(_B + rf"(?:(이번\s*달|이달|다음\s*달|다음달|담달)|({SINO_RUN}|유|시)\s*월)\s*({SINO_RUN})\s*일(?!\s*(?:후|뒤|있다|지나))" + _end("에까날쯤은이로요"))
_DAY = re.compile(_B + rf"({SINO_RUN})\s*일(?!\s*(?:(?:정도|쯤)\s*)?(?:후|뒤|있다|지나))" + _end("에까날쯤은이로요"))
_DAYS_LATER = re.compile(_B + rf"(?:({SINO_RUN})\s*일|(하루|이틀|사흘|나흘|닷새|엿새|일주일|열흘))\s*(?:정도\s*|쯤\s*)?(?:후|뒤|있다가|지나서)")
_RELATIVE = re.compile(_B + r"(내일\s*모레|내일|오늘|금일|모레|글피)" + _end("은도까에중이요"))
_HOUR_WORD = "|".join(sorted(NATIVE_HOURS, key=len, reverse=True))
_CLOCK = re.compile(_B + rf"(오전|오후|아침|저녁|밤|낮|새벽)?\s*({_HOUR_WORD}|{SINO_RUN})\s*시" + _end("에쯤반까요") + rf"\s*(반|({SINO_RUN})\s*분)?")


@dataclass(frozen=True)
class Mention:
    start: int
    end: int
    date: _dt.date | None
    time: tuple[int, int] | None


def _add_month(d: _dt.date, n: int = 1) -> tuple[int, int]:
    m = d.month - 1 + n
    return d.year + m // 12, m % 12 + 1


def _safe(y: int, m: int, day: int) -> _dt.date | None:
    if not 1 <= m <= 12 or not 1 <= day <= calendar.monthrange(y, m)[1]:
        return None
    return _dt.date(y, m, day)


def find_dates(text: str, today: _dt.date) -> list[Mention]:
    found: list[Mention] = []

    for m in _CLOCK.finditer(text):
        mer, hw, tail, mins = m.group(1), m.group(2), m.group(3), m.group(4)
        h = NATIVE_HOURS.get(hw.replace(" ", "")) or parse_sino(hw)
        if h is None or not 0 <= h <= 24:
            continue
        mi = 30 if tail == "반" else (parse_sino(mins) if mins else 0) or 0
        if mer in PM_WORDS and h < 12:
            h += 12
        elif mer is None and 1 <= h <= 6:
            h += 12  # "세 시에 전화" on a business call means 15:00
        found.append(Mention(m.start(), m.end(), None, (h % 24, min(mi, 59))))

    def free(s, e):
        return all(e <= f.start or s >= f.end for f in found)

    for m in _DAYS_LATER.finditer(text):
        n = COUNTED_DAYS.get(m.group(2) or "") or parse_sino(m.group(1) or "")
        if n and free(m.start(), m.end()):
            found.append(Mention(m.start(), m.end(), today + _dt.timedelta(days=n), None))

    for m in _RELATIVE.finditer(text):
        if free(m.start(), m.end()):
            key = re.sub(r"\s", "", m.group(1))
            found.append(Mention(m.start(), m.end(), today + _dt.timedelta(days=RELATIVE_DAYS[key]), None))

    for m in _WEEK.finditer(text):
        if not free(m.start(), m.end()):
            continue
        which = re.sub(r"\s", "", m.group(1) or "")
        wd = WEEKDAYS[m.group(2)]
        monday = today - _dt.timedelta(days=today.weekday())
        if which in ("다음주", "담주"):
            d = monday + _dt.timedelta(days=7 + wd)
        elif which == "다다음주":
            d = monday + _dt.timedelta(days=14 + wd)
        elif which:
            d = monday + _dt.timedelta(days=wd)
        else:  # a bare weekday: the next one from today on
            d = today + _dt.timedelta(days=(wd - today.weekday()) % 7)
        found.append(Mention(m.start(), m.end(), d, None))

    for m in _WEEKEND.finditer(text):   # the weekend: its Sunday, the last day a promise can mean
        if free(m.start(), m.end()):
            which = re.sub(r"\s", "", m.group(1) or "")
            weeks = {"다음": 1, "담": 1, "다다음": 2}.get(which, 0)
            sunday = today - _dt.timedelta(days=today.weekday()) + _dt.timedelta(days=6 + 7 * weeks)
            found.append(Mention(m.start(), m.end(), sunday, None))

    for m in _MONTH_END.finditer(text):
        if not free(m.start(), m.end()):
            continue
        nxt = "다음" in (m.group(1) or "") or "담" in (m.group(1) or "")
        y, mo = _add_month(today, 1 if nxt else 0)
        found.append(Mention(m.start(), m.end(), _dt.date(y, mo, calendar.monthrange(y, mo)[1]), None))

    for m in _MONTH_DAY.finditer(text):
        if not free(m.start(), m.end()):
            continue
        rel, mon, day = m.group(1), m.group(2), m.group(3)
        dn = parse_sino(day)
        if dn is None:
            continue
        if rel:
            y, mo = _add_month(today, 1 if ("다음" in rel or "담" in rel) else 0)
        else:
            mo = SPECIAL_MONTHS.get(mon) or parse_sino(mon)
            y = today.year
            if mo and _safe(y, mo, dn) and _safe(y, mo, dn) < today:
                y += 1
        d = _safe(y, mo or 0, dn)
        if d:
            found.append(Mention(m.start(), m.end(), d, None))

    for m in _DAY.finditer(text):
        if not free(m.start(), m.end()):
            continue
        dn = parse_sino(m.group(1))
        if dn is None or not 1 <= dn <= 31:
            continue
        y, mo = today.year, today.month
        if dn < today.day:
            y, mo = _add_month(today, 1)
        d = _safe(y, mo, dn)
        if d:
            found.append(Mention(m.start(), m.end(), d, None))

    found.sort(key=lambda f: f.start)
    return found


def pick(mentions: list[Mention], today: _dt.date):
    date = time = None
    for m in mentions:
        if m.date is not None:
            date = m.date
        if m.time is not None:
            time = m.time
    if time is not None and date is None:
        date = today
    return date, time

"""Chinese day phrases jionlp does not read (it raises on some, misreads others).

    find("下个月初还", today=2026-12-01) == [(0, 4, date(2027, 1, 1))]

* month and year parts: 月底 / 月末 / 十二月底 / 下个月初 / 月中 / 年底 / 明年初
  (月底 is the month's last day, 月初 the 1st of the coming month, 年底 31 December);
* counted days and weeks from today: 过两天 (+2), 两周后, 一个礼拜以后 (+7 a week);
* dialect day words, read as their standard twins of the same length (明儿 = 明天, 今儿, 后儿),
  so offsets stay valid and jionlp can read them.
"""
from __future__ import annotations

import calendar
import datetime as _dt
import re

_NUM = r"[零一二两三四五六七八九十\d]+"
# Month-end and friends, handled here: (which month)(which part).
# A month number never follows another numeral: 一万二 月底 is 12,000 by the month's end, not February.
MONTH_PART = re.compile(rf"(下个?月|本月|这个?月|(?<![零一二两三四五六七八九十百千万\d])({_NUM})月)?"
                        r"(月底|月末|月中|月初|底|末|中|初)(?!午|旬)")
YEAR_PART = re.compile(r"(明年|今年)?(年底|年末|年终|年初|底|末|初)")
# Counted days / weeks from today: 过两天, 三个礼拜以后, 两周后.
COUNTED = re.compile(rf"过({_NUM})天|({_NUM})个?(周|星期|礼拜|天)(?:以后|之后|后)")
# Dialect day words -> standard ones of the same length (offsets stay valid).
DIALECT = {"明儿": "明天", "今儿": "今天", "后儿": "后天"}


def standardise(text: str) -> str:
    """Dialect day words -> standard ones (same length)."""
    for word, standard in DIALECT.items():
        text = text.replace(word, standard)
    return text


def find(text: str, today: _dt.date) -> list[tuple[int, int, _dt.date]]:
    """(start, end, date) of every phrase above, not overlapping, in no particular order."""
    out: list[tuple[int, int, _dt.date]] = []
    for rx, read in ((COUNTED, _counted), (MONTH_PART, _month_part), (YEAR_PART, _year_part)):
        for m in rx.finditer(text):
            if any(m.start() < e and s < m.end() for s, e, _ in out):
                continue
            d = read(m, today)
            if d is not None:
                out.append((m.start(), m.end(), d))
    return out


def _number(text: str) -> int | None:
    if text.isdigit():
        return int(text)
    import cn2an
    try:
        return int(cn2an.cn2an(text, "smart"))
    except Exception:
        return None


def _month_part(m: re.Match, today: _dt.date) -> _dt.date | None:
    prefix, named, part = m.group(1) or "", m.group(2), m.group(3)
    if len(part) == 1 and not prefix:
        return None  # a lone 底/初/中 is not a date
    y, mo = today.year, today.month
    if prefix.startswith("下"):
        y, mo = (y + 1, 1) if mo == 12 else (y, mo + 1)
    elif named:
        n = _number(named)
        if n is None or not 1 <= n <= 12:
            return None
        y, mo = (y + 1 if n < mo else y), n
        prefix = "named"     # 一月初 is that month's first, not next month's
    if part in ("月底", "月末", "底", "末"):
        return _dt.date(y, mo, calendar.monthrange(y, mo)[1])
    if part in ("月中", "中"):
        d = _dt.date(y, mo, 15)
    else:  # 月初 / 初: the 1st; "this month's start" already gone -> next month
        if not prefix:
            y, mo = (y + 1, 1) if mo == 12 else (y, mo + 1)
        d = _dt.date(y, mo, 1)
    return d


def _year_part(m: re.Match, today: _dt.date) -> _dt.date | None:
    which, part = m.group(1) or "", m.group(2)
    if len(part) == 1 and not which:
        return None
    y = today.year + (1 if which == "明年" else 0)
    if part.endswith("初"):
        d = _dt.date(y, 1, 1)
        return d if d >= today or which else _dt.date(y + 1, 1, 1)   # a bare 年初 is the coming one
    return _dt.date(y, 12, 31)


def _counted(m: re.Match, today: _dt.date) -> _dt.date | None:
    n = _number(m.group(1) or m.group(2))
    if n is None or not 0 < n <= 90:
        return None
    return today + _dt.timedelta(days=n * (1 if m.group(1) or m.group(3) == "天" else 7))
